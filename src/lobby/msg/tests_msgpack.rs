//! MessagePack bodies (frame type 1): golden bytes written by hand from the MessagePack
//! spec, round trips of every request and message of the table in both formats, bad
//! MessagePack of every kind, and a seeded fuzz loop.

use super::*;
use crate::lobby::frame::MAX_FRAME;
use rand::{rngs::SmallRng, Rng, SeedableRng};

const MP: Format = Format::MsgPack;

/// A type-1 frame of message `id` with `body`, header by hand.
fn mp_frame(id: u16, body: &[u8]) -> Vec<u8> {
    let size = u16::try_from(HEADER_LEN + body.len()).unwrap();
    let mut f = size.to_be_bytes().to_vec();
    f.extend_from_slice(&id.to_be_bytes());
    f.push(1);
    f.extend_from_slice(body);
    f
}

fn emit_req(r: &Request, format: Format) -> Vec<u8> {
    let mut buf = [0; MAX_FRAME];
    let n = r.emit_as(&mut buf, format).unwrap();
    buf[..n].to_vec()
}

fn emit_msg(m: &Message, format: Format) -> Vec<u8> {
    let mut buf = [0; MAX_FRAME];
    let n = m.emit_as(&mut buf, format).unwrap();
    buf[..n].to_vec()
}

/// Concatenates byte runs (a body written as its MessagePack parts).
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn golden_requests() {
    let cases: Vec<(Request, Vec<u8>)> = vec![
        // ["ann"]: fixarray 1, fixstr 3.
        (
            Request::Login { name: "ann" },
            mp_frame(10, &[0x91, 0xa3, b'a', b'n', b'n']),
        ),
        // []: a request with no fields.
        (Request::RoomList, mp_frame(20, &[0x90])),
        (Request::RoomLeave, mp_frame(27, &[0x90])),
        // ["lounge", 8]
        (
            Request::RoomCreate {
                title: "lounge",
                max: 8,
            },
            mp_frame(22, &cat(&[&[0x92, 0xa6], b"lounge", &[0x08]])),
        ),
        // [300]: uint16.
        (
            Request::RoomEnter { room: 300 },
            mp_frame(24, &[0x91, 0xcd, 0x01, 0x2c]),
        ),
        // [70000]: uint32.
        (
            Request::RoomEnter { room: 70_000 },
            mp_frame(24, &[0x91, 0xce, 0x00, 0x01, 0x11, 0x70]),
        ),
        (
            Request::RoomChat { msg: "hi" },
            mp_frame(30, &[0x91, 0xa2, b'h', b'i']),
        ),
        (
            Request::Whisper { to: "bo", msg: "x" },
            mp_frame(40, &[0x92, 0xa2, b'b', b'o', 0xa1, b'x']),
        ),
        (
            Request::Invite { to: "c" },
            mp_frame(43, &[0x91, 0xa1, b'c']),
        ),
        // [2^40]: uint64.
        (
            Request::TokenReq { scope: 1 << 40 },
            mp_frame(12, &[0x91, 0xcf, 0, 0, 1, 0, 0, 0, 0, 0]),
        ),
        // [bin "hi"]: bin8.
        (
            Request::Echo(b"hi"),
            mp_frame(1, &[0x91, 0xc4, 2, b'h', b'i']),
        ),
        (Request::Echo(b""), mp_frame(1, &[0x91, 0xc4, 0])),
    ];
    for (r, bytes) in cases {
        assert_eq!(emit_req(&r, MP), bytes, "{r:?}");
        assert_eq!(Request::parse(&bytes), Ok(r), "{r:?}");
    }
    // A 32-byte title is a str8; 300 bytes of ECHO a bin16.
    let title = "t".repeat(32);
    let f = emit_req(
        &Request::RoomCreate {
            title: &title,
            max: 200,
        },
        MP,
    );
    assert_eq!(f[5..8], [0x92, 0xd9, 32]);
    assert_eq!(f[8 + 32..], [0xcc, 200]);
    let big = [7u8; 300];
    let f = emit_req(&Request::Echo(&big), MP);
    assert_eq!(f[5..9], [0x91, 0xc5, 0x01, 0x2c]);
}

#[test]
fn golden_messages() {
    let zed = Name::from("zed").unwrap();
    let lounge = Title::from("lounge").unwrap();
    let cases: Vec<(Message, Vec<u8>)> = vec![
        // [0, 7, 0x0102030405060708]: result, user, ticket (uint64).
        (
            Message::LoginRes {
                result: Status::Ok,
                user: 7,
                ticket: 0x0102030405060708,
            },
            mp_frame(11, &[0x93, 0, 7, 0xcf, 1, 2, 3, 4, 5, 6, 7, 8]),
        ),
        // [0, 1, [[3, "lounge", 2, 8]]]: the count (always a uint16 here), then the list
        // (always an array16).
        (
            Message::RoomListRes {
                result: Status::Ok,
                rooms: vec![RoomInfo {
                    room: 3,
                    title: lounge,
                    users: 2,
                    max: 8,
                }],
            },
            mp_frame(
                21,
                &cat(&[
                    &[0x93, 0x00, 0xcd, 0, 1, 0xdc, 0, 1, 0x94, 3, 0xa6],
                    b"lounge",
                    &[2, 8],
                ]),
            ),
        ),
        // A refused list: [5, 0, []].
        (
            Message::RoomListRes {
                result: Status::NoSuchRoom,
                rooms: vec![],
            },
            mp_frame(21, &[0x93, 5, 0xcd, 0, 0, 0xdc, 0, 0]),
        ),
        // [0, 3, 1, [[1, "zed"]]]: ROOM_ENTER_RES's count is a uint8.
        (
            Message::RoomEnterRes {
                result: Status::Ok,
                room: 3,
                users: vec![UserInfo { user: 1, name: zed }],
            },
            mp_frame(
                25,
                &[
                    0x94, 0, 3, 0xcc, 1, 0xdc, 0, 1, 0x92, 1, 0xa3, b'z', b'e', b'd',
                ],
            ),
        ),
        (
            Message::RoomUserEnterNtf { user: 1, name: zed },
            mp_frame(26, &[0x92, 1, 0xa3, b'z', b'e', b'd']),
        ),
        (
            Message::RoomUserLeaveNtf { user: 200 },
            mp_frame(29, &[0x91, 0xcc, 200]),
        ),
        (
            Message::RoomChatRes { result: Status::Ok },
            mp_frame(31, &[0x91, 0]),
        ),
        (
            Message::RoomChatNtf {
                user: 300,
                msg: Text::from("hi").unwrap(),
            },
            mp_frame(32, &[0x92, 0xcd, 0x01, 0x2c, 0xa2, b'h', b'i']),
        ),
        (
            Message::InviteNtf { room: 9, name: zed },
            mp_frame(45, &[0x92, 9, 0xa3, b'z', b'e', b'd']),
        ),
        (
            Message::Error {
                code: ErrorCode::BadBody,
            },
            mp_frame(99, &[0x91, 4]),
        ),
        (
            Message::Echo(b"hi".to_vec()),
            mp_frame(1, &[0x91, 0xc4, 2, b'h', b'i']),
        ),
    ];
    for (m, bytes) in cases {
        assert_eq!(emit_msg(&m, MP), bytes, "{m:?}");
        assert_eq!(Message::parse(&bytes).as_ref(), Ok(&m), "{m:?}");
    }
    // A refused TOKEN_REQ: [10, bin8 of 205 zero bytes].
    let refused = Request::TokenReq { scope: 0 }
        .answer(Status::BadRequest)
        .unwrap();
    let f = emit_msg(&refused, MP);
    let mut want = vec![0x92, 10, 0xc4, 205];
    want.extend_from_slice(&[0; 205]);
    assert_eq!(f, mp_frame(13, &want));
    assert_eq!(Message::parse(&f), Ok(refused));
}

#[test]
fn any_integer_width_that_holds_the_value_is_read() {
    let ok: Vec<(Vec<u8>, Request)> = vec![
        // max 8 as uint8, uint16, uint64, int8, int64.
        (
            vec![0x92, 0xa1, b't', 0xcc, 8],
            Request::RoomCreate { title: "t", max: 8 },
        ),
        (
            vec![0x92, 0xa1, b't', 0xcd, 0, 8],
            Request::RoomCreate { title: "t", max: 8 },
        ),
        (
            vec![0x92, 0xa1, b't', 0xcf, 0, 0, 0, 0, 0, 0, 0, 8],
            Request::RoomCreate { title: "t", max: 8 },
        ),
        (
            vec![0x92, 0xa1, b't', 0xd0, 8],
            Request::RoomCreate { title: "t", max: 8 },
        ),
        (
            vec![0x92, 0xa1, b't', 0xd3, 0, 0, 0, 0, 0, 0, 0, 8],
            Request::RoomCreate { title: "t", max: 8 },
        ),
        // Room u32::MAX as uint32 and as int64.
        (
            vec![0x91, 0xce, 0xff, 0xff, 0xff, 0xff],
            Request::RoomEnter { room: u32::MAX },
        ),
        (
            vec![0x91, 0xd3, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
            Request::RoomEnter { room: u32::MAX },
        ),
        // A string as str8, str16, str32; a list header as array16, array32.
        (vec![0x91, 0xd9, 1, b'x'], Request::RoomChat { msg: "x" }),
        (vec![0x91, 0xda, 0, 1, b'x'], Request::RoomChat { msg: "x" }),
        (
            vec![0x91, 0xdb, 0, 0, 0, 1, b'x'],
            Request::RoomChat { msg: "x" },
        ),
        (vec![0xdc, 0, 1, 0xa1, b'x'], Request::RoomChat { msg: "x" }),
        (
            vec![0xdd, 0, 0, 0, 1, 0xa1, b'x'],
            Request::RoomChat { msg: "x" },
        ),
        // ECHO's bytes as bin16 and bin32.
        (vec![0x91, 0xc5, 0, 1, b'e'], Request::Echo(b"e")),
        (vec![0x91, 0xc6, 0, 0, 0, 1, b'e'], Request::Echo(b"e")),
    ];
    for (body, want) in ok {
        let f = mp_frame(want.id(), &body);
        assert_eq!(Request::parse(&f), Ok(want), "{body:02x?}");
    }
    // A list with a fixint count and a fixarray: [0, 1, [[3, "a", 2, 8]]].
    let f = mp_frame(21, &[0x93, 0, 1, 0x91, 0x94, 3, 0xa1, b'a', 2, 8]);
    let Ok(Message::RoomListRes { rooms, .. }) = Message::parse(&f) else {
        panic!("{f:02x?}");
    };
    assert_eq!(
        (rooms.len(), rooms[0].room, rooms[0].title.as_str()),
        (1, 3, "a")
    );
}

#[test]
fn every_request_and_message_round_trips_in_both_formats() {
    let big = [0xA5; MAX_FRAME - HEADER_LEN - 4];
    let mut reqs = Request::samples();
    reqs.extend([
        Request::Echo(b""),
        Request::Echo(b"hi"),
        Request::Echo(&big),
    ]);
    let mut msgs = Message::samples();
    for r in Request::samples() {
        // Every RES refused: zeroed fields, empty lists.
        msgs.push(r.answer(Status::RoomFull).unwrap());
    }
    msgs.push(Message::Echo(big.to_vec()));
    for format in [Format::Plain, Format::MsgPack] {
        for r in &reqs {
            let f = emit_req(r, format);
            assert_eq!(Format::of_frame(&f), Some(format));
            assert_eq!(Request::parse(&f).as_ref(), Ok(r), "{format:?} {r:?}");
        }
        for m in &msgs {
            let f = emit_msg(m, format);
            assert_eq!(Format::of_frame(&f), Some(format));
            assert_eq!(Message::parse(&f).as_ref(), Ok(m), "{format:?} {m:?}");
        }
    }
    // The plain bytes are what they were before MessagePack (golden, tests.rs) and differ
    // from the MessagePack ones in the type byte at least.
    for m in &msgs {
        assert_ne!(emit_msg(m, Format::Plain), emit_msg(m, MP));
    }
}

#[test]
fn bad_messagepack_requests_are_bad_body() {
    let long = cat(&[&[0x91, 0xda, 1, 0], &[b'x'; 256]]);
    let bad: Vec<(u16, Vec<u8>, &str)> = vec![
        (10, vec![], "empty body"),
        (10, vec![0xa3, b'a', b'n', b'n'], "not an array"),
        (10, vec![0x81, 0xa1, b'n', 0xa1, b'a'], "a map"),
        (10, vec![0x90], "array too short"),
        (10, vec![0x92, 0xa1, b'a', 0xa1, b'b'], "array too long"),
        (10, vec![0x91, 0x05], "int for a str"),
        (10, vec![0x91, 0xc4, 1, b'a'], "bin for a str"),
        (10, vec![0x91, 0xc0], "nil for a str"),
        (10, vec![0x91, 0xa2, 0xc3, 0x28], "bad UTF-8"),
        (10, vec![0x91, 0xa3, b'a', b'n'], "truncated str"),
        (10, vec![0x91, 0xa3, b'a', b'n', b'n', 0], "trailing byte"),
        (
            10,
            vec![0x91, 0xa3, b'a', b'n', b'n', 0x91],
            "trailing array",
        ),
        (30, long, "a str longer than 255 bytes"),
        (24, vec![0x91, 0xa1, b'1'], "str for an int"),
        (24, vec![0x91, 0xc3], "bool for an int"),
        (24, vec![0x91, 0xca, 0x3f, 0x80, 0, 0], "float for an int"),
        (24, vec![0x91, 0xff], "negative room"),
        (24, vec![0x91, 0xd0, 0x80], "negative int8 room"),
        (
            24,
            vec![0x91, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0],
            "room over u32",
        ),
        (24, vec![0x91, 0xcd, 0x01], "truncated uint16"),
        (24, vec![0x91], "missing field"),
        (
            24,
            vec![0xdd, 0xff, 0xff, 0xff, 0xff, 1],
            "array32 claiming 4G elements",
        ),
        (22, vec![0x92, 0xa1, b't', 0xcd, 1, 0], "max 256 over u8"),
        (
            22,
            vec![0x92, 0xa1, b't', 0xd1, 0xff, 0xff],
            "max -1 as int16",
        ),
        (
            12,
            vec![0x91, 0xd3, 0xff, 0, 0, 0, 0, 0, 0, 0],
            "negative scope",
        ),
        (1, vec![], "ECHO without its array"),
        (1, vec![0x90], "ECHO with no bin"),
        (1, vec![0x91, 0xa2, b'h', b'i'], "ECHO's bytes as str"),
        (
            1,
            vec![0x91, 0xc4, 5, b'h'],
            "ECHO's bin longer than the body",
        ),
        (
            1,
            vec![0x91, 0xc4, 1, b'h', b'i'],
            "ECHO with a trailing byte",
        ),
        (1, vec![0x92, 0xc4, 0, 0xc4, 0], "ECHO with two bins"),
        (20, vec![0x91, 0], "ROOM_LIST_REQ with a field"),
        (20, vec![0x90, 0x90], "ROOM_LIST_REQ with trailing bytes"),
        (20, vec![0xc1], "the reserved marker 0xc1"),
    ];
    for (id, body, what) in bad {
        let f = mp_frame(id, &body);
        assert_eq!(
            Request::parse(&f),
            Err(ErrorCode::BadBody),
            "{what}: {f:02x?}"
        );
    }
}

#[test]
fn bad_messagepack_messages_are_bad_body() {
    let room = |n: u8| -> Vec<u8> { vec![0x94, n, 0xa1, b'a', 2, 8] };
    let bad: Vec<(u16, Vec<u8>, &str)> = vec![
        (
            21,
            cat(&[&[0x93, 0, 2, 0x91], &room(1)]),
            "count 2, one entry",
        ),
        (
            21,
            cat(&[&[0x93, 0, 0, 0x91], &room(1)]),
            "count 0, one entry",
        ),
        (21, vec![0x92, 0, 0], "the list missing after its count"),
        (21, vec![0x92, 0, 0x90], "the count missing"),
        (
            21,
            cat(&[&[0x93, 0, 0xce, 0, 1, 0, 0, 0x91], &room(1)]),
            "count over u16",
        ),
        (
            21,
            vec![0x93, 0, 1, 0x91, 0x93, 3, 0xa1, b'a', 2],
            "entry of 3 fields",
        ),
        (
            21,
            vec![0x93, 0, 1, 0x91, 0x95, 3, 0xa1, b'a', 2, 8, 8],
            "entry of 5 fields",
        ),
        (
            21,
            vec![0x93, 0, 1, 0x91, 3, 0xa1, b'a', 2, 8],
            "entry not an array",
        ),
        (
            21,
            cat(&[&[0x93, 0, 1, 0x91, 0x94, 3, 0xd9, 33], &[b't'; 33], &[2, 8]]),
            "title over 32 bytes",
        ),
        (25, vec![0x94, 0, 3, 1, 0x90], "count 1, no entry"),
        (25, vec![0x94, 0, 3, 0xcd, 1, 0, 0x90], "count over u8"),
        (11, vec![0x93, 0x20, 1, 1], "a result that is no status"),
        (11, vec![0x93, 0, 1], "LOGIN_RES without its ticket"),
        (99, vec![0x91, 0], "ERROR 0"),
        (
            13,
            cat(&[&[0x92, 0, 0xc4, 204], &[1; 204]]),
            "a token of 204 bytes",
        ),
        (13, cat(&[&[0x92, 0, 0x91], &[0; 1]]), "a token as an array"),
        (26, vec![0x92, 1, 0xa0, 0], "trailing byte"),
        (26, vec![0x92, 1, 0xb1], "truncated name"),
    ];
    for (id, body, what) in bad {
        let f = mp_frame(id, &body);
        assert_eq!(
            Message::parse(&f),
            Err(ErrorCode::BadBody),
            "{what}: {f:02x?}"
        );
    }
}

#[test]
fn room_list_cuts_to_one_frame_in_messagepack() {
    let title = Title::from(&"t".repeat(MAX_TITLE)).unwrap();
    let rooms = (0..500).map(|room| RoomInfo {
        room,
        title,
        users: 1,
        max: 100,
    });
    let mut buf = [0; MAX_FRAME];
    let n = write_room_list(&mut buf, MP, Status::Ok, rooms).unwrap();
    let Ok(Message::RoomListRes { rooms, .. }) = Message::parse(&buf[..n]) else {
        panic!("does not parse");
    };
    // Entry k: fixarray, room (fixint below 128, else uint16), str8 of 32, two fixints.
    let entry = |k: usize| 1 + if k < 128 { 1 } else { 3 } + 2 + MAX_TITLE + 2;
    let head = HEADER_LEN + 1 + 1 + 3 + 3;
    assert_eq!(n, head + (0..rooms.len()).map(entry).sum::<usize>());
    assert!(
        n + entry(rooms.len()) > MAX_FRAME,
        "one more would have fitted"
    );
    assert_eq!(
        write_room_list(&mut buf[..n - 1], MP, Status::Ok, rooms),
        Err(Full),
        "a short buffer is Full, not a shorter list"
    );
}

#[test]
fn messagepack_writers_say_full_on_a_short_buffer() {
    let mut buf = [0; MAX_FRAME];
    for r in Request::samples()
        .into_iter()
        .chain([Request::Echo(b"xyz")])
    {
        let n = emit_req(&r, MP).len();
        for short in 0..n {
            assert_eq!(
                r.emit_as(&mut buf[..short], MP),
                Err(Full),
                "{r:?} in {short}"
            );
        }
    }
    for m in Message::samples() {
        let n = emit_msg(&m, MP).len();
        for short in 0..n {
            assert_eq!(
                m.emit_as(&mut buf[..short], MP),
                Err(Full),
                "{m:?} in {short}"
            );
        }
    }
    let name = Name::from("zed").unwrap();
    let many = (0..256).map(|user| UserInfo { user, name });
    assert_eq!(
        write_room_enter(&mut buf, MP, Status::Ok, 1, many),
        Err(Full)
    );
    let s = "x".repeat(256);
    assert_eq!(
        Request::RoomChat { msg: &s }.emit_as(&mut buf, MP),
        Err(Full)
    );
}

/// Random and mutated bodies of every id, in both formats: parsing never panics, and what
/// parses re-emits to a frame that parses to the same value.
#[test]
fn fuzzed_bodies_never_panic() {
    let mut rng = SmallRng::seed_from_u64(15);
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for format in [Format::Plain, MP] {
        seeds.extend(Request::samples().iter().map(|r| emit_req(r, format)));
        seeds.extend(Message::samples().iter().map(|m| emit_msg(m, format)));
    }
    let ids: Vec<u16> = (0..=100).collect();
    let (mut parsed, mut refused) = (0, 0);
    for i in 0..40_000 {
        let mut f = if i % 4 == 0 {
            // A random body after a random id.
            let len = rng.gen_range(0..64);
            let mut f = vec![
                0,
                0,
                0,
                ids[rng.gen_range(0..ids.len())] as u8,
                rng.gen_range(0..2),
            ];
            f.extend((0..len).map(|_| rng.gen::<u8>()));
            f
        } else {
            let mut f = seeds[rng.gen_range(0..seeds.len())].clone();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(HEADER_LEN..f.len().max(HEADER_LEN + 1));
                match rng.gen_range(0..4) {
                    0 if at < f.len() => f[at] = rng.gen(),
                    1 if at < f.len() => {
                        f.remove(at);
                    }
                    2 => f.insert(at.min(f.len()), rng.gen()),
                    _ => f.truncate(at),
                }
            }
            f
        };
        let size = u16::try_from(f.len()).unwrap();
        f[..2].copy_from_slice(&size.to_be_bytes());
        let format = Format::of_frame(&f).unwrap();
        match Request::parse(&f) {
            Ok(r) => {
                parsed += 1;
                let again = emit_req(&r, format);
                assert_eq!(Request::parse(&again), Ok(r), "{f:02x?}");
            }
            Err(_) => refused += 1,
        }
        match Message::parse(&f) {
            Ok(m) => {
                parsed += 1;
                let again = emit_msg(&m, format);
                assert_eq!(Message::parse(&again).as_ref(), Ok(&m), "{f:02x?}");
            }
            Err(_) => refused += 1,
        }
    }
    // Both outcomes were exercised.
    assert!(
        parsed > 1000 && refused > 1000,
        "{parsed} parsed, {refused} refused"
    );
}

/// The example frames of docs/LOBBY.md ("MessagePack bodies") parse, and the encoder writes
/// each of them byte for byte.
#[test]
fn the_documented_examples_are_what_the_codec_writes() {
    let doc = include_str!("../../../docs/LOBBY.md");
    let block = doc
        .split_once("<!-- msgpack-examples")
        .and_then(|(_, rest)| rest.split_once("```text\n"))
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .expect("the examples block of docs/LOBBY.md");
    let mut checked = 0;
    for line in block.lines() {
        let hex = line.split('#').next().unwrap_or("").trim();
        if hex.is_empty() {
            continue;
        }
        let f: Vec<u8> = hex
            .split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).expect(line))
            .collect();
        assert_eq!(
            usize::from(u16::from_be_bytes([f[0], f[1]])),
            f.len(),
            "{line}"
        );
        assert_eq!(Format::of_frame(&f), Some(MP), "{line}");
        let again = match Request::parse(&f) {
            Ok(r) => emit_req(&r, MP),
            Err(_) => emit_msg(&Message::parse(&f).expect(line), MP),
        };
        assert_eq!(again, f, "{line}");
        checked += 1;
    }
    assert_eq!(checked, 19);
}

/// The counts docs/LOBBY.md gives for a ROOM_LIST_RES of 32-byte titles, room ids from 1.
#[test]
fn room_list_capacity_in_each_format() {
    let title = Title::from(&"t".repeat(MAX_TITLE)).unwrap();
    let rooms = (1..=500).map(|room| RoomInfo {
        room,
        title,
        users: 1,
        max: 100,
    });
    let mut buf = [0; MAX_FRAME];
    for (format, want) in [(Format::Plain, 104), (MP, 107)] {
        let n = write_room_list(&mut buf, format, Status::Ok, rooms.clone()).unwrap();
        let Ok(Message::RoomListRes { rooms, .. }) = Message::parse(&buf[..n]) else {
            panic!("does not parse");
        };
        assert_eq!(rooms.len(), want, "{format:?}");
    }
}
