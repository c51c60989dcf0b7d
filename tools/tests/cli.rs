//! The binary: first stdout line, --help, SIGTERM says BYE, prints final stats, exits 0.
#[path = "../../tests/common/mod.rs"]
mod common;

use common::net::{NetClient, PATIENCE};
use std::io::{BufReader, Read};
use std::process::{Command, Stdio};
use tickwire::wire::Kind;
use tickwire_tools::common::first_line;

#[test]
fn help_explains_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--bind",
        "--tick-hz",
        "--max-clients",
        "--timeout-ms",
        "--protocol-id",
        "--matches",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn lobby_off_keeps_the_plain_listening_line() {
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(["serve", "--bind", "127.0.0.1:0", "--lobby", "off"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (first, _) = first_line(BufReader::new(child.0.stdout.take().unwrap()), PATIENCE).unwrap();
    let addr = first
        .trim()
        .strip_prefix("tickwire listening udp=")
        .unwrap();
    assert!(addr.parse::<std::net::SocketAddr>().is_ok(), "{first:?}");
}

#[test]
fn require_ticket_without_lobby_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--lobby",
            "off",
            "--require-ticket",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no lobby"));
}

#[test]
fn bad_flags_are_refused_with_a_message() {
    for args in [
        &["serve", "--max-clients", "256"][..],
        &["serve", "--tick-hz", "0"],
        &["serve", "--bind", "nope"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn sigterm_says_bye_prints_stats_and_exits_zero() {
    signal_says_bye_prints_stats_and_exits_zero(libc::SIGTERM);
}

/// Closing the terminal (SIGHUP) stops the server as SIGTERM does, instead of killing it
/// (exit 129, no BYE, no stats).
#[test]
fn sighup_says_bye_prints_stats_and_exits_zero() {
    signal_says_bye_prints_stats_and_exits_zero(libc::SIGHUP);
}

#[test]
fn help_says_what_sighup_does() {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("SIGHUP"), "{text}");
}

fn signal_says_bye_prints_stats_and_exits_zero(signal: i32) {
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(["serve", "--bind", "127.0.0.1:0", "--lobby", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (first, mut stdout) =
        first_line(BufReader::new(child.0.stdout.take().unwrap()), PATIENCE).unwrap();
    let rest_line = first
        .trim()
        .strip_prefix("tickwire listening udp=")
        .unwrap_or_else(|| panic!("first line: {first:?}"));
    let (udp, lobby) = rest_line
        .split_once(" lobby=")
        .expect("lobby address on the line");
    let addr: std::net::SocketAddr = udp.parse().unwrap();
    let lobby: std::net::SocketAddr = lobby.parse().unwrap();
    assert_ne!(lobby.port(), 0);
    let mut lc = tickwire::client::lobby::LobbyClient::connect(lobby).unwrap();
    lc.echo(b"hi").unwrap();
    assert_ne!(addr.port(), 0, "the real port is printed");
    let mut c = NetClient::new(addr);
    c.connect();
    assert!(c.wait_for(Kind::Snapshot, PATIENCE).is_some());
    unsafe { libc::kill(child.0.id() as i32, signal) };
    assert!(
        c.wait_for(Kind::Bye, PATIENCE).is_some(),
        "BYE on signal {signal}"
    );
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("tickwire stopped"), "{rest}");
    assert!(rest.contains("accepts=1"), "{rest}");
}

/// Kills the server if the test fails before it stops it.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first stdout line of `tickwire ARGS`, which is then stopped.
fn listening_line(args: &[&str]) -> String {
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (first, _) = first_line(BufReader::new(child.0.stdout.take().unwrap()), PATIENCE).unwrap();
    first.trim().to_string()
}

/// Without --lobby, the lobby listens on --bind's address, not on 0.0.0.0.
#[test]
fn the_lobby_follows_the_game_ports_address() {
    let line = listening_line(&["serve", "--bind", "127.0.0.1:0"]);
    let (_, lobby) = line
        .split_once(" lobby=")
        .unwrap_or_else(|| panic!("no lobby on {line:?}"));
    let lobby: std::net::SocketAddr = lobby.split(' ').next().unwrap().parse().unwrap();
    assert_eq!(lobby.ip().to_string(), "127.0.0.1", "{line}");
    assert_ne!(lobby.port(), 0, "{line}");
}

#[test]
fn help_says_the_lobby_login_is_not_access_control() {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap().replace('\n', " ");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("only a name, over plain TCP"), "{text}");
    assert!(
        text.contains("admits anyone who can reach the lobby"),
        "{text}"
    );
    assert!(text.contains("--bind's address on port 7778"), "{text}");
}

/// A taken lobby port is reported as the lobby's failure, a taken game port as the game
/// port's.
#[test]
fn a_taken_port_names_what_failed() {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = tcp.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["serve", "--bind", "127.0.0.1:0", "--lobby", &taken])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("the lobby cannot listen on tcp {taken}")),
        "{err}"
    );
    assert!(!err.contains("on udp"), "{err}");
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let taken = udp.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["serve", "--bind", &taken, "--lobby", "off"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("the game port cannot bind udp {taken}")),
        "{err}"
    );
}

#[test]
fn small_flags_get_clear_messages() {
    for (args, says) in [
        (&["serve", "--timeout-ms", "0"][..], "at least 1 ms"),
        (&["serve", "--lobby-send-buffer", "100"], "at least 4096"),
        (&["serve", "--bind", "nope"], "IP:PORT or HOST:PORT"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    for (bin, name) in [
        (env!("CARGO_BIN_EXE_tickwire-bots"), "tickwire-bots "),
        (env!("CARGO_BIN_EXE_tickwire-chat"), "tickwire-chat "),
    ] {
        let out = Command::new(bin).arg("--version").output().unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with(name),
            "{out:?}"
        );
    }
}

/// `--bind` takes a host name, resolved at start-up.
#[test]
fn bind_takes_a_host_name() {
    let line = listening_line(&["serve", "--bind", "localhost:0", "--lobby", "off"]);
    let addr: std::net::SocketAddr = line
        .strip_prefix("tickwire listening udp=")
        .unwrap_or_else(|| panic!("{line:?}"))
        .parse()
        .unwrap();
    assert!(addr.ip().is_loopback(), "{line}");
    assert_ne!(addr.port(), 0);
}

/// The README's description of the first stdout line is what the binary prints.
#[test]
fn readme_describes_the_listening_line() {
    let line = listening_line(&[
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--lobby",
        "127.0.0.1:0",
        "--matches",
        "2",
    ]);
    let shape: Vec<String> = line
        .split(' ')
        .map(|w| match w.split_once('=') {
            Some(("matches", _)) => "matches=K".to_string(),
            Some((k, _)) => format!("{k}=ADDR"),
            None => w.to_string(),
        })
        .collect();
    let shape = shape.join(" ");
    assert_eq!(shape, "tickwire listening udp=ADDR lobby=ADDR matches=K");
    let readme = include_str!("../../README.md").replace('\n', " ");
    assert!(
        readme.contains(&format!("`{shape}`")),
        "README lacks `{shape}`"
    );
}

/// Starts `tickwire serve --drain-seconds 600` on loopback; returns it and its game port.
fn draining_server(extra: &[&str]) -> (Killed, std::net::SocketAddr, impl Read) {
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(["serve", "--bind", "127.0.0.1:0", "--lobby", "off"])
            .args(["--drain-seconds", "600"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (first, stdout) =
        first_line(BufReader::new(child.0.stdout.take().unwrap()), PATIENCE).unwrap();
    let udp = first
        .trim()
        .strip_prefix("tickwire listening udp=")
        .unwrap_or_else(|| panic!("first line: {first:?}"));
    let addr = udp.split(' ').next().unwrap().parse().unwrap();
    (child, addr, stdout)
}

/// With --drain-seconds, a SIGTERM drains: the connected player keeps playing (30 more
/// snapshots), and a second SIGTERM stops at once (BYE, final line, exit 0).
#[test]
fn sigterm_drains_and_a_second_sigterm_stops() {
    let (mut child, addr, mut stdout) = draining_server(&[]);
    let mut c = NetClient::new(addr);
    c.connect();
    assert!(c.wait_for(Kind::Snapshot, PATIENCE).is_some());
    // SAFETY: signals the child we started.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    for i in 0..30 {
        assert!(
            c.wait_for(Kind::Snapshot, PATIENCE).is_some(),
            "snapshot {i} while draining"
        );
    }
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    assert!(
        c.wait_for(Kind::Bye, PATIENCE).is_some(),
        "BYE on the second SIGTERM"
    );
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("tickwire stopped"), "{rest}");
}

/// A drain ends by itself, with exit 0, once the last player has left; on two loops too.
#[test]
fn a_drain_ends_when_the_last_player_leaves() {
    for extra in [&[][..], &["--matches", "2", "--threads", "2"]] {
        // stdout stays open: the final line is written to it.
        let (mut child, addr, _stdout) = draining_server(extra);
        let mut conn = tickwire::client::blocking::Connection::connect(
            addr,
            tickwire::client::ClientConfig::default(),
            PATIENCE,
        )
        .unwrap();
        unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
        // Still served while draining.
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "{extra:?}: no snapshot while draining"
            );
            if let Ok(Some(tickwire::client::Event::Snapshot { .. })) =
                conn.poll(std::time::Duration::from_millis(100))
            {
                break;
            }
        }
        conn.close().unwrap();
        // Bounded wait for the exit.
        let deadline = std::time::Instant::now() + PATIENCE;
        let status = loop {
            if let Some(s) = child.0.try_wait().unwrap() {
                break s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{extra:?}: still running"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert!(status.success(), "{extra:?}: {status:?}");
    }
}
