//! The sans-IO server core.
//!
//! [`Server`] never touches a socket and never reads the clock: every entry point takes
//! `now`, and every datagram it wants sent is queued as a [`Transmit`] that the caller
//! drains with [`Server::transmits`] and [`Server::sent`] (the drive contract is written on
//! [`Server`]). All memory (client
//! slots, the snapshot ring, the transmit queue) is allocated in [`Server::new`]; handling
//! a datagram or running a tick allocates nothing.

mod game;
mod peer;
mod ring;

pub use crate::wire::SEQ_WINDOW;
pub use game::{is_game_kind, Context, Game, Past, PlayerId, RewindError, RewindStats};
pub use peer::PeerStats;
pub use ring::{SnapshotFull, SnapshotWriter, MAX_PARTS, MAX_PART_BODY};

use crate::cookie::CookieKey;
use crate::tickets::{Name, Tickets};
use crate::wire::{
    flags, Accept, Challenge, Direction, DropReason, Header, Hello, Kind, Packet, Reject,
    RejectReason, SnapshotPrefix, HEADER_LEN, MAX_PAYLOAD,
};
use crate::wire::{SeqVerdict, SeqWindow};
use arrayvec::ArrayVec;
use core::net::SocketAddr;
use core::time::Duration;
use peer::Peer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ring::Ring;
use std::time::Instant;

/// Ticks in the snapshot ring: one second at 60 Hz.
pub const RING_LEN: usize = 60;

/// Most clients one server holds (qports 1..=255).
pub const MAX_CLIENTS: usize = 255;

/// Longest head of a queued datagram (header plus ACCEPT, or header plus snapshot prefix).
pub const MAX_HEAD: usize = 32;

/// Most ticks stepped in one call when the caller fell behind; beyond, ticks are skipped.
const MAX_CATCH_UP: u64 = 6;

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Tick rate in Hz (60).
    pub tick_hz: u16,
    /// Most clients at once, 1..=255 (255).
    pub max_clients: u8,
    /// A client heard nothing valid from for this long is dropped and sent BYE (5 s).
    pub timeout: Duration,
    /// The application's protocol id; HELLOs with another one are dropped (0).
    pub protocol_id: u32,
    /// Only admit HELLOs with an unused lobby ticket (see [`Server::set_tickets`]).
    pub require_ticket: bool,
    /// Shots naming a tick older than this are refused (1 s).
    pub max_rewind: Duration,
    /// How far the age of a shot's tick may be from the shooter's RTT (200 ms).
    pub rewind_tolerance: Duration,
    /// Rewinds granted per player per second (30).
    pub rewinds_per_sec: u32,
    /// Bytes reserved for each snapshot in the ring (16 KiB).
    pub snapshot_capacity: usize,
    /// Seed for qports, start sequence numbers and the cookie key; `None` draws one from
    /// the operating system. Tests set it.
    pub seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            tick_hz: 60,
            max_clients: 255,
            timeout: Duration::from_secs(5),
            protocol_id: 0,
            require_ticket: false,
            max_rewind: Duration::from_secs(1),
            rewind_tolerance: Duration::from_millis(200),
            rewinds_per_sec: 30,
            snapshot_capacity: 16 * 1024,
            seed: None,
        }
    }
}

/// A datagram the server wants sent: a head in place, and maybe a snapshot part body that
/// stays in the ring (see [`Server::body`]), so that body is never copied per client.
#[derive(Debug, Clone, Copy)]
pub struct Transmit {
    /// Destination.
    pub dst: SocketAddr,
    head: [u8; MAX_HEAD],
    head_len: u8,
    body: Option<(u8, u8)>,
}

impl Transmit {
    /// The bytes before the body: header, then the message or the snapshot prefix.
    pub fn head(&self) -> &[u8] {
        &self.head[..self.head_len as usize]
    }
}

/// Counters of one server.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Game datagrams received (valid or not).
    pub datagrams_in: u64,
    /// Their bytes.
    pub bytes_in: u64,
    /// Datagrams queued for sending.
    pub datagrams_out: u64,
    /// Their bytes.
    pub bytes_out: u64,
    /// Drops by [`DropReason`] reason, indexed by `DropReason as usize`.
    pub drops: [u64; DropReason::COUNT],
    /// CHALLENGEs sent.
    pub challenges: u64,
    /// Clients accepted.
    pub accepts: u64,
    /// ACCEPTs sent again to a client whose first one was lost.
    pub accept_resends: u64,
    /// REJECTs for a full server.
    pub rejects_full: u64,
    /// REJECTs for a bad or used ticket.
    pub rejects_ticket: u64,
    /// Clients dropped for silence.
    pub timeouts: u64,
    /// Clients that said BYE.
    pub byes: u64,
    /// Sequence numbers skipped by clients and never seen since (loss).
    pub lost: u64,
    /// Client datagrams that arrived after a newer one (reordered: dropped, not lost).
    pub late: u64,
    /// Ticks run.
    pub ticks: u64,
    /// Ticks skipped because the caller fell far behind.
    pub ticks_skipped: u64,
    /// Ticks whose snapshot did not fit its ring slot.
    pub snapshot_overflows: u64,
    /// Rewind outcomes.
    pub rewinds: RewindStats,
}

impl Stats {
    /// Adds another server's counters to these (for totals over several matches).
    pub fn merge(&mut self, o: &Stats) {
        self.datagrams_in += o.datagrams_in;
        self.bytes_in += o.bytes_in;
        self.datagrams_out += o.datagrams_out;
        self.bytes_out += o.bytes_out;
        for (a, b) in self.drops.iter_mut().zip(o.drops.iter()) {
            *a += b;
        }
        self.challenges += o.challenges;
        self.accepts += o.accepts;
        self.accept_resends += o.accept_resends;
        self.rejects_full += o.rejects_full;
        self.rejects_ticket += o.rejects_ticket;
        self.timeouts += o.timeouts;
        self.byes += o.byes;
        self.lost += o.lost;
        self.late += o.late;
        self.ticks += o.ticks;
        self.ticks_skipped += o.ticks_skipped;
        self.snapshot_overflows += o.snapshot_overflows;
        self.rewinds.ok += o.rewinds.ok;
        for (a, b) in self
            .rewinds
            .refused
            .iter_mut()
            .zip(o.rewinds.refused.iter())
        {
            *a += b;
        }
    }

    /// Total drops over all reasons.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().sum()
    }
    /// Drops for one reason.
    pub fn drop_count(&self, d: DropReason) -> u64 {
        self.drops[d as usize]
    }
}

/// A connected player, as reported by [`Server::players`].
#[derive(Debug, Clone, Copy)]
pub struct PlayerInfo {
    /// Its id (qport).
    pub id: PlayerId,
    /// The lobby name, if it came with a ticket.
    pub name: Option<Name>,
    /// Where its datagrams come from.
    pub addr: SocketAddr,
    /// How long it has been connected.
    pub connected_for: Duration,
    /// Smoothed round-trip time, once measured.
    pub rtt: Option<Duration>,
    /// Newest sequence number received from it (its start sequence until it sends).
    pub newest_seq: u32,
    /// Its counters.
    pub stats: PeerStats,
}

/// The game server core: slots, handshake, sequence windows, the tick clock and the
/// snapshot ring around a [`Game`].
pub struct Server<G> {
    cfg: Config,
    tickets: Option<Tickets>,
    game: G,
    epoch: Instant,
    /// Number of the next tick to run; tick `n` is due at `epoch + n * period`.
    next_tick: u64,
    newest_tick: Option<u32>,
    peers: Box<[Peer]>,
    connected: ArrayVec<u8, MAX_CLIENTS>,
    ring: Ring,
    outbox: Vec<Transmit>,
    /// How many transmits at the front of `outbox` the caller has sent already.
    outbox_sent: usize,
    key: CookieKey,
    rng: StdRng,
    stats: Stats,
    rewind_depth: hdrhistogram::Histogram<u64>,
    forced_s0: Option<u32>,
}

fn secs_to_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl<G: Game> Server<G> {
    /// A server whose clock starts at `now` (tick 0 is due at once).
    pub fn new(mut cfg: Config, game: G, now: Instant) -> Server<G> {
        cfg.tick_hz = cfg.tick_hz.max(1);
        cfg.max_clients = cfg.max_clients.max(1);
        let mut rng = match cfg.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        let key = CookieKey::new(rng.gen(), rng.gen());
        let outbox_cap = MAX_CLIENTS * (MAX_PARTS + 2) + 256;
        // Touch every page of the transmit queue now, not on the first busy ticks.
        let mut outbox = Vec::with_capacity(outbox_cap);
        let blank = Transmit {
            dst: SocketAddr::from(([0, 0, 0, 0], 0)),
            head: [0; MAX_HEAD],
            head_len: 0,
            body: None,
        };
        outbox.resize(outbox_cap, blank);
        outbox.clear();
        Server {
            ring: Ring::new(RING_LEN, cfg.snapshot_capacity),
            cfg,
            tickets: None,
            game,
            epoch: now,
            next_tick: 0,
            newest_tick: None,
            peers: (0..=MAX_CLIENTS).map(|_| Peer::empty()).collect(),
            connected: ArrayVec::new(),
            outbox,
            outbox_sent: 0,
            key,
            rng,
            stats: Stats::default(),
            rewind_depth: hdrhistogram::Histogram::new_with_bounds(1, 3600, 2)
                .expect("static histogram bounds are valid"),
            forced_s0: None,
        }
    }

    /// Connects the lobby's ticket table: HELLO tickets are redeemed from it.
    pub fn set_tickets(&mut self, tickets: Tickets) {
        self.tickets = Some(tickets);
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

    /// Histogram of rewind depth in ticks.
    pub fn rewind_depth(&self) -> &hdrhistogram::Histogram<u64> {
        &self.rewind_depth
    }

    /// When the server started.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Server time at `now`, microseconds since the server started.
    pub fn time_us(&self, now: Instant) -> u64 {
        secs_to_us(now.saturating_duration_since(self.epoch))
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
        self.connected.iter().map(move |&q| {
            let p = &self.peers[q as usize];
            PlayerInfo {
                id: q,
                name: p.name,
                addr: p.src,
                connected_for: Duration::from_micros(now_us.saturating_sub(p.connected_at_us)),
                rtt: p.srtt_us.map(Duration::from_micros),
                newest_seq: p.window.newest(),
                stats: p.stats,
            }
        })
    }

    fn deadline_ns(&self, tick: u64) -> u64 {
        // u128 keeps `n * 1e9 / hz` exact however long the server runs.
        let ns = u128::from(tick) * 1_000_000_000 / u128::from(self.cfg.tick_hz);
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// When the next tick is due: wake up then and call [`Server::handle_timeout`].
    pub fn poll_timeout(&self) -> Instant {
        self.epoch + Duration::from_nanos(self.deadline_ns(self.next_tick))
    }

    /// When tick `n` is (or was) due.
    pub fn tick_deadline(&self, n: u64) -> Instant {
        self.epoch + Duration::from_nanos(self.deadline_ns(n))
    }

    /// Runs what is due at `now`: client timeouts, then the tick (stepping the game once per
    /// due tick, up to a few when behind), serializing the newest tick into the ring and
    /// queueing it for every client. Returns how many ticks were stepped.
    pub fn handle_timeout(&mut self, now: Instant) -> u32 {
        let now_ns =
            u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
        if self.deadline_ns(self.next_tick) > now_ns {
            return 0;
        }
        let now_us = now_ns / 1000;
        self.expire(now_us);
        // The newest due tick: the largest n with floor(n * 1e9 / hz) <= now.
        let hz = u128::from(self.cfg.tick_hz);
        let due = u64::try_from(((u128::from(now_ns) + 1) * hz - 1) / 1_000_000_000)
            .unwrap_or(u64::MAX)
            .max(self.next_tick);
        let first = if due - self.next_tick >= MAX_CATCH_UP {
            self.stats.ticks_skipped += due - self.next_tick + 1 - MAX_CATCH_UP;
            due + 1 - MAX_CATCH_UP
        } else {
            self.next_tick
        };
        let mut stepped = 0;
        for n in first..=due {
            self.game.step(n as u32);
            stepped += 1;
        }
        self.stats.ticks += stepped;
        self.next_tick = due + 1;
        self.broadcast(due as u32, self.deadline_ns(due) / 1000);
        stepped as u32
    }

    fn expire(&mut self, now_us: u64) {
        let timeout = secs_to_us(self.cfg.timeout);
        let mut i = 0;
        while i < self.connected.len() {
            let q = self.connected[i];
            if now_us.saturating_sub(self.peers[q as usize].last_recv_us) > timeout {
                log::info!("client {} ({}) timed out", q, self.peers[q as usize].src);
                self.stats.timeouts += 1;
                self.queue_bye(q, now_us);
                self.free(q);
            } else {
                i += 1;
            }
        }
    }

    fn broadcast(&mut self, tick: u32, time_us: u64) {
        let mut w = self.ring.writer(tick, time_us);
        self.game.snapshot(&mut w);
        let (parts, overflow) = w.finish();
        if overflow {
            self.stats.snapshot_overflows += 1;
        }
        self.newest_tick = Some(tick);
        let slot_index = self.ring.index(tick);
        let slot = self.ring.slot(tick);
        let body_lens: ArrayVec<usize, MAX_PARTS> =
            (0..parts).map(|i| slot.part(i).len()).collect();
        for i in 0..self.connected.len() {
            let q = self.connected[i];
            for (part, &body_len) in body_lens.iter().enumerate() {
                let peer = &mut self.peers[q as usize];
                let seq = peer.next_seq(time_us);
                let mut head = [0u8; MAX_HEAD];
                let _ = Header {
                    flags: Kind::Snapshot.send_flags(peer.received_any),
                    seq,
                    ack: peer.window.newest(),
                    qport: q,
                    kind: Kind::Snapshot.to_u8(),
                    len: (SnapshotPrefix::LEN + body_len) as u16,
                }
                .emit(&mut head);
                SnapshotPrefix {
                    tick,
                    time_us,
                    part: part as u8,
                    parts: parts as u8,
                }
                .emit(&mut head[HEADER_LEN..]);
                let t = Transmit {
                    dst: peer.reply,
                    head,
                    head_len: (HEADER_LEN + SnapshotPrefix::LEN) as u8,
                    body: Some((slot_index as u8, part as u8)),
                };
                self.push(t, body_len);
            }
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
            self.stats.drops[d as usize] += 1;
            log::trace!("drop {} from {}: {}", data.len(), src, d);
        }
        r
    }

    /// Counts a drop decided outside the core (for example by the STUN or A2S path that
    /// shares this server's port), so one table holds every reason.
    pub fn count_drop(&mut self, d: DropReason) {
        self.stats.datagrams_in += 1;
        self.stats.drops[d as usize] += 1;
    }

    fn dispatch(&mut self, now: Instant, src: SocketAddr, data: &[u8]) -> Result<(), DropReason> {
        let game = &self.game;
        let p = Packet::new_checked(data, Direction::ToServer, |k| game.knows_kind(k))?;
        let kind = p.kind().ok_or(DropReason::UnknownKind)?;
        let now_us = self.time_us(now);
        match kind {
            Kind::Hello => self.on_hello(now_us, src, &p),
            _ => self.on_connected(now_us, src, &p, kind),
        }
    }

    fn on_hello(
        &mut self,
        now_us: u64,
        src: SocketAddr,
        p: &Packet<&[u8]>,
    ) -> Result<(), DropReason> {
        // HELLO carries neither SEQ nor ACK, so those fields mean nothing and are ignored.
        if p.qport() != 0 {
            return Err(DropReason::BadQport);
        }
        let hello = Hello::parse(p.payload())?;
        if hello.protocol_id != self.cfg.protocol_id {
            return Err(DropReason::ProtocolId);
        }
        let reply = hello.reply.unwrap_or(src);
        if reply.is_ipv4() != src.is_ipv4() {
            // The socket that received this cannot send to the other family.
            return Err(DropReason::BadReplyAddr);
        }
        let pid = self.cfg.protocol_id;
        if !self.key.check(&src, &reply, pid, now_us, hello.cookie) {
            let cookie = self.key.issue(&src, &reply, pid, now_us);
            let mut head = [0u8; MAX_HEAD];
            Challenge { cookie }.emit(&mut head[HEADER_LEN..]);
            self.queue_control(reply, &mut head, Kind::Challenge, 0, 0, 0, Challenge::LEN)?;
            self.stats.challenges += 1;
            return Ok(());
        }
        // A connected client whose ACCEPT was lost gets the same ACCEPT again.
        if let Some(&q) = self
            .connected
            .iter()
            .find(|&&q| self.peers[q as usize].src == src)
        {
            self.queue_accept(q)?;
            self.stats.accept_resends += 1;
            return Ok(());
        }
        if self.connected.len() >= self.cfg.max_clients as usize {
            self.queue_reject(reply, RejectReason::Full)?;
            self.stats.rejects_full += 1;
            return Ok(());
        }
        let holder = match &self.tickets {
            Some(t) if hello.ticket != 0 => t.redeem(hello.ticket),
            _ => None,
        };
        if self.cfg.require_ticket && holder.is_none() {
            self.queue_reject(reply, RejectReason::BadTicket)?;
            self.stats.rejects_ticket += 1;
            return Ok(());
        }
        let q = self.free_qport();
        let s0: u32 = self.forced_s0.take().unwrap_or_else(|| self.rng.gen());
        let tick = self.newest_tick.unwrap_or(0);
        let peer = &mut self.peers[q as usize];
        *peer = Peer::empty();
        peer.connected = true;
        peer.src = src;
        peer.reply = reply;
        peer.s0 = s0;
        peer.send_seq = s0;
        peer.window = SeqWindow::new(s0);
        peer.last_recv_us = now_us;
        peer.connected_at_us = now_us;
        peer.accept_tick = tick;
        peer.accept_time_us = now_us;
        peer.name = holder.map(|h| h.name);
        self.connected.push(q);
        self.stats.accepts += 1;
        log::debug!(
            "client {} connected from {} (reply {}){}",
            q,
            src,
            reply,
            holder
                .map(|h| format!(" as {}", h.name))
                .unwrap_or_default()
        );
        self.game
            .connect(q, holder.as_ref().map(|h| h.name.as_str()));
        self.queue_accept(q)
    }

    fn free_qport(&mut self) -> u8 {
        let start: u8 = self.rng.gen_range(1..=255);
        let mut q = start;
        loop {
            if !self.peers[q as usize].connected {
                return q;
            }
            q = if q == 255 { 1 } else { q + 1 };
            if q == start {
                // Unreachable while connected.len() < max_clients <= 255.
                return q;
            }
        }
    }

    fn on_connected(
        &mut self,
        now_us: u64,
        src: SocketAddr,
        p: &Packet<&[u8]>,
        kind: Kind,
    ) -> Result<(), DropReason> {
        let q = p.qport();
        let peer = &self.peers[q as usize];
        if q == 0 || !peer.connected {
            return Err(DropReason::UnknownQport);
        }
        if peer.src != src {
            return Err(DropReason::WrongSource);
        }
        let shape_ok = match kind {
            Kind::Keepalive | Kind::Bye => p.is_empty(),
            Kind::Game(k) => self.game.check_input(k, p.payload()),
            _ => false,
        };
        if !shape_ok {
            return Err(DropReason::BadPayload);
        }
        if p.has(flags::ACK) && !peer.ack_valid(p.ack()) {
            return Err(DropReason::BadAck);
        }
        let gap = match peer.window.check(p.seq()) {
            SeqVerdict::Accept { gap } => gap,
            verdict => {
                let peer = &mut self.peers[q as usize];
                peer.stats.out_of_window += 1;
                if verdict == SeqVerdict::Late {
                    // Counted lost when a newer one opened the gap: it was late, not lost.
                    // Only counters and the late mark change; the window stays where it is.
                    peer.window.record(p.seq());
                    peer.stats.lost = peer.stats.lost.saturating_sub(1);
                    peer.stats.late += 1;
                    self.stats.lost = self.stats.lost.saturating_sub(1);
                    self.stats.late += 1;
                }
                return Err(match verdict {
                    SeqVerdict::Duplicate => DropReason::Duplicate,
                    SeqVerdict::Late => DropReason::Late,
                    SeqVerdict::Old => DropReason::Old,
                    _ => DropReason::FarAhead,
                });
            }
        };
        let peer = &mut self.peers[q as usize];
        peer.window.record(p.seq());
        peer.received_any = true;
        peer.last_recv_us = now_us;
        peer.stats.received += 1;
        peer.stats.lost += u64::from(gap);
        self.stats.lost += u64::from(gap);
        if p.has(flags::ACK) {
            peer.on_ack(p.ack(), now_us);
        }
        match kind {
            Kind::Bye => {
                log::debug!("client {} ({}) said BYE", q, src);
                self.stats.byes += 1;
                self.free(q);
            }
            Kind::Game(k) => {
                let peer = &mut self.peers[q as usize];
                let mut cx = Context {
                    now_us,
                    newest_tick: self.newest_tick,
                    ring: &self.ring,
                    max_rewind_us: secs_to_us(self.cfg.max_rewind),
                    tolerance_us: secs_to_us(self.cfg.rewind_tolerance),
                    rewinds_per_sec: self.cfg.rewinds_per_sec,
                    srtt_us: peer.srtt_us,
                    budget: &mut peer.budget,
                    stats: &mut self.stats.rewinds,
                    depth: &mut self.rewind_depth,
                };
                self.game.input(&mut cx, q, k, p.payload());
            }
            _ => {}
        }
        Ok(())
    }

    fn free(&mut self, q: u8) {
        if let Some(i) = self.connected.iter().position(|&c| c == q) {
            self.connected.swap_remove(i);
        }
        self.peers[q as usize].connected = false;
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
        if !self.peers[player as usize].connected || player == 0 {
            return false;
        }
        let now_us = self.time_us(now);
        self.queue_bye(player, now_us);
        self.free(player);
        true
    }

    fn queue_bye(&mut self, q: u8, now_us: u64) {
        let peer = &mut self.peers[q as usize];
        let seq = peer.next_seq(now_us);
        let dst = peer.reply;
        let mut head = [0u8; MAX_HEAD];
        let _ = self.queue_control(dst, &mut head, Kind::Bye, seq, 0, q, 0);
    }

    fn queue_accept(&mut self, q: u8) -> Result<(), DropReason> {
        let peer = &self.peers[q as usize];
        let (dst, s0) = (peer.reply, peer.s0);
        let mut head = [0u8; MAX_HEAD];
        Accept {
            tick_hz: self.cfg.tick_hz,
            max_payload: MAX_PAYLOAD as u16,
            tick: peer.accept_tick,
            time_us: peer.accept_time_us,
        }
        .emit(&mut head[HEADER_LEN..]);
        // PROTOCOL.md section 2: ACCEPT carries seq = S0 and ack = 1.
        self.queue_control(dst, &mut head, Kind::Accept, s0, 1, q, Accept::LEN)
    }

    fn queue_reject(&mut self, dst: SocketAddr, reason: RejectReason) -> Result<(), DropReason> {
        let mut head = [0u8; MAX_HEAD];
        Reject { reason }.emit(&mut head[HEADER_LEN..]);
        self.queue_control(dst, &mut head, Kind::Reject, 0, 0, 0, Reject::LEN)
    }

    #[allow(clippy::too_many_arguments)]
    fn queue_control(
        &mut self,
        dst: SocketAddr,
        head: &mut [u8; MAX_HEAD],
        kind: Kind,
        seq: u32,
        ack: u32,
        qport: u8,
        len: usize,
    ) -> Result<(), DropReason> {
        if self.outbox.len() == self.outbox.capacity() {
            return Err(DropReason::OutboxFull);
        }
        let _ = Header {
            flags: kind.send_flags(kind == Kind::Accept),
            seq,
            ack,
            qport,
            kind: kind.to_u8(),
            len: len as u16,
        }
        .emit(head);
        let t = Transmit {
            dst,
            head: *head,
            head_len: (HEADER_LEN + len) as u8,
            body: None,
        };
        self.push(t, 0);
        Ok(())
    }

    fn push(&mut self, t: Transmit, body_len: usize) {
        if self.outbox.len() == self.outbox.capacity() {
            self.stats.drops[DropReason::OutboxFull as usize] += 1;
            return;
        }
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += (t.head_len as usize + body_len) as u64;
        self.outbox.push(t);
    }

    /// The queued datagrams not yet reported sent, oldest first. Send each as `head()`
    /// followed by [`Server::body`], then report how many (from the front) with
    /// [`Server::sent`].
    pub fn transmits(&self) -> &[Transmit] {
        &self.outbox[self.outbox_sent..]
    }

    /// Reports that the first `n` of [`Server::transmits`] were sent (or given up on): the
    /// server forgets them, and the rest stay queued. `n` larger than what is queued
    /// forgets everything.
    pub fn sent(&mut self, n: usize) {
        self.outbox_sent = self.outbox_sent.saturating_add(n).min(self.outbox.len());
        if self.outbox_sent == self.outbox.len() {
            self.outbox.clear();
            self.outbox_sent = 0;
        }
    }

    /// The snapshot part a transmit carries after its head (empty for control messages).
    pub fn body(&self, t: &Transmit) -> &[u8] {
        match t.body {
            Some((slot, part)) => self
                .ring
                .at(slot as usize)
                .map_or(&[][..], |s| s.part(part as usize)),
            None => &[],
        }
    }

    /// Makes the next accepted client start at sequence number `s0` (tests of wraparound).
    #[doc(hidden)]
    pub fn force_next_start_seq(&mut self, s0: u32) {
        self.forced_s0 = Some(s0);
    }

    /// A hash of every client's protocol state (slots, addresses, sequence numbers, acks,
    /// timers, RTT); counters aside (a late datagram is dropped but moves loss to late). Tests and fuzzers compare it before and after a datagram that must
    /// change nothing.
    #[doc(hidden)]
    pub fn state_digest(&self) -> u64 {
        use core::hash::{Hash, Hasher};
        let mut h = siphasher::sip::SipHasher13::new();
        self.connected.as_slice().hash(&mut h);
        for &q in &self.connected {
            let p = &self.peers[q as usize];
            (
                p.src,
                p.reply,
                p.s0,
                p.send_seq,
                p.window.newest(),
                p.received_any,
            )
                .hash(&mut h);
            (p.last_recv_us, p.acked, p.acked_any, p.srtt_us, p.rttvar_us).hash(&mut h);
            (p.budget.used, p.budget.window_start_us, p.stats.received).hash(&mut h);
        }
        (self.next_tick, self.newest_tick, self.transmits().len()).hash(&mut h);
        h.finish()
    }
}

#[cfg(test)]
mod tests;
