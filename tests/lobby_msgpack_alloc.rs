//! MessagePack requests are parsed in place and answered without allocating: once warm, a
//! MessagePack user's chats, echoes and room lists, fanned out to a room of both formats,
//! allocate nothing on the server (counted exactly by a counting global allocator).
#[path = "common/counting.rs"]
mod counting;

use counting::counted;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;
use tickwire::client::lobby::{Format, Message, Request};
use tickwire::internal::lobby::MAX_FRAME;
use tickwire::lobby::{LobbyConfig, LobbyCore};
use tickwire::Tickets;

#[global_allocator]
static A: counting::Counting = counting::Counting;

const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn frame(r: &Request, format: Format) -> Vec<u8> {
    let mut buf = [0; MAX_FRAME];
    let n = r.emit_as(&mut buf, format).unwrap();
    buf[..n].to_vec()
}

fn feed(core: &mut LobbyCore<()>, id: usize, bytes: &[u8], now: Instant) {
    let mut rest = bytes;
    while !rest.is_empty() {
        let (_, space) = core.recv_space(id).expect("open");
        let n = space.len().min(rest.len());
        space[..n].copy_from_slice(&rest[..n]);
        core.received(id, n, now);
        rest = &rest[n..];
    }
}

/// Drains what is queued for `id`; returns the byte count.
fn drain(core: &mut LobbyCore<()>, id: usize) -> usize {
    let mut total = 0;
    while let Some((_, data)) = core.send_data(id) {
        let n = data.len();
        total += n;
        core.sent(id, n);
    }
    while core.pop_dirty().is_some() {}
    total
}

#[test]
fn messagepack_requests_allocate_nothing_once_warm() {
    let cfg = LobbyConfig {
        user_msgs_per_sec: 0,
        ..LobbyConfig::default()
    };
    let mut core = LobbyCore::new(cfg, Tickets::new(16));
    let now = Instant::now();
    let mp = core.open(IP, (), now).unwrap();
    let plain = core.open(IP, (), now).unwrap();
    feed(
        &mut core,
        mp,
        &frame(&Request::Login { name: "ann" }, Format::MsgPack),
        now,
    );
    feed(
        &mut core,
        plain,
        &frame(&Request::Login { name: "bob" }, Format::Plain),
        now,
    );
    let create = Request::RoomCreate {
        title: "den",
        max: 8,
    };
    feed(&mut core, mp, &frame(&create, Format::MsgPack), now);
    feed(
        &mut core,
        plain,
        &frame(&Request::RoomEnter { room: 1 }, Format::Plain),
        now,
    );
    drain(&mut core, mp);
    drain(&mut core, plain);
    // The requests, encoded before counting.
    let mut wire = Vec::new();
    for r in [
        Request::RoomChat { msg: "hello" },
        Request::Echo(b"ping"),
        Request::RoomList,
        Request::Whisper {
            to: "bob",
            msg: "psst",
        },
    ] {
        wire.extend(frame(&r, Format::MsgPack));
    }
    let plain_chat = frame(&Request::RoomChat { msg: "hi" }, Format::Plain);
    // Warm once, then count many rounds.
    feed(&mut core, mp, &wire, now);
    feed(&mut core, plain, &plain_chat, now);
    drain(&mut core, mp);
    drain(&mut core, plain);
    let (bytes, allocs) = counted(|| {
        let mut bytes = 0;
        for _ in 0..200 {
            feed(&mut core, mp, &wire, now);
            feed(&mut core, plain, &plain_chat, now);
            bytes += drain(&mut core, mp) + drain(&mut core, plain);
        }
        bytes
    });
    assert!(bytes > 200 * 50, "answers were sent: {bytes} bytes");
    assert_eq!(
        allocs, 0,
        "allocations for 200 rounds of MessagePack requests"
    );
    let s = core.stats();
    assert_eq!(s.errors, [0; 4]);
    assert_eq!(s.msgpack_in, 2 + 4 * 201);
    // Sanity: what the MessagePack user is sent is type 1.
    feed(
        &mut core,
        mp,
        &frame(&Request::Echo(b"x"), Format::MsgPack),
        now,
    );
    let (_, data) = core.send_data(mp).unwrap();
    assert_eq!(data[4], 1);
    assert_eq!(Message::parse(data), Ok(Message::Echo(b"x".to_vec())));
}
