//! A deterministic in-process network between the sans-IO server core and sans-IO clients
//! of the client library: per-direction latency, jitter, loss, duplication and reordering,
//! every run reproducible from its seed. Time is simulated in 1 ms steps.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tickwire::client::{Client, ClientConfig, Event};
use tickwire::proto::{Config, Server};
use tickwire::wire::{Direction, Kind, Packet};
use tickwire::Arena;

/// One direction of a link.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub latency: Duration,
    /// Uniform extra delay in `[-jitter, +jitter]`; the link stays FIFO (jitter alone does
    /// not reorder, like netem with a FIFO child queue).
    pub jitter: Duration,
    pub loss: f64,
    pub dup: f64,
    /// Probability that a datagram is held back 1..=3 ticks, so later ones overtake it.
    pub reorder: f64,
}

impl Link {
    pub const CLEAN: Link = Link {
        latency: Duration::from_millis(20),
        jitter: Duration::ZERO,
        loss: 0.0,
        dup: 0.0,
        reorder: 0.0,
    };
}

#[derive(PartialEq, Eq)]
struct InFlight {
    at: Instant,
    order: u64,
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

impl Ord for InFlight {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.order).cmp(&(self.at, self.order))
    }
}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// A client of the simulation and what the network did to its downlink.
pub struct SimClient {
    pub addr: SocketAddr,
    pub client: Client,
    pub up: Link,
    pub down: Link,
    pub connected_at: Option<Instant>,
    pub disconnected: Option<(Instant, Event)>,
    /// Newest server seq the network delivered to this client, and how many snapshot
    /// datagrams arrived newer than every earlier one (the most the window can accept).
    newest_delivered: Option<u32>,
    pub deliverable_snapshots: u64,
    pub snapshot_datagrams_sent: u64,
    /// Last time the network delivered a datagram from this client to the server.
    pub last_delivered_up: Option<Instant>,
    /// When the server queued a BYE to this client.
    pub bye_sent_at: Option<Instant>,
    last_fifo_up: Instant,
    last_fifo_down: Instant,
    next_input: Instant,
}

pub struct World {
    pub rng: StdRng,
    pub now: Instant,
    pub server: Server<Arena>,
    pub server_addr: SocketAddr,
    pub clients: Vec<SimClient>,
    queue: BinaryHeap<InFlight>,
    order: u64,
    buf: Vec<u8>,
}

fn seq_newer(a: u32, b: u32) -> bool {
    tickwire::wire::seq_newer(a, b)
}

impl World {
    pub fn new(seed: u64, cfg: Config) -> World {
        let now = Instant::now();
        World {
            rng: StdRng::seed_from_u64(seed),
            now,
            server: Server::new(
                Config {
                    seed: Some(seed),
                    ..cfg
                },
                Arena::new(seed),
                now,
            ),
            server_addr: "10.0.0.1:7777".parse().unwrap(),
            clients: vec![],
            queue: BinaryHeap::new(),
            order: 0,
            buf: vec![0u8; 2048],
        }
    }

    /// Snapshot datagrams to client `i` still in flight (sent, not lost, not delivered),
    /// counted once per seq.
    pub fn in_flight_snapshots(&self, i: usize) -> u64 {
        let to = self.clients[i].addr;
        let mut seqs: Vec<u32> = self
            .queue
            .iter()
            .filter(|f| f.to == to && f.bytes.get(10) == Some(&Kind::Snapshot.to_u8()))
            .filter_map(|f| Packet::new_checked(&f.bytes[..], Direction::ToClient, |_| true).ok())
            .map(|p| p.seq())
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        seqs.len() as u64
    }

    /// Snapshot datagrams sent to client `i` while it was connected.
    pub fn snapshots_sent_connected(&self, i: usize) -> u64 {
        self.clients[i].snapshot_datagrams_sent
    }

    pub fn add_client(&mut self, up: Link, down: Link) -> usize {
        let i = self.clients.len();
        let addr = SocketAddr::from(([10, 1, (i / 250) as u8, (i % 250) as u8 + 1], 5000));
        self.clients.push(SimClient {
            addr,
            client: Client::new(ClientConfig::default(), self.now),
            up,
            down,
            connected_at: None,
            disconnected: None,
            newest_delivered: None,
            deliverable_snapshots: 0,
            snapshot_datagrams_sent: 0,
            last_delivered_up: None,
            bye_sent_at: None,
            last_fifo_up: self.now,
            last_fifo_down: self.now,
            next_input: self.now,
        });
        i
    }

    fn send(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        link: Link,
        fifo: &mut Instant,
        bytes: &[u8],
    ) {
        if self.rng.gen_bool(link.loss.clamp(0.0, 1.0)) {
            return;
        }
        let copies = if self.rng.gen_bool(link.dup.clamp(0.0, 1.0)) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let j = link.jitter.as_micros() as i64;
            let jitter = if j > 0 { self.rng.gen_range(-j..=j) } else { 0 };
            let base = self.now + link.latency;
            let mut at = if jitter >= 0 {
                base + Duration::from_micros(jitter as u64)
            } else {
                base.checked_sub(Duration::from_micros((-jitter) as u64))
                    .unwrap_or(base)
                    .max(self.now)
            };
            if self.rng.gen_bool(link.reorder.clamp(0.0, 1.0)) {
                // Held back: not part of the FIFO order.
                at += Duration::from_millis(self.rng.gen_range(17..=50));
            } else {
                at = at.max(*fifo);
                *fifo = at;
            }
            self.order += 1;
            self.queue.push(InFlight {
                at,
                order: self.order,
                from,
                to,
                bytes: bytes.to_vec(),
            });
        }
    }

    /// Runs the world for `d` in 1 ms steps; `input_every` makes each connected client
    /// send an INPUT that often.
    pub fn run(&mut self, d: Duration, input_every: Option<Duration>) {
        let end = self.now + d;
        while self.now < end {
            self.now += Duration::from_millis(1);
            self.step(input_every);
        }
    }

    fn step(&mut self, input_every: Option<Duration>) {
        let now = self.now;
        // Deliver.
        while self.queue.peek().is_some_and(|f| f.at <= now) {
            let f = self.queue.pop().unwrap();
            if f.to == self.server_addr {
                if self.server.handle_datagram(now, f.from, &f.bytes).is_ok() {
                    if let Some(c) = self.clients.iter_mut().find(|c| c.addr == f.from) {
                        c.last_delivered_up = Some(now);
                    }
                }
            } else if let Some(c) = self.clients.iter_mut().find(|c| c.addr == f.to) {
                // A client can only use what arrives once it knows its S0 (after ACCEPT).
                let ready = c.client.state().is_connected();
                if let (true, Ok(p)) = (
                    ready,
                    Packet::new_checked(&f.bytes[..], Direction::ToClient, |_| true),
                ) {
                    if p.has(tickwire::wire::flags::SEQ) && p.kind() != Some(Kind::Accept) {
                        let fresh = c.newest_delivered.is_none_or(|n| seq_newer(p.seq(), n));
                        if fresh {
                            c.newest_delivered = Some(p.seq());
                            if p.kind() == Some(Kind::Snapshot) {
                                c.deliverable_snapshots += 1;
                            }
                        }
                    }
                }
                let ev = c.client.handle_datagram(now, &f.bytes);
                note(c, now, ev);
            }
        }
        // Server.
        if self.server.poll_timeout() <= now {
            self.server.handle_timeout(now);
        }
        let out: Vec<(SocketAddr, Vec<u8>)> = self
            .server
            .transmits()
            .iter()
            .map(|t| {
                let mut b = t.head().to_vec();
                b.extend_from_slice(self.server.body(t));
                (t.dst, b)
            })
            .collect();
        self.server.sent(usize::MAX);
        for (dst, b) in out {
            if let Some(i) = self.clients.iter().position(|c| c.addr == dst) {
                if b.get(10) == Some(&Kind::Snapshot.to_u8()) {
                    self.clients[i].snapshot_datagrams_sent += 1;
                }
                if b.get(10) == Some(&Kind::Bye.to_u8()) {
                    self.clients[i].bye_sent_at.get_or_insert(now);
                }
                let link = self.clients[i].down;
                let mut fifo = self.clients[i].last_fifo_down;
                self.send(self.server_addr, dst, link, &mut fifo, &b);
                self.clients[i].last_fifo_down = fifo;
            }
        }
        // Clients.
        for i in 0..self.clients.len() {
            let c = &mut self.clients[i];
            if c.client.poll_timeout() <= now {
                let ev = c.client.handle_timeout(now);
                note(c, now, ev);
            }
            if let Some(every) = input_every {
                if c.client.state().is_connected() && c.next_input <= now {
                    let dir = (now.duration_since(c.next_input).as_millis() % 3) as i8 - 1;
                    let _ = c.client.send_game(0x10, &[dir as u8, 1]);
                    c.next_input = now + every;
                }
            }
            let mut sent = vec![];
            while let Some(n) = self.clients[i].client.poll_transmit(now, &mut self.buf) {
                sent.push(self.buf[..n].to_vec());
            }
            let (addr, link, mut fifo) = (
                self.clients[i].addr,
                self.clients[i].up,
                self.clients[i].last_fifo_up,
            );
            for b in sent {
                self.send(addr, self.server_addr, link, &mut fifo, &b);
            }
            self.clients[i].last_fifo_up = fifo;
        }
    }
}

fn note(c: &mut SimClient, now: Instant, ev: Option<Event>) {
    match ev {
        Some(Event::Connected { .. }) => c.connected_at = Some(now),
        Some(e @ Event::Disconnected(_)) | Some(e @ Event::Rejected(_)) => {
            c.disconnected.get_or_insert((now, e));
        }
        _ => {}
    }
}
