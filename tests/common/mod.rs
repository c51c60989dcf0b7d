//! Deterministic test harness for the sans-IO core: injected time, raw wire clients.
#![allow(dead_code)]

pub mod lobby;
pub mod net;
pub mod netsim;

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tickwire::game::arena::{self, Arena, Entity};
use tickwire::internal::{Accept, Challenge, Hello, SnapshotPrefix};
use tickwire::wire::{flags, Direction, DropReason, Header, Kind, Packet, MAX_DATAGRAM};
use tickwire::{Config, Server};

/// One datagram the server sent.
#[derive(Debug, Clone)]
pub struct Out {
    pub dst: SocketAddr,
    pub bytes: Vec<u8>,
}

impl Out {
    pub fn packet(&self) -> Packet<&[u8]> {
        Packet::new_checked(&self.bytes[..], Direction::ToClient, |_| true)
            .expect("the server sent a malformed datagram")
    }
    pub fn kind(&self) -> Kind {
        self.packet().kind().unwrap()
    }

    /// The cookie of a CHALLENGE.
    pub fn cookie(&self) -> u64 {
        assert_eq!(self.kind(), Kind::Challenge, "expected a CHALLENGE");
        Challenge::parse(self.packet().payload()).unwrap().cookie
    }
}

/// A server with its own clock.
pub struct Sim {
    pub server: Server<Arena>,
    pub now: Instant,
}

pub fn config() -> Config {
    Config {
        seed: Some(7),
        ..Config::default()
    }
}

impl Sim {
    pub fn new() -> Sim {
        Sim::with(config())
    }

    pub fn with(cfg: Config) -> Sim {
        let now = Instant::now();
        Sim {
            server: Server::new(cfg, Arena::new(3), now),
            now,
        }
    }

    /// Moves the clock forward by `d`, running every tick that falls due on the way at its
    /// exact deadline.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        while self.server.poll_timeout() <= target {
            self.now = self.server.poll_timeout().max(self.now);
            self.server.handle_timeout(self.now);
        }
        self.now = target;
    }

    /// Runs due ticks at the current time.
    pub fn tick(&mut self) {
        self.server.handle_timeout(self.now);
    }

    pub fn send(&mut self, src: SocketAddr, bytes: &[u8]) -> Result<(), DropReason> {
        self.server.handle_datagram(self.now, src, bytes)
    }

    /// Takes every queued datagram, assembled.
    pub fn drain(&mut self) -> Vec<Out> {
        let out = self
            .server
            .transmits()
            .iter()
            .map(|t| {
                let mut bytes = vec![0u8; MAX_DATAGRAM];
                let n = self.server.write_transmit(t, &mut bytes).unwrap();
                bytes.truncate(n);
                Out { dst: t.dst, bytes }
            })
            .collect();
        self.server.sent(usize::MAX);
        out
    }

    /// Sends `hello` from `src` and returns the cookie of the one CHALLENGE it gets.
    pub fn challenge(&mut self, src: SocketAddr, hello: &[u8]) -> u64 {
        self.send(src, hello).unwrap();
        let out = self.drain();
        assert_eq!(out.len(), 1, "expected one CHALLENGE");
        out[0].cookie()
    }

    /// Full handshake for a client at `src`.
    pub fn connect(&mut self, src: SocketAddr) -> RawClient {
        let mut c = RawClient::new(src);
        let cookie = self.challenge(src, &c.hello(0));
        self.send(src, &c.hello(cookie)).unwrap();
        let out = self.drain();
        assert_eq!(out.len(), 1, "expected one ACCEPT");
        c.on_accept(&out[0]);
        c
    }
}

/// A client written from the wire format alone.
#[derive(Debug, Clone)]
pub struct RawClient {
    pub src: SocketAddr,
    pub reply: Option<SocketAddr>,
    pub qport: u8,
    pub s0: u32,
    /// Last seq sent.
    pub seq: u32,
    /// Newest server seq received.
    pub newest: Option<u32>,
    pub accept: Option<Accept>,
}

impl RawClient {
    pub fn new(src: SocketAddr) -> RawClient {
        RawClient {
            src,
            reply: None,
            qport: 0,
            s0: 0,
            seq: 0,
            newest: None,
            accept: None,
        }
    }

    pub fn hello(&self, cookie: u64) -> Vec<u8> {
        self.hello_with(cookie, 0, 0)
    }

    pub fn hello_with(&self, cookie: u64, ticket: u64, protocol_id: u32) -> Vec<u8> {
        self.hello_full(cookie, 0, ticket, protocol_id)
    }

    /// A HELLO with both cookies (the reply address's and the source's).
    pub fn hello2(&self, cookie: u64, source_cookie: u64) -> Vec<u8> {
        self.hello_full(cookie, source_cookie, 0, 0)
    }

    pub fn hello_full(
        &self,
        cookie: u64,
        source_cookie: u64,
        ticket: u64,
        protocol_id: u32,
    ) -> Vec<u8> {
        let mut b = vec![0u8; 13 + Hello::LEN];
        Header {
            flags: flags::CONNECT,
            seq: 0,
            ack: 0,
            qport: 0,
            kind: Kind::Hello.to_u8(),
            len: Hello::LEN as u16,
        }
        .emit(&mut b)
        .unwrap();
        Hello {
            protocol_id,
            reply: self.reply,
            ticket,
            cookie,
            source_cookie,
        }
        .emit(&mut b[13..])
        .unwrap();
        b
    }

    pub fn on_accept(&mut self, out: &Out) {
        let p = out.packet();
        assert_eq!(p.kind(), Some(Kind::Accept));
        assert_eq!(p.flags(), flags::CONNECT | flags::SEQ | flags::ACK);
        self.qport = p.qport();
        self.s0 = p.seq();
        self.seq = p.seq();
        self.newest = Some(p.seq());
        self.accept = Some(Accept::parse(p.payload()).unwrap());
    }

    /// A datagram of `kind` with the next seq.
    pub fn datagram(&mut self, kind: u8, payload: &[u8]) -> Vec<u8> {
        self.seq = self.seq.wrapping_add(1);
        self.raw(self.seq, kind, payload)
    }

    /// A datagram with an explicit seq (does not move the counter).
    pub fn raw(&self, seq: u32, kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 13 + payload.len()];
        let (mut f, ack) = match self.newest {
            Some(a) => (flags::SEQ | flags::ACK, a),
            None => (flags::SEQ, 0),
        };
        if kind == Kind::Bye.to_u8() {
            f = flags::DISCONNECT | flags::SEQ;
        }
        Header {
            flags: f,
            seq,
            ack: if kind == Kind::Bye.to_u8() { 0 } else { ack },
            qport: self.qport,
            kind,
            len: payload.len() as u16,
        }
        .emit(&mut b)
        .unwrap();
        b[13..].copy_from_slice(payload);
        b
    }

    pub fn keepalive(&mut self) -> Vec<u8> {
        self.datagram(Kind::Keepalive.to_u8(), &[])
    }

    pub fn input(&mut self, dx: i8, dy: i8) -> Vec<u8> {
        self.datagram(Arena::INPUT, &[dx as u8, dy as u8])
    }

    pub fn bye(&mut self) -> Vec<u8> {
        self.datagram(Kind::Bye.to_u8(), &[])
    }

    /// Notes a server datagram addressed to this client (for acks).
    pub fn saw(&mut self, out: &Out) {
        let s = out.packet().seq();
        match self.newest {
            Some(n) if !tickwire::wire::seq_newer(s, n) => {}
            _ => self.newest = Some(s),
        }
    }
}

/// The snapshot datagrams in `out` sent to `dst`, as (prefix, entities).
pub fn snapshots_to(out: &[Out], dst: SocketAddr) -> Vec<(SnapshotPrefix, Vec<Entity>)> {
    out.iter()
        .filter(|o| o.dst == dst && o.kind() == Kind::Snapshot)
        .map(|o| {
            let p = o.packet();
            let (prefix, body) = SnapshotPrefix::parse(p.payload()).unwrap();
            (prefix, arena::entities(body).collect())
        })
        .collect()
}

/// Client `i`'s address on one shared host, 127.0.0.1 (port 10 000 + i): what `addr` gave
/// before issue 11, for tests about several connections of one host.
pub fn addr_on_one_host(i: u32) -> SocketAddr {
    SocketAddr::new(addr(0).ip(), addr(i).port())
}

/// Client `i`'s address: a host of its own (127.0.0.1 + i), as distinct players are, so
/// the per-IP limits of PROTOCOL.md section 2 (CHALLENGEs, slots) apply to each alone.
pub fn addr(i: u32) -> SocketAddr {
    let [a, b, c, d] = (0x7F00_0001u32 + i % 0x00FF_FFFE).to_be_bytes();
    SocketAddr::from(([a, b, c, d], 10_000 + (i % 50_000) as u16))
}

/// `name=N` from a host's summary or stats line (the number after ` name=`).
pub fn line_field(line: &str, name: &str) -> u64 {
    let key = format!(" {name}=");
    let at = line
        .find(&key)
        .unwrap_or_else(|| panic!("no {name}= in {line}"));
    line[at + key.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("{name}= is not a number in {line}"))
}
