//! The sans-IO server core.
//!
//! [`Server`] never touches a socket and never reads the clock: every entry point takes
//! `now`, and every datagram it wants sent is queued as a [`Transmit`]. The drive contract
//! is written on [`Server`]. The core is split along quinn's endpoint/connection lines:
//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | [`Config`], [`Server`]: the datagram entry, routing by kind and qport, the timers, teardown |
//! | `handshake.rs` | HELLO checks, cookie and CHALLENGE, ACCEPT resend, admission (a returned decision) |
//! | `peer.rs` | one client slot: the connected receive path and its sequence numbers, over the link layer (`crate::link`, shared with the client) |
//! | `clock.rs` | tick deadlines and catch-up |
//! | `broadcast.rs` | a tick's snapshot, serialized once into the ring and queued for everyone |
//! | `outbox.rs` | [`Transmit`], the transmit queue and [`Server::write_transmit`]; a game's datagram to one player ([`Context::send`], [`Server::send`]) |
//! | `stats.rs` | [`Stats`], [`PlayerInfo`] |
//! | `ring.rs`, `game.rs` | the snapshot ring; the [`Game`] trait, [`Context`] and rewinds |

mod broadcast;
mod clock;
mod game;
mod handshake;
mod liveness;
mod outbox;
mod peer;
mod ring;
mod secure;
mod stats;

pub use game::{Context, Game, Past, PlayerId, RewindError, RewindStats};
pub use outbox::{SendError, Transmit};
pub use peer::PeerStats;
pub(crate) use ring::MAX_PARTS;
pub use ring::{SnapshotFull, SnapshotWriter};
pub use stats::{PlayerInfo, Stats};

use crate::cookie::CookieKey;
use crate::limit::RateLimiter;
use crate::link::count_loss;
use crate::seed;
use crate::tickets::Tickets;
use crate::timers::{Expiry, TimerTable};
use crate::wire::{Direction, DropReason, Kind, Packet};
use arrayvec::ArrayVec;
use clock::TickClock;
use core::net::SocketAddr;
use core::time::Duration;
use handshake::Admission;
use outbox::Outbox;
use peer::Peer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ring::Ring;
use std::time::Instant;

/// Ticks in the snapshot ring: one second at 60 Hz.
pub const RING_LEN: usize = 60;

/// Most clients one server holds (qports 1..=255).
pub const MAX_CLIENTS: usize = 255;

/// Longest head of a queued datagram: header plus ACCEPT, or header plus snapshot prefix,
/// or in secure mode header, prefix and the 16-byte tag (43).
pub(crate) const MAX_HEAD: usize = 48;

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Tick rate in Hz (60).
    pub tick_hz: u16,
    /// Most clients at once, 1..=255 (255).
    pub max_clients: u8,
    /// Most clients at once from one IP address (an IPv6 address counts by its /64), at
    /// least 1 (16). A HELLO over it gets REJECT 1 (full). 16 leaves room for a household
    /// or a LAN party behind one NAT while one host can no longer hold every slot; raise it
    /// for load tests from one machine.
    pub max_clients_per_ip: u8,
    /// CHALLENGEs per second to one IP address, in bursts of twice as many (10, PROTOCOL.md
    /// section 2). Raise it only for load tests from one machine; at least 1.
    pub challenges_per_ip: u32,
    /// A client heard nothing valid from for this long is dropped and sent BYE (5 s); so
    /// is one whose datagrams acknowledged none of the server's for this long.
    pub timeout: Duration,
    /// The application's protocol id; HELLOs with another one are dropped (0).
    pub protocol_id: u32,
    /// Only admit HELLOs with an unused lobby ticket (see [`Server::set_tickets`]). Not
    /// used in secure mode, where the connect token is the credential and HELLO is dropped.
    pub require_ticket: bool,
    /// Shots naming a tick older than this are refused (1 s).
    pub max_rewind: Duration,
    /// How far the age of a shot's tick may be from the shooter's RTT (200 ms).
    pub rewind_tolerance: Duration,
    /// The most RTT the plausibility check believes (250 ms): a client can inflate its
    /// measured RTT by holding back its acks, so a larger one counts as this much. Honest
    /// players with a higher RTT get fewer rewinds: a shot's tick may be at most
    /// `max_rewind_rtt + rewind_tolerance` old (450 ms by default), and beyond that their
    /// shots are refused as implausible.
    pub max_rewind_rtt: Duration,
    /// Rewinds granted per player per second (30).
    pub rewinds_per_sec: u32,
    /// Bytes reserved for each snapshot in the ring (16 KiB).
    pub snapshot_capacity: usize,
    /// Seed for qports, start sequence numbers and the cookie key; `None` draws one from
    /// the operating system. Tests set it.
    pub seed: Option<u64>,
    /// Secure mode (PROTOCOL.md section 8): admit only connect tokens sealed under the
    /// fleet key, and seal every datagram after the handshake; plain HELLO is dropped.
    /// `None` (the default): the plain protocol of sections 1-4.
    pub secure: Option<crate::secure::Secure>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            tick_hz: 60,
            max_clients: 255,
            max_clients_per_ip: 16,
            challenges_per_ip: handshake::CHALLENGES_PER_IP,
            timeout: Duration::from_secs(5),
            protocol_id: 0,
            require_ticket: false,
            max_rewind: Duration::from_secs(1),
            rewind_tolerance: Duration::from_millis(200),
            max_rewind_rtt: Duration::from_millis(250),
            rewinds_per_sec: 30,
            snapshot_capacity: 16 * 1024,
            seed: None,
            secure: None,
        }
    }
}

/// The server's deadlines, in [`TimerTable`] index order (the order `handle_timeout` runs
/// them): idle clients are dropped before a tick, so they get no snapshot of it.
mod timer {
    /// The oldest client's idle timeout.
    pub const IDLE: usize = 0;
    /// The deadline of the client that has been acknowledging nothing longest.
    pub const UNACKED: usize = 1;
    /// The next tick.
    pub const TICK: usize = 2;
    pub const COUNT: usize = 3;
}

/// The game server core: slots, handshake, sequence windows, the tick clock and the
/// snapshot ring around a [`Game`].
///
/// # Drive contract
///
/// A `Server` is a state machine with two inputs and one output, all taking `now` from
/// the caller (it never reads the clock; `now` must not go backwards):
///
/// - **Inputs.** [`Server::handle_datagram`] for every datagram of the game protocol that
///   arrives on its port; [`Server::handle_timeout`] when [`Server::poll_timeout`] has
///   passed. Teardown by the application goes through [`Server::kick`] and
///   [`Server::shutdown`].
/// - **Output.** Every datagram the server wants sent is queued: after any input, send
///   each of [`Server::transmits`] (its `head()` then [`Server::body`], or assembled by
///   [`Server::write_transmit`]) to its `dst`, then report how many went out with
///   [`Server::sent`]; what was not reported stays queued for the next round.
/// - **Timers.** [`Server::poll_timeout`] is the earliest deadline: the next tick or the
///   next idle timeout. Calling `handle_timeout` earlier does nothing; calling it late runs
///   what is due (at most a few ticks, see [`Stats::ticks_skipped`]). The idle deadline
///   may come early (the oldest client spoke since); `handle_timeout` then only moves it
///   on. Measure tick lateness against [`Server::next_tick_deadline`], not
///   `poll_timeout`.
///
/// A loop: wait for a datagram until `poll_timeout()`; feed it or call `handle_timeout`;
/// drain `transmits()` and report `sent(n)`; repeat.
///
/// Memory: everything (client slots, the snapshot ring, the transmit queue) is allocated
/// in [`Server::new`]; handling a datagram or running a tick allocates nothing.
pub struct Server<G> {
    cfg: Config,
    admission: Admission,
    game: G,
    clock: TickClock,
    timers: TimerTable<u64, { timer::COUNT }>,
    /// Connected qports by last valid datagram, oldest first (µs since the epoch).
    idle: Expiry<u64>,
    /// Connected qports whose acks are behind, by when that began (see `liveness.rs`).
    unacked: Expiry<u64>,
    /// `cfg.timeout`, `cfg.max_rewind` and `cfg.rewind_tolerance` in microseconds.
    timeout_us: u64,
    max_rewind_us: u64,
    tolerance_us: u64,
    max_rewind_rtt_us: u64,
    /// Rewind budgets per source IP, kept across reconnects.
    rewind_ips: game::RewindIps,
    newest_tick: Option<u32>,
    peers: Box<[Peer]>,
    connected: ArrayVec<u8, MAX_CLIENTS>,
    ring: Ring,
    outbox: Outbox,
    key: CookieKey,
    /// CHALLENGEs per destination IP (PROTOCOL.md section 2).
    challenge_limit: RateLimiter,
    rng: StdRng,
    stats: Stats,
    rewind_depth: hdrhistogram::Histogram<u64>,
    forced_s0: Option<u32>,
    /// Secure mode (PROTOCOL.md section 8): settings, match key, sealed snapshot parts.
    secure: Option<secure::ServerSecure>,
    /// Where a sealed datagram is opened (secure mode; empty otherwise).
    scratch: Box<[u8]>,
}

fn secs_to_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl<G: Game> Server<G> {
    /// A server whose clock starts at `now` (tick 0 is due at once).
    pub fn new(mut cfg: Config, game: G, now: Instant) -> Server<G> {
        cfg.tick_hz = cfg.tick_hz.max(1);
        cfg.max_clients = cfg.max_clients.max(1);
        cfg.max_clients_per_ip = cfg.max_clients_per_ip.max(1);
        cfg.challenges_per_ip = cfg.challenges_per_ip.clamp(1, u32::MAX / 2);
        let mut rng = match cfg.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        let key = CookieKey::new(rng.gen(), rng.gen());
        // From a stream of its own, so the server's qports and S0s stay what the seed gave.
        let challenge_limit = RateLimiter::from_rng(
            handshake::CHALLENGE_ENTRIES,
            cfg.challenges_per_ip,
            2 * cfg.challenges_per_ip,
            &mut crate::seed::rng(cfg.seed.map(|s| seed::derive(s, seed::Stream::Challenge))),
        );
        // Keys of the snapshot stamps and of the rewind budgets per IP: a stream of their
        // own, so the draws of `rng` (qports, start seqs) stay what they were.
        let mut keys = crate::seed::rng(
            cfg.seed
                .map(|s| crate::seed::splitmix64(s ^ 0x7374_616d_7031)),
        );
        let clock = TickClock::new(now, cfg.tick_hz);
        let mut timers = TimerTable::new();
        timers.set(timer::TICK, clock.next_deadline_ns());
        let mut ring = Ring::new(RING_LEN, cfg.snapshot_capacity, (keys.gen(), keys.gen()));
        let secure = cfg.secure.clone().map(|s| {
            ring.set_part_max(secure::MAX_SEALED_PART_BODY);
            secure::ServerSecure::new(s, RING_LEN, cfg.snapshot_capacity)
        });
        let scratch = match secure {
            Some(_) => vec![0u8; crate::wire::MAX_DATAGRAM].into_boxed_slice(),
            None => Box::default(),
        };
        Server {
            ring,
            secure,
            scratch,
            rewind_ips: game::RewindIps::new(keys.gen(), keys.gen()),
            max_rewind_rtt_us: secs_to_us(cfg.max_rewind_rtt),
            admission: Admission {
                tickets: None,
                require_ticket: cfg.require_ticket,
            },
            timeout_us: secs_to_us(cfg.timeout),
            max_rewind_us: secs_to_us(cfg.max_rewind),
            tolerance_us: secs_to_us(cfg.rewind_tolerance),
            cfg,
            game,
            clock,
            timers,
            idle: Expiry::new(MAX_CLIENTS + 1),
            unacked: Expiry::new(MAX_CLIENTS + 1),
            newest_tick: None,
            peers: (0..=MAX_CLIENTS).map(|_| Peer::empty()).collect(),
            connected: ArrayVec::new(),
            outbox: Outbox::new(MAX_CLIENTS * (MAX_PARTS + 2) + 256),
            key,
            challenge_limit,
            rng,
            stats: Stats::default(),
            rewind_depth: hdrhistogram::Histogram::new_with_bounds(1, 3600, 2)
                .expect("static histogram bounds are valid"),
            forced_s0: None,
        }
    }

    /// Connects the lobby's ticket table: HELLO tickets are redeemed from it.
    pub fn set_tickets(&mut self, tickets: Tickets) {
        self.admission.tickets = Some(tickets);
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The game.
    pub fn game(&self) -> &G {
        &self.game
    }

    /// The game, mutably.
    pub fn game_mut(&mut self) -> &mut G {
        &mut self.game
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Histogram of rewind depth in ticks (for the host's stats line).
    pub(crate) fn depth_histogram(&self) -> &hdrhistogram::Histogram<u64> {
        &self.rewind_depth
    }

    /// Histogram of rewind depth in ticks, for tickwire's own tests and tools: the public
    /// API keeps `hdrhistogram` out of its signatures.
    #[cfg(feature = "internal")]
    #[doc(hidden)]
    pub fn rewind_depth(&self) -> &hdrhistogram::Histogram<u64> {
        &self.rewind_depth
    }

    /// When the server started.
    pub fn epoch(&self) -> Instant {
        self.clock.epoch()
    }

    /// Server time at `now`, microseconds since the server started.
    #[inline]
    pub fn time_us(&self, now: Instant) -> u64 {
        self.clock.since_us(now)
    }

    /// The newest tick serialized into the ring, if any.
    pub fn newest_tick(&self) -> Option<u32> {
        self.newest_tick
    }

    /// How many clients are connected.
    pub fn client_count(&self) -> usize {
        self.connected.len()
    }

    /// The connected players.
    pub fn players(&self, now: Instant) -> impl Iterator<Item = PlayerInfo> + '_ {
        let now_us = self.time_us(now);
        self.connected
            .iter()
            .map(move |&q| self.peers[q as usize].info(q, now_us))
    }

    /// The earliest deadline: the next tick or the next client idle timeout (never later
    /// than either; the idle one may be early, see the drive contract on [`Server`]). Wake
    /// up then and call [`Server::handle_timeout`].
    pub fn poll_timeout(&self) -> Instant {
        let ns = self
            .timers
            .next()
            .unwrap_or_else(|| self.clock.next_deadline_ns());
        self.clock.at(ns)
    }

    /// When the next tick is due. A tick runs late by `now - next_tick_deadline()` when
    /// `handle_timeout(now)` runs it: the host measures tick lateness against this, since
    /// [`Server::poll_timeout`] may be an idle timeout instead.
    pub fn next_tick_deadline(&self) -> Instant {
        self.clock.at(self.clock.next_deadline_ns())
    }

    /// When tick `n` is (or was) due.
    pub fn tick_deadline(&self, n: u64) -> Instant {
        self.clock.at(self.clock.deadline_ns(n))
    }

    /// Runs what is due at `now`: client idle timeouts (BYE, slot freed), then the tick
    /// (stepping the game once per due tick, up to a few when behind), serializing the
    /// newest tick into the ring and queueing it for every client. Returns how many ticks
    /// were stepped.
    pub fn handle_timeout(&mut self, now: Instant) -> u32 {
        let now_ns = self.clock.since_ns(now);
        let mut stepped = 0;
        while let Some(t) = self.timers.pop_expired(now_ns) {
            match t {
                timer::IDLE => self.expire(now_ns / 1000),
                timer::UNACKED => self.expire_unacked(now_ns / 1000),
                _ => stepped += self.run_ticks(now_ns),
            }
        }
        stepped
    }

    fn run_ticks(&mut self, now_ns: u64) -> u32 {
        let Some(due) = self.clock.take_due(now_ns) else {
            self.timers.set(timer::TICK, self.clock.next_deadline_ns());
            return 0;
        };
        self.stats.ticks_skipped += due.skipped;
        let mut stepped = 0;
        for n in due.first..=due.last {
            self.game.step(n as u32);
            stepped += 1;
        }
        self.stats.ticks += stepped;
        self.timers.set(timer::TICK, self.clock.next_deadline_ns());
        self.broadcast(due.last as u32, now_ns / 1000);
        stepped as u32
    }

    /// Drops every client silent for longer than the timeout at `now_us`: the oldest
    /// touch is at the front of `idle`, so this stops at the first one still in time.
    fn expire(&mut self, now_us: u64) {
        while let Some((q, last)) = self.idle.oldest() {
            if now_us.saturating_sub(last) <= self.timeout_us {
                break;
            }
            let q = q as u8;
            log::info!(
                "client {} ({}) left: timed out",
                q,
                self.peers[q as usize].src()
            );
            self.stats.timeouts += 1;
            self.queue_bye(q, now_us);
            self.free(q);
        }
        self.rearm_idle();
    }

    /// Marks client `q` heard from at `now_us`. The idle timer is left where it is: a touch
    /// only makes the oldest client younger, so the timer can be early, never late (an
    /// early one finds nothing expired and moves on, see [`Server::expire`]).
    #[inline]
    fn touch_idle(&mut self, q: u8, now_us: u64) {
        self.idle.touch(q as usize, now_us);
        if self.timers.get(timer::IDLE).is_none() {
            self.rearm_idle();
        }
    }

    /// Sets the idle timer to the oldest client's timeout: the first instant at which
    /// `now - last > timeout`.
    #[inline]
    fn rearm_idle(&mut self) {
        match self.idle.oldest() {
            Some((_, last)) => {
                let us = last.saturating_add(self.timeout_us).saturating_add(1);
                self.timers.set(timer::IDLE, us.saturating_mul(1000));
            }
            None => self.timers.stop(timer::IDLE),
        }
    }

    /// Handles one datagram of the game protocol from `src`. Every outcome is counted; an
    /// `Err` names why it was dropped, and a dropped datagram changes nothing and sends
    /// nothing.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        src: SocketAddr,
        data: &[u8],
    ) -> Result<(), DropReason> {
        self.stats.datagrams_in += 1;
        self.stats.bytes_in += data.len() as u64;
        let r = self.dispatch(now, src, data);
        if let Err(d) = r {
            self.stats.drops.add(d);
            log::trace!("drop {} from {}: {}", data.len(), src, d);
        }
        r
    }

    /// Counts a drop decided outside the core (for example by the STUN or A2S path that
    /// shares this server's port), so one table holds every reason.
    pub fn count_drop(&mut self, d: DropReason) {
        self.stats.datagrams_in += 1;
        self.stats.drops.add(d);
    }

    #[inline]
    fn dispatch(&mut self, now: Instant, src: SocketAddr, data: &[u8]) -> Result<(), DropReason> {
        let game = &self.game;
        let p = Packet::new_checked(data, Direction::ToServer, |k| game.knows_kind(k))?;
        let kind = p.kind().ok_or(DropReason::UnknownKind)?;
        match kind {
            Kind::Hello => self.on_hello(now, src, &p),
            Kind::TokenHello => self.on_token_hello(now, src, &p),
            _ => self.on_connected(now, src, &p, kind),
        }
    }

    /// A datagram for a connected client: its peer's receive path, then what the kind
    /// means (BYE frees the slot, a game kind goes to the game).
    #[inline]
    fn on_connected(
        &mut self,
        now: Instant,
        src: SocketAddr,
        p: &Packet<&[u8]>,
        kind: Kind,
    ) -> Result<(), DropReason> {
        let q = p.qport();
        let peer = &self.peers[q as usize];
        if q == 0 || !peer.is_connected() {
            return Err(DropReason::UnknownQport);
        }
        if peer.src() != src {
            return Err(DropReason::WrongSource);
        }
        // Read once the datagram is this client's, early enough to overlap the checks.
        let now_us = self.time_us(now);
        let acked_before = peer.newest_ack();
        let game = &self.game;
        let shape_ok = |d: &[u8]| match kind {
            Kind::Keepalive | Kind::Bye => d.is_empty(),
            Kind::Game(k) => game.check_input(k, d),
            _ => false,
        };
        let peer = &mut self.peers[q as usize];
        let (r, plain_len) = match self.secure {
            None => (peer.receive(p, now_us, || shape_ok(p.payload())), None),
            Some(_) => {
                let header = p.header_bytes();
                match peer.receive_sealed(p, header, now_us, &mut self.scratch, shape_ok) {
                    Ok((gap, n)) => (Ok(gap), Some(n)),
                    Err(d) => (Err(d), None),
                }
            }
        };
        // The server's totals take the same loss bookkeeping as the peer's own counters.
        count_loss(&mut self.stats.lost, &mut self.stats.late, &r);
        r?;
        self.touch_idle(q, now_us);
        self.note_acks(q, acked_before, now_us);
        match kind {
            Kind::Bye => {
                log::info!("client {} ({}) left: BYE", q, src);
                self.stats.byes += 1;
                self.free(q);
            }
            Kind::Game(k) => {
                let (srtt_us, _) = self.peers[q as usize].rewind_parts();
                let mut cx = Context {
                    now_us,
                    newest_tick: self.newest_tick,
                    ring: &self.ring,
                    max_rewind_us: self.max_rewind_us,
                    tolerance_us: self.tolerance_us,
                    max_rtt_us: self.max_rewind_rtt_us,
                    rewinds_per_sec: self.cfg.rewinds_per_sec,
                    srtt_us,
                    player: q,
                    peers: &mut self.peers,
                    ip: src.ip(),
                    ips: &mut self.rewind_ips,
                    stats: &mut self.stats,
                    depth: &mut self.rewind_depth,
                    outbox: &mut self.outbox,
                    sent_to: [0; 4],
                    secure: plain_len.is_some(),
                };
                let payload = match plain_len {
                    Some(n) => &self.scratch[..n],
                    None => p.payload(),
                };
                self.game.input(&mut cx, q, k, payload);
                let sent_to = cx.sent_to;
                self.note_sent_to(sent_to, now_us);
            }
            _ => {}
        }
        Ok(())
    }

    fn free(&mut self, q: u8) {
        let (_, budget) = self.peers[q as usize].rewind_parts();
        if core::mem::take(&mut budget.joined) {
            let ip = self.peers[q as usize].src().ip();
            self.rewind_ips.leave(ip);
        }
        if let Some(i) = self.connected.iter().position(|&c| c == q) {
            self.connected.swap_remove(i);
        }
        self.peers[q as usize].free();
        self.idle.remove(q as usize);
        self.rearm_idle();
        self.unacked.remove(q as usize);
        self.rearm_unacked();
        self.game.disconnect(q);
    }

    /// Sends BYE to every client and frees every slot (server shutdown).
    pub fn shutdown(&mut self, now: Instant) {
        let now_us = self.time_us(now);
        while let Some(&q) = self.connected.last() {
            self.queue_bye(q, now_us);
            self.free(q);
        }
    }

    /// Disconnects one player (sends BYE). Returns whether it was connected.
    pub fn kick(&mut self, now: Instant, player: PlayerId) -> bool {
        if !self.peers[player as usize].is_connected() || player == 0 {
            return false;
        }
        let now_us = self.time_us(now);
        log::info!(
            "client {} ({}) left: kicked",
            player,
            self.peers[player as usize].src()
        );
        self.queue_bye(player, now_us);
        self.free(player);
        true
    }

    /// Sends client `q` BYE and frees its slot.
    pub(super) fn end_client(&mut self, q: u8, now_us: u64) {
        self.queue_bye(q, now_us);
        self.free(q);
    }

    /// Queues BYE to client `q` (in secure mode its empty plaintext sealed: a 16-byte
    /// tag); one that does not fit is counted under `OutboxFull`.
    fn queue_bye(&mut self, q: u8, now_us: u64) {
        let secure = self.secure.is_some();
        let peer = &mut self.peers[q as usize];
        let tag_len = if secure { crate::secure::TAG_LEN } else { 0 };
        let header = peer.next_header(q, Kind::Bye, now_us, tag_len);
        let t = Transmit::new(
            peer.reply(),
            &header,
            |b| {
                if !secure {
                    return Ok(0);
                }
                let mut aad = [0u8; crate::wire::HEADER_LEN];
                header.emit(&mut aad)?;
                let nonce = crate::secure::nonce_seq(crate::secure::Dir::ToClient, header.seq);
                let tag = peer.keys().s2c.seal(nonce, &aad, &mut []);
                crate::wire::room(b, tag.len())?.copy_from_slice(&tag);
                Ok(tag.len())
            },
            None,
        );
        self.push_or_count(t, 0);
    }

    /// Makes the next accepted client start at sequence number `s0` (tests of wraparound).
    #[doc(hidden)]
    pub fn force_next_start_seq(&mut self, s0: u32) {
        self.forced_s0 = Some(s0);
    }

    /// A hash of every client's protocol state (slots, addresses, sequence numbers, acks,
    /// timers, RTT); counters aside (a late datagram is dropped but moves loss to late).
    /// Tests and fuzzers compare it before and after a datagram that must change nothing.
    #[doc(hidden)]
    pub fn state_digest(&self) -> u64 {
        use core::hash::{Hash, Hasher};
        let mut h = siphasher::sip::SipHasher13::new();
        self.connected.as_slice().hash(&mut h);
        for &q in &self.connected {
            self.peers[q as usize].hash_state(&mut h);
            self.idle.touched_at(q as usize).hash(&mut h);
            self.unacked.touched_at(q as usize).hash(&mut h);
        }
        (
            self.clock.next_tick(),
            self.newest_tick,
            self.transmits().len(),
        )
            .hash(&mut h);
        for t in 0..timer::COUNT {
            self.timers.get(t).hash(&mut h);
        }
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::arena::Arena;
    use crate::wire::{flags, Challenge, Hello, HEADER_LEN, MAX_DATAGRAM};

    /// The idle timeout is a deadline of its own: `poll_timeout` is the earlier of it and
    /// the next tick, `next_tick_deadline` stays the tick's, and `handle_timeout` at the
    /// idle deadline drops the client (BYE) without running a tick.
    #[test]
    fn idle_deadline_before_the_next_tick() {
        let t0 = Instant::now();
        let cfg = Config {
            tick_hz: 1,
            timeout: Duration::from_millis(100),
            seed: Some(1),
            ..Config::default()
        };
        let mut s = Server::new(cfg, Arena::new(1), t0);
        assert_eq!(s.handle_timeout(t0), 1);
        let src: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        s.handle_datagram(t0, src, &Hello::test_datagram(0))
            .unwrap();
        let mut out = [0u8; MAX_DATAGRAM];
        let n = s.write_transmit(&s.transmits()[0], &mut out).unwrap();
        let cookie = Challenge::parse(&out[HEADER_LEN..n]).unwrap().cookie;
        assert!(s
            .write_transmit(&s.transmits()[0], &mut out[..n - 1])
            .is_err());
        s.sent(1);
        s.handle_datagram(t0, src, &Hello::test_datagram(cookie))
            .unwrap();
        s.sent(usize::MAX);
        assert_eq!(s.client_count(), 1);
        let idle = t0 + Duration::from_micros(100_001);
        assert_eq!(s.poll_timeout(), idle);
        assert_eq!(s.next_tick_deadline(), t0 + Duration::from_secs(1));
        assert_eq!(s.handle_timeout(idle - Duration::from_micros(1)), 0);
        assert_eq!(s.client_count(), 1, "not before the timeout");
        assert_eq!(s.handle_timeout(idle), 0, "no tick is due");
        assert_eq!(s.client_count(), 0);
        assert_eq!(s.stats().timeouts, 1);
        let bye = s.transmits()[0].head();
        assert_eq!(
            (bye[0], bye[10]),
            (flags::DISCONNECT | flags::SEQ, Kind::Bye.to_u8())
        );
        assert_eq!(s.poll_timeout(), s.next_tick_deadline());
    }
}
