//! PROTOCOL.md section 8 (secure mode) through the sans-IO cores, with injected time: a
//! library client and a secure server in memory, and raw datagrams from an attacker.
mod common;

use common::{addr, Out, RawClient, Sim};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tickwire::client::{Client, ClientConfig, DisconnectReason, Event, State};
use tickwire::game::arena::Arena;
use tickwire::internal::{Challenge, TokenHello};
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

/// A TOKEN_HELLO datagram from `src` for `token` with `cookie` (reply to the source).
fn token_hello(token: &ConnectToken, expires: u64, cookie: u64) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_LEN + TokenHello::LEN];
    Header {
        flags: flags::CONNECT,
        seq: 0,
        ack: 0,
        qport: 0,
        kind: Kind::TokenHello.to_u8(),
        len: TokenHello::LEN as u16,
    }
    .emit(&mut b)
    .unwrap();
    TokenHello {
        protocol_id: 0,
        reply: None,
        expires,
        cookie,
        source_cookie: 0,
        sealed: token.sealed,
    }
    .emit(&mut b[HEADER_LEN..])
    .unwrap();
    b
}

/// Sends `token`'s TOKEN_HELLO from `src` twice (cookie 0, then the CHALLENGE's) and
/// returns what the second one did and what the server sent.
fn redeem(
    sim: &mut Sim,
    src: SocketAddr,
    token: &ConnectToken,
) -> (Result<(), DropReason>, Vec<Out>) {
    let first = token_hello(token, token.expires, 0);
    assert_eq!(sim.send(src, &first), Ok(()), "CHALLENGE first, always");
    let out = sim.drain();
    assert_eq!(out.len(), 1);
    assert!(out[0].bytes.len() <= first.len());
    let cookie = Challenge::parse(out[0].packet().payload()).unwrap().cookie;
    let r = sim.send(src, &token_hello(token, token.expires, cookie));
    (r, sim.drain())
}

#[test]
fn tokens_that_must_not_admit_are_dropped_after_the_cookie() {
    let mut sim = secure_sim(5, |_| {});
    let src = addr(1);
    // Another fleet key; another server id; scope 0 on a server with an id is fine.
    let other_key = Issuer::new(Key::from_bytes([1; 32]), 0).mint(1, 5, "", T0_UNIX);
    assert_eq!(
        redeem(&mut sim, src, &other_key).0,
        Err(DropReason::BadToken)
    );
    assert_eq!(
        redeem(&mut sim, src, &token(1, 6)).0,
        Err(DropReason::TokenScope)
    );
    // Another protocol id in the seal (the HELLO's own is checked before anything).
    let other_pid = Issuer::new(fleet(), 3).mint(1, 5, "", T0_UNIX);
    assert_eq!(
        redeem(&mut sim, src, &other_pid).0,
        Err(DropReason::BadToken)
    );
    // A changed expiry does not open (the seal covers it).
    let t = token(1, 5);
    sim.send(src, &token_hello(&t, t.expires + 100, 0)).unwrap();
    let cookie = sim.drain()[0].cookie();
    assert_eq!(
        sim.send(src, &token_hello(&t, t.expires + 100, cookie)),
        Err(DropReason::BadToken)
    );
    // Expired: dropped before the cookie, no CHALLENGE.
    let old = Issuer::new(fleet(), 0).mint(1, 5, "", T0_UNIX - 31);
    assert_eq!(
        sim.send(src, &token_hello(&old, old.expires, 0)),
        Err(DropReason::TokenExpired)
    );
    assert!(sim.drain().is_empty());
    // Garbage in the sealed part gets a CHALLENGE, nothing is opened without a cookie.
    let mut junk = token(1, 5);
    junk.sealed = [0xEE; 125];
    let d = token_hello(&junk, junk.expires, 0);
    assert_eq!(sim.send(src, &d), Ok(()));
    assert_eq!(sim.drain()[0].kind(), Kind::Challenge);
    assert_eq!(sim.server.stats().drops.get(DropReason::BadToken), 3);
    assert_eq!(sim.server.client_count(), 0);
    // And the right one admits, scoped to this server or to any.
    assert_eq!(redeem(&mut sim, src, &token(1, 5)).0, Ok(()));
    assert_eq!(redeem(&mut sim, addr(2), &token(2, 0)).0, Ok(()));
    assert_eq!(sim.server.client_count(), 2);
    // A server without an id admits only scope 0.
    let mut anon = secure_sim(0, |_| {});
    assert_eq!(
        redeem(&mut anon, src, &token(1, 5)).0,
        Err(DropReason::TokenScope)
    );
}

#[test]
fn a_token_admits_one_connection_and_a_lost_accept_is_resent_byte_for_byte() {
    let mut sim = secure_sim(0, |_| {});
    let t = token(1, 0);
    let (r, out) = redeem(&mut sim, addr(1), &t);
    assert_eq!(r, Ok(()));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind(), Kind::Accept);
    assert_eq!(out[0].bytes.len(), HEADER_LEN + 52 + 16);
    // The same client again (its ACCEPT was lost): the same bytes.
    let (r, again) = redeem(&mut sim, addr(1), &t);
    assert_eq!(r, Ok(()));
    assert_eq!(again[0].bytes, out[0].bytes);
    assert_eq!(sim.server.stats().accept_resends, 1);
    // From another address: refused, even with a valid cookie there.
    assert_eq!(
        redeem(&mut sim, addr(2), &t).0,
        Err(DropReason::TokenReused)
    );
    // After the connection ends too.
    sim.server.kick(sim.now, out[0].packet().qport());
    sim.drain();
    assert_eq!(
        redeem(&mut sim, addr(1), &t).0,
        Err(DropReason::TokenReused)
    );
    assert_eq!(sim.server.client_count(), 0);
    // Another match of the same host (same Secure, cloned) refuses it as well.
    let cfg = sim.server.config().clone();
    let mut second = Sim {
        server: Server::new(cfg, Arena::new(1), sim.now),
        now: sim.now,
    };
    assert_eq!(
        redeem(&mut second, addr(1), &t).0,
        Err(DropReason::TokenReused)
    );
}

#[test]
fn a_full_server_sends_a_sealed_reject_the_client_believes_and_a_forged_one_it_does_not() {
    let mut sim = secure_sim(0, |c| c.max_clients = 1);
    assert_eq!(redeem(&mut sim, addr(1), &token(1, 0)).0, Ok(()));
    // Second client, through the library: it gets REJECT 1, sealed, and believes it.
    let mut p = Pair::new(sim, addr(2), token(2, 0));
    p.run(Duration::from_millis(10));
    assert_eq!(p.client.state(), State::Rejected(RejectReason::Full));
    assert_eq!(p.sim.server.stats().rejects_full, 1);
    // A client that gets a forged (plain) REJECT drops it and keeps trying.
    let mut c = Client::with_token(ClientConfig::default(), token(3, 0), p.sim.now);
    let mut buf = [0u8; MAX_DATAGRAM];
    let n = c.poll_transmit(p.sim.now, &mut buf).unwrap();
    p.sim.send(addr(3), &buf[..n]).unwrap();
    let ch = p.sim.drain();
    c.handle_datagram(p.sim.now, &ch[0].bytes);
    let forged = [flags::CONNECT, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 1];
    assert_eq!(c.handle_datagram(p.sim.now, &forged), None);
    let mut long = forged.to_vec();
    long[12] = 17;
    long.extend_from_slice(&[0; 16]);
    assert_eq!(c.handle_datagram(p.sim.now, &long), None);
    assert_eq!(c.state(), State::Challenged);
    assert_eq!(
        c.stats().drops.get(DropReason::BadAuth),
        2,
        "{:?}",
        c.stats().drops
    );
}

#[test]
fn forged_datagrams_from_the_victims_own_address_never_reach_the_game_or_move_the_window() {
    use rand::{Rng, SeedableRng};
    let mut p = Pair::new(secure_sim(0, |_| {}), addr(1), token(1, 0));
    p.run(Duration::from_millis(100));
    let State::Connected { qport, .. } = p.client.state() else {
        panic!("not connected");
    };
    p.client.send_game(0x10, &[-1i8 as u8, 1]).unwrap();
    p.run(Duration::from_millis(20));
    let before = p.sim.server.state_digest();
    let player = *p.sim.server.game().player(qport).unwrap();
    let next = p.client.next_seq();
    let ack = p.client.server_seq();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    // A bounded brute force: every kind the client may send, seqs across the window,
    // payloads of the right plaintext length plus a tag, of wrong lengths, and all zero.
    let kinds = [
        (Kind::Game(0x10), 2usize),
        (Kind::Game(0x11), 16),
        (Kind::Bye, 0),
        (Kind::Keepalive, 0),
    ];
    let mut sent = 0;
    for (kind, plain) in kinds {
        for i in 0..2_500u32 {
            let seq = next.wrapping_add(i % 1024);
            let len = match i % 5 {
                0 => plain,
                1 => 0,
                _ => plain + 16,
            };
            let mut d = vec![0u8; HEADER_LEN + len];
            Header {
                flags: kind.send_flags(kind != Kind::Bye),
                seq,
                ack: if kind == Kind::Bye { 0 } else { ack },
                qport,
                kind: kind.to_u8(),
                len: len as u16,
            }
            .emit(&mut d)
            .unwrap();
            if i % 3 != 0 {
                rng.fill(&mut d[HEADER_LEN..]);
            }
            let r = p.sim.send(addr(1), &d);
            assert!(r.is_err(), "a forgery was accepted: {kind:?} seq {seq}");
            sent += 1;
        }
    }
    assert_eq!(
        p.sim.server.state_digest(),
        before,
        "the window or a timer moved"
    );
    assert_eq!(
        p.sim.server.client_count(),
        1,
        "a forged BYE ended the session"
    );
    let after = p.sim.server.game().player(qport).unwrap();
    assert_eq!(
        (after.dx, after.dy),
        (player.dx, player.dy),
        "a forged INPUT"
    );
    let drops = &p.sim.server.stats().drops;
    assert!(drops.get(DropReason::BadAuth) >= sent * 3 / 5, "{drops:?}");
    // The real client carries on: its next INPUT is taken.
    p.client.send_game(0x10, &[1, 0]).unwrap();
    p.run(Duration::from_millis(20));
    assert_eq!(p.sim.server.game().player(qport).unwrap().dx, 1);
    assert!(matches!(p.client.state(), State::Connected { .. }));
}

#[test]
fn a_snapshot_with_any_one_bit_flipped_is_refused_by_the_client() {
    let mut p = Pair::new(secure_sim(0, |_| {}), addr(1), token(1, 0));
    p.run(Duration::from_millis(100));
    assert!(matches!(p.client.state(), State::Connected { .. }));
    // Catch the next snapshot datagram before the client sees it.
    p.sim.now = p.sim.server.next_tick_deadline();
    p.sim.server.handle_timeout(p.sim.now);
    let out = p.sim.drain();
    let snap = out.iter().find(|o| o.kind() == Kind::Snapshot).unwrap();
    assert_eq!(snap.bytes.len(), HEADER_LEN + 14 + 16 + 1 + 8 + 16);
    let drops_before = p.client.stats().drops.get(DropReason::BadAuth);
    let mut refused = 0;
    // Every bit past the header's kind and length (those fail earlier checks).
    for bit in (13 * 8)..(snap.bytes.len() * 8) {
        let mut d = snap.bytes.clone();
        d[bit / 8] ^= 1 << (bit % 8);
        let e = p.client.handle_datagram(p.sim.now, &d);
        assert_eq!(e, None, "bit {bit} flipped was delivered");
        refused += 1;
    }
    // Header bits too: seq, ack and qport are bound by the tag.
    for bit in 8..(10 * 8) {
        let mut d = snap.bytes.clone();
        d[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            p.client.handle_datagram(p.sim.now, &d),
            None,
            "header bit {bit}"
        );
    }
    let drops = p.client.stats().drops;
    assert!(drops.get(DropReason::BadAuth) - drops_before >= refused as u64 - 16);
    // The genuine one is still taken: nothing above moved the window.
    assert!(matches!(
        p.client.handle_datagram(p.sim.now, &snap.bytes),
        Some(Event::Snapshot { .. })
    ));
}

#[test]
fn a_snapshot_is_sealed_once_and_the_body_is_the_same_for_everyone() {
    let mut sim = secure_sim(0, |_| {});
    for i in 1..=3 {
        assert_eq!(redeem(&mut sim, addr(i), &token(i as u64, 0)).0, Ok(()));
    }
    sim.now = sim.server.next_tick_deadline();
    sim.server.handle_timeout(sim.now);
    let ts: Vec<_> = sim.server.transmits().to_vec();
    assert_eq!(ts.len(), 3);
    let bodies: Vec<*const u8> = ts.iter().map(|t| sim.server.body(t).as_ptr()).collect();
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "one sealed body, by reference"
    );
    let heads: Vec<&[u8]> = ts.iter().map(|t| t.head()).collect();
    assert!(heads.iter().all(|h| h.len() == HEADER_LEN + 14 + 16));
    assert_ne!(heads[0][27..], heads[1][27..], "each client's own tag");
    let _ = DisconnectReason::Bye;
}
