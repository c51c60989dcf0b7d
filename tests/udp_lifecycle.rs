//! Real sockets on 127.0.0.1: clients through the whole lifecycle against a running host.
mod common;

use common::net::{start, NetClient, PATIENCE};

use common::snapshots_to;
use std::time::Duration;
use tickwire::wire::Kind;
use tickwire::Config;
use tickwire::HostConfig;

#[test]
fn whole_lifecycle_over_loopback() {
    let host = start(HostConfig {
        server: Config {
            timeout: Duration::from_millis(1500),
            ..Config::default()
        },
        ..HostConfig::default()
    });
    let server = host.addrs[0];
    let mut a = NetClient::new(server);
    let mut b = NetClient::new(server);
    a.connect();
    b.connect();
    assert_ne!(a.c.qport, b.c.qport);

    // Snapshots arrive, and a's position moves as its INPUT says.
    let input = a.c.input(1, 0);
    a.send(&input);
    let mut xs = vec![];
    // Snapshots of ticks before b was admitted may still wait in a's socket (the server
    // reads handshakes at its drains, a tick or so apart): from the first with b on, b is
    // in every one.
    let mut b_seen = false;
    let mut before_b = 0;
    while xs.len() < 20 {
        let o = a
            .wait_for(Kind::Snapshot, PATIENCE)
            .expect("snapshots flow");
        for (_, ents) in snapshots_to(&[o], a.c.src) {
            let has_b = ents.iter().any(|e| e.qport == b.c.qport);
            if !b_seen && !has_b {
                before_b += 1;
                assert!(before_b < 60, "b never shows up in a's snapshots");
                continue;
            }
            b_seen = true;
            assert!(has_b, "b is in the world too");
            if let Some(e) = ents.iter().find(|e| e.qport == a.c.qport) {
                xs.push(e.x);
            }
        }
        if xs.len() % 10 == 0 {
            let k = a.c.keepalive();
            a.send(&k);
        }
    }
    assert!(
        xs.last() > xs.first() || *xs.last().unwrap() == 1023,
        "{xs:?}"
    );

    // Malformed datagrams get no answer; the client keeps being served.
    for junk in [&b"\x00\x01"[..], &[0u8; 13][..], &[0xFFu8; 40][..]] {
        a.send(junk);
    }
    let k = a.c.keepalive();
    a.send(&k);
    assert!(a.wait_for(Kind::Snapshot, PATIENCE).is_some());

    // b says BYE and is gone; a goes silent and is timed out with a BYE.
    let bye = b.c.bye();
    b.send(&bye);
    common::net::sync(server);
    let got_bye = a.wait_for(Kind::Bye, PATIENCE).expect("timeout BYE");
    assert_eq!(got_bye.packet().qport(), a.c.qport);
    let summary = host.stop();
    assert!(summary.contains("clients=0"), "{summary}");
    assert!(summary.contains("timeouts=1"), "{summary}");
    assert!(summary.contains("byes=1"), "{summary}");
}

#[test]
fn stop_says_bye_to_connected_clients() {
    let host = start(HostConfig::default());
    let mut a = NetClient::new(host.addrs[0]);
    a.connect();
    let stopper = host.stopper.clone();
    stopper.stop();
    assert!(a.wait_for(Kind::Bye, PATIENCE).is_some());
    let summary = host.stop();
    assert!(summary.contains("accepts=1"), "{summary}");
}

#[test]
fn several_matches_on_one_loop() {
    let host = start(HostConfig {
        matches: 3,
        ..HostConfig::default()
    });
    assert_eq!(host.addrs.len(), 3);
    for w in host.addrs.windows(2) {
        assert_eq!(w[1].port(), w[0].port() + 1, "consecutive ports");
    }
    let mut cs: Vec<_> = host.addrs.iter().map(|a| NetClient::new(*a)).collect();
    for c in &mut cs {
        c.connect();
        let o = c.wait_for(Kind::Snapshot, PATIENCE).expect("snapshot");
        // Each match has its own world: only this client in it.
        let snaps = snapshots_to(&[o], c.c.src);
        assert_eq!(snaps[0].1.len(), 1);
        assert_eq!(snaps[0].1[0].qport, c.c.qport);
    }
    drop(host);
}
