//! Bad input, split and joined frames, slow readers and connection limits over real
//! sockets: each misbehaving connection is closed alone, the others keep working.

mod common;

use common::lobby::{TestLobby, PATIENCE};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use tickwire::client::lobby::{Error, LobbyClient, Message};
use tickwire::client::lobby::{ErrorCode, Request};
use tickwire::lobby::LobbyConfig;

fn frame(r: Request) -> Vec<u8> {
    let mut buf = [0; 4096];
    let n = r.emit(&mut buf).expect("emit");
    buf[..n].to_vec()
}

/// Everything the server sends until it closes (EOF or reset), bounded by [`PATIENCE`].
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut out = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("server did not close: {e}"),
        }
    }
}

/// Whether the server closed this connection without a word.
fn closed_silently(c: &mut LobbyClient) -> bool {
    match c.recv(PATIENCE) {
        Err(Error::Closed) => true,
        Err(Error::Io(e)) => e.kind() == ErrorKind::ConnectionReset,
        _ => false,
    }
}

#[test]
fn bad_input_gets_error_then_close_and_only_that_connection() {
    let lobby = TestLobby::start(LobbyConfig::default());
    let (mut good, _) = lobby.user("ann");
    good.create_room("den", 10).unwrap();
    let mut late = frame(Request::Echo(b"never answered"));
    let cases: Vec<(Vec<u8>, ErrorCode)> = vec![
        (vec![0, 4, 0, 1, 0], ErrorCode::Size),
        (vec![0, 0, 0, 1, 0], ErrorCode::Size),
        // Size is checked from the header alone: no body is ever sent.
        (vec![0x10, 0x01, 0, 1, 0], ErrorCode::Size),
        (vec![0xFF, 0xFF, 0, 1, 0], ErrorCode::Size),
        // Type 1 is MessagePack; 2..=255 are reserved.
        (vec![0x10, 0x00, 0, 1, 2], ErrorCode::Type),
        (vec![0, 5, 0, 1, 0xFF], ErrorCode::Type),
        (vec![0, 5, 0, 11, 0], ErrorCode::UnknownId),
        (vec![0, 5, 0, 99, 0], ErrorCode::UnknownId),
        (vec![0, 5, 0xAB, 0xCD, 0], ErrorCode::UnknownId),
        (vec![0, 8, 0, 10, 0, 2, 0xC3, 0x28], ErrorCode::BadBody),
        (
            vec![0, 9, 0, 10, 0, 2, b'a', b'b', b'c'],
            ErrorCode::BadBody,
        ),
        (vec![0, 6, 0, 10, 0, 9], ErrorCode::BadBody),
        (vec![0, 6, 0, 27, 0, 0], ErrorCode::BadBody),
        (vec![0, 7, 0, 22, 0, 1, b'x'], ErrorCode::BadBody),
    ];
    let n = cases.len() as u64;
    for (bytes, code) in cases {
        let mut bad = TcpStream::connect(lobby.addr).unwrap();
        // Log in first on some of them, so a user is logged out too.
        let mut wire = frame(Request::Login { name: "mallory" });
        wire.extend_from_slice(&bytes);
        wire.append(&mut late.clone());
        bad.write_all(&wire).unwrap();
        let got = read_to_close(&mut bad);
        let login_res = 5 + 1 + 4 + 8;
        assert_eq!(
            &got[login_res..],
            [0, 6, 0, 99, 0, code as u8],
            "{bytes:?}: ERROR {code:?} and nothing after"
        );
        assert_eq!(good.echo(b"alive").unwrap(), b"alive");
    }
    late.clear();
    let s = lobby.wait_for("bad conns gone", |s| s.conns == 1);
    assert_eq!(s.errors.iter().sum::<u64>(), n);
    assert_eq!(s.errors[ErrorCode::BadBody as usize - 1], 5);
    assert_eq!(s.users, 1);
    assert_eq!(s.rooms, 1);
    assert_eq!(good.list_rooms().unwrap()[0].users, 1);
}

#[test]
fn frames_split_into_bytes_and_joined_in_one_write() {
    let lobby = TestLobby::start(LobbyConfig::default());
    let mut c = lobby.client();
    let mut wire = frame(Request::Login { name: "ann" });
    wire.extend(frame(Request::Echo(&[9; 3000])));
    wire.extend(frame(Request::RoomCreate {
        title: "den",
        max: 2,
    }));
    for b in &wire {
        c.send_raw(std::slice::from_ref(b)).unwrap();
    }
    assert!(matches!(
        c.recv(PATIENCE).unwrap(),
        Some(Message::LoginRes { .. })
    ));
    assert_eq!(
        c.recv(PATIENCE).unwrap(),
        Some(Message::Echo(vec![9; 3000]))
    );
    assert!(matches!(
        c.recv(PATIENCE).unwrap(),
        Some(Message::RoomCreateRes { .. })
    ));
    // 60 frames of many sizes in one write: every one answered, in order.
    let mut wire = Vec::new();
    for i in 0..60usize {
        wire.extend(frame(Request::Echo(&vec![i as u8; (i * 397) % 4000])));
    }
    c.send_raw(&wire).unwrap();
    for i in 0..60usize {
        assert_eq!(
            c.recv(PATIENCE).unwrap(),
            Some(Message::Echo(vec![i as u8; (i * 397) % 4000])),
            "echo {i}"
        );
    }
    assert_eq!(lobby.stats().errors, [0; 4]);
}

#[test]
fn a_slow_reader_is_cut_off_and_memory_stays_bounded() {
    const BOUND: usize = 16 * 1024;
    let lobby = TestLobby::start(LobbyConfig {
        send_buffer_bytes: BOUND,
        // One talker stands for a room's combined rate here: no per-user limit.
        user_msgs_per_sec: 0,
        ..LobbyConfig::default()
    });
    let (mut talker, _) = lobby.user("talker");
    let room = talker.create_room("den", 10).unwrap();
    // The sleeper asks for a small kernel receive buffer, enters, and never reads again.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&lobby.addr.into()).unwrap();
    let mut sleeper = LobbyClient::from_stream(sock.into()).unwrap();
    let sleeper_id = sleeper.login("sleeper").unwrap().user;
    sleeper.enter_room(room).unwrap();
    assert!(matches!(
        talker.recv(PATIENCE).unwrap(),
        Some(Message::RoomUserEnterNtf { .. })
    ));

    let msg = "z".repeat(255);
    let mut cut = false;
    for i in 0..200_000 {
        talker.chat(&msg).unwrap();
        while let Some(m) = talker.recv(Duration::ZERO).unwrap() {
            if m == (Message::RoomUserLeaveNtf { user: sleeper_id }) {
                cut = true;
            }
        }
        if cut {
            break;
        }
        if i % 256 == 0 {
            let s = lobby.stats();
            assert!(s.send_queue_peak <= BOUND, "{s:?}");
        }
    }
    assert!(cut, "the sleeper was never cut off");
    let s = lobby.stats();
    assert_eq!(s.slow_readers_cut, 1);
    assert!(s.send_queue_peak <= BOUND, "{s:?}");
    assert!(s.send_queued <= BOUND);
    assert_eq!((s.conns, s.users), (1, 1));
    eprintln!(
        "slow reader cut after {} bytes out; peak queue {} of {BOUND}",
        s.bytes_out, s.send_queue_peak
    );
    // The talker is unharmed.
    assert_eq!(talker.echo(b"ok").unwrap(), b"ok");
}

#[test]
fn connections_per_ip_are_limited() {
    let lobby = TestLobby::start(LobbyConfig {
        max_conns_per_ip: 2,
        ..LobbyConfig::default()
    });
    let (a, _) = lobby.user("a");
    let (mut b, _) = lobby.user("b");
    let mut c = lobby.client();
    assert!(closed_silently(&mut c));
    let s = lobby.stats();
    assert_eq!((s.refused_per_ip, s.conns), (1, 2));
    drop(a);
    lobby.wait_for("a gone", |s| s.conns == 1);
    lobby.user("c");
    assert_eq!(b.echo(b"x").unwrap(), b"x");
}

#[test]
fn connections_in_total_are_limited() {
    let lobby = TestLobby::start(LobbyConfig {
        max_conns: 2,
        max_conns_per_ip: 10,
        ..LobbyConfig::default()
    });
    let (_a, _) = lobby.user("a");
    let (mut b, _) = lobby.user("b");
    let mut c = lobby.client();
    assert!(closed_silently(&mut c));
    assert_eq!(lobby.stats().refused_total, 1);
    assert_eq!(b.echo(b"x").unwrap(), b"x");
}

/// A full lobby sheds its oldest connection not logged in for a newcomer, through the
/// shell (the shed socket is closed and its token reused). The lurker must be at least
/// `SHED_MIN_AGE` (1 s) old: the test sleeps past it, a lower bound, not a race.
#[test]
fn a_full_lobby_sheds_a_lurker_for_a_newcomer() {
    let lobby = TestLobby::start(LobbyConfig {
        max_conns: 2,
        max_conns_per_ip: 10,
        ..LobbyConfig::default()
    });
    let (mut ann, _) = lobby.user("ann");
    let mut lurker = lobby.client();
    assert_eq!(lurker.echo(b"here").unwrap(), b"here");
    std::thread::sleep(tickwire::lobby::LobbyCore::<()>::SHED_MIN_AGE + Duration::from_millis(100));
    let mut bob = lobby.client();
    bob.login("bob").expect("the newcomer logs in");
    assert!(closed_silently(&mut lurker));
    let s = lobby.stats();
    assert_eq!((s.shed, s.refused_total, s.conns, s.users), (1, 0, 2, 2));
    assert_eq!(ann.echo(b"x").unwrap(), b"x");
    assert_eq!(bob.echo(b"y").unwrap(), b"y");
}

#[test]
fn shutdown_closes_everyone() {
    let lobby = TestLobby::start(LobbyConfig::default());
    let (mut a, _) = lobby.user("a");
    let s = lobby.stop();
    assert_eq!(s.conns, 0);
    assert!(closed_silently(&mut a));
}

/// The shell wires the core's deadlines to the loop: an idle connection and a slowloris
/// are closed (the deadlines are short; the test only waits for them to pass, bounded).
#[test]
fn the_loop_closes_idle_and_slowloris_connections() {
    let lobby = TestLobby::start(LobbyConfig {
        idle_timeout: Duration::from_millis(1500),
        frame_deadline: Duration::from_millis(100),
        ..LobbyConfig::default()
    });
    let (mut idle, _) = lobby.user("idle");
    let mut slow = lobby.client();
    slow.send_raw(&[0, 9, 0]).unwrap(); // a frame started, never finished
    assert!(closed_silently(&mut slow));
    assert!(closed_silently(&mut idle));
    let s = lobby.wait_for("both gone", |s| s.conns == 0);
    assert_eq!((s.idle_cut, s.frame_deadline_cut, s.users), (1, 1, 0));
}

/// More than one read budget (64 KiB) of pipelined frames in one burst: the lobby reads it
/// over several turns of the loop and answers every frame, in order, while another client
/// keeps being served.
#[test]
fn a_burst_larger_than_the_read_budget_is_read_over_several_turns() {
    let lobby = TestLobby::start(LobbyConfig {
        send_buffer_bytes: 1 << 20,
        ..LobbyConfig::default()
    });
    let c = lobby.client();
    let (mut other, _) = lobby.user("bob");
    let mut wire = Vec::new();
    let n = 100usize;
    for i in 0..n {
        wire.extend(frame(Request::Echo(&[i as u8; 4000])));
    }
    assert!(wire.len() > 3 * 64 * 1024);
    let mut writer = c.try_clone().unwrap();
    let send = std::thread::spawn(move || writer.send_raw(&wire).unwrap());
    let mut c = c;
    for i in 0..n {
        assert_eq!(
            c.recv(PATIENCE).unwrap(),
            Some(Message::Echo(vec![i as u8; 4000])),
            "echo {i}"
        );
        if i % 25 == 0 {
            other.echo(b"still here").unwrap();
        }
    }
    send.join().unwrap();
    assert_eq!(lobby.stats().errors, [0; 4]);
    assert_eq!(lobby.stats().slow_readers_cut, 0);
}

/// One member's burst of chats, larger than a member's send ring, reaches every member
/// that keeps reading: nobody is cut as a slow reader (the shell writes out every member
/// between the chunks it reads, not only the sender).
#[test]
fn a_chat_burst_reaches_every_reading_member() {
    let lobby = TestLobby::start(LobbyConfig {
        max_conns_per_ip: 100,
        // A burst of 700 chats from one user is what this measures: no per-user limit.
        user_msgs_per_sec: 0,
        ..LobbyConfig::default()
    });
    let (mut sender, _) = lobby.user("loud");
    let room = sender.create_room("hall", 100).unwrap();
    let members = 20;
    let chats = 700usize;
    let readers: Vec<_> = (0..members)
        .map(|i| {
            let (mut c, _) = lobby.user(&format!("m{i}"));
            c.enter_room(room).unwrap();
            std::thread::spawn(move || {
                let mut got = 0;
                while got < chats {
                    match c.recv(PATIENCE) {
                        Ok(Some(Message::RoomChatNtf { .. })) => got += 1,
                        Ok(Some(_)) => {}
                        other => panic!("member cut after {got} chats: {other:?}"),
                    }
                }
                got
            })
        })
        .collect();
    // Let the sender see every member's enter before the burst.
    sender.echo(b"sync").unwrap();
    while let Ok(Some(m)) = sender.recv(Duration::from_millis(200)) {
        if let Message::Echo(_) = m {
            break;
        }
    }
    let text = "x".repeat(100);
    let mut wire = Vec::new();
    for _ in 0..chats {
        wire.extend(frame(Request::RoomChat { msg: &text }));
    }
    assert!(wire.len() > 64 * 1024, "more than a member's send ring");
    sender.send_raw(&wire).unwrap();
    for r in readers {
        assert_eq!(r.join().unwrap(), chats);
    }
    assert_eq!(lobby.stats().slow_readers_cut, 0);
}
