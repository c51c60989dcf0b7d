//! A baccarat table's steady state allocates nothing: bets (BET_REQ in, BET_RES and
//! BET_NTF out) and the rounds' turns (deal, ROUND_NTF, the next ROUND_OPEN_NTF), counted
//! exactly by the counting allocator on the sans-IO lobby core.

#[path = "common/counting.rs"]
mod counting;

use counting::counted;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};
use tickwire::client::lobby::Request;
use tickwire::lobby::{LobbyConfig, LobbyCore};
use tickwire::Tickets;

#[global_allocator]
static A: counting::Counting = counting::Counting;

fn frame(r: Request) -> Vec<u8> {
    let mut buf = vec![0; 4096];
    let n = r.emit(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn feed(core: &mut LobbyCore<()>, id: usize, bytes: &[u8], now: Instant) {
    let (_, space) = core.recv_space(id).expect("space");
    space[..bytes.len()].copy_from_slice(bytes);
    core.received(id, bytes.len(), now);
}

fn drain(core: &mut LobbyCore<()>, ids: &[usize]) {
    while core.pop_dirty().is_some() {}
    for &id in ids {
        while let Some((_, data)) = core.send_data(id) {
            let n = data.len();
            core.sent(id, n);
        }
    }
}

#[test]
fn bets_and_rounds_allocate_nothing_once_warm() {
    const N: usize = 20;
    let mut core: LobbyCore<()> = LobbyCore::new(LobbyConfig::default(), Tickets::new(64));
    core.set_game_seed(3);
    let mut now = Instant::now();
    let ids: Vec<usize> = (0..N)
        .map(|i| {
            let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8 + 1));
            let id = core.open(ip, (), now).unwrap();
            feed(
                &mut core,
                id,
                &frame(Request::Login {
                    name: &format!("p{i}"),
                }),
                now,
            );
            id
        })
        .collect();
    feed(
        &mut core,
        ids[0],
        &frame(Request::RoomCreate {
            title: "hall",
            max: 100,
        }),
        now,
    );
    for &id in &ids[1..] {
        feed(&mut core, id, &frame(Request::RoomEnter { room: 1 }), now);
    }
    feed(
        &mut core,
        ids[0],
        &frame(Request::TableOpen { bet_ms: 1000 }),
        now,
    );
    drain(&mut core, &ids);
    let bets: Vec<Vec<u8>> = (0..3u8)
        .map(|side| frame(Request::Bet { side, amount: 1 }))
        .collect();
    let round = |core: &mut LobbyCore<()>, now: &mut Instant| {
        for b in &bets {
            for &id in &ids {
                feed(core, id, b, *now);
            }
            drain(core, &ids);
        }
        *now += Duration::from_millis(1000);
        core.handle_timeout(*now); // deal, ROUND_NTF
        drain(core, &ids);
        *now += Duration::from_millis(1000);
        core.handle_timeout(*now); // the next ROUND_OPEN_NTF
        drain(core, &ids);
    };
    // Warm: a few rounds fill every buffer and the deadline set's nodes.
    for _ in 0..3 {
        round(&mut core, &mut now);
    }
    let ((), allocs) = counted(|| {
        for _ in 0..10 {
            round(&mut core, &mut now);
        }
    });
    assert_eq!(allocs, 0, "10 rounds of 20 users betting 3 times each");
    // The count is live: opening a table (its shoe, its lists) allocates.
    let last = ids[N - 1];
    feed(&mut core, last, &frame(Request::RoomLeave), now);
    feed(
        &mut core,
        last,
        &frame(Request::RoomCreate {
            title: "den",
            max: 4,
        }),
        now,
    );
    let open = frame(Request::TableOpen { bet_ms: 1000 });
    let ((), opened) = counted(|| feed(&mut core, last, &open, now));
    assert!(opened > 0);
    let s = core.stats();
    assert_eq!((s.tables, s.errors), (2, [0; 4]));
    assert_eq!(s.msgs_in as usize, 2 * N + 1 + 13 * 3 * N + 3);
}
