//! PROTOCOL.md section 1: every malformed datagram is dropped, counted under its reason,
//! answered with nothing, and changes no state.
mod common;

use common::{addr, Sim};
use std::time::Duration;
use tickwire::game::arena::Fire;
use tickwire::wire::{flags, DropReason, Kind};
use tickwire::Arena;

#[test]
fn table_of_malformed_datagrams() {
    let mut sim = Sim::new();
    let mut c = sim.connect(addr(1));
    let other = sim.connect(addr(2));
    sim.advance(Duration::from_millis(100));
    let out = sim.drain();
    let me = c.src;
    for o in out.iter().filter(|o| o.dst == me) {
        c.saw(o);
    }
    let ka = c.keepalive();
    sim.send(c.src, &ka).unwrap();
    let next = c.raw(c.seq.wrapping_add(1), 0, &[]);

    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = next.clone();
        f(&mut b);
        b
    };
    let hello = c.hello(0);
    let fire = Fire {
        tick: 1,
        time_us: 1,
        aim_x: 0,
        aim_y: 0,
    }
    .encode();
    let mut oversize = c.raw(c.seq.wrapping_add(1), Arena::INPUT, &[0; 1188]);
    oversize.truncate(1201);
    let cases: Vec<(&str, Vec<u8>, std::net::SocketAddr, DropReason)> = vec![
        ("empty", vec![], c.src, DropReason::TooShort),
        ("12 bytes", next[..12].to_vec(), c.src, DropReason::TooShort),
        (
            "len says 1, no payload",
            with(&|b| b[12] = 1),
            c.src,
            DropReason::BadLength,
        ),
        (
            "trailing byte",
            with(&|b| b.push(0)),
            c.src,
            DropReason::BadLength,
        ),
        ("over 1200 bytes", oversize, c.src, DropReason::BadLength),
        (
            "reserved flag",
            with(&|b| b[0] |= 0x08),
            c.src,
            DropReason::ReservedFlag,
        ),
        (
            "unassigned kind 0x08",
            with(&|b| b[10] = 0x08),
            c.src,
            DropReason::UnknownKind,
        ),
        (
            "unknown game kind",
            with(&|b| b[10] = 0x42),
            c.src,
            DropReason::UnknownKind,
        ),
        (
            "SNAPSHOT from a client",
            with(&|b| b[10] = Kind::Snapshot.to_u8()),
            c.src,
            DropReason::WrongDirection,
        ),
        (
            "CHALLENGE from a client",
            with(&|b| b[10] = 0x02),
            c.src,
            DropReason::WrongDirection,
        ),
        (
            "KEEPALIVE with CONNECT",
            with(&|b| b[0] |= flags::CONNECT),
            c.src,
            DropReason::BadFlags,
        ),
        (
            "KEEPALIVE without SEQ",
            with(&|b| b[0] = flags::ACK),
            c.src,
            DropReason::BadFlags,
        ),
        (
            "HELLO with SEQ",
            {
                let mut h = hello.clone();
                h[0] |= flags::SEQ;
                h
            },
            c.src,
            DropReason::BadFlags,
        ),
        (
            "HELLO with a qport",
            {
                let mut h = hello.clone();
                h[9] = 3;
                h
            },
            addr(50),
            DropReason::BadQport,
        ),
        (
            "HELLO short payload",
            {
                let mut h = hello.clone();
                h.pop();
                h[12] = 47;
                h
            },
            addr(50),
            DropReason::BadPayload,
        ),
        (
            "HELLO bad family",
            {
                let mut h = hello.clone();
                h[13 + 4] = 9;
                h
            },
            addr(50),
            DropReason::BadPayload,
        ),
        (
            "KEEPALIVE with payload",
            c.raw(c.seq.wrapping_add(1), 0, &[1]),
            c.src,
            DropReason::BadPayload,
        ),
        (
            "INPUT out of range",
            c.raw(c.seq.wrapping_add(1), Arena::INPUT, &[2, 0]),
            c.src,
            DropReason::BadPayload,
        ),
        (
            "INPUT wrong length",
            c.raw(c.seq.wrapping_add(1), Arena::INPUT, &[1]),
            c.src,
            DropReason::BadPayload,
        ),
        (
            "FIRE aim (0, 0)",
            c.raw(c.seq.wrapping_add(1), Arena::FIRE, &fire),
            c.src,
            DropReason::BadPayload,
        ),
        (
            "FIRE 15 bytes",
            c.raw(c.seq.wrapping_add(1), Arena::FIRE, &fire[..15]),
            c.src,
            DropReason::BadPayload,
        ),
        (
            "qport 0",
            with(&|b| b[9] = 0),
            c.src,
            DropReason::UnknownQport,
        ),
        (
            "qport of nobody",
            with(&|b| b[9] = c.qport.wrapping_add(1).max(1)),
            c.src,
            DropReason::UnknownQport,
        ),
        (
            "another client's qport",
            with(&|b| b[9] = other.qport),
            c.src,
            DropReason::WrongSource,
        ),
        (
            "wrong source",
            next.clone(),
            addr(77),
            DropReason::WrongSource,
        ),
        (
            "duplicate seq",
            c.raw(c.seq, 0, &[]),
            c.src,
            DropReason::Duplicate,
        ),
        (
            "earlier seq seen before",
            c.raw(c.seq.wrapping_sub(1), 0, &[]),
            c.src,
            DropReason::Duplicate,
        ),
        (
            "old seq",
            c.raw(c.seq.wrapping_sub(100), 0, &[]),
            c.src,
            DropReason::Old,
        ),
        (
            "far-ahead seq",
            c.raw(c.seq.wrapping_add(1025), 0, &[]),
            c.src,
            DropReason::FarAhead,
        ),
        (
            "half the space ahead",
            c.raw(c.seq.wrapping_add(1 << 31), 0, &[]),
            c.src,
            DropReason::Old,
        ),
        (
            "ack never sent",
            with(&|b| b[5..9].copy_from_slice(&c.s0.wrapping_add(999_999).to_be_bytes())),
            c.src,
            DropReason::BadAck,
        ),
        (
            "other protocol id",
            {
                let mut h = hello.clone();
                h[13] = 1;
                h
            },
            addr(50),
            DropReason::ProtocolId,
        ),
    ];
    // Skip the one whose qport collides with `other` by chance.
    for (name, bytes, src, want) in cases {
        if name == "qport of nobody" && c.qport.wrapping_add(1).max(1) == other.qport {
            continue;
        }
        let digest = sim.server.state_digest();
        let before = sim.server.stats().drop_count(want);
        let arena = format!("{:?}", sim.server.game().player(c.qport));
        assert_eq!(sim.send(src, &bytes), Err(want), "{name}");
        assert_eq!(
            sim.server.stats().drop_count(want),
            before + 1,
            "{name}: counted"
        );
        assert!(sim.drain().is_empty(), "{name}: nothing sent");
        assert_eq!(
            sim.server.state_digest(),
            digest,
            "{name}: no state changed"
        );
        assert_eq!(
            format!("{:?}", sim.server.game().player(c.qport)),
            arena,
            "{name}"
        );
    }
    // The real client still works after all of it.
    assert_eq!(sim.send(c.src, &next), Ok(()));
    assert_eq!(sim.server.client_count(), 2);
}

#[test]
fn random_junk_never_panics_and_never_answers_big() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut sim = Sim::new();
    let c = sim.connect(addr(1));
    for i in 0..20_000 {
        let len = rng.gen_range(0..80);
        let mut b: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        if i % 2 == 0 && b.len() >= 13 {
            // Plausible headers: right length field, a real qport, few flags.
            let l = (b.len() - 13) as u16;
            b[11..13].copy_from_slice(&l.to_be_bytes());
            b[0] &= 0xF0;
            b[9] = c.qport;
            b[10] %= 0x12;
        }
        let src = if i % 3 == 0 { c.src } else { addr(100 + i % 7) };
        let _ = sim.send(src, &b);
        for o in sim.drain() {
            assert!(o.bytes.len() <= b.len(), "answer larger than the datagram");
        }
    }
    assert!(sim.server.client_count() <= 255);
}
