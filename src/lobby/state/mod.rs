//! The sans-IO lobby core: connections, sessions, users and rooms.
//!
//! [`LobbyCore`] never touches a socket and never reads the clock: the shell feeds it
//! bytes ([`LobbyCore::recv_space`], [`LobbyCore::received`]), takes bytes out
//! ([`LobbyCore::send_data`], [`LobbyCore::sent`]) and passes `now` in. Each connection
//! carries an opaque `T` (the shell's socket; `()` in tests) so that one slab holds it all.
//!
//! Drive contract (the shell in `conn.rs` follows it): after every event, write out each
//! connection [`LobbyCore::pop_dirty`] names, then flush (if the reason says so) and
//! [`LobbyCore::remove`] each one [`LobbyCore::pop_closing`] names; wake at
//! [`LobbyCore::next_timeout`] and call [`LobbyCore::handle_timeout`].
//!
//! The requests themselves are in `requests.rs` (one method each), room membership and
//! fan-out in `rooms.rs`, the two deadlines of every connection in `deadlines.rs`, the
//! room games (TABLE_OPEN, BET, CHIPS and the games' deadlines) in `games.rs`.

mod budget;
mod deadlines;
mod games;
mod requests;
mod rooms;

use super::frame::{self, MAX_FRAME};
use super::game::{RoomGame, STARTING_CHIPS};
use super::msg::{id, ErrorCode, Format, Full, Message, Request, Title};
use super::name::{self, NameKey};
use super::pool::Pool;
use super::ring::Ring;
use super::{LobbyConfig, LobbyStats};
use crate::secure::UnixClock;
use crate::tickets::{Name, Tickets};
use budget::{Budget, Rate};
use deadlines::Deadlines;
use log::{info, warn};
use rand::rngs::StdRng;
use slab::Slab;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `max_conns` connections are open.
    TooManyConns,
    /// `max_conns_per_ip` connections are open from this address.
    TooManyFromIp,
    /// As many connections not logged in are open as `unauthenticated_share` allows, and
    /// none has been open long enough to be shed.
    TooManyUnauthenticated,
}

/// Why a connection is being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed its side.
    PeerClosed,
    /// Reading or writing the socket failed.
    Io,
    /// The peer sent bad input; ERROR was queued.
    BadInput(ErrorCode),
    /// Its send buffer would have overflowed: it reads too slowly.
    SlowReader,
    /// No complete frame for `idle_timeout`.
    Idle,
    /// A started frame was not completed within `frame_deadline`.
    FrameDeadline,
    /// Not logged in within `login_deadline` of being accepted.
    LoginDeadline,
    /// The lobby is shutting down.
    Shutdown,
    /// TLS failed: rustls refused what the peer sent (a failed handshake, bytes that are
    /// not TLS, a bad record). Only its alert is sent.
    Tls,
}

impl CloseReason {
    /// Whether what is queued for the peer is still worth sending.
    pub fn flush(self) -> bool {
        !matches!(self, CloseReason::SlowReader | CloseReason::Io)
    }
}

#[derive(Debug)]
struct User {
    id: u32,
    name: Name,
    ticket: u64,
    room: Option<u32>,
    /// What it may still send of the requests that reach others (chat, whisper, invite,
    /// room enter and leave).
    budget: Budget,
    /// Chips for room games: [`STARTING_CHIPS`] at login.
    chips: u32,
}

#[derive(Debug)]
struct Conn<T> {
    io: T,
    ip: IpAddr,
    rx: Ring,
    tx: Ring,
    user: Option<User>,
    closing: Option<CloseReason>,
    dirty: bool,
    /// The connection speaks TLS (its bytes reach the core decrypted): only such a
    /// connection is given connect tokens.
    tls: bool,
    /// The body format of everything sent to it: the type of the last frame it sent whose
    /// header passed the size and type checks (plain until then).
    format: Format,
}

/// What the lobby keeps per source address.
#[derive(Debug, Default)]
struct PerIp {
    /// Open connections from it.
    conns: usize,
    /// The emptiest budget of a user who logged out from it.
    left: Option<Budget>,
}

#[derive(Debug)]
struct Room {
    title: Title,
    max: u8,
    members: Vec<usize>,
    /// The room's game, once TABLE_OPEN_REQ opened one.
    table: Option<Table>,
}

/// A room's game and its deadline (also filed in [`LobbyCore::game_deadlines`]).
struct Table {
    /// The game; `None` only while it is lent out to run.
    game: Option<Box<dyn RoomGame>>,
    deadline: Option<Instant>,
}

impl core::fmt::Debug for Table {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Table")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// The lobby's state machine. See the module docs.
#[derive(Debug)]
pub struct LobbyCore<T> {
    cfg: LobbyConfig,
    /// Every user's send budget, from `cfg`.
    rate: Rate,
    tickets: Tickets,
    conns: Slab<Conn<T>>,
    /// Per source address: open connections, and the emptiest send budget of the users
    /// who logged out from it, which the next login from there inherits. Entries with no
    /// connection are kept while that budget may be in debt, swept when the map reaches
    /// [`LobbyCore::per_ip_cap`].
    per_ip: HashMap<IpAddr, PerIp>,
    /// Logged-in users by the key of their name (one key each: bounded by `max_conns`).
    users: HashMap<NameKey, usize>,
    rooms: BTreeMap<u32, Room>,
    next_user: u32,
    next_room: u32,
    dirty: VecDeque<usize>,
    closing: Vec<usize>,
    deadlines: Deadlines,
    /// How many connections not logged in may be open at once.
    max_unauthenticated: usize,
    /// The socket of the connection the last [`LobbyCore::open`] shed, for the shell to
    /// close ([`LobbyCore::take_shed`]). One at most: an untaken one is dropped by the next.
    shed: Option<T>,
    /// Scratch list of the connections [`LobbyCore::handle_timeout`] closes.
    expired: Vec<(usize, CloseReason)>,
    scratch: Box<[u8]>,
    out: Box<[u8]>,
    /// The storage of every connection's rings, lent while they hold bytes.
    pool: Pool,
    stats: LobbyStats,
    /// Unix time for the tokens' expiry (injected in tests).
    clock: UnixClock,
    /// Logged-in users by user id (for the room games' context).
    by_user: HashMap<u32, usize>,
    /// Every room game's deadline, earliest first.
    game_deadlines: BTreeSet<(Instant, u32)>,
    /// Scratch list of the rooms whose game is due in [`LobbyCore::handle_timeout`].
    due_rooms: Vec<u32>,
    /// Draws each new table's seed ([`LobbyCore::set_game_seed`]; OS entropy by default).
    game_rng: StdRng,
    /// The latest `now` the core was given: the time a game hears of a member leaving
    /// (`remove` takes none).
    last_now: Option<Instant>,
}

impl<T> LobbyCore<T> {
    /// An empty lobby. Memory for `cfg.max_conns` connections' slab entries is reserved
    /// now; a connection's buffers are lent from the pool only while they hold bytes.
    pub fn new(cfg: LobbyConfig, tickets: Tickets) -> LobbyCore<T> {
        let cfg = cfg.sanitized();
        LobbyCore {
            conns: Slab::with_capacity(cfg.max_conns),
            per_ip: HashMap::with_capacity(2 * cfg.max_conns),
            users: HashMap::with_capacity(cfg.max_conns),
            rooms: BTreeMap::new(),
            next_user: 1,
            next_room: 1,
            dirty: VecDeque::with_capacity(cfg.max_conns),
            closing: Vec::with_capacity(cfg.max_conns),
            deadlines: Deadlines::new(
                cfg.max_conns,
                cfg.idle_timeout,
                cfg.frame_deadline,
                cfg.login_deadline,
            ),
            max_unauthenticated: cfg.max_unauthenticated(),
            shed: None,
            expired: Vec::with_capacity(cfg.max_conns),
            scratch: vec![0; MAX_FRAME].into_boxed_slice(),
            out: vec![0; MAX_FRAME].into_boxed_slice(),
            pool: Pool::new(cfg.recv_buffer_bytes, cfg.send_buffer_bytes),
            stats: LobbyStats::default(),
            clock: UnixClock::system(),
            by_user: HashMap::with_capacity(cfg.max_conns),
            game_deadlines: BTreeSet::new(),
            due_rooms: Vec::with_capacity(cfg.max_rooms),
            game_rng: crate::seed::rng(None),
            last_now: None,
            rate: Rate::new(cfg.user_msgs_per_sec, cfg.user_msg_burst),
            cfg,
            tickets,
        }
    }

    /// The configuration in force (after [`LobbyConfig::sanitized`]).
    pub fn config(&self) -> &LobbyConfig {
        &self.cfg
    }

    /// Sets the unix clock the expiry of connect tokens is computed on (by default the
    /// system clock, read once when the core was made): tests inject time here.
    pub fn set_unix_clock(&mut self, clock: UnixClock) {
        self.clock = clock;
    }

    /// Seeds the generator that draws each new table's seed (its shoe): a host with a seed
    /// passes the room-games stream of it, so a test replays every shoe. Without this call
    /// the seeds come from OS entropy.
    pub fn set_game_seed(&mut self, seed: u64) {
        self.game_rng = crate::seed::rng(Some(seed));
    }

    /// Like [`LobbyCore::open`], for a connection whose bytes the shell decrypts from TLS:
    /// it may be given connect tokens (TOKEN_REQ). The core never sees ciphertext.
    pub fn open_tls(&mut self, ip: IpAddr, io: T, now: Instant) -> Result<usize, (T, Refusal)> {
        self.open_as(ip, io, now, true)
    }

    /// Admits a new connection from `ip`, or gives `io` back with the reason.
    ///
    /// When the table is full, or connections not logged in hold their whole share
    /// ([`LobbyConfig::max_unauthenticated`]), the oldest connection not logged in is shed
    /// to make room, if it has been open at least [`LobbyCore::SHED_MIN_AGE`]: it is
    /// removed at once and its `T` waits in [`LobbyCore::take_shed`]. Only when there is
    /// none is the newcomer refused. Logged-in users are never shed.
    pub fn open(&mut self, ip: IpAddr, io: T, now: Instant) -> Result<usize, (T, Refusal)> {
        self.open_as(ip, io, now, false)
    }

    fn open_as(
        &mut self,
        ip: IpAddr,
        io: T,
        now: Instant,
        tls: bool,
    ) -> Result<usize, (T, Refusal)> {
        self.last_now = Some(now);
        if self.per_ip.get(&ip).map_or(0, |e| e.conns) >= self.cfg.max_conns_per_ip {
            self.stats.refused_per_ip += 1;
            return Err((io, Refusal::TooManyFromIp));
        }
        let full = self.conns.len() >= self.cfg.max_conns;
        if full || self.deadlines.unauthenticated() >= self.max_unauthenticated {
            let min_age = Self::SHED_MIN_AGE.min(self.cfg.login_deadline);
            let victim = self
                .deadlines
                .oldest_unauthenticated()
                .filter(|&(_, at)| now.saturating_duration_since(at) >= min_age);
            let Some((victim, _)) = victim else {
                let why = if full {
                    self.stats.refused_total += 1;
                    Refusal::TooManyConns
                } else {
                    self.stats.refused_unauthenticated += 1;
                    Refusal::TooManyUnauthenticated
                };
                return Err((io, why));
            };
            info!(
                "lobby: conn {victim} from {}: not logged in, shed for a newcomer from {ip}",
                self.peer_shown(victim)
            );
            self.stats.shed += 1;
            self.shed = self.remove(victim);
        }
        if !self.per_ip.contains_key(&ip) && self.per_ip.len() >= self.per_ip_cap() {
            // Forget the addresses with no connection whose budget is full again; if that
            // is not enough, every address with no connection (at most `max_conns` have
            // one, half the cap).
            self.per_ip
                .retain(|_, e| e.conns > 0 || e.left.is_some_and(|b| b.in_debt(now)));
            if self.per_ip.len() >= self.per_ip_cap() {
                self.per_ip.retain(|_, e| e.conns > 0);
            }
        }
        self.per_ip.entry(ip).or_default().conns += 1;
        self.stats.accepted += 1;
        let id = self.conns.insert(Conn {
            io,
            ip,
            // No storage until there are bytes to hold: see `pool.rs`.
            rx: Ring::default(),
            tx: Ring::default(),
            user: None,
            closing: None,
            dirty: false,
            tls,
            format: Format::Plain,
        });
        // Slab keys stay below the most entries ever held at once: below `max_conns`, the
        // deadline lists' size.
        debug_assert!(id < self.cfg.max_conns);
        self.deadlines.accepted(id, now);
        Ok(id)
    }

    /// How long a connection not logged in is safe from being shed for a newcomer (or
    /// the login deadline, if shorter): time to log in.
    pub const SHED_MIN_AGE: std::time::Duration = std::time::Duration::from_secs(1);

    /// Most entries of the per-address table: twice `max_conns` (at most `max_conns`
    /// addresses have a connection; the rest only remember a budget).
    fn per_ip_cap(&self) -> usize {
        2 * self.cfg.max_conns
    }

    /// Whether every buffer the pool holds free, and the staging buffer, is all zero.
    #[cfg(test)]
    pub(crate) fn pool_is_wiped(&self) -> bool {
        self.pool.all_wiped()
    }

    /// The ring storage connection `id` holds now: receive and send bytes (tests).
    #[cfg(test)]
    pub(crate) fn held_storage(&self, id: usize) -> (usize, usize) {
        self.conns
            .get(id)
            .map_or((0, 0), |c| (c.rx.capacity(), c.tx.capacity()))
    }

    /// Entries of the per-address table (tests: it stays bounded).
    #[cfg(test)]
    pub(crate) fn per_ip_entries(&self) -> usize {
        self.per_ip.len()
    }

    /// The budget a login from `ip` starts with at `now`.
    fn budget_for(&self, ip: IpAddr, now: Instant) -> Budget {
        Budget::inherit(now, self.per_ip.get(&ip).and_then(|e| e.left))
    }

    /// The socket of a connection [`LobbyCore::open`] shed: close it (it is already out of
    /// the core). Call after every `open`.
    pub fn take_shed(&mut self) -> Option<T> {
        self.shed.take()
    }

    /// Whether connection `id` is open.
    pub fn contains(&self, id: usize) -> bool {
        self.conns.contains(id)
    }

    /// The connection's `T`.
    pub fn io(&mut self, id: usize) -> Option<&mut T> {
        self.conns.get_mut(id).map(|c| &mut c.io)
    }

    /// Whether connection `id` was opened as TLS ([`LobbyCore::open_tls`]).
    pub fn is_tls(&self, id: usize) -> bool {
        self.conns.get(id).is_some_and(|c| c.tls)
    }

    /// The address a connection came from.
    pub fn peer_ip(&self, id: usize) -> Option<IpAddr> {
        self.conns.get(id).map(|c| c.ip)
    }

    /// The address a connection came from, for a log line: `127.0.0.1`, or `?` when the
    /// connection is gone.
    pub(crate) fn peer_shown(&self, id: usize) -> ShownIp {
        ShownIp(self.peer_ip(id))
    }

    /// Where to read the next bytes from the socket into, with its `T`: `None` when the
    /// connection is gone or closing (stop reading). The slice is never empty.
    ///
    /// A connection that holds no part of a frame reads into the lobby's staging buffer,
    /// shared by all; [`LobbyCore::received`] must follow before the next call for another
    /// connection (a read that fails or would block leaves nothing to report).
    pub fn recv_space(&mut self, id: usize) -> Option<(&mut T, &mut [u8])> {
        let c = self.conns.get_mut(id)?;
        if c.closing.is_some() {
            return None;
        }
        let ring = match c.rx.capacity() {
            0 => self.pool.staging(),
            _ => &mut c.rx,
        };
        let space = ring.write_slice();
        if space.is_empty() {
            return None;
        }
        Some((&mut c.io, space))
    }

    /// `n` bytes were read into [`LobbyCore::recv_space`]: parse and handle every whole
    /// frame now held.
    pub fn received(&mut self, id: usize, n: usize, now: Instant) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        self.stats.bytes_in += n as u64;
        self.last_now = Some(now);
        // The ring (the connection's own, or the staging ring it read into) and the
        // scratch are lent out while the frames are handled, not copied.
        let staged = c.rx.capacity() == 0;
        let mut rx = match staged {
            true => self.pool.take_staging(),
            false => core::mem::take(&mut c.rx),
        };
        rx.commit(n);
        let mut scratch = core::mem::take(&mut self.scratch);
        let mut completed = false;
        while self.conns.get(id).is_some_and(|c| c.closing.is_none()) {
            let handled = frame::pop(&mut rx, &mut scratch, id::is_request, |f| {
                completed = true;
                let format = Format::of_frame(f);
                self.set_format(id, format);
                match Request::parse(f) {
                    Ok(req) => {
                        self.stats.msgpack_in += u64::from(format == Some(Format::MsgPack));
                        self.handle(id, req, f, now)
                    }
                    Err(code) => self.bad_input(id, code),
                }
            });
            match handled {
                Ok(Some(())) => {}
                Ok(None) => break,
                Err(code) => {
                    // A frame of a known type with an unknown id is answered in its type.
                    if code == ErrorCode::UnknownId {
                        let mut head = [0; frame::HEADER_LEN];
                        rx.copy_out(0, &mut head);
                        self.set_format(id, Format::of_frame(&head));
                    }
                    self.bad_input(id, code)
                }
            }
        }
        self.scratch = scratch;
        let held = !rx.is_empty();
        // Only a connection still reading keeps part of a frame; every other byte's
        // storage goes back, wiped.
        let keep = held && self.conns.get(id).is_some_and(|c| c.closing.is_none());
        let rx = match staged {
            true => self.pool.restage(rx, keep),
            false if keep => rx,
            false => {
                let mut rx = rx;
                self.pool.reclaim_all(&mut rx);
                rx
            }
        };
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        c.rx = rx;
        if c.closing.is_some() {
            return;
        }
        if completed {
            self.deadlines.active(id, now);
        }
        // A frame started now unless the one already started is still incomplete.
        if !held {
            self.deadlines.frame_done(id);
        } else if completed || !self.deadlines.in_frame(id) {
            self.deadlines.frame_started(id, now);
        }
    }

    /// The peer closed its side (read returned 0).
    pub fn peer_closed(&mut self, id: usize) {
        self.close(id, CloseReason::PeerClosed);
    }

    /// The socket failed.
    pub fn io_error(&mut self, id: usize) {
        self.close(id, CloseReason::Io);
    }

    /// The first contiguous run of bytes queued for the peer, with its `T`; `None` when
    /// nothing is queued.
    pub fn send_data(&mut self, id: usize) -> Option<(&mut T, &[u8])> {
        let c = self.conns.get_mut(id)?;
        if c.tx.is_empty() {
            return None;
        }
        Some((&mut c.io, c.tx.read_slice()))
    }

    /// `n` bytes of [`LobbyCore::send_data`] were written to the socket.
    pub fn sent(&mut self, id: usize, n: usize) {
        if let Some(c) = self.conns.get_mut(id) {
            c.tx.consume(n);
            self.stats.bytes_out += n as u64;
            // Written out: the storage goes back until there is more to send.
            self.pool.reclaim(&mut c.tx);
        }
    }

    /// Bytes queued for connection `id`.
    pub fn queued(&self, id: usize) -> usize {
        self.conns.get(id).map_or(0, |c| c.tx.len())
    }

    /// A connection that got new bytes to send since the last call: write them out.
    pub fn pop_dirty(&mut self) -> Option<usize> {
        loop {
            let id = self.dirty.pop_front()?;
            if let Some(c) = self.conns.get_mut(id) {
                if c.dirty {
                    c.dirty = false;
                    return Some(id);
                }
            }
        }
    }

    /// A connection marked for closing, and why: flush it if the reason says so, then
    /// [`LobbyCore::remove`] it.
    pub fn pop_closing(&mut self) -> Option<(usize, CloseReason)> {
        loop {
            let id = self.closing.pop()?;
            if let Some(reason) = self.conns.get(id).and_then(|c| c.closing) {
                return Some((id, reason));
            }
        }
    }

    /// Marks a connection for closing (the first reason sticks).
    pub fn close(&mut self, id: usize, reason: CloseReason) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        if c.closing.is_some() {
            return;
        }
        c.closing = Some(reason);
        self.closing.push(id);
        self.deadlines.forget(id);
        match reason {
            CloseReason::SlowReader => self.stats.slow_readers_cut += 1,
            CloseReason::Idle => self.stats.idle_cut += 1,
            CloseReason::FrameDeadline => self.stats.frame_deadline_cut += 1,
            CloseReason::LoginDeadline => self.stats.login_deadline_cut += 1,
            _ => {}
        }
    }

    /// Removes a connection: its user logs out and leaves its room, the room is told, the
    /// ticket is revoked. Returns its `T` to close.
    pub fn remove(&mut self, id: usize) -> Option<T> {
        if !self.conns.contains(id) {
            return None;
        }
        self.leave_room(id);
        self.deadlines.forget(id);
        // The slab entry is reused by the next connection: leave no ticket in it.
        let ticket = self
            .conns
            .get_mut(id)
            .and_then(|c| c.user.as_mut())
            .map_or(0, |u| core::mem::take(&mut u.ticket));
        let mut c = self.conns.remove(id);
        // The rings' storage goes back to the pool wiped, whatever they still held.
        self.pool.reclaim_all(&mut c.rx);
        self.pool.reclaim_all(&mut c.tx);
        if let Some(u) = &c.user {
            if let Some(k) = name::key(&u.name) {
                self.users.remove(&k);
            }
            self.by_user.remove(&u.id);
            self.tickets.revoke(ticket);
            info!("lobby: user {} {:?} logged out", u.id, u.name.as_str());
        }
        if let Some(e) = self.per_ip.get_mut(&c.ip) {
            e.conns -= 1;
            if let Some(u) = &c.user {
                e.left = Some(e.left.map_or(u.budget, |b| b.emptier(u.budget)));
            }
            if e.conns == 0 && e.left.is_none() {
                self.per_ip.remove(&c.ip);
            }
        }
        Some(c.io)
    }

    /// Ids of every open connection.
    pub fn ids(&self) -> impl Iterator<Item = usize> + '_ {
        self.conns.iter().map(|(id, _)| id)
    }

    /// The earliest idle, frame or login deadline of any connection not closing, or
    /// deadline of a room's game. O(1): the earliest front of lists ordered by time, and
    /// the first of the games' ordered set.
    pub fn next_timeout(&self) -> Option<Instant> {
        match (self.deadlines.next(), self.next_game_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Marks every connection whose deadline is at or before `now` for closing: `Idle`, or
    /// `FrameDeadline` when its started frame was due strictly before its idle deadline.
    /// Connections not expired cost nothing: the lists are walked from their fronts only.
    /// The expired ones are closed in id order. Then every room game whose deadline has
    /// passed runs ([`RoomGame::timeout`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = Some(now);
        let mut expired = core::mem::take(&mut self.expired);
        while let Some(e) = self.deadlines.pop_expired(now) {
            expired.push(e);
        }
        expired.sort_unstable_by_key(|&(id, _)| id);
        for (id, reason) in expired.drain(..) {
            info!(
                "lobby: conn {id} from {}: {reason:?} deadline passed",
                self.peer_shown(id)
            );
            self.close(id, reason);
        }
        self.expired = expired;
        self.handle_game_timeouts(now);
    }

    /// Counters and gauges.
    pub fn stats(&self) -> LobbyStats {
        let mut s = self.stats.clone();
        s.conns = self.conns.len();
        s.users = self.users.len();
        s.rooms = self.rooms.len();
        s.tables = self.rooms.values().filter(|r| r.table.is_some()).count();
        s.send_queued = self.conns.iter().map(|(_, c)| c.tx.len()).sum();
        s.send_buffer_bytes = self.cfg.send_buffer_bytes;
        let pool = self.pool.stats();
        s.buffer_bytes = pool.lent_bytes;
        s.buffers_allocated = pool.allocated;
        s
    }

    fn bad_input(&mut self, id: usize, code: ErrorCode) {
        self.stats.errors[code as usize - 1] += 1;
        warn!(
            "lobby: conn {id} from {}: bad input ({}), sending ERROR {} and closing",
            self.peer_shown(id),
            code.label(),
            code as u8
        );
        self.send(id, &Message::Error { code });
        self.close(id, CloseReason::BadInput(code));
    }

    /// Queues a frame already written to `self.out[..n]` for `to`; a full send buffer
    /// cuts `to` as a slow reader.
    fn queue(&mut self, to: usize, n: usize) {
        let Some(c) = self.conns.get_mut(to) else {
            return;
        };
        if c.closing.is_some() {
            // Closing connections hear nothing more: after ERROR, nothing else is sent.
            return;
        }
        if !self.pool.push(&mut c.tx, &self.out[..n]) {
            warn!(
                "lobby: conn {to} from {}: send buffer full ({} bytes), cutting slow reader",
                c.ip,
                c.tx.len()
            );
            self.close(to, CloseReason::SlowReader);
            return;
        }
        self.stats.msgs_out += 1;
        self.stats.send_queue_peak = self.stats.send_queue_peak.max(c.tx.len());
        if !c.dirty {
            c.dirty = true;
            self.dirty.push_back(to);
        }
    }

    /// Whether `n` more bytes fit `to`'s send buffer now (a closing or gone connection
    /// takes anything: it is sent nothing more).
    fn fits(&self, to: usize, n: usize) -> bool {
        self.conns
            .get(to)
            .is_none_or(|c| c.closing.is_some() || self.pool.send_fits(c.tx.len(), n))
    }

    /// Writes `m` in `to`'s format and queues it for `to`.
    fn send(&mut self, to: usize, m: &Message) {
        let format = self.format(to);
        let emitted = m.emit_as(&mut self.out, format);
        self.queue_emitted(to, emitted, m.id());
    }

    /// The body format of what is sent to connection `id` (plain when it is gone).
    fn format(&self, id: usize) -> Format {
        self.conns.get(id).map_or(Format::Plain, |c| c.format)
    }

    /// Everything sent to `id` from now on is in `format` (`None`: unchanged).
    fn set_format(&mut self, id: usize, format: Option<Format>) {
        if let (Some(c), Some(f)) = (self.conns.get_mut(id), format) {
            c.format = f;
        }
    }

    /// Queues what a writer put in `self.out` for `to`. A message that did not fit a frame
    /// is a bug of ours, never of the peer's: it is logged and not sent.
    fn queue_emitted(&mut self, to: usize, emitted: Result<usize, Full>, msg_id: u16) {
        match emitted {
            Ok(n) => self.queue(to, n),
            Err(Full) => warn!("lobby: message {msg_id} for conn {to} does not fit a frame"),
        }
    }

    fn user(&self, id: usize) -> Option<&User> {
        self.conns.get(id)?.user.as_ref()
    }
}

/// A connection's address in a log line: `127.0.0.1`, or `?` when it is unknown (never
/// `Some(127.0.0.1)`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShownIp(pub(crate) Option<IpAddr>);

impl core::fmt::Display for ShownIp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("?"),
        }
    }
}

#[cfg(test)]
mod shown_ip_tests {
    use super::ShownIp;
    use core::net::IpAddr;

    /// Lobby log lines say `from 127.0.0.1`, not `from Some(127.0.0.1)` (issue 17, item 9).
    #[test]
    fn a_log_line_shows_the_bare_address() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(format!("from {}", ShownIp(Some(ip))), "from 127.0.0.1");
        assert_eq!(format!("from {}", ShownIp(None)), "from ?");
    }
}
