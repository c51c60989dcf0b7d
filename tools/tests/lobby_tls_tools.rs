//! The TLS lobby from the binaries: `tickwire serve --lobby-tls-cert/--lobby-tls-key`
//! (both or neither, file errors, the TOML file), and `tickwire-chat --tls --ca` with its
//! `/token` command printing a token that opens under the fleet key. Loopback only; every
//! child is killed if a test fails, and every wait is bounded.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::lobby::{TestLobby, PATIENCE};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Instant;
use tickwire::lobby::{LobbyConfig, LobbyTls};
use tickwire::secure::{ConnectToken, Issuer, Key};
use tickwire_tools::common::first_line;

const PROTOCOL: u32 = 0x5457_0004;

/// A self-signed certificate for `localhost` and 127.0.0.1 and its key, as PEM files in a
/// directory of this test's own under the target directory.
fn pems(test: &str) -> (PathBuf, PathBuf) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("lobby_tls_{test}"));
    std::fs::create_dir_all(&dir).unwrap();
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// Kills a child if the test fails before it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tickwire-chat ARGS`, its stdin and its stdout lines.
fn chat(args: &[&str]) -> (Killed, std::process::ChildStdin, Receiver<String>) {
    let mut tool = Killed(
        Command::new(env!("CARGO_BIN_EXE_tickwire-chat"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tickwire-chat"),
    );
    let stdin = tool.0.stdin.take().unwrap();
    let stdout = tool.0.stdout.take().unwrap();
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    (tool, stdin, lines)
}

/// The first printed line containing `want`, within [`PATIENCE`].
fn expect_line(lines: &Receiver<String>, want: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(l) if l.contains(want) => return l,
            Ok(_) => {}
            Err(e) => panic!("no line with {want:?}: {e}"),
        }
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn chat_over_tls_prints_a_token_that_opens_under_the_fleet_key() {
    let (cert, key) = pems("chat");
    let fleet = Key::from_bytes([0x33; 32]);
    let lobby = TestLobby::start(LobbyConfig {
        tls: Some(LobbyTls::from_pem_files(&cert, &key).unwrap()),
        issuer: Some(Issuer::new(fleet.clone(), PROTOCOL)),
        server_id: 9,
        ..LobbyConfig::default()
    });
    let addr = lobby.addr.to_string();
    let ca = cert.to_str().unwrap();
    // The host part of --server (127.0.0.1) is the name checked by default.
    let (mut tool, mut stdin, lines) =
        chat(&["--server", &addr, "--name", "tess", "--tls", "--ca", ca]);
    expect_line(&lines, "logged in as tess");
    writeln!(stdin, "/token").unwrap();
    let line = expect_line(&lines, "* token for client");
    let hex = line.rsplit(' ').next().unwrap();
    assert_eq!(hex.len(), 2 * 205, "{line}");
    let t = ConnectToken::parse(&unhex(hex)).unwrap();
    let c = Issuer::new(fleet, PROTOCOL).open(&t).expect("opens");
    assert_eq!((c.scope, c.name.as_deref()), (9, Some("tess")));
    writeln!(stdin, "/token 10").unwrap();
    expect_line(&lines, "failed: bad request");
    writeln!(stdin, "/quit").unwrap();
    drop(stdin);
    let deadline = Instant::now() + PATIENCE;
    while tool.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "tool did not quit");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(tool.0.wait().unwrap().success());
    assert_eq!(lobby.stats().tokens_issued, 1);

    // --tls needs --ca; a CA that is not the lobby's certificate fails the handshake.
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire-chat"))
        .args(["--server", &addr, "--name", "x", "--tls"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ca"));
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire-chat"))
        .args(["--server", &addr, "--name", "x", "--tls", "--ca"])
        .arg(&key)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CA certificate file") && err.contains("key.pem"),
        "{err}"
    );
}

fn tickwire(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn serve_takes_both_tls_files_or_neither_and_names_a_bad_file() {
    let (cert, key) = pems("serve_flags");
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let base = ["serve", "--bind", "127.0.0.1:0", "--lobby", "127.0.0.1:0"];
    for (args, want) in [
        (
            vec!["--lobby-tls-cert", cert],
            "--lobby-tls-cert needs --lobby-tls-key",
        ),
        (
            vec!["--lobby-tls-key", key],
            "--lobby-tls-key needs --lobby-tls-cert",
        ),
        (
            vec!["--lobby-tls-cert", key, "--lobby-tls-key", key],
            "holds no PEM certificate",
        ),
        (
            vec![
                "--lobby-tls-cert",
                cert,
                "--lobby-tls-key",
                "/nonexistent/key.pem",
            ],
            "private key file /nonexistent/key.pem: cannot read it",
        ),
    ] {
        let mut all = base.to_vec();
        all.extend(args);
        let out = tickwire(&all);
        assert!(!out.status.success(), "{all:?} started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{all:?}: {err}");
    }
    // The TOML file takes both keys (each checked alone, as every key is).
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lobby_tls_serve_flags");
    let f = dir.join("tls.toml");
    std::fs::write(
        &f,
        format!("lobby-tls-cert = {cert:?}\nlobby-tls-key = {key:?}\n"),
    )
    .unwrap();
    let out = tickwire(&["serve", "--config", f.to_str().unwrap(), "--print-config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(
        printed.contains(&format!("lobby-tls-cert = {cert:?}")),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("lobby-tls-key = {key:?}")),
        "{printed}"
    );
}

#[test]
fn serve_with_tls_files_serves_tls_and_refuses_tokens_without_secure_mode() {
    let (cert, key) = pems("serve_tls");
    let mut server = Killed(
        Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(["serve", "--bind", "127.0.0.1:0", "--lobby", "127.0.0.1:0"])
            .arg("--lobby-tls-cert")
            .arg(&cert)
            .arg("--lobby-tls-key")
            .arg(&key)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (first, _) = first_line(BufReader::new(server.0.stdout.take().unwrap()), PATIENCE).unwrap();
    let lobby = first
        .split_whitespace()
        .find_map(|w| w.strip_prefix("lobby="))
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    let (_tool, mut stdin, lines) = chat(&[
        "--server",
        &lobby,
        "--name",
        "uma",
        "--tls",
        "--ca",
        cert.to_str().unwrap(),
        "--server-name",
        "localhost",
    ]);
    expect_line(&lines, "logged in as uma");
    // No --secure: the lobby has no issuer, so no token even over TLS.
    writeln!(stdin, "/token").unwrap();
    expect_line(&lines, "failed: bad request");
    // A plain client cannot talk to it.
    let mut plain = tickwire::client::lobby::LobbyClient::connect(lobby.as_str()).unwrap();
    plain.set_timeout(PATIENCE);
    match plain.login("vic") {
        Err(e) => assert!(e.to_string().contains("answers in TLS"), "{e}"),
        Ok(_) => panic!("a plain login to a TLS lobby succeeded"),
    }
}

/// The whole wiring: `tickwire serve --secure --token-key FILE --server-id 5` with the
/// lobby over TLS hands `tickwire-chat --tls` a token that opens under that key file, with
/// the server's protocol id, scoped to server 5.
#[test]
fn a_secure_server_s_tls_lobby_issues_tokens_for_its_own_server_id() {
    let (cert, key) = pems("serve_secure");
    let dir = cert.parent().unwrap().to_path_buf();
    let fleet_file = dir.join("fleet.key");
    let _ = std::fs::remove_file(&fleet_file);
    let fleet = Key::generate();
    fleet.write_file(&fleet_file).unwrap();
    let mut server = Killed(
        Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(["serve", "--bind", "127.0.0.1:0", "--lobby", "127.0.0.1:0"])
            .args(["--secure", "--server-id", "5", "--protocol-id", "77"])
            .arg("--token-key")
            .arg(&fleet_file)
            .arg("--lobby-tls-cert")
            .arg(&cert)
            .arg("--lobby-tls-key")
            .arg(&key)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (first, _) = first_line(BufReader::new(server.0.stdout.take().unwrap()), PATIENCE).unwrap();
    let lobby = first
        .split_whitespace()
        .find_map(|w| w.strip_prefix("lobby="))
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    let ca = cert.to_str().unwrap();
    let (_tool, mut stdin, lines) =
        chat(&["--server", &lobby, "--name", "wes", "--tls", "--ca", ca]);
    expect_line(&lines, "logged in as wes");
    for scope in ["", "5"] {
        writeln!(stdin, "/token {scope}").unwrap();
        let line = expect_line(&lines, "* token for client");
        let t = ConnectToken::parse(&unhex(line.rsplit(' ').next().unwrap())).unwrap();
        let c = Issuer::new(fleet.clone(), 77)
            .open(&t)
            .expect("opens under the key file");
        assert_eq!((c.scope, c.name.as_deref()), (5, Some("wes")));
    }
    writeln!(stdin, "/token 6").unwrap();
    expect_line(&lines, "failed: bad request");
}
