//! examples/c/ built with the system C compiler (`cc`) against the freshly built library
//! and run: the client against an arena host of this test (plain and secure; dynamic
//! library), the launcher on its own (static library). Everything on 127.0.0.1 with
//! ports picked by the system, each program bounded by a timeout and killed past it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tickwire::secure::{Key, Secure};
use tickwire::{Arena, Config, Host, HostConfig};

/// Where cargo put this crate's cdylib and staticlib for this test run.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("deps dir").to_path_buf();
    for d in [deps.clone(), deps.parent().unwrap_or(&deps).to_path_buf()] {
        if d.join("libtickwire_ffi.a").exists() && d.join("libtickwire_ffi.so").exists() {
            return d;
        }
    }
    panic!(
        "libtickwire_ffi.{{a,so}} not found next to {}",
        exe.display()
    );
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Compiles `examples/c/<name>.c` into the temporary directory, as `<name>-<tag>`.
fn build(name: &str, tag: &str, link: &[&str]) -> PathBuf {
    let out = std::env::temp_dir().join(format!("tickwire-c-{name}-{tag}-{}", std::process::id()));
    let src = root().join(format!("examples/c/{name}.c"));
    let o = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(root().join("include"))
        .arg(&src)
        .args(link)
        .arg("-o")
        .arg(&out)
        .output()
        .expect("the system C compiler `cc` runs");
    assert!(
        o.status.success(),
        "cc {name}.c failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// Runs `cmd`, killing it after `limit`.
fn run(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let end = Instant::now() + limit;
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let o = child.wait_with_output().expect("output");
            panic!(
                "{cmd:?} still running after {limit:?}:\n{}\n{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The client, linked against the shared library. Run it with `LD_LIBRARY_PATH` set to
/// `lib_dir()`: cargo's own `LD_LIBRARY_PATH` (which beats the rpath) may list an older
/// copy in target/debug first.
fn client_binary(tag: &str) -> PathBuf {
    let dir = lib_dir();
    let d = dir.to_str().expect("utf-8 path");
    build(
        "client",
        tag,
        &[
            &format!("-L{d}"),
            "-ltickwire_ffi",
            &format!("-Wl,-rpath,{d}"),
        ],
    )
}

/// Runs an arena host (secure with `key`) on a thread until the returned stopper fires.
fn arena(
    key: Option<[u8; 32]>,
) -> (
    std::net::SocketAddr,
    tickwire::Stopper,
    std::thread::JoinHandle<()>,
) {
    let cfg = HostConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        stats_interval: None,
        server: Config {
            secure: key.map(|k| Secure::new(Key::from_bytes(k), 0)),
            ..Config::default()
        },
        ..HostConfig::default()
    };
    let mut host = Host::bind(cfg, |i| Arena::new(i as u64)).expect("bind");
    let addr = host.udp_addrs()[0];
    let stop = host.stopper();
    let t = std::thread::spawn(move || host.run().expect("host runs"));
    (addr, stop, t)
}

fn check_client(out: &Output, secure: bool) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("secure={}", u8::from(secure))),
        "{stdout}"
    );
    assert!(stdout.contains("walked x"), "{stdout}");
    eprint!("{stdout}");
}

#[test]
fn c_client_walks_in_the_arena() {
    let bin = client_binary("plain");
    let (addr, stop, t) = arena(None);
    let out = run(
        Command::new(&bin)
            .arg(addr.to_string())
            .arg("1500")
            .env("LD_LIBRARY_PATH", lib_dir()),
        Duration::from_secs(30),
    );
    stop.stop();
    t.join().unwrap();
    let _ = std::fs::remove_file(&bin);
    check_client(&out, false);
}

#[test]
fn c_client_walks_in_a_secure_arena() {
    let bin = client_binary("secure");
    let key = [0x5Au8; 32];
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let (addr, stop, t) = arena(Some(key));
    let out = run(
        Command::new(&bin)
            .arg(addr.to_string())
            .arg("1500")
            .arg(&hex)
            .env("LD_LIBRARY_PATH", lib_dir()),
        Duration::from_secs(30),
    );
    stop.stop();
    t.join().unwrap();
    let _ = std::fs::remove_file(&bin);
    check_client(&out, true);
}

#[test]
fn c_launcher_embeds_a_server_with_a_c_game() {
    let dir = lib_dir();
    let bin = build(
        "launcher",
        "static",
        &[
            dir.join("libtickwire_ffi.a").to_str().unwrap(),
            "-lpthread",
            "-ldl",
            "-lm",
        ],
    );
    let out = run(&mut Command::new(&bin), Duration::from_secs(60));
    let _ = std::fs::remove_file(&bin);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("launcher ok"),
        "launcher failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
