//! Secure mode over real sockets (PROTOCOL.md section 8): a Host on 127.0.0.1 with two
//! matches sharing one fleet key and one memory of redeemed tokens, and blocking clients.
mod common;

use common::net::{start, PATIENCE};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tickwire::client::blocking::Connection;
use tickwire::client::{ClientConfig, Event};
use tickwire::secure::{Issuer, Key, Secure};
use tickwire::{Config, HostConfig};

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn secure_host_admits_a_token_once_across_matches_and_serves_sealed_snapshots() {
    let fleet = Key::generate();
    let host = start(HostConfig {
        matches: 2,
        server: Config {
            secure: Some(Secure::new(fleet.clone(), 3)),
            ..Config::default()
        },
        ..HostConfig::default()
    });
    let issuer = Issuer::new(fleet, 0);
    let token = issuer.mint(1, 3, "ann", unix_now());
    let mut c = Connection::connect_with_token(
        host.addrs[0],
        ClientConfig::default(),
        token.clone(),
        PATIENCE,
    )
    .expect("connects with its token");
    assert!(c.client().is_secure());
    let mut snapshots = 0;
    let end = std::time::Instant::now() + PATIENCE;
    while snapshots < 5 && std::time::Instant::now() < end {
        if let Some(Event::Snapshot { .. }) = c.poll(Duration::from_millis(100)).unwrap() {
            snapshots += 1;
        }
    }
    assert_eq!(snapshots, 5);
    c.send_input(1, 0).unwrap();
    // The same token on the other match of this host: no answer (it was redeemed).
    let cfg = ClientConfig {
        connect_timeout: Duration::from_millis(600),
        ..ClientConfig::default()
    };
    let again =
        Connection::connect_with_token(host.addrs[1], cfg, token, Duration::from_millis(600));
    assert_eq!(
        again.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::TimedOut)
    );
    // A fresh token for that match is fine.
    let other = issuer.mint(2, 0, "", unix_now());
    let d = Connection::connect_with_token(host.addrs[1], ClientConfig::default(), other, PATIENCE)
        .expect("a second token connects");
    assert_eq!(c.stats().drops.total(), 0);
    c.close().unwrap();
    d.close().unwrap();
    let summary = host.stop();
    assert!(summary.contains("token_reused"), "{summary}");
}
