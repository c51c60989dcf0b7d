//! `tickwire serve --agones` against dummy-agones, an independent fake of the Agones SDK
//! sidecar (crates.io; tools/agones-fake runs it on a free port, and
//! tools/install-test-deps.sh builds it): Ready once bound, Health pings, the player
//! label, Allocated seen by /readyz and /metrics, a GameServer Shutdown that drains the
//! server, and the SDK's Shutdown once it stopped.
//!
//! The binary is built here with `--features agones` (the plain `cargo test` builds it
//! without): `cargo build -p tickwire-tools --features agones --bin tickwire` into the same
//! target directory, so it reuses what is built; the plain binary that other tests run is
//! put back afterwards.
#[path = "support/killed.rs"]
mod killed;
use killed::Killed;

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "support/redis.rs"]
mod redis_support;

use common::net::{NetClient, PATIENCE};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tickwire::wire::Kind;
use tickwire_tools::common::first_line;

/// Lines a process printed, collected by a thread.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn follow(r: impl BufRead + Send + 'static) -> Log {
        let log = Log::default();
        let l = log.clone();
        std::thread::spawn(move || {
            for line in r.lines() {
                let Ok(line) = line else { break };
                l.0.lock().unwrap().push(line);
            }
        });
        log
    }

    fn count(&self, needle: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits until `needle` was printed `n` times.
    fn wait(&self, needle: &str, n: usize) {
        let end = Instant::now() + PATIENCE;
        while self.count(needle) < n {
            assert!(
                Instant::now() < end,
                "never {n} x {needle:?}; got:\n{}",
                self.0.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The binary built with `--features agones`, once per test process.
fn agones_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let plain = PathBuf::from(env!("CARGO_BIN_EXE_tickwire"));
        let profile_dir = plain.parent().unwrap();
        let target = profile_dir.parent().unwrap();
        let saved = profile_dir.join("tickwire.plain");
        std::fs::copy(&plain, &saved).unwrap();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
            .args([
                "build",
                "--locked",
                "-p",
                "tickwire-tools",
                "--features",
                "agones",
            ])
            .args([
                "--bin",
                "tickwire",
                "--message-format=json-render-diagnostics",
            ])
            .arg("--target-dir")
            .arg(target)
            .stderr(Stdio::inherit());
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let t0 = Instant::now();
        let out = cmd.output().unwrap();
        eprintln!(
            "cargo build --features agones: {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        let built = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == "tickwire")
            .find_map(|v| v["executable"].as_str().map(PathBuf::from));
        // Whatever happened, the plain binary is back where the other tests find it.
        let ours = profile_dir.join("tickwire-agones");
        if let Some(b) = &built {
            std::fs::copy(b, &ours).unwrap();
        }
        std::fs::rename(&saved, &plain).unwrap();
        assert!(out.status.success(), "cargo build --features agones failed");
        built.expect("cargo said which executable it built");
        ours
    })
}

/// The fake sidecar's binary (TICKWIRE_AGONES_FAKE, or where the install script builds it).
fn fake_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("TICKWIRE_AGONES_FAKE") {
        return p.into();
    }
    let plain = PathBuf::from(env!("CARGO_BIN_EXE_tickwire"));
    let target = plain.parent().unwrap().parent().unwrap();
    let p = target.join("agones-fake/debug/tickwire-agones-fake");
    assert!(
        p.exists(),
        "{} is missing: run tools/install-test-deps.sh (it builds the Agones SDK fake)",
        p.display()
    );
    p
}

/// Starts the fake: it, its port and its log.
fn fake() -> (Killed, u16, Log) {
    let mut child = Killed(
        Command::new(fake_binary())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (line, rest) =
        first_line(BufReader::new(child.0.stdout.take().unwrap()), PATIENCE).unwrap();
    let port = line
        .strip_prefix("dummy-agones port=")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("{line:?}"));
    (child, port, Log::follow(rest))
}

/// An HTTP/1.1 exchange that the server closes: status and body.
fn http(at: SocketAddr, request: String) -> (u16, String) {
    let mut s = TcpStream::connect(at).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).unwrap();
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(len) = r.parse(&bytes).unwrap() else {
        panic!("partial: {:?}", String::from_utf8_lossy(&bytes));
    };
    (
        r.code.unwrap(),
        String::from_utf8_lossy(&bytes[len..]).into_owned(),
    )
}

fn get(at: SocketAddr, path: &str) -> (u16, String) {
    http(
        at,
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    )
}

/// Sets the fake's GameServer state (what the sidecar does when Kubernetes changes it).
fn set_state(fake: SocketAddr, state: &str) {
    let (_, yaml) = get(fake, "/");
    let mut gs: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    gs["status"]["state"] = state.into();
    let body = serde_yaml::to_string(&gs).unwrap();
    let (code, text) = http(
        fake,
        format!(
            "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/yaml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(code, 200, "{text}");
}

/// Asks `at` for `path` until `f` holds.
fn get_until(at: SocketAddr, path: &str, what: &str, f: impl Fn(u16, &str) -> bool) -> String {
    let end = Instant::now() + PATIENCE;
    loop {
        let (code, body) = get(at, path);
        if f(code, &body) {
            return body;
        }
        assert!(Instant::now() < end, "never {what}: {code} {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_agones_lifecycle_against_the_sdk_fake() {
    let (_fake, port, fake_log) = fake();
    let fake_at = SocketAddr::from(([127, 0, 0, 1], port));
    let bin = agones_binary();
    // With the fleet registry too: Allocated must reach the server's record.
    let redis = redis_support::RedisServer::start();
    let mut server = Killed(
        Command::new(bin)
            .args([
                "serve",
                "--agones",
                "--bind",
                "127.0.0.1:0",
                "--lobby",
                "off",
            ])
            .args(["--redis", &redis.url(), "--server-id", "9"])
            .args(["--public-addr", "127.0.0.1"])
            .args(["--admin", "127.0.0.1:0", "--stats-interval-ms", "0"])
            .args(["--drain-seconds", "60", "--timeout-ms", "60000"])
            .env("AGONES_SDK_GRPC_PORT", port.to_string())
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let server_log = Log::follow(BufReader::new(server.0.stderr.take().unwrap()));
    let (line, _) = first_line(BufReader::new(server.0.stdout.take().unwrap()), PATIENCE).unwrap();
    let addr = |key: &str| -> SocketAddr {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .unwrap_or_else(|| panic!("{line}"))
            .parse()
            .unwrap()
    };
    let (udp, admin) = (addr("udp="), addr("admin="));

    // Ready once bound, then health pings every 2 s.
    fake_log.wait("Got ready call", 1);
    fake_log.wait("Got health message", 2);
    fake_log.wait("Got set_label call k=\"players\" v=\"0\"", 1);

    // A player: the label follows.
    let mut player = NetClient::new(udp);
    player.connect();
    assert!(player.wait_for(Kind::Snapshot, PATIENCE).is_some());
    fake_log.wait("Got set_label call k=\"players\" v=\"1\"", 1);
    let (_, yaml) = get(fake_at, "/");
    let gs: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(gs["status"]["state"].as_str(), Some("Ready"), "{yaml}");
    assert_eq!(
        gs["objectMeta"]["labels"]["players"].as_str(),
        Some("1"),
        "{yaml}"
    );

    // Allocated: seen by /readyz and /metrics (still admitting).
    set_state(fake_at, "Allocated");
    get_until(admin, "/readyz", "allocated in /readyz", |c, b| {
        c == 200 && b.contains("agones=Allocated")
    });
    let (_, metrics) = get(admin, "/metrics");
    assert!(
        metrics.contains("\ntickwire_agones_state{state=\"Allocated\"} 1\n"),
        "{metrics}"
    );
    server_log.wait("agones: GameServer state Allocated", 1);
    let mut con = redis.connect();
    redis_support::wait_for(PATIENCE, "allocated in the registry record", || {
        tickwire_tools::fleet::booking::read_fleet(&mut con)
            .ok()?
            .into_iter()
            .find(|r| r.id == 9 && r.text("state") == "allocated")
    });

    // A Shutdown from the sidecar drains: no longer ready, the player plays on.
    set_state(fake_at, "Shutdown");
    get_until(admin, "/readyz", "draining", |c, b| {
        c == 503 && b.starts_with("draining")
    });
    server_log.wait("agones: Shutdown: draining for up to 60 s", 1);
    assert!(player.wait_for(Kind::Snapshot, PATIENCE).is_some());
    assert_eq!(fake_log.count("Got shutdown call"), 0);
    // Kubernetes then deletes the pod: SIGTERM. It is the first SIGTERM, so the drain goes
    // on (a second one would stop at once).
    let pid = server.0.id() as libc::pid_t;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    server_log.wait("(SIGTERM): already draining, draining on", 1);
    assert!(player.wait_for(Kind::Snapshot, PATIENCE).is_some());
    assert_eq!(get(admin, "/readyz").0, 503);

    // The last player leaves: the drain is over, the server tells the SDK Shutdown and
    // exits 0.
    let mut op = TcpStream::connect(admin).unwrap();
    op.set_read_timeout(Some(PATIENCE)).unwrap();
    op.write_all(format!("kick 0 {}\n", player.c.qport).as_bytes())
        .unwrap();
    let mut reply = String::new();
    BufReader::new(&op).read_line(&mut reply).unwrap();
    assert!(reply.starts_with("ok kicked"), "{reply}");
    let end = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(s) = server.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < end,
            "the server did not stop after its drain"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    fake_log.wait("Got shutdown call", 1);
    server_log.wait("agones: told the SDK server Shutdown", 1);
}

#[test]
fn without_a_sidecar_the_game_runs_and_stops_cleanly() {
    // Nothing listens on the port: the SDK thread retries, the game serves meanwhile.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let mut server = Killed(
        Command::new(agones_binary())
            .args([
                "serve",
                "--agones",
                "--bind",
                "127.0.0.1:0",
                "--lobby",
                "off",
            ])
            .args(["--admin", "127.0.0.1:0", "--stats-interval-ms", "0"])
            .env("AGONES_SDK_GRPC_PORT", port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (line, _) = first_line(BufReader::new(server.0.stdout.take().unwrap()), PATIENCE).unwrap();
    let udp: SocketAddr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("udp="))
        .unwrap()
        .parse()
        .unwrap();
    let mut player = NetClient::new(udp);
    player.connect();
    assert!(player.wait_for(Kind::Snapshot, PATIENCE).is_some());
    let pid = server.0.id() as libc::pid_t;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let end = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(s) = server.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "no stop without a sidecar");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}
