//! Malformed datagrams, junk in every state, a seeded lossy network.

use super::*;

#[test]
fn malformed_server_datagrams_are_dropped_and_counted() {
    let (mut c, mut f, t) = connected(3);
    let before = (c.state(), c.server_seq());
    let good = f.next(Kind::Keepalive, &[]);
    let mut cases: Vec<(Vec<u8>, DropReason)> = vec![
        (good[..12].to_vec(), DropReason::TooShort),
        ([&good[..], &[0]].concat(), DropReason::BadLength),
        (vec![0u8; 1201], DropReason::BadLength),
    ];
    let mut m = good.clone();
    m[0] |= 0x01;
    cases.push((m, DropReason::ReservedFlag));
    let mut m = good.clone();
    m[10] = 0x09;
    cases.push((m, DropReason::UnknownKind));
    let mut m = good.clone();
    m[10] = Kind::Hello.to_u8();
    cases.push((m, DropReason::WrongDirection));
    let mut m = good.clone();
    m[0] = flags::CONNECT | flags::SEQ;
    cases.push((m, DropReason::BadFlags));
    let mut m = good.clone();
    m[9] = QPORT + 1;
    cases.push((m, DropReason::BadQport));
    cases.push((f.at(f.seq, Kind::Keepalive, &[1]), DropReason::BadPayload));
    cases.push((f.at(f.seq, Kind::Bye, &[1]), DropReason::BadPayload));
    cases.push((
        f.at(f.seq, Kind::Snapshot, &[0; 13]),
        DropReason::BadPayload,
    ));
    cases.push((
        f.at(f.seq, Kind::Snapshot, &snap_payload(1, 2, 2, b"x")),
        DropReason::BadPayload,
    ));
    cases.push((
        f.at(f.seq, Kind::Snapshot, &snap_payload(1, 0, 0, b"x")),
        DropReason::BadPayload,
    ));
    for (i, (d, why)) in cases.iter().enumerate() {
        let was = c.stats().dropped(*why);
        assert_eq!(c.handle_datagram(t, d), None, "case {i}");
        assert_eq!(c.stats().dropped(*why), was + 1, "case {i}: {why}");
        assert_eq!((c.state(), c.server_seq()), before, "case {i}");
    }
    // well-formed but out of place
    assert_eq!(c.handle_datagram(t, &f.challenge()), None);
    assert_eq!(c.stats().unexpected, 1);
    assert_eq!((c.state(), c.server_seq()), before);
    assert_eq!(c.stats().dropped_total(), cases.len() as u64 + 1);
    // the good one still goes through, nothing was lost
    assert_eq!(c.handle_datagram(t, &good), None);
    assert_eq!(c.server_seq(), f.seq);
    assert_eq!(c.stats().lost, 0);
}

#[test]
fn malformed_handshake_datagrams_do_not_change_state() {
    let t0 = Instant::now();
    let mut c = Client::new(ClientConfig::default(), t0);
    let f = Fake::new(3);
    tx(&mut c, t0).unwrap();
    // an ACCEPT before any CHALLENGE is not believed
    assert_eq!(c.handle_datagram(t0, &f.accept()), None);
    assert_eq!(c.state(), State::Connecting);
    let mut ch = f.challenge();
    ch.pop();
    ch[12] -= 1;
    assert_eq!(c.handle_datagram(t0, &ch), None);
    assert_eq!(c.stats().dropped(DropReason::BadPayload), 1);
    c.handle_datagram(t0, &f.challenge());
    let mut acc = f.accept();
    acc[9] = 0;
    assert_eq!(c.handle_datagram(t0, &acc), None);
    assert_eq!(c.stats().dropped(DropReason::BadQport), 1);
    let mut acc = f.accept();
    acc[HEADER_LEN + 1] = 0; // tick rate 0
    acc[HEADER_LEN] = 0;
    assert_eq!(c.handle_datagram(t0, &acc), None);
    assert_eq!(c.stats().dropped(DropReason::BadPayload), 2);
    assert_eq!(
        c.handle_datagram(t0, &[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0]),
        None
    );
    assert_eq!(c.stats().dropped(DropReason::BadPayload), 3);
    assert_eq!(c.state(), State::Challenged);
    assert_eq!(c.stats().unexpected, 1);
}

fn client_in(state: u8) -> (Client, Instant) {
    match state % 3 {
        0 => {
            let t0 = Instant::now();
            let mut c = Client::new(ClientConfig::default(), t0);
            tx(&mut c, t0);
            (c, t0)
        }
        1 => {
            let t0 = Instant::now();
            let mut c = Client::new(ClientConfig::default(), t0);
            tx(&mut c, t0);
            c.handle_datagram(t0, &Fake::new(0).challenge());
            (c, t0)
        }
        _ => {
            let (c, _f, t) = connected(u32::MAX - 3);
            (c, t)
        }
    }
}

proptest! {
    #[test]
    fn junk_never_panics(state in 0u8..3, junk in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..1300), 1..8)) {
        let (mut c, t) = client_in(state);
        for d in &junk {
            let _ = c.handle_datagram(t, d);
            let _ = drain(&mut c, t);
        }
        let _ = c.stats();
        let _ = c.snapshot_parts().count();
        let _ = c.handle_timeout(t + ms(1));
        let _ = c.poll_timeout();
    }

    #[test]
    fn junk_behind_a_valid_header_never_panics(
        state in 0u8..3,
        fl in prop_oneof![Just(0x30u8), Just(0x20), Just(0x80), Just(0xB0), Just(0x60), any::<u8>()],
        seq_off in 0u32..2048,
        ack in any::<u32>(),
        qport in prop_oneof![Just(QPORT), any::<u8>()],
        kind in 0u8..0x20,
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let (mut c, t) = client_in(state);
        let seq = c.server_seq().wrapping_add(seq_off);
        let d = dgram(fl, seq, ack, qport, kind, &payload);
        let ev = c.handle_datagram(t, &d);
        let _ = drain(&mut c, t);
        if ev.is_none() && state != 2 {
            prop_assert!(!c.state().is_connected());
        }
    }
}

/// Ten seconds of 60 Hz two-part snapshots through a seeded lossy network (loss,
/// duplication, adjacent reordering): every delivered snapshot is whole and correct, ticks
/// only move forward, and the counters add up.
#[test]
fn seeded_lossy_network() {
    use rand::{rngs::SmallRng, Rng, SeedableRng};
    for seed in 0..8u64 {
        let mut rng = SmallRng::seed_from_u64(seed);
        let (mut c, mut f, t) = connected(u32::MAX - 300);
        let mut wire: Vec<Vec<u8>> = Vec::new();
        for tick in 0..600u32 {
            let b0 = [tick as u8, 0];
            let b1 = [tick as u8, 1, 0xAA];
            wire.push(f.snapshot(tick, 0, 2, &b0));
            wire.push(f.snapshot(tick, 1, 2, &b1));
        }
        let sent = wire.len() as u64;
        let mut net: Vec<Vec<u8>> = Vec::new();
        for d in wire {
            let r: f64 = rng.gen();
            if r < 0.10 {
                continue; // lost
            }
            if r < 0.15 {
                net.push(d.clone()); // duplicated
            }
            net.push(d);
            if rng.gen_bool(0.05) && net.len() >= 2 {
                let n = net.len();
                net.swap(n - 1, n - 2); // reordered
            }
        }
        let mut delivered = Vec::new();
        for (i, d) in net.iter().enumerate() {
            let now = t + Duration::from_micros(8_333 * i as u64);
            if let Some(Event::Snapshot { tick, time_us }) = c.handle_datagram(now, d) {
                assert_eq!(time_us, u64::from(tick) * 16_667);
                let parts = bodies(&c);
                assert_eq!(
                    parts,
                    [vec![tick as u8, 0], vec![tick as u8, 1, 0xAA]],
                    "seed {seed} tick {tick}"
                );
                delivered.push(tick);
            }
            drain(&mut c, now);
        }
        assert!(delivered.windows(2).all(|w| w[0] < w[1]), "seed {seed}");
        let s = c.stats();
        let (first, last) = (delivered[0], *delivered.last().unwrap());
        assert_eq!(s.snapshots, delivered.len() as u64);
        assert_eq!(
            s.snapshots + s.snapshot_ticks_lost,
            u64::from(last - first + 1),
            "seed {seed}"
        );
        assert!(s.snapshots > 400, "seed {seed}: {}", s.snapshots);
        // every datagram on the wire was either accepted, dropped, or never arrived
        let accepted = u64::from(c.server_seq().wrapping_sub(f.s0)) - s.lost - s.late;
        let dropped = s.dropped(DropReason::Duplicate)
            + s.dropped(DropReason::Old)
            + s.dropped(DropReason::Late);
        assert_eq!(accepted + dropped, net.len() as u64, "seed {seed}");
        assert!(accepted + s.lost <= sent);
        assert_eq!(s.dropped_total(), dropped);
    }
}
