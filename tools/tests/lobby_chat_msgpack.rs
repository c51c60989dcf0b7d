//! `tickwire-chat --msgpack` against a running lobby: every request goes out as type 1
//! (the lobby counts them), the replies and notifications it gets back in type 1 are
//! printed, and a plain user in the same room hears it in plain.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::lobby::{TestLobby, PATIENCE};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Instant;
use tickwire::client::lobby::Message;
use tickwire::lobby::LobbyConfig;

#[test]
fn chat_tool_speaks_messagepack() {
    let lobby = TestLobby::start(LobbyConfig::default());
    let (mut bob, _) = lobby.user("bob");
    let mut tool = Command::new(env!("CARGO_BIN_EXE_tickwire-chat"))
        .args(["--server", &lobby.addr.to_string(), "--name", "packy"])
        .arg("--msgpack")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn tickwire-chat");
    let mut stdin = tool.stdin.take().expect("stdin");
    writeln!(stdin, "/create packed 4").unwrap();
    writeln!(stdin, "/list").unwrap();
    writeln!(stdin, "/echo ping").unwrap();
    // bob enters and chats once the room exists.
    let deadline = Instant::now() + PATIENCE;
    let room = loop {
        if let Some(r) = bob.list_rooms().unwrap().first() {
            break r.room;
        }
        assert!(Instant::now() < deadline, "no room from the tool");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    bob.enter_room(room).unwrap();
    bob.chat("hi packy").unwrap();
    writeln!(stdin, "hello bob").unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        match bob.recv(PATIENCE).unwrap() {
            Some(Message::RoomChatNtf { msg, .. }) if msg.as_str() == "hello bob" => break,
            _ => assert!(Instant::now() < deadline, "no chat from the tool"),
        }
    }
    writeln!(stdin, "/w bob secret").unwrap();
    writeln!(stdin, "/quit").unwrap();
    drop(stdin);
    let stdout = tool.stdout.take().expect("stdout");
    let lines = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let deadline = Instant::now() + PATIENCE;
    while tool.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "tool did not quit");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(tool.wait().unwrap().success());
    let text = lines.join().unwrap().join("\n");
    for want in [
        "logged in as packy",
        "created and entered room",
        "packed",
        "bob entered",
        "<bob> hi packy",
    ] {
        assert!(text.contains(want), "{want:?} in:\n{text}");
    }
    assert!(matches!(
        bob.recv(PATIENCE).unwrap(),
        Some(Message::WhisperNtf { .. })
    ));
    // login, create, list, echo, chat, whisper: all six as type 1, and no ERROR.
    let s = lobby.wait_for("the tool's requests", |s| s.msgpack_in >= 6);
    assert_eq!(s.errors, [0; 4]);
    assert_eq!(s.msgpack_in, 6);
}
