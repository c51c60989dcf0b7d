//! Golden bytes and round trips of the message codec.

use super::*;
use crate::lobby::frame::MAX_FRAME;

fn frame_of(r: Request) -> Vec<u8> {
    let mut buf = [0; MAX_FRAME];
    let n = r.emit(&mut buf).unwrap();
    buf[..n].to_vec()
}

#[test]
fn golden_login() {
    let f = frame_of(Request::Login { name: "ann" });
    assert_eq!(f, [0, 9, 0, 10, 0, 3, b'a', b'n', b'n']);
    assert_eq!(Request::parse(&f), Ok(Request::Login { name: "ann" }));
    let mut buf = [0; MAX_FRAME];
    let res = Message::LoginRes {
        result: Status::Ok,
        user: 7,
        ticket: 0x0102030405060708,
    };
    let n = res.emit(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        [0, 18, 0, 11, 0, 0, 0, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8]
    );
    assert_eq!(Message::parse(&buf[..n]), Ok(res));
}

#[test]
fn every_request_round_trips() {
    let all = [
        Request::Echo(b"hi"),
        Request::Echo(b""),
        Request::Login { name: "bob" },
        Request::RoomList,
        Request::RoomCreate { title: "t", max: 4 },
        Request::RoomEnter { room: 9 },
        Request::RoomLeave,
        Request::RoomChat { msg: "yo" },
        Request::Whisper { to: "a", msg: "b" },
        Request::Invite { to: "c" },
    ];
    for r in all {
        assert_eq!(Request::parse(&frame_of(r)), Ok(r), "{r:?}");
    }
}

#[test]
fn every_message_round_trips() {
    let name = Name::from("zed").unwrap();
    let all = [
        Message::Echo(b"x".to_vec()),
        Message::LoginRes {
            result: Status::NameTaken,
            user: 0,
            ticket: 0,
        },
        Message::RoomListRes {
            result: Status::Ok,
            rooms: vec![RoomInfo {
                room: 3,
                title: Title::from("lounge").unwrap(),
                users: 2,
                max: 8,
            }],
        },
        Message::RoomCreateRes {
            result: Status::Ok,
            room: 3,
        },
        Message::RoomEnterRes {
            result: Status::Ok,
            room: 3,
            users: vec![UserInfo { user: 1, name }],
        },
        Message::RoomUserEnterNtf { user: 1, name },
        Message::RoomLeaveRes {
            result: Status::NotInRoom,
        },
        Message::RoomUserLeaveNtf { user: 1 },
        Message::RoomChatRes { result: Status::Ok },
        Message::RoomChatNtf {
            user: 1,
            msg: Text::from("hello").unwrap(),
        },
        Message::WhisperRes {
            result: Status::NoSuchUser,
        },
        Message::WhisperNtf {
            user: 1,
            name,
            msg: Text::from("psst").unwrap(),
        },
        Message::InviteRes {
            result: Status::ServerFull,
        },
        Message::InviteNtf { room: 3, name },
        Message::Error {
            code: ErrorCode::BadBody,
        },
    ];
    let mut buf = [0; MAX_FRAME];
    for m in all {
        let n = m.emit(&mut buf).unwrap();
        assert_eq!(Message::parse(&buf[..n]).as_ref(), Ok(&m));
    }
}

#[test]
fn bad_bodies_are_bad_body() {
    let bad: [&[u8]; 6] = [
        &[0, 6, 0, 10, 0, 3],                   // string longer than the body
        &[0, 9, 0, 10, 0, 2, b'a', b'b', b'c'], // trailing byte
        &[0, 8, 0, 10, 0, 2, 0xC3, 0x28],       // bad UTF-8
        &[0, 6, 0, 20, 0, 0],                   // ROOM_LIST_REQ with a body
        &[0, 8, 0, 24, 0, 0, 0, 1],             // short u32
        &[0, 7, 0, 40, 0, 1, b'a'],             // WHISPER_REQ without msg
    ];
    for f in bad {
        assert_eq!(Request::parse(f), Err(ErrorCode::BadBody), "{f:?}");
    }
    assert_eq!(
        Request::parse(&[0, 5, 0, 11, 0]),
        Err(ErrorCode::UnknownId),
        "a response id is not a request"
    );
    assert_eq!(Request::parse(&[0, 6, 0, 1, 0]), Err(ErrorCode::Size));
}

#[test]
fn room_list_cuts_to_one_frame() {
    let title = Title::from(&"t".repeat(MAX_TITLE)).unwrap();
    let rooms = (0..500).map(|room| RoomInfo {
        room,
        title,
        users: 1,
        max: 100,
    });
    let mut buf = [0; MAX_FRAME];
    let n = write_room_list(&mut buf, Format::Plain, Status::Ok, rooms).unwrap();
    let Ok(Message::RoomListRes { rooms, .. }) = Message::parse(&buf[..n]) else {
        panic!("does not parse");
    };
    let each = 4 + 1 + MAX_TITLE + 2;
    assert_eq!(rooms.len(), (MAX_FRAME - HEADER_LEN - 3) / each);
    assert!(n <= MAX_FRAME && n + each > MAX_FRAME);
}

#[test]
fn names_and_titles() {
    assert!(valid_name("ann"));
    assert!(valid_name("ñandú"));
    assert!(!valid_name(""));
    assert!(!valid_name("   "));
    assert!(!valid_name("a\nb"));
    assert!(!valid_name("seventeen-bytes!!"));
    assert!(valid_title(&"x".repeat(32)));
    assert!(!valid_title(&"x".repeat(33)));
}

#[test]
fn the_table_pairs_each_request_with_its_res() {
    for r in Request::samples() {
        assert!(id::is_request(r.id()) && !id::is_message(r.id()), "{r:?}");
        assert_eq!(r.answer_id(), r.id() + 1, "{r:?}: a RES follows its REQ");
        let res = r.answer(Status::RoomFull).unwrap();
        assert_eq!(res.id(), r.answer_id());
        assert_eq!(res.result(), Some(Status::RoomFull));
        // Every later field zeroed: the RES is its header, the result and zeros.
        let mut buf = [0; MAX_FRAME];
        let n = res.emit(&mut buf).unwrap();
        assert_eq!(buf[HEADER_LEN], Status::RoomFull as u8);
        assert!(buf[HEADER_LEN + 1..n].iter().all(|&b| b == 0), "{res:?}");
        assert_eq!(Request::parse(&frame_of(r)), Ok(r));
    }
    assert_eq!(Request::Echo(b"x").answer_id(), id::ECHO);
    assert_eq!(Request::Echo(b"x").answer(Status::Ok), None);
}

#[test]
fn every_writer_says_full_on_a_short_buffer() {
    let name = Name::from("zed").unwrap();
    let mut buf = [0; MAX_FRAME];
    for r in Request::samples()
        .into_iter()
        .chain([Request::Echo(b"xyz")])
    {
        let n = frame_of(r).len();
        for short in 0..n {
            assert_eq!(r.emit(&mut buf[..short]), Err(Full), "{r:?} in {short}");
        }
    }
    let msgs = [
        Message::Echo(b"xyz".to_vec()),
        Message::RoomEnterRes {
            result: Status::Ok,
            room: 3,
            users: vec![UserInfo { user: 1, name }; 3],
        },
        Message::WhisperNtf {
            user: 1,
            name,
            msg: Text::from("psst").unwrap(),
        },
    ];
    for m in &msgs {
        let n = m.emit(&mut buf).unwrap();
        for short in 0..n {
            assert_eq!(m.emit(&mut buf[..short]), Err(Full), "{m:?} in {short}");
        }
    }
    // A room list is cut to one frame, never to a short buffer.
    let title = Title::from("t").unwrap();
    let rooms = [RoomInfo {
        room: 1,
        title,
        users: 1,
        max: 2,
    }; 3];
    let n = write_room_list(&mut buf, Format::Plain, Status::Ok, rooms).unwrap();
    assert_eq!(
        write_room_list(&mut buf[..n - 1], Format::Plain, Status::Ok, rooms),
        Err(Full)
    );
    // More users than the count holds is Full, not a shorter list.
    let many = (0..256).map(|user| UserInfo { user, name });
    assert_eq!(
        write_room_enter(&mut buf, Format::Plain, Status::Ok, 1, many),
        Err(Full)
    );
    assert_eq!(
        Header::write(&mut buf[..4], 5, 1, Format::Plain),
        Err(Full),
        "shorter than a header"
    );
    assert_eq!(
        Header::write(&mut buf, MAX_FRAME + 1, 1, Format::Plain),
        Err(Full)
    );
}

#[test]
fn golden_token_req_and_res() {
    let f = frame_of(Request::TokenReq {
        scope: 0x0102030405060708,
    });
    assert_eq!(f, [0, 13, 0, 12, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(
        Request::parse(&f),
        Ok(Request::TokenReq {
            scope: 0x0102030405060708
        })
    );
    // A refused request: result, then 205 zero bytes.
    let refused = Request::TokenReq { scope: 0 }
        .answer(Status::BadRequest)
        .unwrap();
    let mut buf = [0; MAX_FRAME];
    let n = refused.emit(&mut buf).unwrap();
    assert_eq!(n, 5 + 1 + crate::secure::TOKEN_LEN);
    assert_eq!(buf[..6], [0, 211, 0, 13, 0, 10]);
    assert!(buf[6..n].iter().all(|&b| b == 0));
    assert_eq!(Message::parse(&buf[..n]), Ok(refused));
    // A token round-trips byte for byte.
    let issuer = crate::secure::Issuer::new(crate::secure::Key::from_bytes([5; 32]), 1);
    let t = issuer.mint(4, 0, "ann", 1_800_000_000);
    let res = Message::TokenRes {
        result: Status::Ok,
        token: Some(t.clone()),
    };
    let n = res.emit(&mut buf).unwrap();
    assert_eq!(buf[6..n], t.to_bytes());
    assert_eq!(Message::parse(&buf[..n]), Ok(res));
    // One byte short is a bad body.
    let mut short = buf[..n - 1].to_vec();
    short[1] -= 1;
    assert_eq!(Message::parse(&short), Err(ErrorCode::BadBody));
}

#[test]
fn golden_baccarat() {
    let open = frame_of(Request::TableOpen { bet_ms: 1000 });
    assert_eq!(open, [0, 7, 0, 50, 0, 0x03, 0xE8]);
    let bet = frame_of(Request::Bet {
        side: 1,
        amount: 100,
    });
    assert_eq!(bet, [0, 10, 0, 52, 0, 1, 0, 0, 0, 100]);
    assert_eq!(frame_of(Request::Chips), [0, 5, 0, 55, 0]);
    for f in [&open, &bet] {
        assert_eq!(frame_of(Request::parse(f).unwrap()), *f);
    }
    let mut buf = [0; MAX_FRAME];
    let ntf = Message::RoundNtf {
        round: 7,
        player: [13, 20, 0],
        banker: [1, 2, 3],
        winner: 0,
        results: vec![Payout {
            user: 9,
            delta: -100,
            chips: 900,
        }],
    };
    let n = ntf.emit(&mut buf).unwrap();
    #[rustfmt::skip]
    let want = [
        0, 29, 0, 57, 0,
        0, 0, 0, 7,              // round
        13, 20, 0,               // player: K of suit 0, 7 of suit 1, no third card (7)
        1, 2, 3,                 // banker: A, 2, 3 of suit 0 (6)
        0,                       // winner: player
        1,                       // count
        0, 0, 0, 9,              // user
        0xFF, 0xFF, 0xFF, 0x9C,  // delta -100
        0, 0, 0x03, 0x84,        // chips 900
    ];
    assert_eq!(&buf[..n], want);
    assert_eq!(Message::parse(&buf[..n]), Ok(ntf));
    let small = [
        Message::RoundOpenNtf {
            round: 1,
            bet_ms: 60000,
        },
        Message::BetNtf {
            user: 2,
            side: 2,
            amount: u32::MAX,
        },
        Message::BetRes {
            result: Status::NotEnoughChips,
            chips: 0,
        },
        Message::ChipsRes {
            result: Status::Ok,
            chips: 1000,
        },
        Message::TableOpenRes {
            result: Status::TableAlreadyOpen,
        },
    ];
    for m in &small {
        let n = m.emit(&mut buf).unwrap();
        assert_eq!(Message::parse(&buf[..n]).as_ref(), Ok(m));
    }
    let n = small[0].emit(&mut buf).unwrap();
    assert_eq!(&buf[..n], [0, 11, 0, 58, 0, 0, 0, 0, 1, 0xEA, 0x60]);
}

#[test]
fn a_round_list_is_bounded_by_its_body_and_its_count() {
    // A count of 255 with one entry's bytes: a bad body, and no room reserved beyond it.
    let mut f = vec![0, 0, 0, 57, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, 255];
    f.extend([0; 12]);
    f[1] = f.len() as u8;
    assert_eq!(Message::parse(&f), Err(ErrorCode::BadBody));
    // Trailing bytes after the last entry are a bad body too.
    f[16] = 1;
    f.push(0);
    f[1] = f.len() as u8;
    assert_eq!(Message::parse(&f), Err(ErrorCode::BadBody));
    // 256 entries do not fit the count: the writer refuses rather than cut silently.
    let many = Message::RoundNtf {
        round: 1,
        player: [0; 3],
        banker: [0; 3],
        winner: 0,
        results: vec![
            Payout {
                user: 1,
                delta: 0,
                chips: 0
            };
            256
        ],
    };
    assert_eq!(many.emit(&mut [0; MAX_FRAME]), Err(Full));
}
