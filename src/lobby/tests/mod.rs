//! Tests of the sans-IO core: reassembly, every request, deadlines with injected time,
//! slow readers, tickets. No sockets, no clock.

use super::frame::{self, MAX_FRAME};
use super::msg::{id, ErrorCode, Message, Request, Status};
use super::ring::Ring;
use super::{CloseReason, LobbyConfig, LobbyCore, Refusal};
use crate::tickets::Tickets;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

mod baccarat;
mod deadlines;
mod flood;
mod msgpack;
mod names;
mod pool;
mod sessions;
mod tokens;
mod unauth;

const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct H {
    core: LobbyCore<()>,
    tickets: Tickets,
    now: Instant,
    closed: Vec<(usize, CloseReason)>,
}

impl H {
    fn new(cfg: LobbyConfig) -> H {
        let tickets = Tickets::new(64);
        H {
            core: LobbyCore::new(cfg, tickets.clone()),
            tickets,
            now: Instant::now(),
            closed: Vec::new(),
        }
    }

    fn open(&mut self) -> usize {
        self.core.open(IP, (), self.now).unwrap()
    }

    /// Feeds bytes the way the shell does: into whatever contiguous space the ring offers.
    fn feed(&mut self, id: usize, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let Some((_, space)) = self.core.recv_space(id) else {
                return;
            };
            let n = space.len().min(bytes.len());
            space[..n].copy_from_slice(&bytes[..n]);
            self.core.received(id, n, self.now);
            bytes = &bytes[n..];
        }
    }

    fn send(&mut self, id: usize, r: Request) {
        let mut buf = [0; MAX_FRAME];
        let n = r.emit(&mut buf).unwrap();
        self.feed(id, &buf[..n]);
    }

    /// Everything queued for `id`, parsed.
    fn take(&mut self, id: usize) -> Vec<Message> {
        let mut ring = Ring::with_capacity(1 << 20);
        while let Some((_, data)) = self.core.send_data(id) {
            let n = data.len();
            assert!(ring.push(data));
            self.core.sent(id, n);
        }
        let mut scratch = [0; MAX_FRAME];
        let mut out = Vec::new();
        while let Some(m) =
            frame::pop(&mut ring, &mut scratch, id::is_message, Message::parse).unwrap()
        {
            out.push(m.unwrap());
        }
        assert!(ring.is_empty());
        out
    }

    fn req(&mut self, id: usize, r: Request) -> Vec<Message> {
        self.send(id, r);
        self.take(id)
    }

    /// What the shell does after each event: close what was marked.
    fn pump(&mut self) {
        while self.core.pop_dirty().is_some() {}
        while let Some((id, why)) = self.core.pop_closing() {
            self.core.remove(id);
            self.closed.push((id, why));
        }
    }

    /// Creates a room as `id` (who enters it) and returns its number.
    fn create_room(&mut self, id: usize, title: &str, max: u8) -> u32 {
        match self.req(id, Request::RoomCreate { title, max }).as_slice() {
            [Message::RoomCreateRes {
                result: Status::Ok,
                room,
            }] => *room,
            other => panic!("{other:?}"),
        }
    }

    fn login(&mut self, name: &str) -> (usize, u32) {
        let id = self.open();
        match self.req(id, Request::Login { name }).as_slice() {
            [Message::LoginRes {
                result: Status::Ok,
                user,
                ..
            }] => (id, *user),
            other => panic!("{other:?}"),
        }
    }
}

fn status(m: &[Message]) -> Vec<Option<Status>> {
    m.iter().map(Message::result).collect()
}

/// A stream of requests with frames of many sizes, to feed in pieces.
fn script() -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0; MAX_FRAME];
    let big = vec![b'x'; MAX_FRAME - 5];
    let reqs = [
        Request::Echo(b"a"),
        Request::Login { name: "ann" },
        Request::Echo(&big),
        Request::RoomCreate {
            title: "lounge",
            max: 4,
        },
        Request::Echo(&big[..3000]),
        Request::RoomChat { msg: "hello" },
        Request::Echo(&big[..17]),
        Request::RoomList,
        Request::Echo(&big),
        Request::RoomLeave,
    ];
    for r in reqs.iter().cycle().take(40) {
        let n = r.emit(&mut buf).unwrap();
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn run_split(splits: &[usize]) -> Vec<Message> {
    let mut h = H::new(LobbyConfig::default());
    let id = h.open();
    let bytes = script();
    let mut rest = &bytes[..];
    let mut out = Vec::new();
    for &s in splits.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let n = s.clamp(1, rest.len());
        h.feed(id, &rest[..n]);
        rest = &rest[n..];
        // Tickets are random: compare everything else.
        out.extend(h.take(id).into_iter().map(|m| match m {
            Message::LoginRes { result, user, .. } => Message::LoginRes {
                result,
                user,
                ticket: 0,
            },
            m => m,
        }));
    }
    assert_eq!(h.core.stats().errors, [0; 4]);
    out
}

#[test]
fn one_byte_at_a_time_equals_all_at_once() {
    let whole = run_split(&[usize::MAX]);
    assert_eq!(whole.len(), 40 + 4, "every request answered, chats echoed");
    assert!(run_split(&[1]) == whole, "one byte at a time differs");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_splits_equal_all_at_once(splits in prop::collection::vec(1usize..9000, 1..64)) {
        prop_assert!(run_split(&splits) == run_split(&[usize::MAX]), "split stream differs");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Any bytes, in any splits: no panic; the connection either keeps answering or gets
    /// exactly one ERROR, last, and is closed.
    #[test]
    fn arbitrary_bytes_never_panic(
        prefix in prop::collection::vec(any::<u8>(), 0..64),
        bytes in prop::collection::vec(any::<u8>(), 0..6000),
        split in 1usize..700,
    ) {
        let mut h = H::new(LobbyConfig::default());
        let id = h.open();
        // A valid login first, so garbage also meets a logged-in session.
        h.send(id, Request::Login { name: "ann" });
        let mut wire = prefix;
        wire.extend_from_slice(&bytes);
        for chunk in wire.chunks(split) {
            h.feed(id, chunk);
        }
        let out = h.take(id);
        h.pump();
        let errors = out.iter().filter(|m| matches!(m, Message::Error { .. })).count();
        if h.closed.is_empty() {
            prop_assert_eq!(errors, 0);
        } else {
            prop_assert_eq!(errors, 1);
            let last_is_error = matches!(out.last(), Some(Message::Error { .. }));
            prop_assert!(last_is_error, "ERROR is not last");
            let closed_alone = matches!(h.closed[..], [(i, CloseReason::BadInput(_))] if i == id);
            prop_assert!(closed_alone, "not closed for bad input");
            prop_assert_eq!(h.core.stats().users, 0);
        }
    }
}

#[test]
fn nothing_follows_an_error_even_from_a_room() {
    let mut h = H::new(LobbyConfig::default());
    let (a, _) = h.login("ann");
    let (b, _) = h.login("bob");
    let room = h.create_room(a, "den", 9);
    h.req(b, Request::RoomEnter { room });
    h.take(a);
    h.feed(b, &[0, 5, 0, 0, 0]); // unknown id 0; b is closing but not yet removed
    h.req(a, Request::RoomChat { msg: "hi" });
    assert_eq!(
        h.take(b),
        [Message::Error {
            code: ErrorCode::UnknownId
        }]
    );
}

#[test]
fn every_request_needs_a_login_but_echo_and_the_logins() {
    let mut h = H::new(LobbyConfig::default());
    let id = h.open();
    // Every request of the table, from its one list.
    let reqs = Request::samples()
        .into_iter()
        .filter(|r| !matches!(r, Request::Login { .. } | Request::SessionLogin { .. }));
    for r in reqs {
        assert_eq!(status(&h.req(id, r)), [Some(Status::NotLoggedIn)], "{r:?}");
    }
    assert_eq!(
        h.req(id, Request::Echo(b"hi")),
        [Message::Echo(b"hi".to_vec())]
    );
    // Failed RES carry every later field, zeroed.
    assert_eq!(
        h.req(id, Request::RoomEnter { room: 1 }),
        [Message::RoomEnterRes {
            result: Status::NotLoggedIn,
            room: 0,
            users: vec![]
        }]
    );
}

#[test]
fn login_results() {
    let mut h = H::new(LobbyConfig::default());
    let (a, _) = h.login("ann");
    assert_eq!(
        status(&h.req(a, Request::Login { name: "bob" })),
        [Some(Status::AlreadyLoggedIn)]
    );
    let b = h.open();
    for (name, want) in [
        ("ann", Status::NameTaken),
        ("", Status::BadName),
        ("a\tb", Status::BadName),
        ("seventeen-bytes!!", Status::BadName),
    ] {
        assert_eq!(
            h.req(b, Request::Login { name }),
            [Message::LoginRes {
                result: want,
                user: 0,
                ticket: 0
            }]
        );
    }
}

#[test]
fn ticket_is_issued_at_login_and_revoked_at_logout() {
    let mut h = H::new(LobbyConfig::default());
    let id = h.open();
    let [Message::LoginRes { ticket, user, .. }] = h.req(id, Request::Login { name: "ann" })[..]
    else {
        panic!()
    };
    assert!(h.tickets.is_valid(ticket));
    h.core.close(id, CloseReason::PeerClosed);
    h.pump();
    assert!(!h.tickets.is_valid(ticket));
    assert_eq!(h.core.stats().users, 0);
    // And once redeemed, it is gone.
    let id = h.open();
    let [Message::LoginRes { ticket, .. }] = h.req(id, Request::Login { name: "ann" })[..] else {
        panic!()
    };
    let holder = h.tickets.redeem(ticket).unwrap();
    assert_eq!(holder.name.as_str(), "ann");
    assert_ne!(holder.user, user, "user ids are not reused");
    assert_eq!(h.tickets.redeem(ticket), None);
}

#[test]
fn rooms_enter_leave_chat_whisper_invite() {
    let mut h = H::new(LobbyConfig::default());
    let (a, ua) = h.login("ann");
    let (b, ub) = h.login("bob");
    let (c, uc) = h.login("cy");
    let [Message::RoomCreateRes {
        result: Status::Ok,
        room,
    }] = h.req(
        a,
        Request::RoomCreate {
            title: "den",
            max: 2,
        },
    )[..]
    else {
        panic!()
    };
    // A second create while in a room.
    assert_eq!(
        status(&h.req(a, Request::RoomCreate { title: "x", max: 2 })),
        [Some(Status::AlreadyInRoom)]
    );
    // Invite bob: ann gets RES, bob gets NTF.
    assert_eq!(
        status(&h.req(a, Request::Invite { to: "bob" })),
        [Some(Status::Ok)]
    );
    let ann = crate::tickets::Name::from("ann").unwrap();
    assert_eq!(h.take(b), [Message::InviteNtf { room, name: ann }]);
    // Bob enters: sees both, entrant included; ann is told.
    match &h.req(b, Request::RoomEnter { room })[..] {
        [Message::RoomEnterRes {
            result: Status::Ok,
            room: r,
            users,
        }] => {
            assert_eq!(*r, room);
            let ids: Vec<u32> = users.iter().map(|u| u.user).collect();
            assert_eq!(ids, [ua, ub]);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(h.take(a)[..], [Message::RoomUserEnterNtf { user, .. }] if user == ub));
    // The room holds 2: cy is refused; a room that does not exist.
    assert_eq!(
        status(&h.req(c, Request::RoomEnter { room })),
        [Some(Status::RoomFull)]
    );
    assert_eq!(
        status(&h.req(c, Request::RoomEnter { room: 999 })),
        [Some(Status::NoSuchRoom)]
    );
    // Chat: everyone in the room, sender too, RES first.
    let out = h.req(b, Request::RoomChat { msg: "hi" });
    assert_eq!(status(&out), [Some(Status::Ok), None]);
    assert!(
        matches!(&out[1], Message::RoomChatNtf { user, msg } if *user == ub && msg.as_str() == "hi")
    );
    assert_eq!(h.take(a), out[1..]);
    assert!(h.take(c).is_empty(), "outsiders hear nothing");
    assert_eq!(
        status(&h.req(c, Request::RoomChat { msg: "x" })),
        [Some(Status::NotInRoom)]
    );
    assert_eq!(
        status(&h.req(b, Request::RoomChat { msg: "" })),
        [Some(Status::BadRequest)]
    );
    // Whisper across rooms.
    assert_eq!(
        status(&h.req(
            c,
            Request::Whisper {
                to: "ann",
                msg: "psst"
            }
        )),
        [Some(Status::Ok)]
    );
    assert!(
        matches!(&h.take(a)[..], [Message::WhisperNtf { user, name, msg }]
        if *user == uc && name.as_str() == "cy" && msg.as_str() == "psst")
    );
    assert_eq!(
        status(&h.req(
            c,
            Request::Whisper {
                to: "nobody",
                msg: "x"
            }
        )),
        [Some(Status::NoSuchUser)]
    );
    assert_eq!(
        status(&h.req(c, Request::Invite { to: "ann" })),
        [Some(Status::NotInRoom)]
    );
    assert_eq!(
        status(&h.req(a, Request::Invite { to: "nobody" })),
        [Some(Status::NoSuchUser)]
    );
    assert_eq!(
        status(&h.req(a, Request::Invite { to: "ann" })),
        [Some(Status::BadRequest)]
    );
    // Leave: the other is told; leaving twice.
    assert_eq!(status(&h.req(b, Request::RoomLeave)), [Some(Status::Ok)]);
    assert_eq!(h.take(a), [Message::RoomUserLeaveNtf { user: ub }]);
    assert_eq!(
        status(&h.req(b, Request::RoomLeave)),
        [Some(Status::NotInRoom)]
    );
    // The last one out: the room disappears.
    assert_eq!(h.core.stats().rooms, 1);
    assert_eq!(status(&h.req(a, Request::RoomLeave)), [Some(Status::Ok)]);
    assert_eq!(h.core.stats().rooms, 0);
    assert_eq!(
        h.req(a, Request::RoomList),
        [Message::RoomListRes {
            result: Status::Ok,
            rooms: vec![]
        }]
    );
}

#[test]
fn a_closed_connection_leaves_its_room_and_the_room_is_told() {
    let mut h = H::new(LobbyConfig::default());
    let (a, _) = h.login("ann");
    let (b, ub) = h.login("bob");
    let room = h.create_room(a, "den", 9);
    h.req(b, Request::RoomEnter { room });
    h.take(a);
    h.core.peer_closed(b);
    h.pump();
    assert_eq!(h.take(a), [Message::RoomUserLeaveNtf { user: ub }]);
    assert_eq!(h.core.stats().users, 1);
}

#[test]
fn limits_rooms_room_size_and_connections() {
    let cfg = LobbyConfig {
        max_rooms: 1,
        max_room_users: 200, // capped to 100
        max_conns: 3,
        max_conns_per_ip: 2,
        ..LobbyConfig::default()
    };
    let mut h = H::new(cfg);
    let (a, _) = h.login("ann");
    let (b, _) = h.login("bob");
    let [Message::RoomCreateRes { result, .. }] = h.req(
        a,
        Request::RoomCreate {
            title: "den",
            max: 255,
        },
    )[..] else {
        panic!()
    };
    assert_eq!(result, Status::Ok);
    assert_eq!(
        status(&h.req(
            b,
            Request::RoomCreate {
                title: "two",
                max: 2
            }
        )),
        [Some(Status::ServerFull)]
    );
    assert_eq!(
        status(&h.req(b, Request::RoomCreate { title: "", max: 2 })),
        [Some(Status::BadRequest)]
    );
    assert_eq!(
        status(&h.req(b, Request::RoomCreate { title: "z", max: 0 })),
        [Some(Status::BadRequest)]
    );
    match &h.req(b, Request::RoomList)[..] {
        [Message::RoomListRes { rooms, .. }] => assert_eq!(rooms[0].max, 100),
        other => panic!("{other:?}"),
    }
    // Per IP: 2 already from 127.0.0.1.
    assert!(matches!(
        h.core.open(IP, (), h.now),
        Err(((), Refusal::TooManyFromIp))
    ));
    let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    h.core.open(other, (), h.now).unwrap();
    assert!(matches!(
        h.core
            .open(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)), (), h.now),
        Err(((), Refusal::TooManyConns))
    ));
    let s = h.core.stats();
    assert_eq!((s.refused_per_ip, s.refused_total, s.conns), (1, 1, 3));
    // Closing one frees its IP's slot.
    h.core.close(a, CloseReason::PeerClosed);
    h.pump();
    assert!(h.core.open(IP, (), h.now).is_ok());
}

#[test]
fn bad_input_gets_error_and_closes_only_that_connection() {
    let cases: [(&[u8], ErrorCode); 7] = [
        (&[0, 4, 0, 1, 0], ErrorCode::Size),
        (&[0x10, 0x01, 0, 1, 0], ErrorCode::Size),
        (&[0, 5, 0, 1, 2], ErrorCode::Type),
        (&[0, 5, 0, 1, 255], ErrorCode::Type),
        (&[0, 5, 0, 11, 0], ErrorCode::UnknownId),
        (&[0, 5, 0x12, 0x34, 0], ErrorCode::UnknownId),
        (&[0, 8, 0, 10, 0, 2, 0xC3, 0x28], ErrorCode::BadBody),
    ];
    for (i, (bytes, code)) in cases.into_iter().enumerate() {
        let mut h = H::new(LobbyConfig::default());
        let (good, _) = h.login("ann");
        let bad = h.open();
        // The bad frame, then a good one that must not be answered.
        h.feed(bad, bytes);
        h.send(bad, Request::Echo(b"late"));
        assert_eq!(h.take(bad), [Message::Error { code }], "case {i}");
        h.pump();
        assert_eq!(h.closed, [(bad, CloseReason::BadInput(code))]);
        assert_eq!(h.core.stats().errors[code as usize - 1], 1);
        assert_eq!(
            h.req(good, Request::Echo(b"ok")),
            [Message::Echo(b"ok".to_vec())]
        );
    }
}

#[test]
fn a_slow_reader_is_cut_and_memory_stays_bounded() {
    let cfg = LobbyConfig {
        send_buffer_bytes: 16 * 1024,
        // The room's combined rate, not one user's, is what outruns a reader: no limit.
        user_msgs_per_sec: 0,
        ..LobbyConfig::default()
    };
    let mut h = H::new(cfg);
    let (talker, _) = h.login("ann");
    let (sleeper, _) = h.login("bob");
    let room = h.create_room(talker, "den", 9);
    h.req(sleeper, Request::RoomEnter { room }); // and never reads again
    let msg = "x".repeat(255);
    for _ in 0..1000 {
        h.req(talker, Request::RoomChat { msg: &msg });
        assert!(h.core.queued(sleeper) <= 16 * 1024);
        h.pump();
        if !h.closed.is_empty() {
            break;
        }
    }
    assert_eq!(h.closed, [(sleeper, CloseReason::SlowReader)]);
    let s = h.core.stats();
    assert_eq!(s.slow_readers_cut, 1);
    assert!(s.send_queue_peak <= 16 * 1024);
    assert_eq!(s.conns, 1);
    // The talker keeps working and heard the sleeper leave.
    let out = h.req(talker, Request::Echo(b"still here"));
    assert_eq!(
        out[out.len() - 2..],
        [
            Message::RoomUserLeaveNtf { user: 2 },
            Message::Echo(b"still here".to_vec())
        ]
    );
}

#[test]
fn the_requester_is_flushed_before_the_notified() {
    let mut h = H::new(LobbyConfig::default());
    let (a, _) = h.login("ann");
    let (b, _) = h.login("bob");
    h.pump();
    h.send(
        a,
        Request::Whisper {
            to: "bob",
            msg: "m",
        },
    );
    assert_eq!(h.core.pop_dirty(), Some(a));
    assert_eq!(h.core.pop_dirty(), Some(b));
}
