//! Property-based fuzzing of secure mode (PROTOCOL.md section 8) on stable Rust
//! (proptest): a server with eight library clients connected with tokens, fed their
//! genuine sealed datagrams, mutated copies, junk and time. Invariants: a genuine datagram
//! is taken; any datagram that differs from what its client sealed in a single byte is
//! dropped, sends nothing and changes no protocol state; answers to strangers are never
//! larger than what they answer.
mod common;

use common::{addr, Sim};
use proptest::prelude::*;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tickwire::client::{Client, ClientConfig};
use tickwire::secure::{Issuer, Key, Secure, UnixClock};
use tickwire::wire::MAX_DATAGRAM;
use tickwire::{Arena, Config, Server};

const T0_UNIX: u64 = 1_900_000_000;

#[derive(Debug, Clone)]
enum Action {
    /// Random bytes from a client's address (`s < 128`) or a stranger's.
    Junk(Vec<u8>, u8),
    /// Client `client`'s next datagram (an INPUT or a KEEPALIVE), with byte `flip.0`
    /// xored with `flip.1` when given, from its own address or a stranger's.
    Sealed {
        client: u8,
        input: bool,
        flip: Option<(usize, u8)>,
        from_other: bool,
    },
    /// Time passes.
    Wait(u16),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (proptest::collection::vec(any::<u8>(), 0..200), any::<u8>())
            .prop_map(|(b, s)| Action::Junk(b, s)),
        (
            0u8..8,
            any::<bool>(),
            proptest::option::of((0usize..64, 1u8..=255)),
            any::<bool>()
        )
            .prop_map(|(client, input, flip, from_other)| Action::Sealed {
                client,
                input,
                flip,
                from_other
            }),
        (0u16..300).prop_map(Action::Wait),
    ]
}

fn run(actions: &[Action]) -> Result<(), TestCaseError> {
    let now = Instant::now();
    let fleet = Key::from_bytes([3; 32]);
    let cfg = Config {
        seed: Some(11),
        max_clients: 8,
        // The clients here never hear back: no timeouts while the actions run.
        timeout: Duration::from_secs(3600),
        secure: Some(Secure::new(fleet.clone(), 0).with_clock(UnixClock::fixed(now, T0_UNIX))),
        ..Config::default()
    };
    let mut sim = Sim {
        server: Server::new(cfg, Arena::new(1), now),
        now,
    };
    let issuer = Issuer::new(fleet, 0);
    let ccfg = ClientConfig {
        timeout: Duration::from_secs(3600),
        ..ClientConfig::default()
    };
    let mut clients: Vec<(SocketAddr, Client)> = (0..8)
        .map(|i| {
            let t = issuer.mint(i, 0, "", T0_UNIX);
            (addr(i as u32), Client::with_token(ccfg, t, now))
        })
        .collect();
    let mut buf = [0u8; MAX_DATAGRAM];
    // Handshake everyone in memory.
    for _ in 0..4 {
        for (src, c) in clients.iter_mut() {
            while let Some(n) = c.poll_transmit(sim.now, &mut buf) {
                let _ = sim.send(*src, &buf[..n]);
            }
        }
        for o in sim.drain() {
            if let Some((_, c)) = clients.iter_mut().find(|(a, _)| *a == o.dst) {
                c.handle_datagram(sim.now, &o.bytes);
            }
        }
    }
    prop_assert_eq!(sim.server.client_count(), 8);
    for a in actions {
        let (src, bytes, genuine) = match a {
            Action::Wait(ms) => {
                sim.now += Duration::from_millis(*ms as u64);
                sim.server.handle_timeout(sim.now);
                sim.drain();
                continue;
            }
            Action::Junk(b, s) => {
                let src = match *s < 128 {
                    true => clients[(*s % 8) as usize].0,
                    false => addr(1000 + *s as u32),
                };
                (src, b.clone(), false)
            }
            Action::Sealed {
                client,
                input,
                flip,
                from_other,
            } => {
                let (src, c) = &mut clients[*client as usize];
                if *input {
                    let _ = c.send_game(Arena::INPUT, &[1, 0]);
                }
                // Far enough on that a KEEPALIVE is due when nothing else is queued.
                let at = sim.now + Duration::from_secs(1);
                let Some(n) = c.poll_transmit(at, &mut buf) else {
                    continue;
                };
                let mut b = buf[..n].to_vec();
                let mut genuine = !*from_other;
                if let Some((i, v)) = flip {
                    b[i % n] ^= v;
                    genuine = false;
                }
                let src = if *from_other { addr(5000) } else { *src };
                (src, b, genuine)
            }
        };
        let digest = sim.server.state_digest();
        let r = sim.send(src, &bytes);
        let out = sim.drain();
        if genuine {
            prop_assert_eq!(r, Ok(()), "a genuine sealed datagram was dropped");
            continue;
        }
        match r {
            Err(d) => {
                prop_assert!(out.is_empty(), "{}: a dropped datagram sent something", d);
                prop_assert_eq!(sim.server.state_digest(), digest, "{} changed state", d);
            }
            Ok(()) => {
                // Only junk can be taken (say, a TOKEN_HELLO-shaped one gets a CHALLENGE):
                // never a mutated sealed datagram, and never with a larger answer.
                prop_assert!(
                    !matches!(a, Action::Sealed { .. }),
                    "a mutated sealed datagram was accepted"
                );
                for o in &out {
                    prop_assert!(o.bytes.len() <= bytes.len());
                }
            }
        }
        prop_assert_eq!(sim.server.client_count(), 8, "a forgery ended a session");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn secure_server_invariants_hold(actions in proptest::collection::vec(action(), 1..100)) {
        run(&actions)?;
    }
}
