//! Issue 11, item 3: one address cannot hold every slot. A per-IP slot limit
//! (`Config::max_clients_per_ip`), and PROTOCOL.md section 3 as corrected: a client whose
//! datagrams acknowledge none of the server's for the timeout is dropped. Sans-IO core,
//! injected time.
mod common;

use common::netsim::{Link, World};
use common::{addr, config, Out, RawClient, Sim};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tickwire::internal::Reject;
use tickwire::wire::{Kind, RejectReason};
use tickwire::Config;

const TICK: Duration = Duration::from_nanos(16_666_667);

/// Keeps every client in `alive` alive and reading: it acks what it was sent.
fn keep_alive(sim: &mut Sim, alive: &mut [RawClient], out: &[Out]) {
    for c in alive.iter_mut() {
        let src = c.src;
        for o in out.iter().filter(|o| o.dst == src) {
            c.saw(o);
        }
        let k = c.keepalive();
        sim.send(c.src, &k).unwrap();
    }
}

#[test]
fn handshakes_from_one_ip_take_at_most_the_per_ip_limit() {
    assert_eq!(Config::default().max_clients_per_ip, 16);
    let mut sim = Sim::new();
    let host = |port: u16| SocketAddr::from(([198, 51, 100, 9], port));
    let mut alive: Vec<RawClient> = Vec::new();
    let mut rejected = 0;
    for i in 0..255u16 {
        // One handshake every 100 ms: within the CHALLENGE limit, so only the slot limit
        // decides; everyone admitted keeps playing honestly meanwhile.
        sim.advance(Duration::from_millis(100));
        let out = sim.drain();
        keep_alive(&mut sim, &mut alive, &out);
        let mut c = RawClient::new(host(20_000 + i));
        let cookie = sim.challenge(c.src, &c.hello(0));
        sim.send(c.src, &c.hello(cookie)).unwrap();
        let out = sim.drain();
        let answer = out.iter().find(|o| o.dst == c.src).expect("an answer");
        match answer.kind() {
            Kind::Accept => {
                c.on_accept(answer);
                alive.push(c);
            }
            Kind::Reject => {
                let r = Reject::parse(answer.packet().payload()).unwrap();
                assert_eq!(r.reason, RejectReason::Full);
                rejected += 1;
            }
            k => panic!("{k:?}"),
        }
        keep_alive(&mut sim, &mut alive, &out);
        assert!(sim.server.client_count() <= 16);
    }
    assert_eq!(alive.len(), 16);
    assert_eq!(sim.server.client_count(), 16, "all 16 still there");
    assert_eq!(rejected, 255 - 16);
    assert_eq!(sim.server.stats().rejects_per_ip, 255 - 16);
    assert_eq!(sim.server.stats().rejects_full, 0);
    // Another host still gets in; and the limit is a setting.
    sim.connect(addr(5));
    let mut sim = Sim::with(Config {
        max_clients_per_ip: 2,
        ..config()
    });
    let a = addr(7);
    sim.connect(a);
    sim.connect(SocketAddr::new(a.ip(), a.port() + 1));
    let c = RawClient::new(SocketAddr::new(a.ip(), a.port() + 2));
    let cookie = sim.challenge(c.src, &c.hello(0));
    sim.send(c.src, &c.hello(cookie)).unwrap();
    assert_eq!(sim.drain()[0].kind(), Kind::Reject);
}

/// Clients that keep talking but acknowledge nothing (an ack of ACCEPT's S0 forever, no ACK
/// flag at all, or an ack that stopped moving) are dropped one timeout after their acks
/// last moved, with BYE; an honest client is not, and neither is one that is simply slow.
#[test]
fn a_client_that_acknowledges_nothing_is_dropped_and_an_honest_one_is_not() {
    let mut sim = Sim::new();
    let start = sim.now;
    let mut honest = sim.connect(addr(1));
    let mut s0_forever = sim.connect(addr(2));
    let mut no_ack = sim.connect(addr(3));
    no_ack.newest = None; // KEEPALIVE without the ACK flag
    let mut stuck = sim.connect(addr(4));
    let mut slow = sim.connect(addr(5)); // acks every 4.5 s only
    let mut bye: [Option<Instant>; 5] = [None; 5];
    let mut stuck_since = None;
    let mut stuck_acked = stuck.newest;
    let mut last_slow_ack = sim.now;
    for step in 0..(12_000 / 50) {
        sim.advance(Duration::from_millis(50));
        for o in sim.drain() {
            let who = [&honest, &s0_forever, &no_ack, &stuck, &slow]
                .iter()
                .position(|c| c.src == o.dst);
            if o.kind() == Kind::Bye {
                bye[who.unwrap()].get_or_insert(sim.now);
                continue;
            }
            if o.dst == honest.src {
                honest.saw(&o);
            }
            if o.dst == stuck.src && sim.now - start < Duration::from_secs(1) {
                stuck.saw(&o);
            }
            if o.dst == slow.src && sim.now - last_slow_ack >= Duration::from_millis(4_500) {
                slow.saw(&o);
                last_slow_ack = sim.now;
            }
        }
        if step % 5 == 0 {
            for (i, c) in [
                &mut honest,
                &mut s0_forever,
                &mut no_ack,
                &mut stuck,
                &mut slow,
            ]
            .into_iter()
            .enumerate()
            {
                if bye[i].is_none() {
                    if i == 3 && c.newest != stuck_acked {
                        // Its ack moves with this KEEPALIVE, for the last time after 1 s.
                        stuck_acked = c.newest;
                        stuck_since = Some(sim.now);
                    }
                    let k = c.keepalive();
                    assert_eq!(sim.send(c.src, &k), Ok(()), "client {i}");
                }
            }
        }
    }
    assert_eq!(bye[0], None, "the honest client stays");
    assert_eq!(bye[4], None, "a client that acks every 4.5 s stays");
    let window = |from: Instant, at: Option<Instant>| {
        let after = at.expect("dropped") - from;
        assert!(after > Duration::from_secs(5), "{after:?}");
        assert!(
            after <= Duration::from_secs(5) + TICK + Duration::from_millis(50),
            "{after:?}"
        );
    };
    window(start, bye[1]);
    window(start, bye[2]);
    window(stuck_since.unwrap(), bye[3]);
    let st = sim.server.stats();
    assert_eq!((st.unacked_drops, st.timeouts), (3, 0));
    assert_eq!(sim.server.client_count(), 2);
    // The BYE is the usual one, and the slot is free.
    let k = s0_forever.keepalive();
    assert!(sim.send(s0_forever.src, &k).is_err());
}

/// An honest client behind a very lossy downlink (60% of the server's datagrams lost) and a
/// lossy uplink is never dropped: any one datagram getting through each way is progress.
#[test]
fn an_honest_client_over_a_lossy_link_is_not_dropped() {
    for seed in 0..3 {
        let mut w = World::new(seed, Config::default());
        let down = Link {
            loss: 0.6,
            ..Link::CLEAN
        };
        let up = Link {
            loss: 0.3,
            ..Link::CLEAN
        };
        w.add_client(up, down);
        w.add_client(Link::CLEAN, Link::CLEAN);
        w.run(Duration::from_secs(30), Some(Duration::from_millis(100)));
        for c in &w.clients {
            assert!(c.connected_at.is_some(), "seed {seed}");
            assert!(
                c.disconnected.is_none(),
                "seed {seed}: {:?}",
                c.disconnected
            );
        }
        let st = w.server.stats();
        assert_eq!((st.unacked_drops, st.timeouts), (0, 0), "seed {seed}");
        assert_eq!(w.server.client_count(), 2);
    }
}

/// A client that has acknowledged everything the server sent is caught up, even when that
/// is only ACCEPT's S0 (a slow tick, a short timeout): it is dropped only once the server
/// has sent more and its acks stay at S0 for the timeout.
#[test]
fn acking_s0_is_caught_up_only_while_accept_is_all_there_was() {
    let mut sim = Sim::with(Config {
        tick_hz: 1,
        timeout: Duration::from_millis(100),
        ..config()
    });
    sim.tick();
    let t0 = sim.now;
    let mut s0_only = sim.connect(addr(1));
    let mut reader = sim.connect(addr(2));
    let mut dropped_at = None;
    while sim.now - t0 < Duration::from_millis(1_500) {
        sim.advance(Duration::from_millis(50));
        for o in sim.drain() {
            if o.dst == reader.src {
                reader.saw(&o);
            }
            if o.dst == s0_only.src && o.kind() == Kind::Bye {
                dropped_at.get_or_insert(sim.now - t0);
            }
        }
        for c in [&mut s0_only, &mut reader] {
            let k = c.keepalive();
            let _ = sim.send(c.src, &k);
        }
        if sim.now - t0 < Duration::from_secs(1) {
            assert_eq!(sim.server.client_count(), 2, "at {:?}", sim.now - t0);
        }
    }
    // The tick at 1 s sent the first snapshot; 100 ms later its acks still said S0.
    let at = dropped_at.expect("dropped");
    assert!(
        at > Duration::from_millis(1_100) && at <= Duration::from_millis(1_150),
        "{at:?}"
    );
    assert_eq!(sim.server.client_count(), 1);
    assert_eq!(sim.server.stats().unacked_drops, 1);
}
