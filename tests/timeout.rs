//! PROTOCOL.md section 3: keepalive, timeout and BYE, with injected time.
mod common;

use common::{addr, config, Sim};
use std::time::Duration;
use tickwire::wire::{flags, DropReason, Kind};
use tickwire::Config;

const TICK: Duration = Duration::from_nanos(16_666_667);

#[test]
fn silent_client_is_dropped_after_the_timeout_and_sent_bye() {
    let mut sim = Sim::new();
    let mut c = sim.connect(addr(1));
    let mut talker = sim.connect(addr(2));
    let start = sim.now;
    let mut bye_at = None;
    // Talker keeps alive every 250 ms; c goes silent.
    for step in 0..(6_000 / 50) {
        sim.advance(Duration::from_millis(50));
        if step % 5 == 0 {
            let k = talker.keepalive();
            sim.send(talker.src, &k).unwrap();
        }
        for o in sim.drain() {
            // The talker reads what it is sent: PROTOCOL.md section 3 (corrected for issue
            // 11) also drops a client whose acks acknowledge nothing.
            if o.dst == talker.src {
                talker.saw(&o);
            }
            if o.dst == c.src && o.kind() == Kind::Bye {
                assert_eq!(o.packet().flags(), flags::DISCONNECT | flags::SEQ);
                assert_eq!(o.packet().qport(), c.qport);
                bye_at.get_or_insert(sim.now);
            }
        }
    }
    let bye_at = bye_at.expect("BYE sent");
    let after = bye_at - start;
    assert!(
        after > Duration::from_secs(5),
        "not before the timeout: {after:?}"
    );
    assert!(
        after <= Duration::from_secs(5) + TICK + Duration::from_millis(50),
        "{after:?}"
    );
    assert_eq!(sim.server.client_count(), 1);
    assert_eq!(sim.server.stats().timeouts, 1);
    // The freed slot no longer accepts the old client.
    let k = c.keepalive();
    assert_eq!(sim.send(c.src, &k), Err(DropReason::UnknownQport));
}

#[test]
fn dropped_within_timeout_plus_one_tick() {
    let mut sim = Sim::with(Config {
        timeout: Duration::from_millis(500),
        ..config()
    });
    sim.connect(addr(1));
    let start = sim.now;
    while sim.server.client_count() == 1 {
        sim.advance(Duration::from_millis(1));
        assert!(sim.now - start <= Duration::from_millis(500) + TICK + Duration::from_millis(1));
    }
}

#[test]
fn keepalives_keep_a_client() {
    let mut sim = Sim::new();
    let mut c = sim.connect(addr(1));
    for _ in 0..80 {
        sim.advance(Duration::from_millis(250));
        // It acks what it was sent (section 3 as corrected for issue 11: a client whose
        // acks acknowledge nothing is dropped however often it speaks).
        for o in sim.drain() {
            c.saw(&o);
        }
        let k = c.keepalive();
        sim.send(c.src, &k).unwrap();
    }
    assert_eq!(sim.server.client_count(), 1);
    assert_eq!(sim.server.stats().timeouts, 0);
}

#[test]
fn bye_from_the_client_frees_the_slot_at_once() {
    let mut sim = Sim::new();
    let mut c = sim.connect(addr(1));
    let b = c.bye();
    assert_eq!(sim.send(c.src, &b), Ok(()));
    assert_eq!(sim.server.client_count(), 0);
    assert_eq!(sim.server.stats().byes, 1);
    assert!(sim.drain().is_empty(), "nothing answers a BYE");
    // Its slot can be taken again.
    sim.connect(addr(1));
    assert_eq!(sim.server.client_count(), 1);
}

#[test]
fn invalid_traffic_does_not_keep_a_client_alive() {
    let mut sim = Sim::with(Config {
        timeout: Duration::from_millis(300),
        ..config()
    });
    let c = sim.connect(addr(1));
    let dup = c.raw(c.s0, 0, &[]);
    for _ in 0..20 {
        sim.advance(Duration::from_millis(50));
        let _ = sim.send(c.src, &dup);
    }
    assert_eq!(sim.server.client_count(), 0);
}

#[test]
fn shutdown_says_bye_to_everyone() {
    let mut sim = Sim::new();
    let a = sim.connect(addr(1));
    let b = sim.connect(addr(2));
    sim.server.shutdown(sim.now);
    let out = sim.drain();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|o| o.kind() == Kind::Bye));
    let mut dsts: Vec<_> = out.iter().map(|o| o.dst).collect();
    dsts.sort();
    assert_eq!(dsts, vec![a.src, b.src]);
    assert_eq!(sim.server.client_count(), 0);
}
