//! The client against a scripted fake server built from the `wire` emitters. Time is
//! injected; nothing sleeps and no socket is opened.
//!
//! `handshake.rs`: connecting, timers, BYE and the golden bytes of what the client sends;
//! `traffic.rs`: snapshots, sequence numbers, loss, RTT and game datagrams;
//! `robustness.rs`: malformed and random input.

mod handshake;
mod robustness;
mod traffic;

use super::*;
use crate::client::arena;
use crate::wire::msg::{Accept, Challenge, Hello, Reject, RejectReason, SnapshotPrefix};
use crate::wire::{flags, seq_newer, Direction, Header, Kind, Packet, HEADER_LEN, MAX_DATAGRAM};
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
        Challenge { cookie: COOKIE }.emit(&mut p).unwrap();
        dgram(flags::CONNECT, 0, 0, 0, Kind::Challenge.to_u8(), &p)
    }

    fn reject(&self, reason: RejectReason) -> Vec<u8> {
        let mut p = [0u8; Reject::LEN];
        Reject { reason }.emit(&mut p).unwrap();
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
        .emit(&mut p)
        .unwrap();
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
    .emit(&mut p)
    .unwrap();
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
