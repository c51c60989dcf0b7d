//! Once warm, the lobby allocates nothing to accept a connection, log it in, take it into
//! a room, chat, and close it: its state comes from the slab and its buffers from the pool
//! and go back to them (issue 15, item 1). Counted exactly by the counting allocator, on
//! the sans-IO core and on a real host thread over TCP.
mod common;

#[path = "common/counting.rs"]
mod counting;

use common::net::{start_with, PATIENCE};
use counting::{count_into, counted, Tally};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};
use tickwire::client::lobby::{LobbyClient, Message, Request};
use tickwire::lobby::{LobbyConfig, LobbyCore};
use tickwire::{HostConfig, Tickets};

#[global_allocator]
static A: counting::Counting = counting::Counting;

/// The host thread's allocations, from the moment it starts serving.
static HOST: Tally = Tally::new();

fn cfg() -> LobbyConfig {
    LobbyConfig {
        max_conns_per_ip: 1000,
        user_msgs_per_sec: 0,
        ..LobbyConfig::default()
    }
}

fn frame(r: Request) -> Vec<u8> {
    let mut buf = vec![0; 4096];
    let n = r.emit(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// Feeds `bytes` the way the shell does.
fn feed(core: &mut LobbyCore<()>, id: usize, mut bytes: &[u8], now: Instant) {
    while !bytes.is_empty() {
        let Some((_, space)) = core.recv_space(id) else {
            return;
        };
        let n = space.len().min(bytes.len());
        space[..n].copy_from_slice(&bytes[..n]);
        core.received(id, n, now);
        bytes = &bytes[n..];
    }
}

/// Writes out what is queued for everyone; returns the bytes.
fn drain(core: &mut LobbyCore<()>) -> usize {
    let mut total = 0;
    while let Some(id) = core.pop_dirty() {
        while let Some((_, data)) = core.send_data(id) {
            let n = data.len();
            total += n;
            core.sent(id, n);
        }
    }
    total
}

#[test]
fn the_core_allocates_nothing_to_accept_serve_and_close_once_warm() {
    let mut now = Instant::now();
    let mut core: LobbyCore<()> = LobbyCore::new(cfg(), Tickets::new(256));
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    // The host of the room stays; the guests come and go.
    let host = core.open(ip, (), now).unwrap();
    feed(
        &mut core,
        host,
        &frame(Request::Login { name: "host" }),
        now,
    );
    let create = frame(Request::RoomCreate {
        title: "hall",
        max: 100,
    });
    feed(&mut core, host, &create, now);
    drain(&mut core);
    let room = 1;
    let names: Vec<String> = (0..50).map(|i| format!("guest{i}")).collect();
    let logins: Vec<Vec<u8>> = names
        .iter()
        .map(|n| frame(Request::Login { name: n }))
        .collect();
    let enter = frame(Request::RoomEnter { room });
    let chat = frame(Request::RoomChat {
        msg: "hello everyone",
    });
    let whisper = frame(Request::Whisper {
        to: "host",
        msg: "psst",
    });
    let list = frame(Request::RoomList);
    let mut ids = Vec::with_capacity(logins.len());
    let mut round = |core: &mut LobbyCore<()>, now: Instant| {
        let mut out = 0;
        for login in &logins {
            let id = core.open(ip, (), now).unwrap();
            feed(core, id, login, now);
            feed(core, id, &enter, now);
            feed(core, id, &chat, now);
            feed(core, id, &whisper, now);
            // Half a frame left behind: the receive buffer is kept, then given back.
            feed(core, id, &list[..3], now);
            out += drain(core);
            ids.push(id);
        }
        for id in ids.drain(..) {
            core.peer_closed(id);
            while let Some((id, _)) = core.pop_closing() {
                core.remove(id);
            }
            out += drain(core);
        }
        out
    };
    for _ in 0..3 {
        now += Duration::from_millis(10);
        round(&mut core, now);
    }
    for r in 0..10 {
        now += Duration::from_millis(10);
        let (out, allocs) = counted(|| round(&mut core, now));
        assert_eq!(allocs, 0, "allocations in warm round {r}");
        assert!(out > 50 * 100, "the round was served ({out} bytes)");
    }
    let s = core.stats();
    assert_eq!((s.conns, s.users), (1, 1));
    assert_eq!(s.buffer_bytes, 8 * 1024, "only the staging buffer is lent");
}

/// The same on a real host: the shell's accept, registration, reads, writes and closes.
/// A member who stays in the room hears every guest leave, which is how the test knows
/// the host has handled each round's closes before it reads the count.
#[test]
fn a_host_thread_allocates_nothing_to_accept_serve_and_close_once_warm() {
    let hcfg = HostConfig {
        lobby: Some(("127.0.0.1:0".parse().unwrap(), cfg())),
        ..HostConfig::default()
    };
    let host = start_with(hcfg, |_| tickwire::Arena::new(1), || count_into(&HOST));
    let addr = host.lobby.expect("the lobby is bound");
    let mut stay = LobbyClient::connect(addr).unwrap();
    stay.set_timeout(PATIENCE);
    stay.login("stay").unwrap();
    let room = stay.create_room("hall", 100).unwrap();
    let round = |stay: &mut LobbyClient, r: usize| {
        let mut guests = Vec::new();
        for i in 0..20 {
            let mut g = LobbyClient::connect(addr).unwrap();
            g.set_timeout(PATIENCE);
            g.login(&format!("g{r}x{i}")).unwrap();
            g.enter_room(room).unwrap();
            g.chat("hello").unwrap();
            g.echo(b"ping").unwrap();
            guests.push(g);
        }
        drop(guests);
        // Every guest entered, chatted and left: wait until the member heard all 20
        // leave (bounded by PATIENCE per message).
        let mut left = 0;
        let deadline = Instant::now() + 4 * PATIENCE;
        while left < 20 {
            assert!(
                Instant::now() < deadline,
                "round {r}: {left} of 20 leaves heard"
            );
            match stay.recv(PATIENCE).unwrap() {
                Some(Message::RoomUserLeaveNtf { .. }) => left += 1,
                Some(_) => {}
                None => panic!("round {r}: no message within {PATIENCE:?}"),
            }
        }
    };
    for r in 0..3 {
        round(&mut stay, r);
    }
    let before = HOST.get();
    for r in 3..13 {
        round(&mut stay, r);
    }
    let allocs = HOST.get() - before;
    assert_eq!(
        allocs, 0,
        "host-thread allocations in 10 warm rounds of 20 guests"
    );
    // Still serving.
    assert_eq!(stay.list_rooms().unwrap().len(), 1);
    drop(host);
}
