//! MessagePack bodies (frame type 1) over real sockets: `LobbyClient` in MessagePack for
//! every request, beside plain clients in the same room; the frames on the wire are type 1
//! for a connection that speaks it, answers and notifications alike.

mod common;

use common::lobby::{TestLobby, PATIENCE};
use std::io::{Read, Write};
use std::net::TcpStream;
use tickwire::client::lobby::{Error, Format, LobbyClient, Message, Status};
use tickwire::lobby::LobbyConfig;

fn ntf(c: &mut LobbyClient) -> Message {
    c.recv(PATIENCE).expect("recv").expect("a notification")
}

fn mp_user(lobby: &TestLobby, name: &str) -> (LobbyClient, u32) {
    let mut c = lobby.client();
    c.set_format(Format::MsgPack);
    let login = c.login(name).expect("login");
    (c, login.user)
}

/// Reads one whole frame from a raw stream.
fn read_frame(s: &mut TcpStream) -> Vec<u8> {
    let mut f = vec![0; 5];
    s.read_exact(&mut f).expect("header");
    let size = usize::from(u16::from_be_bytes([f[0], f[1]]));
    f.resize(size, 0);
    s.read_exact(&mut f[5..]).expect("body");
    f
}

#[test]
fn every_request_in_messagepack_beside_plain_clients() {
    let lobby = TestLobby::start(LobbyConfig::default());
    let (mut ann, ua) = mp_user(&lobby, "ann");
    let (mut bob, ub) = lobby.user("bob");
    let (mut cy, uc) = mp_user(&lobby, "cy");
    assert_eq!(ann.format(), Format::MsgPack);
    let big = vec![0xEE; 4086];
    assert_eq!(ann.echo(&big).unwrap(), big);
    assert_eq!(ann.echo(b"").unwrap(), b"");
    let room = ann.create_room("lounge", 8).unwrap();
    let rooms = bob.list_rooms().unwrap();
    assert_eq!((rooms.len(), rooms[0].room, rooms[0].users), (1, room, 1));
    assert_eq!(
        cy.list_rooms().unwrap(),
        rooms,
        "the same list in both formats"
    );
    assert_eq!(bob.enter_room(room).unwrap().len(), 2);
    assert!(matches!(ntf(&mut ann), Message::RoomUserEnterNtf { user, .. } if user == ub));
    let users = cy.enter_room(room).unwrap();
    let names: Vec<_> = users.iter().map(|u| (u.user, u.name.as_str())).collect();
    assert_eq!(names, [(ua, "ann"), (ub, "bob"), (uc, "cy")]);
    for c in [&mut ann, &mut bob] {
        assert!(matches!(ntf(c), Message::RoomUserEnterNtf { user, .. } if user == uc));
    }
    cy.chat("hello").unwrap();
    for c in [&mut ann, &mut bob, &mut cy] {
        assert!(
            matches!(ntf(c), Message::RoomChatNtf { user, ref msg } if user == uc && msg.as_str() == "hello")
        );
    }
    ann.whisper("bob", "psst").unwrap();
    assert!(matches!(ntf(&mut bob), Message::WhisperNtf { user, .. } if user == ua));
    bob.whisper("ann", "back").unwrap();
    assert!(matches!(ntf(&mut ann), Message::WhisperNtf { user, .. } if user == ub));
    let (mut dee, _) = mp_user(&lobby, "dee");
    cy.invite("dee").unwrap();
    assert!(matches!(ntf(&mut dee), Message::InviteNtf { room: r, .. } if r == room));
    // Refusals come back in MessagePack with their fields zeroed.
    assert!(matches!(
        dee.leave_room(),
        Err(Error::Refused(Status::NotInRoom))
    ));
    assert!(matches!(
        dee.enter_room(999),
        Err(Error::Refused(Status::NoSuchRoom))
    ));
    assert!(matches!(
        dee.login("x"),
        Err(Error::Refused(Status::AlreadyLoggedIn))
    ));
    assert!(matches!(
        dee.token(0),
        Err(Error::Refused(Status::BadRequest))
    ));
    cy.leave_room().unwrap();
    for c in [&mut ann, &mut bob] {
        assert!(matches!(ntf(c), Message::RoomUserLeaveNtf { user } if user == uc));
    }
    // A reader clone speaks the same format; back to plain works too.
    let reader = ann.try_clone().unwrap();
    assert_eq!(reader.format(), Format::MsgPack);
    ann.set_format(Format::Plain);
    assert_eq!(ann.echo(b"plain again").unwrap(), b"plain again");
    bob.chat("to both").unwrap();
    assert!(matches!(ntf(&mut ann), Message::RoomChatNtf { user, .. } if user == ub));
    drop(reader);
    let s = lobby.stop();
    assert_eq!(s.errors, [0; 4]);
    // ann's 5 requests before she went plain, cy's 6 and dee's 5 came as MessagePack.
    assert_eq!(s.msgpack_in, 16);
}

#[test]
fn the_wire_carries_type_1_to_a_messagepack_connection() {
    let lobby = TestLobby::start(LobbyConfig::default());
    let (mut plain, _) = lobby.user("bob");
    let room = plain.create_room("den", 4).unwrap();
    let mut raw = TcpStream::connect(lobby.addr).unwrap();
    raw.set_read_timeout(Some(PATIENCE)).unwrap();
    // LOGIN_REQ ["ann"], ROOM_ENTER_REQ [room], by hand (docs/LOBBY.md examples).
    raw.write_all(&[0, 10, 0, 10, 1, 0x91, 0xa3, b'a', b'n', b'n'])
        .unwrap();
    let login = read_frame(&mut raw);
    assert_eq!(
        login[..6],
        [0, 17, 0, 11, 1, 0x93],
        "LOGIN_RES, type 1: {login:02x?}"
    );
    assert_eq!(login[6], 0, "result ok");
    let room = u8::try_from(room).unwrap();
    raw.write_all(&[0, 7, 0, 24, 1, 0x91, room]).unwrap();
    let enter = read_frame(&mut raw);
    assert_eq!(
        enter[2..7],
        [0, 25, 1, 0x94, 0],
        "ROOM_ENTER_RES ok, type 1: {enter:02x?}"
    );
    assert!(matches!(ntf(&mut plain), Message::RoomUserEnterNtf { .. }));
    // The plain user's chat reaches the raw connection as type 1: [user, "yo"].
    plain.chat("yo").unwrap();
    let chat = read_frame(&mut raw);
    assert_eq!(chat[2..5], [0, 32, 1]);
    assert_eq!(chat[5], 0x92);
    assert_eq!(chat[chat.len() - 3..], [0xa2, b'y', b'o']);
    assert!(matches!(
        Message::parse(&chat),
        Ok(Message::RoomChatNtf { .. })
    ));
    // A type-0 ECHO switches it back: the next chat is type 0.
    raw.write_all(&[0, 5, 0, 1, 0]).unwrap();
    assert_eq!(read_frame(&mut raw), [0, 5, 0, 1, 0]);
    plain.chat("yo").unwrap();
    assert_eq!(read_frame(&mut raw)[2..5], [0, 32, 0]);
    // Bad MessagePack: ERROR 4 in type 1, then the server closes.
    raw.write_all(&[0, 7, 0, 30, 1, 0x91, 0x05]).unwrap();
    assert_eq!(read_frame(&mut raw), [0, 7, 0, 99, 1, 0x91, 4]);
    let mut rest = Vec::new();
    raw.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    // bob hears his own two chats, then ann leave.
    for _ in 0..2 {
        assert!(matches!(ntf(&mut plain), Message::RoomChatNtf { .. }));
    }
    assert!(matches!(ntf(&mut plain), Message::RoomUserLeaveNtf { .. }));
    assert_eq!(lobby.stop().errors, [0, 0, 0, 1]);
}
