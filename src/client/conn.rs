//! The sans-IO client state machine (its drive contract is written on [`Client`]).

use std::time::{Duration, Instant};

use super::interp::{Interp, InterpConfig, InterpStats, Interpolation};
use super::snapshot::{Outcome, Reassembly, SnapshotParts};
use super::stats::{ClientStats, Meter};
use crate::link::{End, Link};
use crate::secure::TAG_LEN;
use crate::timers::TimerTable;
use crate::wire::msg::{Accept, Challenge, Hello, Reject, SnapshotPrefix};
use crate::wire::MAX_PAYLOAD;
use crate::wire::{flags, Direction, DropReason, Header, Kind, Packet, HEADER_LEN};

mod api;
mod secure;
pub use api::{ClientConfig, DisconnectReason, Event, SendError, State};
use secure::ClientSecure;

/// How many game payloads [`Client::send_game`] can queue before `poll_transmit` drains
/// them.
pub(crate) const SEND_QUEUE: usize = 16;

/// How long [`Client::poll_timeout`] looks ahead when nothing can happen any more.
const IDLE: Duration = Duration::from_secs(3600);

/// The client's deadlines, as indices into its [`TimerTable`]. HELLO and CONNECT run while
/// connecting, KEEPALIVE and IDLE once connected; none once the connection ended.
mod timer {
    /// The next HELLO (sent by `poll_transmit`).
    pub const HELLO: usize = 0;
    /// The handshake gives up.
    pub const CONNECT: usize = 1;
    /// A KEEPALIVE is due (sent by `poll_transmit`).
    pub const KEEPALIVE: usize = 2;
    /// Nothing valid from the server for `timeout`.
    pub const IDLE: usize = 3;
    pub const COUNT: usize = 4;
}

struct Queued {
    kind: u8,
    len: u16,
    data: [u8; MAX_PAYLOAD],
}

/// A sans-IO tickwire client connection (PROTOCOL.md sections 1-3).
///
/// # Drive contract
///
/// The client never touches a socket and never reads the clock; every call takes `now`
/// from the caller, and `now` must not go backwards.
///
/// - **Inputs.** [`Client::handle_datagram`] for every datagram from the server;
///   [`Client::handle_timeout`] once [`Client::poll_timeout`] has passed; the
///   application's [`Client::send_game`] and [`Client::disconnect`].
/// - **Output.** [`Client::poll_transmit`] writes the next datagram due into the caller's
///   buffer; call it until it returns `None` after every input.
/// - **Timers.** [`Client::poll_timeout`] is the earliest deadline (next HELLO or
///   KEEPALIVE, the handshake or idle timeout), or the last `now` when a datagram is
///   already waiting.
///
/// A loop: send everything `poll_transmit` gives; wait for a datagram until
/// `poll_timeout()`; feed it to `handle_datagram` or call `handle_timeout`; handle the
/// event; repeat.
///
/// Memory: every buffer (send queue, snapshot reassembly, RTT histogram) is allocated in
/// [`Client::new`]; nothing after it allocates (`tests/client_alloc.rs` counts).
pub struct Client {
    cfg: ClientConfig,
    state: State,
    /// The latest `now` seen, for `poll_timeout`.
    last_now: Instant,
    /// The link's clock starts here (`new`'s `now`).
    epoch: Instant,
    timers: TimerTable<Instant, { timer::COUNT }>,
    /// The newest cookie received, and the one before it (see [`Client::on_challenge`]).
    cookie: u64,
    prev_cookie: u64,
    first_hello: Option<Instant>,
    max_payload: usize,
    /// Our slot id, from ACCEPT; kept after the connection ends for the BYE.
    qport: u8,
    /// Sequence numbers both ways, acks and RTT: the layer the server's peers use too.
    link: Link,
    bye_pending: bool,
    queue: Box<[Queued]>,
    q_head: usize,
    q_len: usize,
    game: Box<[u8; MAX_PAYLOAD]>,
    game_len: usize,
    snap: Reassembly,
    meter: Meter,
    /// Secure mode (PROTOCOL.md section 8): the token, its keys and the match key.
    sec: Option<Box<ClientSecure>>,
    /// The interpolation buffer, when enabled ([`Client::with_interpolation`]).
    interp: Option<Box<Interp>>,
}

impl Client {
    /// How many game payloads [`Client::send_game`] can queue before `poll_transmit` drains
    /// them.
    pub const SEND_QUEUE: usize = SEND_QUEUE;

    /// A client that starts connecting at `now`: the first HELLO is due at once. Allocates
    /// every buffer it will use (send queue, reassembly, RTT histogram).
    pub fn new(cfg: ClientConfig, now: Instant) -> Client {
        let queue = (0..SEND_QUEUE)
            .map(|_| Queued {
                kind: 0,
                len: 0,
                data: [0; MAX_PAYLOAD],
            })
            .collect();
        let mut timers = TimerTable::new();
        timers.set(timer::HELLO, now);
        timers.set(timer::CONNECT, later(now, cfg.connect_timeout));
        Client {
            cfg,
            state: State::Connecting,
            last_now: now,
            epoch: now,
            timers,
            cookie: 0,
            prev_cookie: 0,
            first_hello: None,
            max_payload: MAX_PAYLOAD,
            qport: 0,
            link: Link::new(End::Client, 0),
            bye_pending: false,
            queue,
            q_head: 0,
            q_len: 0,
            game: Box::new([0; MAX_PAYLOAD]),
            game_len: 0,
            snap: Reassembly::new(cfg.max_snapshot_parts),
            meter: Meter::new(),
            sec: None,
            interp: None,
        }
    }

    /// A client in secure mode (PROTOCOL.md section 8) that connects with `token`, from
    /// its issuer (a lobby over TLS, a matchmaker, `tickwire token mint`): it sends
    /// TOKEN_HELLO instead of HELLO, believes only a REJECT and an ACCEPT sealed under the
    /// token's server-to-client key, and seals and opens every datagram after that. The
    /// ticket in `cfg` is not used. Allocates like [`Client::new`]; the token's keys are
    /// wiped when the client is dropped.
    pub fn with_token(
        cfg: ClientConfig,
        token: crate::secure::ConnectToken,
        now: Instant,
    ) -> Client {
        let mut c = Client::new(cfg, now);
        c.sec = Some(Box::new(ClientSecure::new(token)));
        c
    }

    /// Whether this client speaks secure mode ([`Client::with_token`]).
    pub fn is_secure(&self) -> bool {
        self.sec.is_some()
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// Where the connection stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// Takes one datagram from the server. Anything that fails a check is dropped and
    /// counted (see [`ClientStats`]) without changing the state.
    pub fn handle_datagram(&mut self, now: Instant, data: &[u8]) -> Option<Event> {
        self.last_now = now;
        self.meter.datagrams_in += 1;
        self.meter.bytes_in += data.len() as u64;
        let p = match Packet::new_checked(data, Direction::ToClient, |_| true) {
            Ok(p) => p,
            Err(d) => return self.dropped(d),
        };
        let Some(kind) = p.kind() else {
            return self.dropped(DropReason::UnknownKind);
        };
        match (kind, self.state) {
            (Kind::Challenge, State::Connecting | State::Challenged) => {
                let c = match Challenge::parse(p.payload()) {
                    Ok(c) => c,
                    Err(d) => return self.dropped(d),
                };
                self.on_challenge(c.cookie);
                self.state = State::Challenged;
                self.timers.set(timer::HELLO, now);
                None
            }
            (Kind::Reject, State::Challenged) => {
                let plain = match self.sec.as_deref_mut() {
                    Some(sec) => match sec.open_reject(&p) {
                        Ok(d) => d,
                        Err(d) => return self.dropped(d),
                    },
                    None => p.payload(),
                };
                let r = match Reject::parse(plain) {
                    Ok(r) => r,
                    Err(d) => return self.dropped(d),
                };
                self.end(State::Rejected(r.reason));
                Some(Event::Rejected(r.reason))
            }
            (Kind::Accept, State::Challenged) => {
                if p.qport() == 0 {
                    return self.dropped(DropReason::BadQport);
                }
                let a = match self.parse_accept(&p) {
                    Ok(a) => a,
                    Err(d) => return self.dropped(d),
                };
                Some(self.accepted(now, p.qport(), p.seq(), &a))
            }
            (Kind::Accept, State::Connected { qport, s0 }) => {
                if p.qport() == qport && p.seq() == s0 && self.parse_accept(&p).is_ok() {
                    self.meter.duplicate_accepts += 1;
                    None
                } else {
                    self.unexpected()
                }
            }
            (
                Kind::Keepalive | Kind::Bye | Kind::Snapshot | Kind::Game(_),
                State::Connected { qport, .. },
            ) if self.sec.is_some() => self.connected_sealed(now, qport, kind, &p),
            (
                Kind::Keepalive | Kind::Bye | Kind::Snapshot | Kind::Game(_),
                State::Connected { qport, .. },
            ) => self.connected_datagram(now, qport, kind, &p),
            _ => self.unexpected(),
        }
    }

    /// A CHALLENGE's cookie. With a reply address of its own the client is sent two, one at
    /// the reply address and one at its source (PROTOCOL.md section 2), and cannot tell
    /// which came where: it keeps the last two distinct cookies and sends both, and the
    /// server takes them in either order. Without one, only the newest matters.
    fn on_challenge(&mut self, cookie: u64) {
        if cookie != self.cookie {
            self.prev_cookie = self.cookie;
            self.cookie = cookie;
        }
    }

    /// HELLO's source cookie: the cookie before the newest when the client gave a reply
    /// address, otherwise 0.
    fn source_cookie(&self) -> u64 {
        match self.cfg.reply {
            Some(_) => self.prev_cookie,
            None => 0,
        }
    }

    fn accepted(&mut self, now: Instant, qport: u8, s0: u32, a: &Accept) -> Event {
        self.state = State::Connected { qport, s0 };
        self.qport = qport;
        self.link.reset(s0);
        self.timers.stop(timer::HELLO);
        self.timers.stop(timer::CONNECT);
        self.timers.set(timer::IDLE, later(now, self.cfg.timeout));
        // First KEEPALIVE at once: it tells the server our ack and opens RTT sampling.
        self.timers.set(timer::KEEPALIVE, now);
        self.max_payload = (a.max_payload as usize).min(MAX_PAYLOAD);
        self.meter.handshake = self.first_hello.map(|t| now.saturating_duration_since(t));
        Event::Connected {
            qport,
            tick_hz: a.tick_hz,
            tick: a.tick,
            server_time_us: a.time_us,
        }
    }

    fn connected_datagram(
        &mut self,
        now: Instant,
        qport: u8,
        kind: Kind,
        p: &Packet<&[u8]>,
    ) -> Option<Event> {
        if p.qport() != qport {
            return self.dropped(DropReason::BadQport);
        }
        // The payload's shape is checked before the seq can move the window.
        let mut snap = None;
        match kind {
            Kind::Keepalive | Kind::Bye if !p.is_empty() => {
                return self.dropped(DropReason::BadPayload);
            }
            Kind::Snapshot => match SnapshotPrefix::parse(p.payload()) {
                Ok(s) => snap = Some(s),
                Err(d) => return self.dropped(d),
            },
            _ => {}
        }
        let (snap, body) = match snap {
            Some((s, body)) => (Some(s), body),
            None => (None, p.payload()),
        };
        self.take_connected(now, p, kind, snap, body)
    }

    /// The end of the connected receive path, in both modes, once every check passed
    /// (in secure mode: once it opened): the seq is taken (a late snapshot part still
    /// reaches the interpolation buffer), then the idle timer, the ack, and what the kind
    /// means. `body` is the snapshot part's body or the game payload (the plaintext).
    fn take_connected(
        &mut self,
        now: Instant,
        p: &Packet<&[u8]>,
        kind: Kind,
        snap: Option<SnapshotPrefix>,
        body: &[u8],
    ) -> Option<Event> {
        let seq = self.link.receive(p.seq());
        if let (Some(s), Ok(_) | Err(DropReason::Late)) = (&snap, &seq) {
            // In order or late (never seen before): the interpolation buffer takes it.
            let now_us = self.link_time(now);
            if let Some(i) = self.interp.as_deref_mut() {
                i.part(now_us, s, body);
            }
        }
        if let Err(d) = seq {
            return self.dropped(d);
        }
        self.timers.set(timer::IDLE, later(now, self.cfg.timeout));
        if p.has(flags::ACK) {
            self.acked(now, p.ack());
        }
        match (kind, snap) {
            (Kind::Bye, _) => {
                self.close(DisconnectReason::Bye);
                Some(Event::Disconnected(DisconnectReason::Bye))
            }
            (Kind::Snapshot, Some(s)) => match self.snap.part(&s, body) {
                Outcome::Complete {
                    tick,
                    time_us,
                    lost,
                } => {
                    self.meter.snapshot(now, lost);
                    Some(Event::Snapshot { tick, time_us })
                }
                Outcome::Pending | Outcome::Stale | Outcome::Rejected => None,
            },
            (Kind::Game(k), _) => {
                self.game[..body.len()].copy_from_slice(body);
                self.game_len = body.len();
                Some(Event::Game { kind: k })
            }
            _ => None,
        }
    }

    /// The server acknowledged our datagram `ack`: an RTT sample when it is newer than
    /// every earlier ack, `bad_acks` when it names nothing we sent.
    fn acked(&mut self, now: Instant, ack: u32) {
        if !self.state.is_connected() {
            return;
        }
        if self.link.ack_valid(ack) {
            if let Some(sample_us) = self.link.on_ack(ack, self.link_time(now)) {
                self.meter.rtt_sample(sample_us);
            }
        } else {
            self.meter.bad_acks += 1;
        }
    }

    /// `now` on the link's clock: microseconds since the client was created.
    #[inline]
    fn link_time(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    fn dropped(&mut self, d: DropReason) -> Option<Event> {
        self.meter.drop(d);
        None
    }

    fn unexpected(&mut self) -> Option<Event> {
        self.meter.unexpected += 1;
        None
    }

    fn close(&mut self, reason: DisconnectReason) {
        self.end(State::Disconnected(reason));
    }

    /// Ends the connection in `state`: no timer runs and nothing queued is sent any more.
    fn end(&mut self, state: State) {
        self.state = state;
        self.q_head = 0;
        self.q_len = 0;
        for t in 0..timer::COUNT {
            self.timers.stop(t);
        }
    }

    /// Whether timer `t` is set and due at `now`.
    #[inline]
    fn due(&self, t: usize, now: Instant) -> bool {
        self.timers.get(t).is_some_and(|at| now >= at)
    }

    /// Writes the next datagram to send into `out` and returns its length, or `None` when
    /// nothing is due. `out` should hold [`MAX_DATAGRAM`](crate::wire::MAX_DATAGRAM) bytes; a datagram that does not
    /// fit stays queued. Call it until it returns `None` after every other call.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        self.last_now = now;
        let n = self.transmit(now, out)?;
        self.meter.datagrams_out += 1;
        self.meter.bytes_out += n as u64;
        Some(n)
    }

    fn transmit(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        let tag = if self.sec.is_some() {
            TAG_LEN as u16
        } else {
            0
        };
        if self.bye_pending {
            let n = self.emit_seq(now, Kind::Bye, tag, out)?;
            self.seal(out, 0);
            self.bye_pending = false;
            return Some(n);
        }
        match self.state {
            State::Connecting | State::Challenged
                if self.sec.is_some() && self.due(timer::HELLO, now) =>
            {
                let cookies = (self.cookie, self.source_cookie());
                let sec = self.sec.as_deref()?;
                let n = sec.token_hello((self.cfg.protocol_id, self.cfg.reply), cookies, out)?;
                self.timers
                    .set(timer::HELLO, later(now, self.cfg.hello_interval));
                self.first_hello.get_or_insert(now);
                Some(n)
            }
            State::Connecting | State::Challenged if self.due(timer::HELLO, now) => {
                let n = HEADER_LEN + Hello::LEN;
                let buf = out.get_mut(..n)?;
                Header {
                    flags: Kind::Hello.send_flags(false),
                    seq: 0,
                    ack: 0,
                    qport: 0,
                    kind: Kind::Hello.to_u8(),
                    len: Hello::LEN as u16,
                }
                .emit(buf)
                .ok()?;
                Hello {
                    protocol_id: self.cfg.protocol_id,
                    reply: self.cfg.reply,
                    ticket: self.cfg.ticket,
                    cookie: self.cookie,
                    source_cookie: self.source_cookie(),
                }
                .emit(&mut buf[HEADER_LEN..])
                .ok()?;
                self.timers
                    .set(timer::HELLO, later(now, self.cfg.hello_interval));
                self.first_hello.get_or_insert(now);
                Some(n)
            }
            State::Connected { .. } if self.q_len > 0 => {
                let (kind, len) = {
                    let q = &self.queue[self.q_head];
                    (q.kind, q.len)
                };
                let n = self.emit_seq(now, Kind::Game(kind), len + tag, out)?;
                let end = HEADER_LEN + len as usize;
                out[HEADER_LEN..end].copy_from_slice(&self.queue[self.q_head].data[..len as usize]);
                self.seal(out, len as usize);
                self.q_head = (self.q_head + 1) % SEND_QUEUE;
                self.q_len -= 1;
                Some(n)
            }
            State::Connected { .. } if self.due(timer::KEEPALIVE, now) => {
                let n = self.emit_seq(now, Kind::Keepalive, tag, out)?;
                self.seal(out, 0);
                Some(n)
            }
            _ => None,
        }
    }

    /// Secure mode: seals the datagram just written into `out` (header, then `plain`
    /// bytes, then room for the tag). Nothing in plain mode.
    #[inline]
    fn seal(&self, out: &mut [u8], plain: usize) {
        if let Some(sec) = self.sec.as_deref() {
            sec.seal(out, plain);
        }
    }

    /// Writes the header of a connected datagram with the next seq; the caller writes the
    /// `len` payload bytes after it. Returns the datagram's length.
    fn emit_seq(&mut self, now: Instant, kind: Kind, len: u16, out: &mut [u8]) -> Option<usize> {
        let n = HEADER_LEN + len as usize;
        let buf = out.get_mut(..n)?;
        // ACCEPT's S0 counts as received, so every datagram but BYE acks from the first on.
        let header =
            self.link
                .next_header(kind, self.qport, len as usize, true, self.link_time(now));
        header.emit(buf).ok()?;
        if self.state.is_connected() {
            self.timers
                .set(timer::KEEPALIVE, later(now, self.cfg.keepalive_interval));
        }
        Some(n)
    }

    /// When [`Client::handle_timeout`] or [`Client::poll_transmit`] next has work: the next
    /// HELLO or KEEPALIVE, the handshake or idle timeout, or the last `now` seen when a
    /// datagram is already waiting. Once the connection ended with nothing left to send,
    /// an hour after the last `now`.
    pub fn poll_timeout(&self) -> Instant {
        if self.bye_pending || (self.state.is_connected() && self.q_len > 0) {
            return self.last_now;
        }
        self.timers
            .next()
            .unwrap_or_else(|| later(self.last_now, IDLE))
    }

    /// Runs the timers due at `now`: the handshake timeout and the idle timeout. HELLO
    /// resends and KEEPALIVEs come out of the next [`Client::poll_transmit`].
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Event> {
        self.last_now = now;
        let reason = if self.due(timer::CONNECT, now) {
            DisconnectReason::ConnectTimeout
        } else if self.due(timer::IDLE, now) {
            DisconnectReason::Timeout
        } else {
            return None;
        };
        self.close(reason);
        Some(Event::Disconnected(reason))
    }

    /// Queues one game datagram (`kind` in `0x10..=0xFF`) for the next
    /// [`Client::poll_transmit`]. The payload is copied into a preallocated slot.
    pub fn send_game(&mut self, kind: u8, payload: &[u8]) -> Result<(), SendError> {
        if kind < Kind::FIRST_GAME {
            return Err(SendError::NotGameKind);
        }
        if !self.state.is_connected() {
            return Err(SendError::NotConnected);
        }
        if payload.len() > self.max_payload {
            return Err(SendError::TooLarge);
        }
        if self.q_len == SEND_QUEUE {
            return Err(SendError::QueueFull);
        }
        let q = &mut self.queue[(self.q_head + self.q_len) % SEND_QUEUE];
        q.kind = kind;
        q.len = payload.len() as u16;
        q.data[..payload.len()].copy_from_slice(payload);
        self.q_len += 1;
        Ok(())
    }

    /// How many game payloads wait for `poll_transmit`.
    pub fn queued(&self) -> usize {
        self.q_len
    }

    /// Ends the connection: queues BYE when connected, drops queued game payloads. The
    /// state becomes `Disconnected(Closed)` at once; does nothing once the connection ended.
    pub fn disconnect(&mut self) {
        match self.state {
            State::Connected { .. } => {
                self.bye_pending = true;
                self.close(DisconnectReason::Closed);
            }
            State::Connecting | State::Challenged => self.close(DisconnectReason::Closed),
            State::Rejected(_) | State::Disconnected(_) => {}
        }
    }

    /// The body parts of the last whole snapshot, in part order; empty before the first.
    /// Valid until the next [`Event::Snapshot`].
    pub fn snapshot_parts(&self) -> SnapshotParts<'_> {
        self.snap.parts()
    }

    /// Tick and server time (µs) of the last whole snapshot.
    pub fn last_snapshot(&self) -> Option<(u32, u64)> {
        self.snap.last()
    }

    /// This client with an interpolation buffer ([`InterpConfig`]; see
    /// [`Client::interpolate`]). Allocates the buffer now (`capacity` slots of
    /// `max_snapshot_bytes`, part tables of `max_snapshot_parts`); nothing after it. Call
    /// it before connecting: snapshots received before are not in the buffer.
    pub fn with_interpolation(mut self, cfg: InterpConfig) -> Client {
        self.enable_interpolation(cfg);
        self
    }

    /// [`Client::with_interpolation`] on a client in place; replaces a buffer already
    /// there (and what it held).
    pub fn enable_interpolation(&mut self, cfg: InterpConfig) {
        self.interp = Some(Box::new(Interp::new(cfg, self.cfg.max_snapshot_parts)));
    }

    /// The interpolation buffer's configuration, when it is enabled.
    pub fn interp_config(&self) -> Option<&InterpConfig> {
        self.interp.as_deref().map(Interp::config)
    }

    /// What to render at `now` (the interpolation buffer, see [`InterpConfig`]): the two
    /// complete snapshots around the render time `now - delay`, and the blend factor.
    /// `None` without a buffer or before the first complete snapshot. Moves the render
    /// time to `now` and frees what it has passed; the snapshots it returns stay readable
    /// until the next call that takes `&mut self`. Never allocates.
    pub fn interpolate(&mut self, now: Instant) -> Option<Interpolation<'_>> {
        let now_us = self.link_time(now);
        self.interp.as_deref_mut()?.interpolate(now_us)
    }

    /// The interpolation buffer's counters, delay and jitter (ticks usable for
    /// rendering: [`InterpStats::usable_ratio`]); `None` without a buffer.
    pub fn interp_stats(&self) -> Option<InterpStats> {
        self.interp.as_deref().map(Interp::stats)
    }

    /// The complete snapshot of `tick` in the interpolation buffer, when it is kept; the
    /// ends of the last [`Client::interpolate`] are, until a later `now` (a datagram or
    /// the next `interpolate`) moves the render time past the newer end.
    pub fn buffered_snapshot(&self, tick: u32) -> Option<super::BufferedSnapshot<'_>> {
        self.interp.as_deref()?.get(tick)
    }

    /// The complete snapshots in the interpolation buffer, oldest tick first, as `(tick,
    /// server time µs)`; empty without a buffer.
    pub fn buffered_ticks(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.interp.as_deref().into_iter().flat_map(Interp::ticks)
    }

    /// The payload of the last [`Event::Game`].
    pub fn game_payload(&self) -> &[u8] {
        &self.game[..self.game_len]
    }

    /// The newest seq received from the server (`S0` right after ACCEPT).
    pub fn server_seq(&self) -> u32 {
        self.link.newest_received()
    }

    /// The seq the next connected datagram will carry (`S0 + 1` first; 0 before ACCEPT).
    pub fn next_seq(&self) -> u32 {
        match self.qport {
            0 => 0,
            _ => self.link.last_sent().wrapping_add(1),
        }
    }

    /// A copy of the counters and measurements.
    pub fn stats(&self) -> ClientStats {
        let m = &self.meter;
        ClientStats {
            datagrams_in: m.datagrams_in,
            bytes_in: m.bytes_in,
            datagrams_out: m.datagrams_out,
            bytes_out: m.bytes_out,
            drops: m.drops,
            unexpected: m.unexpected,
            lost: self.link.stats().lost,
            late: self.link.stats().late,
            duplicate_accepts: m.duplicate_accepts,
            bad_acks: m.bad_acks,
            snapshots: m.snapshots,
            snapshot_ticks_lost: m.snapshot_ticks_lost,
            snapshot_parts_stale: self.snap.stale,
            snapshots_incomplete: self.snap.abandoned,
            snapshot_parts_rejected: self.snap.rejected,
            snapshots_per_sec: m.snapshots_per_sec(),
            handshake: m.handshake,
            rtt: m.rtt(self.link.rtt()),
        }
    }

    /// The RTT histogram, in microseconds, for the load generator to merge over clients (the
    /// public API keeps `hdrhistogram` out of its signatures; [`ClientStats::rtt`] has the
    /// percentiles).
    #[cfg(feature = "internal")]
    #[doc(hidden)]
    pub fn rtt_histogram(&self) -> &hdrhistogram::Histogram<u64> {
        self.meter.histogram()
    }
}

impl core::fmt::Debug for Client {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.state)
            .field("next_seq", &self.next_seq())
            .field("server_seq", &self.server_seq())
            .field("queued", &self.q_len)
            .field("bye_pending", &self.bye_pending)
            .field("last_snapshot", &self.snap.last())
            .finish_non_exhaustive()
    }
}

/// `t + d`, saturating far in the future instead of panicking on an absurd configured
/// duration.
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(IDLE))
        .unwrap_or(t)
}

#[cfg(test)]
mod tests;
