//! The client against a scripted fake server built from the `wire` emitters. Time is
//! injected; nothing sleeps and no socket is opened.

use super::*;
use crate::client::arena;
use crate::wire::msg::{Accept, Challenge, Hello, Reject, RejectReason, SnapshotPrefix};
use crate::wire::{flags, Direction, Header, Kind, Packet, HEADER_LEN, MAX_DATAGRAM};
use proptest::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const COOKIE: u64 = 0xC0FF_EE00_1234_5678;
const QPORT: u8 = 7;

fn dgram(flags: u8, seq: u32, ack: u32, qport: u8, kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_LEN + payload.len()];
    Header {
        flags,
        seq,
        ack,
        qport,
        kind,
        len: payload.len() as u16,
    }
    .emit(&mut b)
    .unwrap();
    b[HEADER_LEN..].copy_from_slice(payload);
    b
}

/// A scripted server: builds the datagrams a tickwire server sends one client.
struct Fake {
    s0: u32,
    seq: u32,
    qport: u8,
    /// Newest client seq received.
    ack: Option<u32>,
}

impl Fake {
    fn new(s0: u32) -> Fake {
        Fake {
            s0,
            seq: s0,
            qport: QPORT,
            ack: None,
        }
    }

    fn challenge(&self) -> Vec<u8> {
        let mut p = [0u8; Challenge::LEN];
        Challenge { cookie: COOKIE }.emit(&mut p);
        dgram(flags::CONNECT, 0, 0, 0, Kind::Challenge.to_u8(), &p)
    }

    fn reject(&self, reason: RejectReason) -> Vec<u8> {
        let mut p = [0u8; Reject::LEN];
        Reject { reason }.emit(&mut p);
        dgram(flags::CONNECT, 0, 0, 0, Kind::Reject.to_u8(), &p)
    }

    /// ACCEPT as PROTOCOL.md section 2 has it: `seq = S0`, `ack = 1`.
    fn accept(&self) -> Vec<u8> {
        let mut p = [0u8; Accept::LEN];
        Accept {
            tick_hz: 60,
            max_payload: 1187,
            tick: 100,
            time_us: 5_000_000,
        }
        .emit(&mut p);
        let f = flags::CONNECT | flags::SEQ | flags::ACK;
        dgram(f, self.s0, 1, self.qport, Kind::Accept.to_u8(), &p)
    }

    /// The next connected datagram of `kind`.
    fn next(&mut self, kind: Kind, payload: &[u8]) -> Vec<u8> {
        self.seq = self.seq.wrapping_add(1);
        self.at(self.seq, kind, payload)
    }

    /// A connected datagram with an explicit seq (for loss, duplicates, reordering).
    fn at(&self, seq: u32, kind: Kind, payload: &[u8]) -> Vec<u8> {
        let acked = self.ack.is_some() && kind != Kind::Bye;
        let ack = if acked { self.ack.unwrap_or(0) } else { 0 };
        dgram(
            kind.send_flags(acked),
            seq,
            ack,
            self.qport,
            kind.to_u8(),
            payload,
        )
    }

    fn snapshot(&mut self, tick: u32, part: u8, parts: u8, body: &[u8]) -> Vec<u8> {
        let p = snap_payload(tick, part, parts, body);
        self.next(Kind::Snapshot, &p)
    }

    /// Reads a client datagram as the server would and remembers its seq for the ack.
    fn recv(&mut self, d: &[u8]) -> Header {
        let p = Packet::new_checked(d, Direction::ToServer, |_| true).unwrap();
        let h = Header::parse(&p);
        if p.has(flags::SEQ) {
            match self.ack {
                Some(a) if !seq_newer(h.seq, a) => {}
                _ => self.ack = Some(h.seq),
            }
        }
        h
    }
}

fn snap_payload(tick: u32, part: u8, parts: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; SnapshotPrefix::LEN + body.len()];
    SnapshotPrefix {
        tick,
        time_us: u64::from(tick) * 16_667,
        part,
        parts,
    }
    .emit(&mut p);
    p[SnapshotPrefix::LEN..].copy_from_slice(body);
    p
}

fn tx(c: &mut Client, now: Instant) -> Option<Vec<u8>> {
    let mut out = [0u8; MAX_DATAGRAM];
    c.poll_transmit(now, &mut out).map(|n| out[..n].to_vec())
}

fn drain(c: &mut Client, now: Instant) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| tx(c, now)).collect()
}

/// A client connected to `Fake::new(s0)` at `t0`, its first KEEPALIVE (seq S0 + 1)
/// received by the fake.
fn connected(s0: u32) -> (Client, Fake, Instant) {
    let t0 = Instant::now();
    let mut c = Client::new(ClientConfig::default(), t0);
    let mut f = Fake::new(s0);
    let hello = tx(&mut c, t0).unwrap();
    assert_eq!(hello[10], Kind::Hello.to_u8());
    assert_eq!(c.handle_datagram(t0 + ms(10), &f.challenge()), None);
    let hello2 = tx(&mut c, t0 + ms(10)).unwrap();
    assert_eq!(Hello::parse(&hello2[HEADER_LEN..]).unwrap().cookie, COOKIE);
    let ev = c.handle_datagram(t0 + ms(20), &f.accept());
    assert_eq!(
        ev,
        Some(Event::Connected {
            qport: QPORT,
            tick_hz: 60,
            tick: 100,
            server_time_us: 5_000_000
        })
    );
    let ka = drain(&mut c, t0 + ms(20));
    assert_eq!(ka.len(), 1);
    let h = f.recv(&ka[0]);
    assert_eq!((h.kind, h.seq, h.ack), (0, s0.wrapping_add(1), s0));
    (c, f, t0 + ms(20))
}

fn bodies(c: &Client) -> Vec<Vec<u8>> {
    c.snapshot_parts().map(<[u8]>::to_vec).collect()
}

#[test]
fn handshake_with_challenge() {
    let (c, _f, _t) = connected(1000);
    assert_eq!(
        c.state(),
        State::Connected {
            qport: QPORT,
            s0: 1000
        }
    );
    let s = c.stats();
    assert_eq!(s.handshake, Some(ms(20)));
    assert_eq!((s.datagrams_in, s.datagrams_out), (2, 3));
    assert_eq!(s.dropped_total(), 0);
    assert_eq!(c.server_seq(), 1000);
    assert_eq!(c.next_seq(), 1002);
}

#[test]
fn hello_resend_cadence_and_connect_timeout() {
    let t0 = Instant::now();
    let mut c = Client::new(ClientConfig::default(), t0);
    assert_eq!(c.poll_timeout(), t0);
    assert!(tx(&mut c, t0).is_some());
    assert!(tx(&mut c, t0).is_none());
    assert_eq!(c.poll_timeout(), t0 + ms(250));
    assert!(tx(&mut c, t0 + ms(249)).is_none());
    assert!(tx(&mut c, t0 + ms(250)).is_some());
    assert_eq!(c.poll_timeout(), t0 + ms(500));
    // a CHALLENGE makes the cookie HELLO due at once, then every 250 ms
    c.handle_datagram(t0 + ms(300), &Fake::new(0).challenge());
    assert_eq!(c.state(), State::Challenged);
    assert_eq!(c.poll_timeout(), t0 + ms(300));
    assert!(tx(&mut c, t0 + ms(300)).is_some());
    assert_eq!(c.poll_timeout(), t0 + ms(550));
    assert_eq!(c.handle_timeout(t0 + ms(4999)), None);
    let mut t = t0 + ms(550);
    while t < t0 + ms(5000) {
        assert_eq!(drain(&mut c, t).len(), 1);
        t += ms(250);
    }
    assert_eq!(c.poll_timeout(), t0 + ms(5000));
    assert_eq!(
        c.handle_timeout(t0 + ms(5000)),
        Some(Event::Disconnected(DisconnectReason::ConnectTimeout))
    );
    assert_eq!(
        c.state(),
        State::Disconnected(DisconnectReason::ConnectTimeout)
    );
    assert!(tx(&mut c, t0 + ms(6000)).is_none());
    assert_eq!(c.poll_timeout(), t0 + ms(6000) + IDLE);
}

#[test]
fn lost_accept_then_duplicate_accept_is_ignored() {
    let t0 = Instant::now();
    let mut c = Client::new(ClientConfig::default(), t0);
    let f = Fake::new(77);
    tx(&mut c, t0).unwrap();
    c.handle_datagram(t0 + ms(5), &f.challenge());
    tx(&mut c, t0 + ms(5)).unwrap();
    // the ACCEPT is lost: the cookie HELLO goes out again 250 ms later
    let again = tx(&mut c, t0 + ms(255)).unwrap();
    assert_eq!(Hello::parse(&again[HEADER_LEN..]).unwrap().cookie, COOKIE);
    // ... and the server answers with the same ACCEPT
    assert!(matches!(
        c.handle_datagram(t0 + ms(260), &f.accept()),
        Some(Event::Connected { .. })
    ));
    // a late copy of the first ACCEPT changes nothing
    assert_eq!(c.handle_datagram(t0 + ms(261), &f.accept()), None);
    assert_eq!(
        c.state(),
        State::Connected {
            qport: QPORT,
            s0: 77
        }
    );
    let s = c.stats();
    assert_eq!(s.duplicate_accepts, 1);
    assert_eq!(s.dropped_total(), 0);
    assert_eq!(s.handshake, Some(ms(260)));
    // an ACCEPT for another slot or S0 is not a duplicate
    let mut other = Fake::new(78);
    other.qport = QPORT;
    assert_eq!(c.handle_datagram(t0 + ms(262), &other.accept()), None);
    assert_eq!(c.stats().unexpected, 1);
}

#[test]
fn reject_ends_the_handshake() {
    let t0 = Instant::now();
    let mut c = Client::new(ClientConfig::default(), t0);
    let f = Fake::new(0);
    tx(&mut c, t0).unwrap();
    // REJECT only answers a HELLO with a valid cookie: not believed before a CHALLENGE
    assert_eq!(c.handle_datagram(t0, &f.reject(RejectReason::Full)), None);
    assert_eq!(c.state(), State::Connecting);
    assert_eq!(c.stats().unexpected, 1);
    c.handle_datagram(t0, &f.challenge());
    tx(&mut c, t0).unwrap();
    assert_eq!(
        c.handle_datagram(t0 + ms(1), &f.reject(RejectReason::BadTicket)),
        Some(Event::Rejected(RejectReason::BadTicket))
    );
    assert_eq!(c.state(), State::Rejected(RejectReason::BadTicket));
    assert!(c.state().is_closed());
    assert_eq!(c.handle_datagram(t0 + ms(2), &f.accept()), None);
    assert_eq!(c.state(), State::Rejected(RejectReason::BadTicket));
    assert!(tx(&mut c, t0 + ms(1000)).is_none());
    assert_eq!(c.handle_timeout(t0 + ms(10_000)), None);
    // REJECT after ACCEPT is not believed
    let (mut c, f, t) = connected(5);
    assert_eq!(c.handle_datagram(t, &f.reject(RejectReason::Full)), None);
    assert!(c.state().is_connected());
    assert_eq!(c.stats().unexpected, 1);
}

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
fn keepalive_cadence() {
    let (mut c, mut f, t) = connected(3);
    assert_eq!(c.poll_timeout(), t + ms(250));
    assert!(tx(&mut c, t + ms(249)).is_none());
    let ka = tx(&mut c, t + ms(250)).unwrap();
    assert_eq!(f.recv(&ka).kind, Kind::Keepalive.to_u8());
    assert_eq!(c.poll_timeout(), t + ms(500));
    // a game datagram resets the keepalive clock and is due at once
    let (k, p) = arena::input(-1, 0);
    c.send_game(k, &p).unwrap();
    assert_eq!(c.poll_timeout(), t + ms(250));
    assert_eq!(drain(&mut c, t + ms(400)).len(), 1);
    assert_eq!(c.poll_timeout(), t + ms(650));
    // keepalives every 250 ms for a second
    let mut n = 0;
    let mut now = t + ms(400);
    while now <= t + ms(1400) {
        n += drain(&mut c, now).len();
        now += ms(10);
    }
    assert_eq!(n, 4);
    // receiving does not delay our keepalives (the server needs our acks)
    c.handle_datagram(t + ms(1401), &f.next(Kind::Keepalive, &[]));
    assert!(c.poll_timeout() <= t + ms(1650));
}

#[test]
fn idle_timeout() {
    let (mut c, mut f, t) = connected(3);
    assert_eq!(c.handle_timeout(t + ms(4999)), None);
    c.handle_datagram(t + ms(4000), &f.next(Kind::Keepalive, &[]));
    drain(&mut c, t + ms(4000));
    assert_eq!(c.handle_timeout(t + ms(8999)), None);
    assert_eq!(c.poll_timeout(), t + ms(4250));
    // invalid datagrams do not keep the connection alive
    c.handle_datagram(t + ms(8000), &f.at(f.seq, Kind::Keepalive, &[]));
    assert_eq!(
        c.handle_timeout(t + ms(9000)),
        Some(Event::Disconnected(DisconnectReason::Timeout))
    );
    assert_eq!(c.state(), State::Disconnected(DisconnectReason::Timeout));
    assert!(tx(&mut c, t + ms(9000)).is_none(), "no BYE after a timeout");
    assert_eq!(c.send_game(0x10, &[0, 0]), Err(SendError::NotConnected));
}

#[test]
fn bye_from_the_server() {
    let (mut c, mut f, t) = connected(3);
    let (k, p) = arena::input(1, 1);
    c.send_game(k, &p).unwrap();
    assert_eq!(
        c.handle_datagram(t, &f.next(Kind::Bye, &[])),
        Some(Event::Disconnected(DisconnectReason::Bye))
    );
    assert_eq!(c.state(), State::Disconnected(DisconnectReason::Bye));
    assert!(drain(&mut c, t).is_empty(), "queued input is dropped");
    assert_eq!(c.handle_datagram(t, &f.next(Kind::Keepalive, &[])), None);
    assert_eq!(c.stats().unexpected, 1);
}

#[test]
fn bye_from_the_client() {
    let (mut c, mut f, t) = connected(3);
    c.disconnect();
    assert_eq!(c.state(), State::Disconnected(DisconnectReason::Closed));
    assert_eq!(c.poll_timeout(), t);
    let out = drain(&mut c, t + ms(1));
    assert_eq!(out.len(), 1);
    let h = f.recv(&out[0]);
    assert_eq!(
        (h.flags, h.kind, h.seq, h.qport),
        (flags::DISCONNECT | flags::SEQ, 5, 5, QPORT)
    );
    c.disconnect();
    assert!(drain(&mut c, t + ms(2)).is_empty());
    // before ACCEPT there is nothing to say goodbye to
    let mut c = Client::new(ClientConfig::default(), t);
    c.disconnect();
    assert_eq!(c.state(), State::Disconnected(DisconnectReason::Closed));
    assert!(drain(&mut c, t).is_empty());
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

// Golden bytes of every datagram the client emits.

#[test]
fn golden_hello_family0() {
    let t0 = Instant::now();
    let mut c = Client::new(ClientConfig::default(), t0);
    let d = tx(&mut c, t0).unwrap();
    let mut g = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0x30];
    g.extend([0u8; 48]);
    assert_eq!(d, g);
}

#[test]
fn golden_hello_family4_with_ticket_and_cookie() {
    let t0 = Instant::now();
    let cfg = ClientConfig {
        protocol_id: 0x0A0B_0C0D,
        reply: Some("192.0.2.7:27015".parse().unwrap()),
        ticket: 0x0102_0304_0506_0708,
        ..ClientConfig::default()
    };
    let mut c = Client::new(cfg, t0);
    let first = tx(&mut c, t0).unwrap();
    c.handle_datagram(t0, &Fake::new(0).challenge());
    let d = tx(&mut c, t0).unwrap();
    #[rustfmt::skip]
    let g: Vec<u8> = vec![
        0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0x30,
        0x0A, 0x0B, 0x0C, 0x0D, // protocol id
        4, 0x69, 0x87, 192, 0, 2, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // family, port, ip
        1, 2, 3, 4, 5, 6, 7, 8, // ticket
        0xC0, 0xFF, 0xEE, 0x00, 0x12, 0x34, 0x56, 0x78, // cookie
        0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
    ];
    assert_eq!(d, g);
    assert_eq!(&first[..HEADER_LEN + 31], &g[..HEADER_LEN + 31]);
    assert_eq!(first[HEADER_LEN + 31..], [0u8; 17]);
}

#[test]
fn golden_connected_datagrams() {
    let (mut c, mut f, t) = connected(0x0102_0300);
    // KEEPALIVE: SEQ|ACK, seq S0+2, ack S0, qport 7, kind 0, len 0
    let ka = tx(&mut c, t + ms(250)).unwrap();
    assert_eq!(ka, [0x30, 1, 2, 3, 2, 1, 2, 3, 0, 7, 0x00, 0, 0]);
    // after receiving server seq S0+1 the ack follows it
    c.handle_datagram(t + ms(251), &f.next(Kind::Keepalive, &[]));
    let (k, p) = arena::input(-1, 1);
    c.send_game(k, &p).unwrap();
    let input = tx(&mut c, t + ms(251)).unwrap();
    assert_eq!(
        input,
        [0x30, 1, 2, 3, 3, 1, 2, 3, 1, 7, 0x10, 0, 2, 0xFF, 0x01]
    );
    let (k, p) = arena::fire(0x0000_0E10, 0x0000_0000_0393_8700, 100, -50).unwrap();
    c.send_game(k, &p).unwrap();
    let fire = tx(&mut c, t + ms(252)).unwrap();
    #[rustfmt::skip]
    assert_eq!(fire, [
        0x30, 1, 2, 3, 4, 1, 2, 3, 1, 7, 0x11, 0, 16,
        0, 0, 0x0E, 0x10, 0, 0, 0, 0, 0x03, 0x93, 0x87, 0x00, 0x00, 0x64, 0xFF, 0xCE,
    ]);
    c.disconnect();
    let bye = tx(&mut c, t + ms(253)).unwrap();
    assert_eq!(bye, [0x40 | 0x20, 1, 2, 3, 5, 0, 0, 0, 0, 7, 0x05, 0, 0]);
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
