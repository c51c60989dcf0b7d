//! PROTOCOL.md section 8 (secure mode) through the sans-IO cores, with injected time: a
//! library client and a secure server in memory, and raw datagrams from an attacker.
mod common;

use common::{addr, Out, RawClient, Sim};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tickwire::client::{Client, ClientConfig, DisconnectReason, Event, State};
use tickwire::game::arena::Arena;
use tickwire::internal::{Challenge, Hello};
use tickwire::secure::{ConnectToken, Issuer, Key, Secure, UnixClock};
use tickwire::wire::{flags, DropReason, Header, Kind, RejectReason, HEADER_LEN, MAX_DATAGRAM};
use tickwire::{Config, Server};

/// Unix seconds at the simulation's start.
const T0_UNIX: u64 = 1_900_000_000;

fn fleet() -> Key {
    Key::from_bytes([0x42; 32])
}

fn secure_sim(server_id: u64, tweak: impl FnOnce(&mut Config)) -> Sim {
    let now = Instant::now();
    let secure = Secure::new(fleet(), server_id).with_clock(UnixClock::fixed(now, T0_UNIX));
    let mut cfg = Config {
        seed: Some(7),
        secure: Some(secure),
        ..Config::default()
    };
    tweak(&mut cfg);
    Sim {
        server: Server::new(cfg, Arena::new(3), now),
        now,
    }
}

fn token(client_id: u64, scope: u64) -> ConnectToken {
    Issuer::new(fleet(), 0).mint(client_id, scope, "ann", T0_UNIX)
}

/// A library client and the server, in memory, on one clock.
struct Pair {
    sim: Sim,
    client: Client,
    src: SocketAddr,
    events: Vec<Event>,
}

impl Pair {
    fn new(sim: Sim, src: SocketAddr, token: ConnectToken) -> Pair {
        let client = Client::with_token(ClientConfig::default(), token, sim.now);
        Pair {
            sim,
            client,
            src,
            events: Vec::new(),
        }
    }

    /// Moves both ends through every datagram due now, then on by `d`.
    fn run(&mut self, d: Duration) {
        let end = self.sim.now + d;
        loop {
            self.exchange();
            let next = self
                .sim
                .server
                .poll_timeout()
                .min(self.client.poll_timeout());
            if next > end {
                break;
            }
            self.sim.now = next.max(self.sim.now);
            self.sim.server.handle_timeout(self.sim.now);
            if let Some(e) = self.client.handle_timeout(self.sim.now) {
                self.events.push(e);
            }
        }
        self.sim.now = end;
        self.exchange();
    }

    fn exchange(&mut self) {
        for _ in 0..8 {
            let mut buf = [0u8; MAX_DATAGRAM];
            let mut any = false;
            while let Some(n) = self.client.poll_transmit(self.sim.now, &mut buf) {
                let _ = self.sim.send(self.src, &buf[..n]);
                any = true;
            }
            for o in self.sim.drain() {
                any = true;
                if o.dst == self.src {
                    if let Some(e) = self.client.handle_datagram(self.sim.now, &o.bytes) {
                        self.events.push(e);
                    }
                }
            }
            if !any {
                break;
            }
        }
    }

    fn snapshots(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::Snapshot { .. }))
            .count()
    }
}

#[test]
fn a_token_client_connects_plays_and_leaves() {
    let mut p = Pair::new(secure_sim(0, |_| {}), addr(1), token(9, 0));
    p.run(Duration::from_millis(200));
    let State::Connected { qport, .. } = p.client.state() else {
        panic!(
            "not connected: {:?} {:?}",
            p.client.state(),
            p.sim.server.stats()
        );
    };
    assert!(p.snapshots() >= 5, "{:?}", p.events);
    let info = p.sim.server.players(p.sim.now).next().unwrap();
    assert_eq!(
        info.name.unwrap().as_str(),
        "ann",
        "the name sealed in the token"
    );
    // A sealed INPUT reaches the game.
    p.client.send_game(0x10, &[1, 0]).unwrap();
    p.run(Duration::from_millis(50));
    assert_eq!(p.sim.server.game().player(qport).unwrap().dx, 1);
    assert_eq!(
        p.sim.server.stats().drops.total(),
        0,
        "{:?}",
        p.sim.server.stats().drops
    );
    assert_eq!(p.client.stats().drops.total(), 0);
    // The snapshot body the client decodes is the server's.
    let parts: Vec<&[u8]> = p.client.snapshot_parts().collect();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0][0], 1, "one player");
    p.client.disconnect();
    p.run(Duration::from_millis(10));
    assert_eq!(p.sim.server.client_count(), 0);
    assert_eq!(p.sim.server.stats().byes, 1);
}

#[test]
fn plain_hello_is_dropped_in_secure_mode_and_token_hello_in_plain_mode() {
    let mut sim = secure_sim(0, |_| {});
    let hello = RawClient::new(addr(1)).hello(0);
    assert_eq!(sim.send(addr(1), &hello), Err(DropReason::SecureOnly));
    assert!(sim.drain().is_empty());
    let mut plain = Sim::new();
    let mut c = Client::with_token(ClientConfig::default(), token(1, 0), plain.now);
    let mut buf = [0u8; MAX_DATAGRAM];
    let n = c.poll_transmit(plain.now, &mut buf).unwrap();
    assert_eq!(plain.send(addr(1), &buf[..n]), Err(DropReason::NotSecure));
    assert!(plain.drain().is_empty());
}
