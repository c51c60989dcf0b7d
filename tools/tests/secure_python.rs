//! The real `tickwire` binary against the independent Python implementation of secure mode
//! (`tools/secure_vectors.py` and `tools/secure_client.py`, written from docs/PROTOCOL.md
//! section 8 alone): `tickwire token mint` tokens open in Python and Python's open in
//! `tickwire token inspect`, and the Python client plays on `tickwire serve --secure`.
//!
//! Needs Python with `cryptography` and `blake3`: run `tools/install-test-deps.sh` (a
//! virtual environment under `target/test-venv/`; `TICKWIRE_PYTHON` overrides).
#[path = "../../tests/common/mod.rs"]
mod common;

use common::net::PATIENCE;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tickwire_tools::common::first_line;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The Python of the tests (as tests/common/python.rs picks it, from the tools crate).
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TICKWIRE_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(ROOT).join("target/test-venv/bin/python3");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}

/// Runs a script of tools/ with `args`; panics, saying what to run, when the Python of the
/// tests lacks the modules.
fn py(script: &str, args: &[&str]) -> Output {
    let ok = Command::new(python())
        .args([
            "-c",
            "import blake3, cryptography.hazmat.primitives.ciphers.aead",
        ])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{} with `cryptography` and `blake3` is needed: run tools/install-test-deps.sh",
        python().display()
    );
    Command::new(python())
        .arg(PathBuf::from(ROOT).join("tools").join(script))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run python")
}

fn tickwire(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An empty directory under the target directory, unique to `test`.
fn dir(test: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("secure_python")
        .join(test);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn keygen(d: &Path) -> PathBuf {
    let k = d.join("fleet.key");
    let out = tickwire(&["token", "keygen", s(&k)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    k
}

#[test]
fn tokens_minted_by_the_binary_open_in_python_and_back() {
    let d = dir("mint");
    let k = keygen(&d);
    let out = tickwire(&[
        "token",
        "mint",
        "--token-key",
        s(&k),
        "--client-id",
        "7",
        "--scope",
        "5",
        "--name",
        "ann",
        "--protocol-id",
        "9",
        "--now",
        "1800000000",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout);
    assert_eq!(token.len(), 411, "{token:?}");
    let opened = py(
        "secure_vectors.py",
        &[
            "open",
            "--key-file",
            s(&k),
            "--protocol-id",
            "9",
            token.trim(),
        ],
    );
    assert!(opened.status.success(), "{}", text(&opened.stderr));
    let o = text(&opened.stdout);
    for want in [
        "client_id: 7\n",
        "scope: 5\n",
        "expires: 1800000030\n",
        "name: ann\n",
    ] {
        assert!(o.contains(want), "{want:?} in {o}");
    }
    let wrong = py(
        "secure_vectors.py",
        &["open", "--key-file", s(&k), token.trim()],
    );
    assert_eq!(
        wrong.status.code(),
        Some(1),
        "protocol id 0 does not open it"
    );

    // Python mints (the same text format), the binary opens.
    let out = py(
        "secure_vectors.py",
        &[
            "mint",
            "--token-key",
            s(&k),
            "--client-id",
            "8",
            "--scope",
            "5",
            "--protocol-id",
            "9",
            "--name",
            "bob",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let f = d.join("py.token");
    std::fs::write(&f, &out.stdout).unwrap();
    let inspect = tickwire(&[
        "token",
        "inspect",
        "--token-key",
        s(&k),
        "--protocol-id",
        "9",
        s(&f),
    ]);
    assert_eq!(inspect.status.code(), Some(0), "{}", text(&inspect.stderr));
    let i = text(&inspect.stdout);
    assert!(i.contains("opens under this key"), "{i}");
    assert!(i.contains("bob"), "{i}");
    let inspect = tickwire(&["token", "inspect", "--token-key", s(&k), s(&f)]);
    assert_eq!(
        inspect.status.code(),
        Some(4),
        "protocol id 0 does not open it"
    );
}

/// Kills the server if the test fails before it stops it.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_python_client_plays_on_serve_secure() {
    let d = dir("serve");
    let k = keygen(&d);
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(["serve", "--bind", "127.0.0.1:0", "--lobby", "off"])
            .args(["--secure", "--token-key", s(&k), "--server-id", "5"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (first, mut stdout) =
        first_line(BufReader::new(child.0.stdout.take().unwrap()), PATIENCE).unwrap();
    let addr = first
        .strip_prefix("tickwire listening udp=")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();

    // A token from `tickwire token mint`, for this server.
    let out = tickwire(&[
        "token",
        "mint",
        "--token-key",
        s(&k),
        "--client-id",
        "1",
        "--scope",
        "5",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout);
    let run = py(
        "secure_client.py",
        &[
            "--server",
            &addr,
            "--token",
            token.trim(),
            "--loopback",
            "--timeout",
            "20",
        ],
    );
    let said = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{said}{}", text(&run.stderr));
    assert!(said.contains("tick_hz=60 max_payload=1171"), "{said}");
    // One the Python client mints from the key file.
    let run = py(
        "secure_client.py",
        &[
            "--server",
            &addr,
            "--token-key",
            s(&k),
            "--client-id",
            "2",
            "--scope",
            "5",
            "--snapshots",
            "5",
            "--loopback",
            "--timeout",
            "20",
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));

    // SAFETY: signals the child we started.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    for want in ["accepts=2 ", "byes=2 "] {
        assert!(rest.contains(want), "{want}: {rest}");
    }
    assert!(!rest.contains("bad_auth"), "{rest}");
}
