//! Snapshots, sequence numbers, loss and reordering, RTT, game datagrams, snapshot rate.

use super::*;

#[test]
fn snapshots_in_one_and_two_parts() {
    let (mut c, mut f, t) = connected(40);
    assert_eq!(c.snapshot_parts().count(), 0);
    assert_eq!(
        c.handle_datagram(t, &f.snapshot(200, 0, 1, b"one")),
        Some(Event::Snapshot {
            tick: 200,
            time_us: 200 * 16_667
        })
    );
    assert_eq!(bodies(&c), [b"one".to_vec()]);
    // two parts, in order
    assert_eq!(c.handle_datagram(t, &f.snapshot(201, 0, 2, b"a0")), None);
    assert_eq!(
        bodies(&c),
        [b"one".to_vec()],
        "last whole snapshot still readable"
    );
    assert_eq!(
        c.handle_datagram(t, &f.snapshot(201, 1, 2, b"a1")),
        Some(Event::Snapshot {
            tick: 201,
            time_us: 201 * 16_667
        })
    );
    assert_eq!(bodies(&c), [b"a0".to_vec(), b"a1".to_vec()]);
    // two parts, the second sent first
    assert_eq!(c.handle_datagram(t, &f.snapshot(202, 1, 2, b"b1")), None);
    assert!(matches!(
        c.handle_datagram(t, &f.snapshot(202, 0, 2, b"b0")),
        Some(Event::Snapshot { tick: 202, .. })
    ));
    assert_eq!(bodies(&c), [b"b0".to_vec(), b"b1".to_vec()]);
    // a lost part: tick 203 is never delivered, 204 is
    let _lost = f.snapshot(203, 0, 2, b"c0");
    assert_eq!(c.handle_datagram(t, &f.snapshot(203, 1, 2, b"c1")), None);
    assert_eq!(c.handle_datagram(t, &f.snapshot(204, 0, 2, b"d0")), None);
    assert!(matches!(
        c.handle_datagram(t, &f.snapshot(204, 1, 2, b"d1")),
        Some(Event::Snapshot { tick: 204, .. })
    ));
    assert_eq!(bodies(&c), [b"d0".to_vec(), b"d1".to_vec()]);
    assert_eq!(c.last_snapshot(), Some((204, 204 * 16_667)));
    // a late part of an older tick, in a newer datagram, is stale
    assert_eq!(c.handle_datagram(t, &f.snapshot(203, 0, 2, b"c0")), None);
    let s = c.stats();
    assert_eq!(s.snapshots, 4);
    assert_eq!(s.snapshot_ticks_lost, 1);
    assert_eq!(s.snapshots_incomplete, 1);
    assert_eq!(s.snapshot_parts_stale, 1);
    assert_eq!(s.lost, 1);
}

#[test]
fn arena_snapshot_decodes_through_the_client() {
    let (mut c, mut f, t) = connected(1);
    let p0 = [1u8, 3, 0, 10, 0, 20, 100, 0, 1];
    let p1 = [1u8, 9, 3, 0xFF, 0, 0, 75, 0, 0];
    c.handle_datagram(t, &f.snapshot(9, 1, 2, &p1));
    assert!(c.handle_datagram(t, &f.snapshot(9, 0, 2, &p0)).is_some());
    let v: Vec<_> = arena::players_in(c.snapshot_parts()).collect();
    assert_eq!(v.len(), 2);
    assert_eq!((v[0].qport, v[0].x, v[0].y, v[0].score), (3, 10, 20, 1));
    assert_eq!((v[1].qport, v[1].x, v[1].hp), (9, 1023, 75));
}

#[test]
fn sequence_wraps_at_u32_max() {
    let s0 = u32::MAX - 10;
    let (mut c, mut f, mut t) = connected(s0);
    for i in 0..30u32 {
        t += ms(20);
        let ev = c.handle_datagram(t, &f.snapshot(1000 + i, 0, 1, &[i as u8]));
        assert!(matches!(ev, Some(Event::Snapshot { .. })), "snapshot {i}");
        assert_eq!(c.server_seq(), s0.wrapping_add(i + 1));
        let (k, p) = arena::input(1, 0);
        c.send_game(k, &p).unwrap();
        for d in drain(&mut c, t) {
            let h = f.recv(&d);
            assert_eq!(h.ack, c.server_seq());
            assert_eq!(h.flags, flags::SEQ | flags::ACK);
        }
    }
    // the client sent KEEPALIVE s0+1 and INPUTs s0+2 ..= s0+31, across the wrap
    assert_eq!(f.ack, Some(s0.wrapping_add(31)));
    assert_eq!(c.next_seq(), s0.wrapping_add(32));
    assert!(c.server_seq() < 100);
    let s = c.stats();
    assert_eq!((s.lost, s.dropped_total(), s.snapshots), (0, 0, 30));
    // the window still works after the wrap: S0 again is a duplicate, 70 back is old
    assert_eq!(c.handle_datagram(t, &f.at(s0, Kind::Keepalive, &[])), None);
    assert_eq!(c.stats().dropped(DropReason::Duplicate), 1);
    assert_eq!(
        c.handle_datagram(t, &f.at(s0.wrapping_sub(40), Kind::Keepalive, &[])),
        None
    );
    assert_eq!(c.stats().dropped(DropReason::Old), 1);
}

#[test]
fn loss_duplicates_reordering_and_far_ahead() {
    let (mut c, f, t) = connected(500);
    let k = |seq| f.at(seq, Kind::Keepalive, &[]);
    c.handle_datagram(t, &k(501));
    c.handle_datagram(t, &k(504)); // 502, 503 lost
    c.handle_datagram(t, &k(504)); // duplicate
    c.handle_datagram(t, &k(503)); // late: reordered, dropped, and not lost after all
    c.handle_datagram(t, &k(503)); // a second copy of it is a duplicate
    c.handle_datagram(t, &k(504 + 1025)); // too far ahead
    assert_eq!(c.server_seq(), 504);
    c.handle_datagram(t, &k(504 + 1024)); // exactly at the edge
    assert_eq!(c.server_seq(), 504 + 1024);
    let s = c.stats();
    assert_eq!(s.lost, 1 + 1023);
    assert_eq!(s.late, 1);
    assert_eq!(s.dropped(DropReason::Duplicate), 2);
    assert_eq!(s.dropped(DropReason::Late), 1);
    assert_eq!(s.dropped(DropReason::FarAhead), 1);
    assert_eq!(s.dropped_total(), 4);
}

#[test]
fn rtt_is_sampled_from_the_servers_ack() {
    let (mut c, mut f, t) = connected(9);
    // the fake has the first KEEPALIVE (seq 10, sent at t)
    c.handle_datagram(t + ms(40), &f.next(Kind::Keepalive, &[]));
    let r = c.stats().rtt;
    assert_eq!((r.samples, r.latest, r.smoothed), (1, ms(40), ms(40)));
    // the same ack again: no new sample
    c.handle_datagram(t + ms(60), &f.next(Kind::Keepalive, &[]));
    assert_eq!(c.stats().rtt.samples, 1);
    for i in 1..=9u64 {
        let now = t + ms(100 * i);
        let (k, p) = arena::input(0, 1);
        c.send_game(k, &p).unwrap();
        for d in drain(&mut c, now) {
            f.recv(&d);
        }
        c.handle_datagram(now + ms(20 + i), &f.next(Kind::Keepalive, &[]));
    }
    let r = c.stats().rtt;
    assert_eq!(r.samples, 10);
    assert_eq!((r.min, r.max), (ms(21), ms(40)));
    assert!(r.p50 >= ms(24) && r.p50 <= ms(26), "{r:?}");
    assert!(r.p99 >= ms(39), "{r:?}");
    assert_eq!(c.rtt_histogram().len(), 10);
    // an ack of a seq the client never sent is ignored and counted
    let mut bogus = f.next(Kind::Keepalive, &[]);
    bogus[5..9].copy_from_slice(&c.next_seq().wrapping_add(5).to_be_bytes());
    c.handle_datagram(t + ms(2000), &bogus);
    assert_eq!(c.stats().bad_acks, 1);
    assert_eq!(c.stats().rtt.samples, 10);
    assert_eq!(c.server_seq(), f.seq, "the datagram itself is accepted");
    // so are acks of S0 (ours start at S0 + 1) and of seqs before it
    for ack in [9u32, 8, 1] {
        let mut d = f.next(Kind::Keepalive, &[]);
        d[5..9].copy_from_slice(&ack.to_be_bytes());
        c.handle_datagram(t + ms(2001), &d);
    }
    assert_eq!(c.stats().bad_acks, 4);
    assert_eq!(c.stats().rtt.samples, 10);
}

#[test]
fn game_datagrams_both_ways() {
    let (mut c, mut f, t) = connected(3);
    assert_eq!(
        c.handle_datagram(t, &f.next(Kind::Game(0x42), b"hi there")),
        Some(Event::Game { kind: 0x42 })
    );
    assert_eq!(c.game_payload(), b"hi there");
    assert_eq!(c.send_game(0x05, &[]), Err(SendError::NotGameKind));
    assert_eq!(c.send_game(0x80, &[0; 1188]), Err(SendError::TooLarge));
    for i in 0..SEND_QUEUE {
        c.send_game(0x80, &[i as u8; 1187]).unwrap();
    }
    assert_eq!(c.send_game(0x80, &[]), Err(SendError::QueueFull));
    assert_eq!(c.queued(), SEND_QUEUE);
    // a buffer too small keeps the datagram queued
    assert_eq!(c.poll_transmit(t, &mut [0u8; 100]), None);
    let out = drain(&mut c, t);
    assert_eq!(out.len(), SEND_QUEUE);
    for (i, d) in out.iter().enumerate() {
        assert_eq!(d.len(), MAX_DATAGRAM);
        let h = f.recv(d);
        assert_eq!((h.kind, h.seq), (0x80, 5 + i as u32));
        assert!(d[HEADER_LEN..].iter().all(|&b| b == i as u8));
    }
    assert_eq!(c.queued(), 0);
    let s = c.stats();
    assert_eq!(
        s.bytes_out,
        (61 + 61 + 13) as u64 + (SEND_QUEUE * MAX_DATAGRAM) as u64
    );
}

#[test]
fn snapshot_rate() {
    let (mut c, mut f, t) = connected(3);
    for i in 0..=120u32 {
        let now = t + Duration::from_nanos(16_666_667 * u64::from(i));
        c.handle_datagram(now, &f.snapshot(i, 0, 1, &[]));
    }
    let r = c.stats().snapshots_per_sec;
    assert!((59.0..=61.0).contains(&r), "{r}");
}
