//! The binary: first stdout line, --help, SIGTERM says BYE, prints final stats, exits 0.
mod common;

use common::net::{NetClient, PATIENCE};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use tickwire::wire::Kind;

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
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .strip_prefix("tickwire listening udp=")
        .unwrap_or_else(|| panic!("first line: {first:?}"));
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    assert_ne!(addr.port(), 0, "the real port is printed");
    let mut c = NetClient::new(addr);
    c.connect();
    assert!(c.wait_for(Kind::Snapshot, PATIENCE).is_some());
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    assert!(c.wait_for(Kind::Bye, PATIENCE).is_some(), "BYE on SIGTERM");
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
