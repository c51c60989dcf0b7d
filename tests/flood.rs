//! Floods and spoofing (robustness issue, part 3): a spoofed-HELLO flood from the whole
//! 127.0.0.0/8 range while 32 real clients play, and injection into a connected client.
mod common;

use common::net::{start, NetClient, PATIENCE};
use common::{addr, RawClient, Sim};
use rand::{Rng, SeedableRng};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickwire::wire::{DropReason, Kind};
use tickwire::HostConfig;

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn spoofed_hello_flood_does_not_disturb_real_players() {
    let host = start(HostConfig::default());
    let server = host.addrs[0];
    // 32 players on 32 hosts (127.0.0.2..=33): one host may hold only 16 slots.
    let mut players: Vec<NetClient> = (0..32u8)
        .map(|k| NetClient::new_at(server, Ipv4Addr::new(127, 0, 0, 2 + k)))
        .collect();
    for p in &mut players {
        p.c.src = p.sock.local_addr().unwrap();
        p.connect();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let too_big = Arc::new(AtomicU64::new(0));
    // The flooder: sockets bound across 127.0.0.0/8, HELLOs with random reply addresses
    // (and some with family 0, so the CHALLENGE comes back and its size can be checked).
    let flooder = {
        let (stop, sent, too_big) = (stop.clone(), sent.clone(), too_big.clone());
        std::thread::spawn(move || {
            let mut rng = rand::rngs::StdRng::seed_from_u64(1);
            let socks: Vec<UdpSocket> = (0..64)
                .filter_map(|_| {
                    let ip =
                        Ipv4Addr::new(127, rng.gen_range(1..255), rng.gen(), rng.gen_range(1..255));
                    UdpSocket::bind((ip, 0)).ok()
                })
                .collect();
            for s in &socks {
                s.set_nonblocking(true).unwrap();
            }
            let end = Instant::now() + Duration::from_secs(3);
            let mut buf = [0u8; 2048];
            let mut i = 0usize;
            while Instant::now() < end && !stop.load(Ordering::Relaxed) {
                let s = &socks[i % socks.len()];
                let mut c = RawClient::new(s.local_addr().unwrap());
                if i % 4 != 0 {
                    let ip = Ipv4Addr::new(127, rng.gen(), rng.gen(), rng.gen_range(1..255));
                    c.reply = Some(SocketAddr::from((ip, rng.gen_range(1..65535))));
                }
                let cookie: u64 = if i % 2 == 0 { 0 } else { rng.gen() };
                let hello = c.hello(cookie);
                if s.send_to(&hello, server).is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                while let Ok((n, _)) = s.recv_from(&mut buf) {
                    if n > hello.len() {
                        too_big.fetch_add(1, Ordering::Relaxed);
                    }
                }
                i += 1;
            }
        })
    };
    // Players keep playing through the flood.
    let rss_warm = rss_bytes();
    let start_t = Instant::now();
    let mut snapshots = vec![0u32; players.len()];
    let mut dropped = None;
    while start_t.elapsed() < Duration::from_secs(3) {
        for (k, p) in players.iter_mut().enumerate() {
            let ka = p.c.keepalive();
            p.send(&ka);
            while let Some(o) = p.recv(Duration::from_millis(1)) {
                if o.kind() == Kind::Bye {
                    dropped.get_or_insert((k, start_t.elapsed()));
                }
                if o.kind() == Kind::Snapshot {
                    snapshots[k] += 1;
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    flooder.join().unwrap();
    let grew = rss_bytes().saturating_sub(rss_warm);
    if let Some((k, at)) = dropped {
        let summary = host.stop();
        panic!(
            "real player {k} was dropped after {at:?}; {} HELLOs sent; {summary}",
            sent.load(Ordering::Relaxed)
        );
    }
    // Everyone is still served after the flood.
    for p in &mut players {
        let ka = p.c.keepalive();
        p.send(&ka);
        assert!(p.wait_for(Kind::Snapshot, PATIENCE).is_some());
    }
    let summary = host.stop();
    let sent = sent.load(Ordering::Relaxed);
    eprintln!("flood: {sent} spoofed HELLOs; rss grew {grew} bytes; {summary}");
    assert!(sent > 1000, "the flood ran ({sent})");
    assert!(snapshots.iter().all(|&n| n > 0), "{snapshots:?}");
    assert!(
        summary.contains("accepts=32 "),
        "no slot for an unvalidated address: {summary}"
    );
    assert!(summary.contains("timeouts=0"), "{summary}");
    assert_eq!(
        too_big.load(Ordering::Relaxed),
        0,
        "an answer larger than its HELLO"
    );
    assert!(
        grew < 1 << 20,
        "memory grew by {grew} bytes under the flood"
    );
}

#[test]
fn injection_into_a_connected_client_changes_nothing() {
    let mut sim = Sim::new();
    let mut c = sim.connect(addr(1));
    let k = c.keepalive();
    sim.send(c.src, &k).unwrap();
    let digest = sim.server.state_digest();
    let before = sim.server.stats().dropped();
    let mut n = 0u64;
    // Its qport from other addresses, with valid next sequence numbers.
    for i in 0..2000u32 {
        let spoof = SocketAddr::from(([127, (i >> 8) as u8, i as u8, 9], 1 + (i % 60000) as u16));
        if spoof == c.src {
            continue;
        }
        for d in 1..4u32 {
            let b = c.raw(c.seq.wrapping_add(d), 0, &[]);
            assert_eq!(sim.send(spoof, &b), Err(DropReason::WrongSource));
            n += 1;
        }
    }
    // From its own address, every sequence number outside the window.
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let outside = (0..=2048u32)
        .map(|d| c.seq.wrapping_sub(d))
        .chain((1025..=4096u32).map(|d| c.seq.wrapping_add(d)))
        .chain((0..20_000).map(|_| c.seq.wrapping_add(rng.gen_range(1025..=u32::MAX))));
    for seq in outside {
        for kind in [0u8, 0x10] {
            let payload: &[u8] = if kind == 0 { &[] } else { &[1, 1] };
            let b = c.raw(seq, kind, payload);
            let r = sim.send(c.src, &b);
            assert!(
                matches!(
                    r,
                    Err(DropReason::Old | DropReason::Duplicate | DropReason::FarAhead)
                ),
                "seq {seq}: {r:?}"
            );
            n += 1;
        }
    }
    assert!(sim.drain().is_empty());
    assert_eq!(sim.server.state_digest(), digest);
    assert_eq!(sim.server.stats().dropped() - before, n);
    assert_eq!(
        sim.server.game().player(c.qport).unwrap().dx,
        0,
        "no INPUT took effect"
    );
}
