//! PROTOCOL.md section 3: the sequence window, with injected time.
mod common;

use common::{addr, Sim};
use std::time::Duration;
use tickwire::wire::{DropReason, Kind};

#[test]
fn window_crosses_the_wrap_from_u32_max_minus_10() {
    let mut sim = Sim::new();
    sim.server.force_next_start_seq(u32::MAX - 10);
    let mut c = sim.connect(addr(1));
    assert_eq!(c.s0, u32::MAX - 10);
    for _ in 0..40 {
        let d = c.keepalive();
        assert_eq!(sim.send(c.src, &d), Ok(()), "seq {}", c.seq);
    }
    assert_eq!(c.seq, 29, "wrapped past 2^32");
    // The server's own counter wraps too: 40 ticks of snapshots from S0 + 1.
    let mut seqs = vec![];
    for _ in 0..40 {
        sim.advance(Duration::from_nanos(16_666_667));
        for o in sim.drain() {
            assert_eq!(o.kind(), Kind::Snapshot);
            seqs.push(o.packet().seq());
            assert_eq!(o.packet().ack(), 29);
        }
    }
    assert_eq!(seqs[0], u32::MAX - 9);
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0].wrapping_add(1));
    }
    assert_eq!(sim.server.stats().lost, 0);
    // Across the wrap, one seen before is a duplicate and one past the window's memory is old.
    let seen = c.raw(u32::MAX - 1, 0, &[]);
    assert_eq!(sim.send(c.src, &seen), Err(DropReason::Duplicate));
    let old = c.raw(u32::MAX - 40, 0, &[]);
    assert_eq!(sim.send(c.src, &old), Err(DropReason::Old));
}

#[test]
fn loss_duplication_and_reordering_are_counted() {
    let mut sim = Sim::new();
    let mut c = sim.connect(addr(1));
    let d1 = c.keepalive();
    let d2 = c.keepalive();
    let d3 = c.keepalive();
    let d4 = c.keepalive();
    let d5 = c.keepalive();
    assert_eq!(sim.send(c.src, &d1), Ok(()));
    assert_eq!(sim.send(c.src, &d1), Err(DropReason::Duplicate));
    // d2 lost; d4 arrives before d3.
    assert_eq!(sim.send(c.src, &d4), Ok(()));
    let p = sim.server.players(sim.now).next().unwrap();
    assert_eq!(p.stats.lost, 2, "d2 and d3 skipped when d4 arrived");
    assert_eq!(sim.send(c.src, &d3), Err(DropReason::Late));
    assert_eq!(
        sim.send(c.src, &d3),
        Err(DropReason::Duplicate),
        "a second copy of a late one"
    );
    assert_eq!(sim.send(c.src, &d5), Ok(()));
    let _ = d2;
    let p = sim.server.players(sim.now).next().unwrap();
    assert_eq!(p.stats.received, 3);
    assert_eq!(p.stats.lost, 1, "d3 was late, not lost: only d2 is lost");
    assert_eq!(p.stats.late, 1);
    assert_eq!(p.stats.out_of_window, 3);
    let s = sim.server.stats();
    assert_eq!(s.drop_count(DropReason::Duplicate), 2);
    assert_eq!(s.drop_count(DropReason::Late), 1);
    assert_eq!((s.lost, s.late), (1, 1));
}

#[test]
fn at_most_1024_ahead() {
    let mut sim = Sim::new();
    let c = sim.connect(addr(1));
    let far = c.raw(c.s0.wrapping_add(1025), 0, &[]);
    let digest = sim.server.state_digest();
    assert_eq!(sim.send(c.src, &far), Err(DropReason::FarAhead));
    assert_eq!(sim.server.state_digest(), digest);
    let edge = c.raw(c.s0.wrapping_add(1024), 0, &[]);
    assert_eq!(sim.send(c.src, &edge), Ok(()));
    assert_eq!(sim.server.players(sim.now).next().unwrap().stats.lost, 1023);
}

#[test]
fn rtt_is_measured_from_acks() {
    let mut sim = Sim::new();
    sim.tick();
    let mut c = sim.connect(addr(1));
    sim.advance(Duration::from_millis(17));
    let out = sim.drain();
    assert_eq!(out.len(), 1);
    c.saw(&out[0]);
    sim.advance(Duration::from_millis(40));
    sim.drain();
    let ka = c.keepalive();
    sim.send(c.src, &ka).unwrap();
    let rtt = sim.server.players(sim.now).next().unwrap().rtt.unwrap();
    // Sent at the tick deadline (16.667 ms), acked at 57 ms.
    assert_eq!(rtt.as_micros(), 57_000 - 16_666);
}

#[test]
fn ack_of_a_seq_never_sent_is_dropped() {
    let mut sim = Sim::new();
    let mut c = sim.connect(addr(1));
    c.newest = Some(c.s0.wrapping_add(5));
    let d = c.keepalive();
    let digest = sim.server.state_digest();
    assert_eq!(sim.send(c.src, &d), Err(DropReason::BadAck));
    assert_eq!(sim.server.state_digest(), digest);
}
