//! A deterministic in-process network between the sans-IO server core and sans-IO clients
//! of the client library: per-direction latency, jitter, loss, duplication and hold-back,
//! every run reproducible from its seed. Time is simulated in 1 ms steps.
//!
//! Each direction of each client's link is one `tickwire_netem::Netem`, the impairment
//! model the `tickwire-netem` proxy (and so the soak) uses too, and every draw comes from
//! that link's model: each `Link` field means what the `Impairment` field of that name
//! says (`dup` is `duplicate`).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tickwire::client::{Client, ClientConfig, Event};
use tickwire::wire::{Direction, Kind, Packet};
use tickwire::Arena;
use tickwire::{Config, Server};
use tickwire_netem::{Distribution, Impairment, Netem, Order};

/// One direction of a link.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub latency: Duration,
    /// Uniform extra delay in `[-jitter, +jitter]`; the link stays FIFO (jitter alone does
    /// not reorder, like netem with a FIFO child queue).
    pub jitter: Duration,
    pub loss: f64,
    pub dup: f64,
    /// Probability that a datagram is held back 1..=3 ticks (`HOLD_BACK`, 17..=50 ms) on
    /// top of its delay, so later ones overtake it: `tickwire_netem::Impairment::hold_back`.
    ///
    /// Not netem's `reorder` (`Impairment::reorder`: the datagram skips the delay and
    /// overtakes the earlier ones), which these links never use. `tests/netsim.rs`'s
    /// hold-back profile asserts a delivery ratio, `(1 - loss) * (1 - hold_back)`, that
    /// holds for hold-back (a held-back snapshot alone arrives after a newer one); under
    /// netem's reorder it would measure 0.68 instead of 0.768.
    pub hold_back: f64,
}

/// The extra delay of a held-back datagram: 1..=3 ticks at 60 Hz.
pub const HOLD_BACK: (Duration, Duration) = (Duration::from_millis(17), Duration::from_millis(50));

impl Link {
    /// The model's impairment for this direction.
    fn impairment(&self) -> Impairment {
        Impairment {
            latency: self.latency,
            jitter: self.jitter,
            distribution: Distribution::Uniform,
            order: Order::Fifo,
            loss: self.loss,
            duplicate: self.dup,
            reorder: 0.0,
            hold_back: self.hold_back,
            hold_back_range: HOLD_BACK,
        }
    }
}

impl Link {
    pub const CLEAN: Link = Link {
        latency: Duration::from_millis(20),
        jitter: Duration::ZERO,
        loss: 0.0,
        dup: 0.0,
        hold_back: 0.0,
    };
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
    /// Datagrams in flight to the server and to the client.
    up_link: Netem<Vec<u8>>,
    down_link: Netem<Vec<u8>>,
    next_input: Instant,
    /// Impairments used as they are (up, down) instead of `up`/`down`'s
    /// ([`World::add_client_with`]).
    raw: Option<(Impairment, Impairment)>,
}

pub struct World {
    pub seed: u64,
    pub now: Instant,
    pub server: Server<Arena>,
    pub server_addr: SocketAddr,
    pub clients: Vec<SimClient>,
    buf: Vec<u8>,
    /// Secure mode: the issuer of the clients' connect tokens.
    issuer: Option<tickwire::secure::Issuer>,
}

/// Unix seconds at a secure world's start.
const SECURE_T0: u64 = 1_900_000_000;

fn seq_newer(a: u32, b: u32) -> bool {
    tickwire::wire::seq_newer(a, b)
}

impl World {
    pub fn new(seed: u64, cfg: Config) -> World {
        let now = Instant::now();
        World {
            seed,
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
            buf: vec![0u8; 2048],
            issuer: None,
        }
    }

    /// A world whose server runs in secure mode (PROTOCOL.md section 8) and whose clients
    /// connect with connect tokens minted for them.
    pub fn new_secure(seed: u64, cfg: Config) -> World {
        use tickwire::secure::{Issuer, Key, Secure, UnixClock};
        let fleet = Key::from_bytes([seed as u8; 32]);
        let mut w = World::new(
            seed,
            Config {
                secure: None,
                ..cfg.clone()
            },
        );
        let secure = Secure::new(fleet.clone(), 0).with_clock(UnixClock::fixed(w.now, SECURE_T0));
        w.server = Server::new(
            Config {
                seed: Some(seed),
                secure: Some(secure),
                ..cfg
            },
            Arena::new(seed),
            w.now,
        );
        w.issuer = Some(Issuer::new(fleet, 0));
        w
    }

    /// Snapshot datagrams to client `i` still in flight (sent, not lost, not delivered),
    /// counted once per seq.
    pub fn in_flight_snapshots(&self, i: usize) -> u64 {
        let mut seqs: Vec<u32> = self.clients[i]
            .down_link
            .iter()
            .filter(|b| b.get(10) == Some(&Kind::Snapshot.to_u8()))
            .filter_map(|b| Packet::new_checked(&b[..], Direction::ToClient, |_| true).ok())
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
            client: match &self.issuer {
                Some(issuer) => Client::with_token(
                    ClientConfig::default(),
                    issuer.mint(i as u64, 0, "", SECURE_T0),
                    self.now,
                ),
                None => Client::new(ClientConfig::default(), self.now),
            },
            up,
            down,
            connected_at: None,
            disconnected: None,
            newest_delivered: None,
            deliverable_snapshots: 0,
            snapshot_datagrams_sent: 0,
            last_delivered_up: None,
            bye_sent_at: None,
            up_link: Netem::new(up.impairment(), link_seed(self.seed, 2 * i as u64)),
            down_link: Netem::new(down.impairment(), link_seed(self.seed, 2 * i as u64 + 1)),
            next_input: self.now,
            raw: None,
        });
        i
    }

    /// A client whose links use `up` and `down` as they are (any order, distribution or
    /// reorder, e.g. the soak's netem profile), with an interpolation buffer when `interp`
    /// is given.
    pub fn add_client_with(
        &mut self,
        up: Impairment,
        down: Impairment,
        interp: Option<tickwire::client::InterpConfig>,
    ) -> usize {
        let i = self.add_client(Link::CLEAN, Link::CLEAN);
        let c = &mut self.clients[i];
        c.raw = Some((up, down));
        c.up_link.set_impairment(up);
        c.down_link.set_impairment(down);
        if let Some(cfg) = interp {
            c.client.enable_interpolation(cfg);
        }
        i
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
        // Deliver, earliest due first over all links.
        while let Some((i, up)) = self.next_due(now) {
            let c = &mut self.clients[i];
            let link = if up { &mut c.up_link } else { &mut c.down_link };
            let Some(bytes) = link.poll(now) else {
                continue;
            };
            if up {
                if self.server.handle_datagram(now, c.addr, &bytes).is_ok() {
                    c.last_delivered_up = Some(now);
                }
            } else {
                // A client can only use what arrives once it knows its S0 (after ACCEPT).
                let ready = c.client.state().is_connected();
                if let (true, Ok(p)) = (
                    ready,
                    Packet::new_checked(&bytes[..], Direction::ToClient, |_| true),
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
                let ev = c.client.handle_datagram(now, &bytes);
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
                let c = &mut self.clients[i];
                let imp = c.raw.map_or_else(|| c.down.impairment(), |r| r.1);
                send(&mut c.down_link, imp, now, &b);
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
            let imp = c.raw.map_or_else(|| c.up.impairment(), |r| r.0);
            while let Some(n) = c.client.poll_transmit(now, &mut self.buf) {
                send(&mut c.up_link, imp, now, &self.buf[..n]);
            }
        }
    }

    /// The link (client index, uplink?) whose next datagram is due first, at `now` or
    /// earlier.
    fn next_due(&self, now: Instant) -> Option<(usize, bool)> {
        let mut best: Option<(Instant, usize, bool)> = None;
        for (i, c) in self.clients.iter().enumerate() {
            for (up, link) in [(true, &c.up_link), (false, &c.down_link)] {
                if let Some(t) = link.poll_timeout().filter(|&t| t <= now) {
                    if best.is_none_or(|b| t < b.0) {
                        best = Some((t, i, up));
                    }
                }
            }
        }
        best.map(|(_, i, up)| (i, up))
    }
}

/// Puts one datagram on a link: the model draws loss, duplication, hold-back, latency and
/// jitter (the link's impairment as it is now: a test may change it between runs).
fn send(q: &mut Netem<Vec<u8>>, imp: Impairment, now: Instant, bytes: &[u8]) {
    q.set_impairment(imp);
    q.push_with(now, || bytes.to_vec());
}

/// The seed of one direction of one client's link, from the world's seed.
fn link_seed(seed: u64, link: u64) -> u64 {
    seed ^ link.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
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
