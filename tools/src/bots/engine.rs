//! The engine: bots, their timers, the receive path and the run loop.

use core::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use tickwire::client::lobby::LobbyClient;
use tickwire::client::{arena, Client, ClientConfig, DisconnectReason, Event};
use tickwire::internal::RecvBatch;
use tickwire::secure::UnixClock;
use tickwire::wire::{RejectReason, MAX_DATAGRAM};

use super::{BotConfig, Progress, Summary, Tokens};
use crate::common::{cpu_time, micros, raise_fd_limit};

/// Datagrams read per `recvmmsg` call on one bot socket.
const RECV_BATCH: usize = 8;
/// Most `recvmmsg` calls per readiness event of one socket (a flood cannot starve others).
const RECV_CALLS: usize = 16;
/// Snapshot ticks remembered per bot (see [`Bot::window`]).
const RECENT: usize = 64;
/// The delivery window closes this long before a bot's end, so snapshots still in flight
/// at the end are not counted as lost.
const WINDOW_MARGIN: Duration = Duration::from_millis(50);
/// How long a bot waits for the lobby's answer to its login.
const LOBBY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Waiting,
    Running,
    Rejected,
    ConnectFailed,
    Dropped,
}

pub(super) struct Bot {
    pub(super) socket: UdpSocket,
    pub(super) server: SocketAddr,
    /// HELLO's reply address (from STUN), or `None` for "the source".
    pub(super) reply: Option<SocketAddr>,
    pub(super) start: Instant,
    pub(super) client: Option<Client>,
    pub(super) phase: Phase,
    /// The instant of this bot's live heap entry.
    pub(super) scheduled: Option<Instant>,
    pub(super) connected_at: Option<Instant>,
    pub(super) ended_at: Option<Instant>,
    pub(super) tick_hz: u16,
    /// Server tick and time (µs) in ACCEPT.
    pub(super) accept: (u32, u64),
    pub(super) newest: Option<(u32, u64)>,
    pub(super) snapshots: u64,
    /// The last [`RECENT`] snapshot ticks received, to count those after the window.
    pub(super) recent: [u32; RECENT],
    pub(super) next_input: Instant,
    pub(super) next_fire: Instant,
    pub(super) dir: (i8, i8),
    /// The REJECT's reason, when the server rejected this bot.
    pub(super) rejected: Option<RejectReason>,
    /// Why the connection ended, when it ended before the run did.
    pub(super) ended: Option<DisconnectReason>,
    /// The lobby login failed ([`BotConfig::lobby`]): the bot never sent HELLO.
    pub(super) lobby_failed: bool,
    /// The lobby connection that issued this bot's ticket, held until the handshake ends
    /// (logging out revokes an unused ticket).
    pub(super) lobby: Option<LobbyClient>,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) started: usize,
    pub(super) connected: usize,
    pub(super) failed: usize,
    /// Bots done for good before the end (rejected, failed, dropped or closed).
    pub(super) ended: usize,
    pub(super) snapshots: u64,
    pub(super) ticks_lost: u64,
    pub(super) datagrams_in: u64,
    pub(super) datagrams_out: u64,
    pub(super) inputs: u64,
    pub(super) fires: u64,
    pub(super) send_errors: u64,
    pub(super) recv_errors: u64,
}

pub(super) struct Engine<'a> {
    pub(super) cfg: &'a BotConfig,
    pub(super) bots: Vec<Bot>,
    pub(super) heap: BinaryHeap<Reverse<(Instant, u32)>>,
    pub(super) rng: SmallRng,
    pub(super) buf: Box<[u8; MAX_DATAGRAM]>,
    pub(super) recv: RecvBatch,
    pub(super) c: Counters,
    /// Unix time for the tokens the bots mint ([`Tokens::Mint`]).
    pub(super) clock: UnixClock,
}

fn period(hz: f64) -> Option<Duration> {
    (hz.is_finite() && hz > 0.0).then(|| Duration::from_secs_f64((1.0 / hz).max(1e-6)))
}

/// A bot's socket, connected to its server, and the reply address STUN found for it.
fn bot_socket(
    server: SocketAddr,
    local: SocketAddr,
    buffer: Option<usize>,
    stun: Option<SocketAddr>,
) -> io::Result<(UdpSocket, Option<SocketAddr>)> {
    let (s, reply) = match stun {
        Some(st) => {
            let std_sock = std::net::UdpSocket::bind(local)?;
            let reply =
                tickwire::client::blocking::stun_discover(&std_sock, st, Duration::from_secs(5))?;
            std_sock.set_nonblocking(true)?;
            (UdpSocket::from_std(std_sock), Some(reply))
        }
        None => (UdpSocket::bind(local)?, None),
    };
    s.connect(server)?;
    if let Some(b) = buffer {
        let s2 = socket2::SockRef::from(&s);
        let _ = s2.set_recv_buffer_size(b);
    }
    Ok((s, reply))
}

/// Runs the bots until [`BotConfig::duration`] has passed (or [`BotConfig::stop`] is set),
/// calling `progress` every [`BotConfig::progress`]. Raises the fd limit when needed.
pub fn run(cfg: &BotConfig, mut progress: impl FnMut(&Progress)) -> io::Result<Summary> {
    if cfg.servers.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no server address",
        ));
    }
    let n = cfg.clients;
    if cfg.tokens.is_some() && cfg.lobby.is_some() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "lobby tickets and connect tokens do not combine: tickets ride in plain HELLOs, \
             which a secure server drops",
        ));
    }
    if matches!(cfg.tokens, Some(Tokens::One(_))) && n > 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "one connect token admits one connection, not {n} bots: run one bot, or \
                 mint a token per bot from the fleet key"
            ),
        ));
    }
    let limit = raise_fd_limit(n as u64 + 64)?;
    if limit < n as u64 + 16 {
        return Err(io::Error::other(format!(
            "{n} bots need {} file descriptors; the limit is {limit}",
            n + 16
        )));
    }
    let sources = cfg
        .source_ips
        .resolve(&cfg.servers)
        .map_err(io::Error::other)?;
    let poll = Poll::new()?;
    let t0 = Instant::now();
    let rate = if cfg.connect_rate.is_finite() && cfg.connect_rate > 0.0 {
        cfg.connect_rate
    } else {
        f64::INFINITY
    };
    let mut bots = Vec::with_capacity(n);
    for i in 0..n {
        let server = cfg.servers[i % cfg.servers.len()];
        let local = sources.bind_addr(i, &server);
        let (mut socket, reply) = bot_socket(server, local, cfg.socket_buffer, cfg.stun)
            .map_err(|e| io::Error::new(e.kind(), format!("bot {i}: socket on {local}: {e}")))?;
        poll.registry()
            .register(&mut socket, Token(i), Interest::READABLE)?;
        let start = t0 + Duration::from_secs_f64((i as f64 / rate).min(1e6));
        bots.push(Bot {
            socket,
            server,
            reply,
            start,
            client: None,
            phase: Phase::Waiting,
            scheduled: None,
            connected_at: None,
            ended_at: None,
            tick_hz: 0,
            accept: (0, 0),
            newest: None,
            snapshots: 0,
            recent: [0; RECENT],
            next_input: start,
            next_fire: start,
            dir: (0, 0),
            rejected: None,
            ended: None,
            lobby_failed: false,
            lobby: None,
        });
    }
    let mut e = Engine {
        cfg,
        heap: BinaryHeap::with_capacity(2 * n + 16),
        bots,
        rng: SmallRng::seed_from_u64(cfg.seed),
        buf: Box::new([0; MAX_DATAGRAM]),
        recv: RecvBatch::new(RECV_BATCH),
        c: Counters::default(),
        clock: UnixClock::system(),
    };
    for i in 0..n {
        let at = e.bots[i].start;
        e.schedule(i, at);
    }
    let cpu0 = cpu_time();
    // Absurd durations saturate at a year instead of overflowing `Instant`.
    let end = later(t0, cfg.duration);
    let mut events = Events::with_capacity(1024);
    let mut next_progress = cfg.progress.map(|p| later(t0, p));
    let mut last = (t0, 0u64, 0u64, 0u64, 0u64);
    let mut poll = poll;
    loop {
        let now = Instant::now();
        if now >= end || cfg.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
            break;
        }
        // Every bot is done (rejected, failed, dropped): nothing is left to measure.
        if n > 0 && e.c.ended >= n {
            break;
        }
        e.run_due(now);
        // The timers just run may have ended the last bots (handshake timeouts): do not
        // sleep until the end with nothing left to wait for.
        if n > 0 && e.c.ended >= n {
            break;
        }
        if let (Some(at), Some(iv)) = (next_progress, cfg.progress) {
            if now >= at {
                let secs = now
                    .saturating_duration_since(last.0)
                    .as_secs_f64()
                    .max(1e-9);
                let snaps = e.c.snapshots - last.1;
                let lost = e.c.ticks_lost - last.2;
                progress(&Progress {
                    elapsed_s: now.saturating_duration_since(t0).as_secs_f64(),
                    started: e.c.started,
                    connected: e.c.connected,
                    failed: e.c.failed,
                    snapshots_per_s: snaps as f64 / secs,
                    loss: if snaps + lost > 0 {
                        lost as f64 / (snaps + lost) as f64
                    } else {
                        0.0
                    },
                    datagrams_in_per_s: (e.c.datagrams_in - last.3) as f64 / secs,
                    datagrams_out_per_s: (e.c.datagrams_out - last.4) as f64 / secs,
                });
                last = (
                    now,
                    e.c.snapshots,
                    e.c.ticks_lost,
                    e.c.datagrams_in,
                    e.c.datagrams_out,
                );
                next_progress = Some(later(at, iv).max(now));
            }
        }
        let mut wake = end;
        if let Some(Reverse((t, _))) = e.heap.peek() {
            wake = wake.min(*t);
        }
        if let Some(p) = next_progress {
            wake = wake.min(p);
        }
        // With a stop flag, look at it at least every 100 ms.
        if cfg.stop.is_some() {
            wake = wake.min(now + Duration::from_millis(100));
        }
        let timeout = wake.saturating_duration_since(now);
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
        let now = Instant::now();
        for ev in events.iter() {
            let i = ev.token().0;
            if i < e.bots.len() {
                e.receive(i, now);
                e.service(i, now);
            }
        }
    }
    let stop = Instant::now();
    e.finish(stop);
    let cpu1 = cpu_time();
    let wall = stop.saturating_duration_since(t0);
    Ok(e.summary(wall, (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1)))
}

impl Engine<'_> {
    /// Makes sure bot `i` is woken at `at` or earlier.
    fn schedule(&mut self, i: usize, at: Instant) {
        let b = &mut self.bots[i];
        if b.scheduled.is_some_and(|s| s <= at) {
            return;
        }
        b.scheduled = Some(at);
        self.heap.push(Reverse((at, i as u32)));
    }

    fn run_due(&mut self, now: Instant) {
        while let Some(&Reverse((t, i))) = self.heap.peek() {
            if t > now {
                break;
            }
            self.heap.pop();
            let i = i as usize;
            if self.bots[i].scheduled != Some(t) {
                continue; // superseded by an earlier entry that already ran
            }
            self.bots[i].scheduled = None;
            self.service(i, now);
        }
    }

    fn receive(&mut self, i: usize, now: Instant) {
        let fd = self.bots[i].socket.as_raw_fd();
        for _ in 0..RECV_CALLS {
            match self.recv.recv(fd) {
                Ok(got) => {
                    for k in 0..got {
                        let Some((_, data, _)) = self.recv.get(k) else {
                            continue;
                        };
                        self.c.datagrams_in += 1;
                        let b = &mut self.bots[i];
                        let Some(client) = b.client.as_mut() else {
                            continue;
                        };
                        let ev = client.handle_datagram(now, data);
                        if let Some(ev) = ev {
                            on_event(b, &mut self.c, &mut self.rng, self.cfg, now, ev);
                        }
                    }
                    if got < RECV_BATCH {
                        return; // drained: a later datagram raises a new event
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.c.recv_errors += 1,
            }
        }
    }

    /// Runs bot `i`'s timers and actions due at `now`, sends what it has, reschedules it.
    fn service(&mut self, i: usize, now: Instant) {
        let cfg = self.cfg;
        let b = &mut self.bots[i];
        if b.phase == Phase::Waiting {
            if now < b.start {
                let at = b.start;
                self.schedule(i, at);
                return;
            }
            self.c.started += 1;
            let mut ticket = cfg.client.ticket;
            if let Some(lobby) = cfg.lobby {
                match lobby_login(lobby, i, cfg.seed) {
                    Ok((l, t)) => {
                        ticket = t;
                        b.lobby = Some(l);
                    }
                    Err(err) => {
                        log::debug!("bot {i}: lobby login at {lobby}: {err}");
                        b.lobby_failed = true;
                        b.phase = Phase::ConnectFailed;
                        self.c.failed += 1;
                        self.c.ended += 1;
                        return;
                    }
                }
            }
            let ccfg = ClientConfig {
                protocol_id: cfg.protocol_id,
                reply: b.reply.or(cfg.client.reply),
                ticket,
                ..cfg.client
            };
            let token = match &cfg.tokens {
                None => None,
                Some(Tokens::Mint { issuer, scope }) => Some(issuer.mint(
                    i as u64,
                    *scope,
                    &bot_name(i, cfg.seed),
                    self.clock.unix_secs(now),
                )),
                Some(Tokens::One(t)) => Some(t.clone()),
                Some(Tokens::Lobby {
                    addr,
                    trust,
                    server_name,
                    scope,
                }) => match lobby_token(*addr, trust, server_name, *scope, i, cfg.seed) {
                    Ok(t) => Some(t),
                    Err(err) => {
                        log::debug!("bot {i}: token from the TLS lobby at {addr}: {err}");
                        b.lobby_failed = true;
                        b.phase = Phase::ConnectFailed;
                        self.c.failed += 1;
                        self.c.ended += 1;
                        return;
                    }
                },
            };
            b.client = Some(match token {
                Some(t) => Client::with_token(ccfg, t, now),
                None => Client::new(ccfg, now),
            });
            b.phase = Phase::Running;
        }
        let Some(client) = b.client.as_mut() else {
            return;
        };
        if now >= client.poll_timeout() {
            if let Some(ev) = client.handle_timeout(now) {
                on_event(b, &mut self.c, &mut self.rng, cfg, now, ev);
            }
        }
        let Some(client) = b.client.as_mut() else {
            return;
        };
        if client.state().is_connected() {
            if let Some(p) = period(cfg.input_hz) {
                if now >= b.next_input {
                    if self.rng.gen_ratio(1, 4) {
                        b.dir = (self.rng.gen_range(-1..=1), self.rng.gen_range(-1..=1));
                    }
                    let (kind, payload) = arena::input(b.dir.0, b.dir.1);
                    if client.send_game(kind, &payload).is_ok() {
                        self.c.inputs += 1;
                    }
                    b.next_input = next_after(b.next_input, p, now);
                }
            }
            if let Some(p) = period(cfg.fire_hz) {
                if now >= b.next_fire {
                    if let Some((tick, time_us)) = b.newest {
                        let aim = loop {
                            let a = (
                                self.rng.gen_range(-100..=100),
                                self.rng.gen_range(-100..=100),
                            );
                            if a != (0, 0) {
                                break a;
                            }
                        };
                        if let Some((kind, payload)) = arena::fire(tick, time_us, aim.0, aim.1) {
                            if client.send_game(kind, &payload).is_ok() {
                                self.c.fires += 1;
                            }
                        }
                    }
                    b.next_fire = next_after(b.next_fire, p, now);
                }
            }
        }
        while let Some(len) = client.poll_transmit(now, &mut self.buf[..]) {
            self.c.datagrams_out += 1;
            match b.socket.send(&self.buf[..len]) {
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {
                    if b.socket.send(&self.buf[..len]).is_err() {
                        self.c.send_errors += 1;
                    }
                }
                Err(_) => self.c.send_errors += 1,
            }
        }
        let mut wake = client.poll_timeout();
        if client.state().is_connected() {
            if period(cfg.input_hz).is_some() {
                wake = wake.min(b.next_input);
            }
            if period(cfg.fire_hz).is_some() && b.newest.is_some() {
                wake = wake.min(b.next_fire);
            }
        }
        self.schedule(i, wake);
    }

    /// Ends the run at `now`: every bot stops its clock, connected ones say BYE.
    fn finish(&mut self, now: Instant) {
        for b in &mut self.bots {
            let Some(client) = b.client.as_mut() else {
                continue;
            };
            if client.state().is_connected() {
                b.ended_at = Some(now);
                client.disconnect();
                while let Some(len) = client.poll_transmit(now, &mut self.buf[..]) {
                    if b.socket.send(&self.buf[..len]).is_err() {
                        self.c.send_errors += 1;
                    }
                }
            } else if b.phase == Phase::Running && b.connected_at.is_none() {
                b.phase = Phase::ConnectFailed;
            }
        }
    }
}

/// Logs bot `i` in to the lobby at `addr` (name `b<seed mod 10^6>-<i>`, at most 16 bytes)
/// and returns the connection and the ticket it issued.
fn lobby_login(addr: SocketAddr, i: usize, seed: u64) -> io::Result<(LobbyClient, u64)> {
    let stream = std::net::TcpStream::connect_timeout(&addr, LOBBY_TIMEOUT)?;
    let mut l = LobbyClient::from_stream(stream)?;
    l.set_timeout(LOBBY_TIMEOUT);
    let name = bot_name(i, seed);
    let login = l
        .login(&name)
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok((l, login.ticket))
}

/// Logs bot `i` in to the TLS lobby at `addr` and asks it for a connect token of `scope`;
/// the lobby connection closes when this returns (the token outlives the login).
fn lobby_token(
    addr: SocketAddr,
    trust: &tickwire::client::lobby::TlsTrust,
    server_name: &str,
    scope: u64,
    i: usize,
    seed: u64,
) -> Result<tickwire::secure::ConnectToken, String> {
    let stream =
        std::net::TcpStream::connect_timeout(&addr, LOBBY_TIMEOUT).map_err(|e| e.to_string())?;
    let mut l =
        LobbyClient::from_stream_tls(stream, trust, server_name).map_err(|e| e.to_string())?;
    l.set_timeout(LOBBY_TIMEOUT);
    l.login(&bot_name(i, seed)).map_err(|e| e.to_string())?;
    l.token(scope).map_err(|e| e.to_string())
}

/// Bot `i`'s name in the lobby and in its token: `b<seed mod 10^6>-<i>`.
fn bot_name(i: usize, seed: u64) -> String {
    format!("b{}-{i}", seed % 1_000_000)
}

fn on_event(
    b: &mut Bot,
    c: &mut Counters,
    rng: &mut SmallRng,
    cfg: &BotConfig,
    now: Instant,
    ev: Event,
) {
    match ev {
        Event::Connected {
            tick_hz,
            tick,
            server_time_us,
            ..
        } => {
            b.connected_at = Some(now);
            b.lobby = None; // the ticket is redeemed
                            // Ticks usable for rendering (issue 16): each bot keeps an interpolation buffer.
            if let Some(cl) = b.client.as_mut() {
                cl.enable_interpolation(super::summary::bot_interp());
            }
            b.tick_hz = tick_hz;
            b.accept = (tick, server_time_us);
            c.connected += 1;
            // Random phases, so the bots' inputs do not all land in the same tick.
            if let Some(p) = period(cfg.input_hz) {
                b.next_input = now + p.mul_f64(rng.gen::<f64>());
            }
            if let Some(p) = period(cfg.fire_hz) {
                b.next_fire = now + p.mul_f64(rng.gen::<f64>());
            }
            b.dir = (rng.gen_range(-1..=1), rng.gen_range(-1..=1));
        }
        Event::Snapshot { tick, time_us } => {
            b.recent[b.snapshots as usize % RECENT] = tick;
            b.snapshots += 1;
            c.snapshots += 1;
            if let Some((prev, _)) = b.newest {
                let gap = tick.wrapping_sub(prev);
                if gap > 1 && gap < 1 << 31 {
                    c.ticks_lost += u64::from(gap - 1);
                }
            }
            b.newest = Some((tick, time_us));
        }
        Event::Game { .. } => {}
        Event::Rejected(reason) => {
            b.phase = Phase::Rejected;
            b.rejected = Some(reason);
            b.lobby = None;
            c.failed += 1;
            c.ended += 1;
        }
        Event::Disconnected(reason) => {
            b.ended_at = Some(now);
            b.ended = Some(reason);
            b.lobby = None;
            c.ended += 1;
            if b.connected_at.is_some() {
                c.connected = c.connected.saturating_sub(1);
                if reason != DisconnectReason::Closed {
                    b.phase = Phase::Dropped;
                    c.failed += 1;
                }
            } else {
                b.phase = Phase::ConnectFailed;
                c.failed += 1;
            }
        }
    }
}

impl Bot {
    /// The delivery window of a connected bot: `(received, expected)` snapshot ticks.
    ///
    /// The window runs from the first tick after ACCEPT's tick to the last tick due (in
    /// server time, estimated from ACCEPT's server time and our connect instant) by
    /// [`WINDOW_MARGIN`] before the bot's end. Counting ticks this way, rather than
    /// `tick rate * connected time`, leaves out the snapshot in flight at either edge, so
    /// a short run is not penalized for the delivery delay.
    pub(super) fn window(&self) -> (u64, u64) {
        let (Some(at), Some(end)) = (self.connected_at, self.ended_at) else {
            return (0, 0);
        };
        let hz = u64::from(self.tick_hz.max(1));
        let margin =
            WINDOW_MARGIN.min(Duration::from_secs(RECENT as u64 - 2) / self.tick_hz.max(1) as u32);
        let since = micros(end.saturating_duration_since(at).saturating_sub(margin));
        let server_end_us = self.accept.1.saturating_add(since);
        let last_tick = u32::try_from(u128::from(server_end_us) * u128::from(hz) / 1_000_000)
            .unwrap_or(u32::MAX);
        let expected = u64::from(last_tick.saturating_sub(self.accept.0));
        let recent = (self.snapshots as usize).min(RECENT);
        let after = self.recent[..recent]
            .iter()
            .filter(|&&t| (t.wrapping_sub(last_tick) as i32) > 0)
            .count() as u64;
        (self.snapshots.saturating_sub(after), expected)
    }
}

/// The next multiple of `p` after `prev` that is later than `now` (no burst after a stall).
fn next_after(prev: Instant, p: Duration, now: Instant) -> Instant {
    let next = prev + p;
    if next > now {
        next
    } else {
        now + p
    }
}

/// `t + d`, at most a year later.
fn later(t: Instant, d: Duration) -> Instant {
    let year = Duration::from_secs(365 * 86_400);
    t.checked_add(d.min(year)).unwrap_or(t)
}
