//! Property-based fuzzing on stable Rust (proptest): decoders and `handle_datagram` on a
//! server with connected clients, checking invariants, not only "no panic". Failing cases
//! are kept by proptest in `proptest-regressions/` and replayed by `cargo test`; the files
//! in `tests/corpus/` are replayed too.
mod common;

use common::{addr, RawClient, Sim};
use proptest::prelude::*;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tickwire::game::arena::Fire;
use tickwire::internal::{Accept, Challenge, Hello, Reject, SnapshotPrefix};
use tickwire::wire::{seq_newer, Direction, Packet};
use tickwire::Arena;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn header_view_is_consistent(bytes in proptest::collection::vec(any::<u8>(), 0..1300)) {
        for dir in [Direction::ToServer, Direction::ToClient] {
            if let Ok(p) = Packet::new_checked(&bytes[..], dir, |k| k == 0x10) {
                prop_assert_eq!(bytes.len(), 13 + p.len() as usize);
                prop_assert!(bytes.len() <= 1200);
                prop_assert_eq!(p.payload().len(), p.len() as usize);
                prop_assert_eq!(p.flags() & 0x0F, 0);
                prop_assert!(p.kind().is_some());
            }
        }
    }

    #[test]
    fn messages_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(h) = Hello::parse(&bytes) {
            let mut b = [0u8; 48];
            h.emit(&mut b).unwrap();
            prop_assert_eq!(Hello::parse(&b), Ok(h));
        }
        if let Ok(a) = Accept::parse(&bytes) {
            let mut b = [0u8; 16];
            a.emit(&mut b).unwrap();
            prop_assert_eq!(&b[..], &bytes[..]);
        }
        if let Ok(c) = Challenge::parse(&bytes) {
            let mut b = [0u8; 8];
            c.emit(&mut b).unwrap();
            prop_assert_eq!(&b[..], &bytes[..]);
        }
        let _ = Reject::parse(&bytes);
        if let Ok((p, body)) = SnapshotPrefix::parse(&bytes) {
            prop_assert!(p.part < p.parts);
            prop_assert_eq!(body.len(), bytes.len() - 14);
        }
        let _ = Fire::parse(&bytes);
        let _ = tickwire::game::arena::entities(&bytes).count();
    }
}

/// One fuzz action against a server with connected clients.
#[derive(Debug, Clone)]
enum Action {
    /// Random bytes from a random or a client's address.
    Junk(Vec<u8>, u8),
    /// A client's valid datagram, mutated at one byte.
    Mutated {
        client: u8,
        kind: u8,
        seq_delta: i32,
        flip: Option<(usize, u8)>,
        from_other: bool,
    },
    /// Time passes.
    Wait(u16),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (proptest::collection::vec(any::<u8>(), 0..80), any::<u8>())
            .prop_map(|(b, s)| Action::Junk(b, s)),
        (
            0u8..8,
            0u8..4,
            -3000i32..3000,
            proptest::option::of((0usize..40, any::<u8>())),
            any::<bool>()
        )
            .prop_map(
                |(client, kind, seq_delta, flip, from_other)| Action::Mutated {
                    client,
                    kind,
                    seq_delta,
                    flip,
                    from_other
                }
            ),
        (0u16..400).prop_map(Action::Wait),
    ]
}

fn run_actions(actions: &[Action]) -> Result<(), TestCaseError> {
    let mut sim = Sim::with(tickwire::Config {
        max_clients: 8,
        ..common::config()
    });
    sim.tick();
    let mut clients: Vec<RawClient> = (0..8).map(|i| sim.connect(addr(i))).collect();
    sim.drain();
    let mut newest: HashMap<u8, u32> = HashMap::new();
    for a in actions {
        let (src, bytes): (SocketAddr, Vec<u8>) = match a {
            Action::Wait(ms) => {
                sim.advance(Duration::from_millis(*ms as u64));
                sim.drain();
                continue;
            }
            Action::Junk(b, s) => {
                let src = if *s < 128 {
                    clients[(*s % 8) as usize].src
                } else {
                    addr(1000 + *s as u32)
                };
                (src, b.clone())
            }
            Action::Mutated {
                client,
                kind,
                seq_delta,
                flip,
                from_other,
            } => {
                let c = &mut clients[*client as usize];
                let seq = c.seq.wrapping_add(*seq_delta as u32);
                let mut b = match kind {
                    0 => c.raw(seq, 0, &[]),
                    1 => c.raw(seq, Arena::INPUT, &[1, 0xFF]),
                    2 => c.raw(
                        seq,
                        Arena::FIRE,
                        &Fire {
                            tick: 3,
                            time_us: 50_000,
                            aim_x: 1,
                            aim_y: 0,
                        }
                        .encode(),
                    ),
                    _ => c.hello(0),
                };
                if let Some((i, v)) = flip {
                    let i = i % b.len();
                    b[i] ^= v;
                }
                if *seq_delta > 0 && flip.is_none() {
                    c.seq = seq;
                }
                let src = if *from_other { addr(5000) } else { c.src };
                (src, b)
            }
        };
        let digest = sim.server.state_digest();
        let r = sim.send(src, &bytes);
        let out = sim.drain();
        match r {
            Err(d) => {
                prop_assert!(out.is_empty(), "{d}: a dropped datagram sent something");
                prop_assert_eq!(sim.server.state_digest(), digest, "{} changed state", d);
            }
            Ok(()) => {
                for o in &out {
                    // Answers to addresses that did not complete the handshake are small.
                    prop_assert!(o.bytes.len() <= bytes.len().max(29));
                }
            }
        }
        prop_assert!(sim.server.client_count() <= 8);
        for p in sim.server.players(sim.now) {
            // Slots are never taken again here (no new handshake completes), so a
            // client's newest sequence number only moves forward.
            if let Some(&old) = newest.get(&p.id) {
                prop_assert!(p.newest_seq == old || seq_newer(p.newest_seq, old));
            }
            newest.insert(p.id, p.newest_seq);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn server_invariants_hold(actions in proptest::collection::vec(action(), 1..120)) {
        run_actions(&actions)?;
    }
}

/// Every file in tests/corpus/ is fed, whole, to a server with connected clients as a
/// datagram from a client's address and from a stranger's: it must change nothing when
/// dropped, and never panic.
#[test]
fn corpus_replays() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        let mut sim = Sim::new();
        let c = sim.connect(addr(1));
        sim.drain();
        for src in [c.src, addr(77)] {
            let digest = sim.server.state_digest();
            if sim.send(src, &bytes).is_err() {
                assert!(sim.drain().is_empty());
                assert_eq!(sim.server.state_digest(), digest);
            }
        }
        n += 1;
    }
    assert!(n >= 5, "corpus has {n} files");
}
