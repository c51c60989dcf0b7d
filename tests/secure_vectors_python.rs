//! Secure mode against an independent implementation: `tools/secure_vectors.py`, written in
//! Python from docs/PROTOCOL.md section 8 alone (ChaCha20-Poly1305 from `cryptography`,
//! BLAKE3 from `blake3`).
//!
//! - its vectors are, verbatim, the block of docs/PROTOCOL.md section 8.9 (which
//!   `src/secure/vectors.rs` checks the library against), and its token is the one the
//!   library mints from the same inputs;
//! - a token it mints opens with [`Issuer::open`], and one the library mints opens in it.
//!
//! Needs Python with `cryptography` and `blake3`: run `tools/install-test-deps.sh` (a
//! virtual environment under `target/test-venv/`; see `common/python.rs` for which Python
//! runs).

#[path = "common/python.rs"]
#[allow(dead_code)] // require_a2s is for the A2S tests
mod python;
use python::python;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};
use tickwire::secure::{ConnectToken, Issuer, Key, TokenError};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/secure_vectors.py");
const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PROTOCOL.md");

/// Panics, saying what to run, unless the Python of the tests has both modules.
fn require_modules() {
    let py = python();
    let ok = Command::new(&py)
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
        "{} with the `cryptography` and `blake3` modules is needed: run \
         tools/install-test-deps.sh (it makes target/test-venv/; the first run needs PyPI)",
        py.display()
    );
}

/// Runs the script with `args` (and `stdin`), waiting for it to exit.
fn script(args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    require_modules();
    let mut child = Command::new(python())
        .arg(SCRIPT)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("wait for python")
}

/// The script's standard output, after checking that it succeeded.
fn script_ok(args: &[&str]) -> String {
    let out = script(args, None);
    assert!(
        out.status.success(),
        "secure_vectors.py {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn key32(s: &str) -> Key {
    Key::from_hex(s).unwrap_or_else(|| panic!("not a key: {s}"))
}

/// `name = value` lines (continuations joined), comments skipped.
fn parse_vectors(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line.starts_with(' ') {
            out.last_mut().expect("a continuation follows a value").1 += line.trim();
        } else {
            let (n, v) = line.split_once(" = ").expect("name = value");
            out.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// A fresh directory for one test's key files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "tickwire-secure-vectors-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    /// A new key file holding `key` (mode 0600).
    fn key_file(&self, name: &str, key: &Key) -> PathBuf {
        let p = self.0.join(name);
        key.write_file(&p).expect("write key file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

#[test]
fn vectors_are_the_documents_and_the_token_is_the_librarys() {
    let out = script_ok(&["vectors"]);
    let doc = std::fs::read_to_string(DOC).expect("read docs/PROTOCOL.md");
    assert!(
        doc.contains(&format!("```text\n{out}```\n")),
        "docs/PROTOCOL.md section 8.9 must hold `tools/secure_vectors.py vectors` verbatim; \
         it printed:\n{out}"
    );
    let v = parse_vectors(&out);
    let get = |name: &str| -> &str {
        v.iter()
            .find(|(n, _)| n == name)
            .map(|(_, x)| x.as_str())
            .unwrap_or_else(|| panic!("no {name} in the script's vectors"))
    };
    let num = |name: &str| -> u64 { get(name).parse().expect("a decimal integer") };
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&unhex(get("token_nonce")));
    let issuer = Issuer::new(key32(get("kf")), num("protocol_id") as u32);
    let token = issuer.mint_with(
        (num("client_id"), num("scope"), get("name"), num("expires")),
        key32(get("kc2s")),
        key32(get("ks2c")),
        nonce,
    );
    assert_eq!(hex(&token.to_bytes()), get("token"));
    // The TOKEN_HELLO vector carries the token's expiry and sealed part.
    let hello = unhex(get("token_hello"));
    assert_eq!(hello.len(), 185);
    assert_eq!(&hello[13 + 23..13 + 31], &token.to_bytes()[8..16]);
    assert_eq!(&hello[13 + 47..], &token.sealed[..]);
}

#[test]
fn a_token_minted_in_python_opens_in_rust() {
    let dir = TempDir::new("py-mints");
    let key = Key::generate();
    let file = dir.key_file("fleet.key", &key);
    let before = unix_now();
    let out = script_ok(&[
        "mint",
        "--key-file",
        path_str(&file),
        "--client-id",
        "12345678901",
        "--scope",
        "3",
        "--name",
        "zoë",
        "--protocol-id",
        "77",
        "--lifetime",
        "60",
    ]);
    // The format of `tickwire token mint`: 410 lowercase hex digits and a newline.
    assert_eq!(out.len(), 411, "{out:?}");
    assert!(out.ends_with('\n'));
    assert!(out[..410]
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    let token = ConnectToken::parse(&unhex(&out[..410])).expect("205 bytes");
    let c = Issuer::new(key.clone(), 77).open(&token).expect("opens");
    assert_eq!((c.client_id, c.scope), (12_345_678_901, 3));
    assert_eq!(c.name.as_ref().map(|n| n.as_str()), Some("zoë"));
    assert!(
        (before + 60..=unix_now() + 60).contains(&c.expires),
        "{}",
        c.expires
    );
    // Another protocol id or another key: the seal does not open.
    assert_eq!(
        Issuer::new(key.clone(), 78).open(&token),
        Err(TokenError::Seal)
    );
    assert_eq!(
        Issuer::new(Key::generate(), 77).open(&token),
        Err(TokenError::Seal)
    );

    // With every random part fixed, Python and Rust mint the same bytes.
    let (c2s, s2c) = (Key::generate(), Key::generate());
    let nonce = [9u8; 12];
    let out = script_ok(&[
        "mint",
        "--key-file",
        path_str(&file),
        "--client-id",
        "5",
        "--expires",
        "2000000000",
        "--c2s",
        &c2s.to_hex(),
        "--s2c",
        &s2c.to_hex(),
        "--nonce",
        &hex(&nonce),
    ]);
    let rust = Issuer::new(key, 0).mint_with((5, 0, "", 2_000_000_000), c2s, s2c, nonce);
    assert_eq!(out, format!("{}\n", hex(&rust.to_bytes())));
}

/// The `field: value` lines of `secure_vectors.py open`.
fn opened(out: &str) -> Vec<(&str, &str)> {
    out.lines()
        .map(|l| l.split_once(": ").expect("field: value"))
        .collect()
}

#[test]
fn a_token_minted_in_rust_opens_in_python() {
    let dir = TempDir::new("rust-mints");
    let key = Key::generate();
    let file = dir.key_file("fleet.key", &key);
    let token = Issuer::new(key, 9).mint(u64::MAX, 1 << 40, "ann", 1_900_000_000);
    let text = hex(&token.to_bytes());
    let want = vec![
        ("client_id", u64::MAX.to_string()),
        ("scope", (1u64 << 40).to_string()),
        ("expires", "1900000030".to_string()),
        ("name", "ann".to_string()),
        ("nonce", hex(&token.nonce())),
        ("c2s", token.c2s.to_hex()),
        ("s2c", token.s2c.to_hex()),
    ];
    let args = ["open", "--key-file", path_str(&file), "--protocol-id", "9"];
    // As an argument, and on standard input.
    let out = script_ok(&[&args[..], &[text.as_str()]].concat());
    let got: Vec<(String, String)> = opened(&out)
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let want: Vec<(String, String)> = want.into_iter().map(|(a, b)| (a.to_string(), b)).collect();
    assert_eq!(got, want);
    let o = script(&args, Some(&format!("{text}\n")));
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout), out);

    // Refused: another protocol id, one flipped bit, a clear key that is not the sealed one.
    let refused = |args: &[&str], why: &str| {
        let o = script(args, None);
        assert_eq!(o.status.code(), Some(1), "{why}: {o:?}");
        assert!(o.stdout.is_empty(), "{why}");
    };
    refused(
        &[
            "open",
            "--key-file",
            path_str(&file),
            "--protocol-id",
            "8",
            &text,
        ],
        "another protocol id",
    );
    let mut bytes = token.to_bytes();
    bytes[150] ^= 0x01;
    refused(
        &[&args[..], &[hex(&bytes).as_str()]].concat(),
        "a flipped bit in the sealed part",
    );
    let mut bytes = token.to_bytes();
    bytes[20] ^= 0x01;
    refused(
        &[&args[..], &[hex(&bytes).as_str()]].concat(),
        "a clear Kc2s that is not the sealed one",
    );
    refused(&[&args[..], &["abcd"]].concat(), "not 205 bytes");
}

#[test]
fn python_refuses_key_files_as_the_server_does() {
    let dir = TempDir::new("key-files");
    let file = dir.key_file("fleet.key", &Key::generate());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let o = script(
            &["mint", "--key-file", path_str(&file), "--client-id", "1"],
            None,
        );
        assert_eq!(o.status.code(), Some(2), "{o:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("chmod 600"));
        assert!(o.stdout.is_empty());
    }
    let bad = dir.0.join("short.key");
    std::fs::write(&bad, "abcd\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let o = script(
        &["mint", "--key-file", path_str(&bad), "--client-id", "1"],
        None,
    );
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("64 hex digits"));
}

/// A secure arena host on 127.0.0.1 port 0 in its own thread, stopped when dropped.
struct SecureHost {
    addr: std::net::SocketAddr,
    stopper: tickwire::Stopper,
    thread: Option<std::thread::JoinHandle<String>>,
}

impl SecureHost {
    fn start(fleet: Key) -> SecureHost {
        let mut cfg = tickwire::HostConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            stats_interval: None,
            lobby: None,
            ..tickwire::HostConfig::default()
        };
        cfg.server.secure = Some(tickwire::secure::Secure::new(fleet, 0));
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut host = tickwire::Host::bind(cfg, |i| tickwire::Arena::new(i as u64))
                .expect("bind the secure host");
            tx.send((host.udp_addrs()[0], host.stopper())).unwrap();
            host.run().expect("run");
            host.summary()
        });
        let (addr, stopper) = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the host started");
        SecureHost {
            addr,
            stopper,
            thread: Some(thread),
        }
    }

    /// Stops the host and returns its summary line.
    fn stop(mut self) -> String {
        self.stopper.stop();
        let t = self.thread.take().expect("running");
        t.join().expect("the host thread panicked")
    }
}

impl Drop for SecureHost {
    fn drop(&mut self) {
        self.stopper.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs `tools/secure_client.py` with `args`, bounded by its own `--timeout`.
fn secure_client(args: &[&str]) -> (Option<i32>, String) {
    require_modules();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/secure_client.py");
    let out = Command::new(python())
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// The Python client, written from the protocol document alone, against a real secure
/// host over loopback UDP: TOKEN_HELLO and its cookie, the sealed ACCEPT, sealed INPUT
/// and KEEPALIVE (the server moves the player), 20 snapshot parts authenticated and
/// opened, a sealed BYE; then with a token it minted itself. Then the first token again is
/// refused: it was redeemed. (That last run waits out its 3-second `--timeout`: what is
/// checked is that no ACCEPT comes, after the CHALLENGE that shows the server is there.)
#[test]
fn the_python_client_plays_on_a_secure_host() {
    let fleet = Key::generate();
    let host = SecureHost::start(fleet.clone());
    let server = host.addr.to_string();
    let token = Issuer::new(fleet.clone(), 0).mint(41, 0, "py", unix_now());
    let hex_token = hex(&token.to_bytes());
    let (code, out) = secure_client(&[
        "--server",
        &server,
        "--token",
        &hex_token,
        "--loopback",
        "--timeout",
        "20",
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("ok "), "{out}");
    assert!(out.contains("tick_hz=60 max_payload=1171"), "{out}");
    assert!(out.contains("bad_auth=0"), "{out}");

    // A token minted in Python from a key file is admitted too.
    let dir = TempDir::new("client");
    let file = dir.key_file("fleet.key", &fleet);
    let (code, out) = secure_client(&[
        "--server",
        &server,
        "--key-file",
        path_str(&file),
        "--client-id",
        "42",
        "--loopback",
        "--snapshots",
        "5",
        "--timeout",
        "20",
    ]);
    assert_eq!(code, Some(0), "{out}");

    // The first token again: redeemed, so dropped after its cookie; never ACCEPTed.
    let (code, out) = secure_client(&[
        "--server",
        &server,
        "--token",
        &hex_token,
        "--loopback",
        "--timeout",
        "3",
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no ACCEPT (cookie received)"), "{out}");
    // The server's side: two joins, two sealed BYEs opened, the reused token dropped as
    // such, and nothing that failed to authenticate.
    let summary = host.stop();
    for want in ["accepts=2 ", "byes=2 ", "token_reused="] {
        assert!(summary.contains(want), "{want}: {summary}");
    }
    assert!(!summary.contains("bad_auth"), "{summary}");
}
