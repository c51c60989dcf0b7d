//! The `tickwire-chat` binary against a running lobby: commands go out, notifications
//! are printed.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::lobby::{TestLobby, PATIENCE};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Instant;
use tickwire::client::lobby::Message;
use tickwire::lobby::LobbyConfig;

/// Waits for a printed line containing `want`, bounded by [`PATIENCE`].
fn expect_line(lines: &Receiver<String>, want: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(l) if l.contains(want) => return,
            Ok(_) => {}
            Err(e) => panic!("no line with {want:?}: {e}"),
        }
    }
}

#[test]
fn chat_tool_talks_to_the_lobby() {
    let lobby = TestLobby::start(LobbyConfig::default());
    let mut tool = Command::new(env!("CARGO_BIN_EXE_tickwire-chat"))
        .args(["--server", &lobby.addr.to_string(), "--name", "tooly"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn tickwire-chat");
    let mut stdin = tool.stdin.take().expect("stdin");
    let stdout = tool.stdout.take().expect("stdout");
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    expect_line(&lines, "logged in as tooly");
    writeln!(stdin, "/create tool room 4").unwrap();
    expect_line(&lines, "created and entered room");

    let (mut bob, _) = lobby.user("bob");
    let room = bob.list_rooms().unwrap()[0].room;
    bob.enter_room(room).unwrap();
    expect_line(&lines, "bob entered");
    bob.chat("hi tooly").unwrap();
    expect_line(&lines, "<bob> hi tooly");

    writeln!(stdin, "hello bob").unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        match bob.recv(PATIENCE).unwrap() {
            Some(Message::RoomChatNtf { msg, .. }) if msg.as_str() == "hello bob" => break,
            _ => assert!(Instant::now() < deadline, "no chat from the tool"),
        }
    }
    bob.whisper("tooly", "secret").unwrap();
    expect_line(&lines, "*bob* secret");
    writeln!(stdin, "/nonsense").unwrap();
    writeln!(stdin, "/quit").unwrap();
    let deadline = Instant::now() + PATIENCE;
    while tool.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "tool did not quit");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(tool.wait().unwrap().success());
    // Its logout left the room; bob is told.
    assert!(matches!(
        bob.recv(PATIENCE).unwrap(),
        Some(Message::RoomUserLeaveNtf { .. })
    ));
}

/// Piped input: the tool exits at the end of the input only after printing the replies;
/// an out-of-range MAX is refused; a whisper is confirmed to its sender.
#[test]
fn piped_input_prints_every_reply_before_exiting() {
    let lobby = TestLobby::start(LobbyConfig::default());
    let (_bob, _) = lobby.user("bob");
    let mut tool = Command::new(env!("CARGO_BIN_EXE_tickwire-chat"))
        .args(["--server", &lobby.addr.to_string(), "--name", "piper"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn tickwire-chat");
    let mut stdin = tool.stdin.take().expect("stdin");
    writeln!(stdin, "/create big 1000").unwrap();
    writeln!(stdin, "/create r 200").unwrap();
    writeln!(stdin, "/create piped 4").unwrap();
    writeln!(stdin, "/w bob psst").unwrap();
    writeln!(stdin, "/w nobody psst").unwrap();
    writeln!(stdin, "/echo last").unwrap();
    drop(stdin); // end of input, no /quit
    let stdout = tool.stdout.take().expect("stdout");
    // Reads to the end of the output, which comes when the tool exits.
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let deadline = Instant::now() + PATIENCE;
    while tool.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "tool did not exit at end of input"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(tool.wait().unwrap().success());
    let text = reader.join().unwrap().join("\n");
    assert_eq!(
        text.matches("MAX is 1..=100 users, not ").count(),
        2,
        "{text}"
    );
    assert!(text.contains("created and entered room"), "{text}");
    assert!(!text.contains("big 1000"), "{text}");
    assert!(text.contains("* whispered to bob"), "{text}");
    assert!(text.contains("* whisper to nobody failed"), "{text}");
    assert!(text.contains("* echo: last"), "{text}");
}
