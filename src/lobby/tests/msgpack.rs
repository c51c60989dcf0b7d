//! MessagePack bodies in the core: a connection is answered and notified in the format of
//! its last frame; a room of mixed formats hears each notification in each member's own;
//! bad MessagePack is ERROR 4 (in type 1) and a close; types 2..=255 are ERROR 2.

use super::*;
use crate::lobby::frame::HEADER_LEN;
use crate::lobby::msg::Format;
use rand::{rngs::SmallRng, Rng, SeedableRng};

const MP: Format = Format::MsgPack;
const PLAIN: Format = Format::Plain;

impl H {
    fn frame(r: &Request, format: Format) -> Vec<u8> {
        let mut buf = [0; MAX_FRAME];
        let n = r.emit_as(&mut buf, format).unwrap();
        buf[..n].to_vec()
    }

    fn send_as(&mut self, id: usize, r: Request, format: Format) {
        self.feed(id, &H::frame(&r, format));
    }

    /// Every frame queued for `id`, raw.
    fn take_raw(&mut self, id: usize) -> Vec<Vec<u8>> {
        let mut ring = Ring::with_capacity(1 << 20);
        while let Some((_, data)) = self.core.send_data(id) {
            let n = data.len();
            assert!(ring.push(data));
            self.core.sent(id, n);
        }
        let mut scratch = [0; MAX_FRAME];
        let mut out = Vec::new();
        while let Some(f) =
            frame::pop(&mut ring, &mut scratch, id::is_message, <[u8]>::to_vec).unwrap()
        {
            out.push(f);
        }
        out
    }

    /// Everything queued for `id`: each frame's format and message.
    fn take_typed(&mut self, id: usize) -> Vec<(Format, Message)> {
        self.take_raw(id)
            .iter()
            .map(|f| (Format::of_frame(f).unwrap(), Message::parse(f).unwrap()))
            .collect()
    }

    fn req_as(&mut self, id: usize, r: Request, format: Format) -> Vec<(Format, Message)> {
        self.send_as(id, r, format);
        self.take_typed(id)
    }

    fn login_as(&mut self, name: &str, format: Format) -> (usize, u32) {
        let id = self.open();
        match self.req_as(id, Request::Login { name }, format).as_slice() {
            [(
                f,
                Message::LoginRes {
                    result: Status::Ok,
                    user,
                    ..
                },
            )] if *f == format => (id, *user),
            other => panic!("{other:?}"),
        }
    }
}

fn chat(user: u32, msg: &str) -> Message {
    Message::RoomChatNtf {
        user,
        msg: msg.try_into().unwrap(),
    }
}

fn ok(m: Message) -> Message {
    assert_eq!(m.result(), Some(Status::Ok), "{m:?}");
    m
}

#[test]
fn a_type_1_frame_switches_answers_and_notifications_until_a_type_0_frame() {
    let mut h = H::new(LobbyConfig::default());
    let (a, ua) = h.login_as("ann", MP);
    let (b, ub) = h.login_as("bob", PLAIN);
    let room = match &h.req_as(
        a,
        Request::RoomCreate {
            title: "den",
            max: 9,
        },
        MP,
    )[..]
    {
        [(MP, Message::RoomCreateRes { room, .. })] => *room,
        other => panic!("{other:?}"),
    };
    // bob enters in plain: his answer is plain, ann's notification MessagePack.
    match &h.req_as(b, Request::RoomEnter { room }, PLAIN)[..] {
        [(PLAIN, Message::RoomEnterRes { users, .. })] => assert_eq!(users.len(), 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.take_typed(a),
        [(
            MP,
            Message::RoomUserEnterNtf {
                user: ub,
                name: "bob".try_into().unwrap()
            }
        )]
    );
    // Chats both ways: each hears in its own format.
    let got = h.req_as(b, Request::RoomChat { msg: "hi ann" }, PLAIN);
    assert_eq!(
        got,
        [(PLAIN, ok(got[0].1.clone())), (PLAIN, chat(ub, "hi ann"))]
    );
    assert_eq!(h.take_typed(a), [(MP, chat(ub, "hi ann"))]);
    let got = h.req_as(a, Request::RoomChat { msg: "hi bob" }, MP);
    assert_eq!(got, [(MP, ok(got[0].1.clone())), (MP, chat(ua, "hi bob"))]);
    assert_eq!(h.take_typed(b), [(PLAIN, chat(ua, "hi bob"))]);
    // Whisper and invite: the answer in the sender's format, the NTF in the target's.
    let got = h.req_as(
        a,
        Request::Whisper {
            to: "bob",
            msg: "psst",
        },
        MP,
    );
    assert!(matches!(
        got[..],
        [(MP, Message::WhisperRes { result: Status::Ok })]
    ));
    assert!(matches!(
        h.take_typed(b)[..],
        [(PLAIN, Message::WhisperNtf { .. })]
    ));
    let (c, _) = h.login_as("cy", PLAIN);
    let got = h.req_as(a, Request::Invite { to: "cy" }, MP);
    assert!(matches!(
        got[..],
        [(MP, Message::InviteRes { result: Status::Ok })]
    ));
    assert!(matches!(
        h.take_typed(c)[..],
        [(PLAIN, Message::InviteNtf { .. })]
    ));
    // A refused request is answered in MessagePack too, its fields zeroed.
    assert_eq!(
        h.req_as(a, Request::RoomEnter { room }, MP),
        [(
            MP,
            Message::RoomEnterRes {
                result: Status::AlreadyInRoom,
                room: 0,
                users: vec![]
            }
        )]
    );
    // ECHO comes back as the same frame, type 1.
    let echo = H::frame(&Request::Echo(b"ping"), MP);
    h.feed(a, &echo);
    assert_eq!(h.take_raw(a), [echo]);
    // A type-0 frame switches ann back: her answers and notifications are plain again.
    assert_eq!(
        h.req_as(a, Request::Echo(b"p"), PLAIN),
        [(PLAIN, Message::Echo(b"p".to_vec()))]
    );
    h.req_as(b, Request::RoomChat { msg: "plain?" }, PLAIN);
    assert_eq!(h.take_typed(a), [(PLAIN, chat(ub, "plain?"))]);
    // And a type-1 frame to MessagePack again: the room list, then a leave.
    match &h.req_as(a, Request::RoomList, MP)[..] {
        [(MP, Message::RoomListRes { rooms, .. })] => {
            assert_eq!(
                (rooms.len(), rooms[0].users, rooms[0].title.as_str()),
                (1, 2, "den")
            )
        }
        other => panic!("{other:?}"),
    }
    h.req_as(b, Request::RoomLeave, PLAIN);
    assert_eq!(
        h.take_typed(a),
        [(MP, Message::RoomUserLeaveNtf { user: ub })]
    );
    assert_eq!(h.core.stats().errors, [0; 4]);
}

#[test]
fn a_room_of_mixed_formats_hears_each_chat_in_each_members_format() {
    let cfg = LobbyConfig {
        user_msgs_per_sec: 0,
        max_conns: 128,
        max_conns_per_ip: 128,
        ..LobbyConfig::default()
    };
    let tickets = Tickets::new(256);
    let mut h = H {
        core: LobbyCore::new(cfg, tickets.clone()),
        tickets,
        now: Instant::now(),
        closed: Vec::new(),
    };
    let (first, _) = h.login_as("u0", MP);
    let create = Request::RoomCreate {
        title: "big",
        max: 100,
    };
    let room = match &h.req_as(first, create, MP)[..] {
        [(MP, Message::RoomCreateRes { room, .. })] => *room,
        other => panic!("{other:?}"),
    };
    let mut members = vec![(first, MP)];
    for i in 1..100 {
        // Every third member plain, the rest MessagePack.
        let format = if i % 3 == 0 { PLAIN } else { MP };
        let (id, _) = h.login_as(&format!("u{i}"), format);
        h.send_as(id, Request::RoomEnter { room }, format);
        members.push((id, format));
    }
    for &(id, _) in &members {
        h.take_raw(id);
    }
    let (speaker, us) = (members[3].0, 4);
    h.send_as(speaker, Request::RoomChat { msg: "hello all" }, PLAIN);
    let ntf = chat(us, "hello all");
    let mut buf = [0; MAX_FRAME];
    let (n, m) = (ntf.emit_as(&mut buf, PLAIN).unwrap(), buf);
    let plain = m[..n].to_vec();
    let n = ntf.emit_as(&mut buf, MP).unwrap();
    let mp = buf[..n].to_vec();
    for &(id, format) in &members {
        let mut got = h.take_raw(id);
        if id == speaker {
            assert_eq!(
                Message::parse(&got.remove(0)).unwrap().result(),
                Some(Status::Ok)
            );
        }
        let want = if format == MP { &mp } else { &plain };
        assert_eq!(got, std::slice::from_ref(want), "member {id} ({format:?})");
    }
    // A room whose members all speak plain gets plain only.
    let (x, _) = h.login_as("x", PLAIN);
    let (y, _) = h.login_as("y", PLAIN);
    let room = h.create_room(x, "plain", 4);
    h.req_as(y, Request::RoomEnter { room }, PLAIN);
    h.take_raw(x);
    h.send_as(y, Request::RoomChat { msg: "p" }, PLAIN);
    assert!(h.take_typed(x).iter().all(|(f, _)| *f == PLAIN));
}

#[test]
fn bad_messagepack_gets_error_4_in_type_1_and_a_close() {
    let bodies: [&[u8]; 8] = [
        &[0x92, 0xa1, b'a', 0xa1, b'b'],    // LOGIN_REQ of 2 elements
        &[0x91, 0x05],                      // an int for the name
        &[0x91, 0xa2, 0xc3, 0x28],          // bad UTF-8
        &[0x91, 0xa3, b'a', b'n', b'n', 0], // a trailing byte
        &[0x91, 0xa3, b'a', b'n'],          // truncated
        &[0xa3, b'a', b'n', b'n'],          // no array
        &[],                                // no body
        &[0x91, 0xc1],                      // a reserved marker
    ];
    for (i, body) in bodies.into_iter().enumerate() {
        let mut h = H::new(LobbyConfig::default());
        let (good, _) = h.login_as("ok", MP);
        // Logged in plain, then a bad type-1 frame: the ERROR goes out as type 1.
        let (bad, _) = h.login_as("bad", PLAIN);
        let mut f = vec![0, (HEADER_LEN + body.len()) as u8, 0, 10, 1];
        f.extend_from_slice(body);
        h.feed(bad, &f);
        h.send_as(bad, Request::Echo(b"late"), PLAIN);
        assert_eq!(
            h.take_typed(bad),
            [(
                MP,
                Message::Error {
                    code: ErrorCode::BadBody
                }
            )],
            "case {i}"
        );
        h.pump();
        assert_eq!(h.closed, [(bad, CloseReason::BadInput(ErrorCode::BadBody))]);
        assert_eq!(
            h.req_as(good, Request::Echo(b"x"), MP),
            [(MP, Message::Echo(b"x".to_vec()))]
        );
    }
    // A bad range: a room id over u32, on a connection in a room.
    let mut h = H::new(LobbyConfig::default());
    let (a, _) = h.login_as("a", MP);
    h.feed(a, &[0, 15, 0, 24, 1, 0x91, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(
        h.take_typed(a),
        [(
            MP,
            Message::Error {
                code: ErrorCode::BadBody
            }
        )]
    );
    // An unknown id in a type-1 frame: ERROR 3, as type 1.
    let (b, _) = h.login_as("b", PLAIN);
    h.feed(b, &[0, 6, 0x12, 0x34, 1, 0x90]);
    assert_eq!(
        h.take_typed(b),
        [(
            MP,
            Message::Error {
                code: ErrorCode::UnknownId
            }
        )]
    );
}

#[test]
fn types_2_to_255_are_error_2_in_the_connections_format() {
    for t in 2..=255u8 {
        for format in [PLAIN, MP] {
            let mut h = H::new(LobbyConfig::default());
            let (id, _) = h.login_as("ann", format);
            h.feed(id, &[0, 6, 0, 20, t, 0x90]);
            assert_eq!(
                h.take_typed(id),
                [(
                    format,
                    Message::Error {
                        code: ErrorCode::Type
                    }
                )],
                "type {t} after {format:?}"
            );
            h.pump();
            assert_eq!(h.closed, [(id, CloseReason::BadInput(ErrorCode::Type))]);
        }
    }
}

/// Mutated MessagePack frames from a logged-in connection in a room, seeded: no panic; the
/// connection keeps answering, or gets one ERROR, last, in type 1, and is closed.
#[test]
fn mutated_messagepack_never_panics() {
    let mut rng = SmallRng::seed_from_u64(1515);
    let seeds: Vec<Vec<u8>> = Request::samples()
        .iter()
        .chain(&[Request::Echo(b"echo")])
        .map(|r| H::frame(r, MP))
        .collect();
    let (mut errors, mut answered) = (0, 0);
    for _ in 0..300 {
        let mut h = H::new(LobbyConfig::default());
        let (a, _) = h.login_as("ann", MP);
        let room = h.create_room(a, "den", 8);
        let (b, _) = h.login_as("bob", MP);
        h.req_as(b, Request::RoomEnter { room }, MP);
        h.take_raw(a);
        let mut wire = Vec::new();
        for _ in 0..rng.gen_range(1..4) {
            let mut f = seeds[rng.gen_range(0..seeds.len())].clone();
            if rng.gen_bool(0.25) {
                let at = rng.gen_range(HEADER_LEN..f.len());
                match rng.gen_range(0..3) {
                    0 => f[at] = rng.gen(),
                    1 => {
                        f.remove(at);
                    }
                    _ => f.insert(at, rng.gen()),
                }
                let size = (f.len() as u16).to_be_bytes();
                f[..2].copy_from_slice(&size);
            }
            wire.extend(f);
        }
        h.feed(b, &wire);
        let out = h.take_typed(b);
        h.pump();
        let errs: Vec<_> = out
            .iter()
            .filter(|(_, m)| matches!(m, Message::Error { .. }))
            .collect();
        if h.closed.is_empty() {
            assert!(errs.is_empty());
            answered += 1;
        } else {
            errors += 1;
            assert_eq!(errs.len(), 1);
            assert!(
                matches!(out.last(), Some((MP, Message::Error { .. }))),
                "{out:?}"
            );
            assert!(matches!(h.closed[..], [(i, CloseReason::BadInput(_))] if i == b));
        }
        // ann, in the same room, is unharmed.
        assert_eq!(
            h.req_as(a, Request::Echo(b"x"), MP).last(),
            Some(&(MP, Message::Echo(b"x".to_vec())))
        );
    }
    assert!(
        errors > 30 && answered > 30,
        "{errors} closed, {answered} answered"
    );
}
