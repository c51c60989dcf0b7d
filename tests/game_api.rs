//! The Game API: a game that is not the arena runs on the same core, over real sockets,
//! driven by the client library. This is the game from `examples/embed.rs`.
#[allow(dead_code)]
#[path = "../examples/embed.rs"]
mod embed;

mod common;

use common::net::PATIENCE;
use std::time::{Duration, Instant};
use tickwire::client::blocking::Connection;
use tickwire::client::{ClientConfig, Event};
use tickwire::HostConfig;

#[test]
fn a_custom_game_through_host_and_client_library() {
    let host = common::net::start_with(HostConfig::default(), |_| embed::Beacon::default(), || {});
    let addr = host.addrs[0];
    let mut a = Connection::connect(addr, ClientConfig::default(), PATIENCE).unwrap();
    let mut b = Connection::connect(addr, ClientConfig::default(), PATIENCE).unwrap();
    a.send_game(embed::COLOUR, &[7]).unwrap();
    b.send_game(embed::COLOUR, &[9]).unwrap();
    let end = Instant::now() + PATIENCE;
    let mut seen = false;
    while Instant::now() < end && !seen {
        let _ = b.poll(Duration::from_millis(50)).unwrap();
        if let Some(Event::Snapshot { .. }) = a.poll(Duration::from_millis(50)).unwrap() {
            let body: Vec<u8> = a.snapshot_parts().flat_map(|p| p.to_vec()).collect();
            // count, then (id, colour) pairs
            let colours: Vec<u8> = body[1..].chunks(2).map(|e| e[1]).collect();
            seen = body[0] == 2 && colours.contains(&7) && colours.contains(&9);
        }
    }
    assert!(seen, "both colours in a snapshot");
    // An unknown kind is refused by the core before the game sees it.
    a.send_game(0x21, &[1]).unwrap();
    let end = Instant::now() + Duration::from_millis(300);
    while Instant::now() < end {
        let _ = a.poll(Duration::from_millis(20));
    }
    a.close().unwrap();
    b.close().unwrap();
    common::net::sync(addr);
    let summary = host.stop();
    assert!(summary.contains("unknown_kind=1"), "{summary}");
    assert!(summary.contains("byes=2"), "{summary}");
}
