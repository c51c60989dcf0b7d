//! The real `tickwire serve` lobby against an independent MessagePack client:
//! `tools/lobby_msgpack_client.py`, written from docs/LOBBY.md ("MessagePack bodies") alone
//! with Python's `msgpack` package. It logs in, creates a room, lists, enters, chats,
//! whispers, echoes and leaves in type 1, and checks every frame it gets is type 1 and the
//! documented array; bad MessagePack gets ERROR 4 in type 1. Meanwhile a plain
//! [`LobbyClient`] in the same lobby is answered in plain.
//!
//! Needs Python with `msgpack`: run `tools/install-test-deps.sh` (a virtual environment
//! under `target/test-venv/`; `TICKWIRE_PYTHON` overrides).
#[path = "../../tests/common/mod.rs"]
mod common;

use common::net::PATIENCE;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use tickwire::client::lobby::{Format, LobbyClient, Message};
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

/// Kills the server if the test fails before it stops it.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_python_messagepack_client_talks_to_tickwire_serve() {
    let ok = Command::new(python())
        .args(["-c", "import msgpack"])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{} with `msgpack` is needed: run tools/install-test-deps.sh",
        python().display()
    );
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (first, _stdout) =
        first_line(BufReader::new(child.0.stdout.take().unwrap()), PATIENCE).unwrap();
    let lobby = first
        .split_whitespace()
        .find_map(|w| w.strip_prefix("lobby="))
        .unwrap_or_else(|| panic!("no lobby address in {first:?}"))
        .to_string();

    // A plain client, logged in before and still there after.
    let mut plain = LobbyClient::connect(&lobby).unwrap();
    plain.set_timeout(PATIENCE);
    plain.login("rusty").unwrap();

    let run = Command::new(python())
        .arg(PathBuf::from(ROOT).join("tools/lobby_msgpack_client.py"))
        .args(["--server", &lobby, "--timeout", "20"])
        .stdin(Stdio::null())
        .output()
        .expect("run python");
    let said = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for want in [
        "login ann-py user ",
        "created room ",
        "bob-py entered; ann-py was told",
        "chat: <bob-py> hello from python",
        "whisper: *ann-py* psst",
        "echo and a uint 32 room id: ok",
        "bob-py left; ann-py was told",
        "bad MessagePack: ERROR 4 in type 1, closed",
        "type 2: ERROR 2 in type 1, closed",
        "ok",
    ] {
        assert!(
            said.lines().any(|l| l.starts_with(want)),
            "{want:?} in:\n{said}"
        );
    }
    // The plain client is still answered in plain, and a MessagePack one by the library
    // is answered too: both enter a room the Python users left behind (it is gone: they
    // logged out, so create one).
    assert_eq!(plain.format(), Format::Plain);
    let room = plain.create_room("after", 4).unwrap();
    let mut mp = LobbyClient::connect(&lobby).unwrap();
    mp.set_timeout(PATIENCE);
    mp.set_format(Format::MsgPack);
    mp.login("mappy").unwrap();
    assert_eq!(mp.enter_room(room).unwrap().len(), 2);
    mp.chat("from msgpack").unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        match plain.recv(PATIENCE).unwrap() {
            Some(Message::RoomChatNtf { msg, .. }) if msg.as_str() == "from msgpack" => break,
            _ => assert!(std::time::Instant::now() < deadline, "no chat from mappy"),
        }
    }

    // SAFETY: signals the child we started.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
