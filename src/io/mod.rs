//! The I/O shell: one thread, one `mio::Poll`, the sockets, the clock.
//!
//! [`Host`] owns one UDP socket per match (each with its own [`Server`]), a `timerfd`
//! armed at the next tick deadline (mio's own poll timeout rounds to whole milliseconds),
//! and optionally the signal handlers. Datagrams are read with `recvmmsg` into buffers
//! allocated at start-up and answered with `sendmmsg`, snapshot bodies straight from the
//! ring. Receive work per wake-up is capped so a flood cannot starve the tick.

mod query_view;
pub(crate) mod sys;

pub use query_view::ServerInfo;

use crate::lobby::{Lobby, LobbyConfig};
use crate::proto::{Config, Game, Server, Stats};
use crate::query::{Query, QueryOut};
use crate::stun::Stun;
use crate::tickets::Tickets;
use crate::wire::{demux, Demux, DropReason};
use hdrhistogram::Histogram;
use mio::net::UdpSocket;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use query_view::QueryView;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use sys::{RecvBatch, SendBatch, TimerFd};

const TIMER: Token = Token(1_000_000);
const SIGNALS: Token = Token(1_000_001);
const WAKER: Token = Token(1_000_002);
/// The lobby's listener; its connections follow.
const LOBBY_BASE: usize = 2_000_000;

/// Datagrams read per `recvmmsg` call.
const RECV_BATCH: usize = 64;
/// Datagrams queued per `sendmmsg` flush.
const SEND_BATCH: usize = 1024;
/// Broadcast datagrams sent between two looks at the tick deadlines (about 50 us of
/// loopback sends).
const SEND_CHUNK: usize = 8;

/// Settings of the I/O shell.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Address of the first match's UDP port (`0.0.0.0:7777`).
    pub bind: SocketAddr,
    /// Independent matches on consecutive ports (1).
    pub matches: usize,
    /// The core's settings, shared by every match.
    pub server: Config,
    /// Socket send and receive buffer size asked of the kernel (8 MiB).
    pub socket_buffer: usize,
    /// Most datagrams read from one socket per wake-up (1024).
    pub recv_budget: usize,
    /// How often to log a stats line (`None` = never; 5 s by default).
    pub stats_interval: Option<Duration>,
    /// Stop cleanly on SIGINT and SIGTERM (off for embedders, on in the binary).
    pub handle_signals: bool,
    /// Name, map and game shown to A2S server browsers.
    pub info: ServerInfo,
    /// STUN answers per second per source IP (20).
    pub stun_limit: u32,
    /// A2S answers per second per source IP (20).
    pub query_limit: u32,
    /// The TCP lobby's address and settings; `None` runs no lobby. Logins issue tickets
    /// that every match redeems (`Config::require_ticket` makes them mandatory).
    pub lobby: Option<(SocketAddr, LobbyConfig)>,
}

impl Default for HostConfig {
    fn default() -> HostConfig {
        HostConfig {
            bind: SocketAddr::from(([0, 0, 0, 0], 7777)),
            matches: 1,
            server: Config::default(),
            socket_buffer: 8 << 20,
            recv_budget: 1024,
            stats_interval: Some(Duration::from_secs(5)),
            handle_signals: false,
            info: ServerInfo::default(),
            stun_limit: crate::stun::DEFAULT_LIMIT_PER_SEC,
            query_limit: crate::query::DEFAULT_LIMIT_PER_SEC,
            lobby: None,
        }
    }
}

/// Stops a running [`Host`] from another thread.
#[derive(Clone)]
pub struct Stopper {
    flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl Stopper {
    /// Asks the host to say BYE to everyone and return from [`Host::run`].
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }
}

/// Counters of the I/O shell.
#[derive(Debug, Clone)]
pub struct IoStats {
    /// `recvmmsg` errors other than WouldBlock (ICMP port unreachable and the like).
    pub recv_errors: u64,
    /// Datagrams the kernel would not take (send buffer full) or refused.
    pub send_dropped: u64,
    /// Times a socket's receive budget ran out before it was drained.
    pub recv_budget_hits: u64,
    /// Tick start lateness in microseconds, since start.
    pub tick_lateness: Histogram<u64>,
}

struct Match<G> {
    socket: UdpSocket,
    addr: SocketAddr,
    server: Server<G>,
    /// Readable and not yet drained to WouldBlock.
    pending: bool,
}

/// One event loop hosting one or more matches.
pub struct Host<G> {
    cfg: HostConfig,
    poll: Poll,
    matches: Vec<Match<G>>,
    timer: TimerFd,
    signals: Option<signal_hook_mio::v1_0::Signals>,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    recv: RecvBatch,
    send: SendBatch,
    stats: IoStats,
    window: Window,
    stun: Stun,
    query: Query,
    /// Reply buffers for STUN and A2S, allocated once.
    stun_out: Box<[u8]>,
    query_out: QueryOut,
    lobby: Option<Lobby>,
}

/// Counters at the start of the current stats window.
struct Window {
    at: Instant,
    datagrams_in: u64,
    datagrams_out: u64,
    lateness: Histogram<u64>,
}

fn lateness_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("static histogram bounds are valid")
}

fn bind_udp(addr: SocketAddr, buffer: usize) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // Dual-stack where the address allows it; IPv4 peers show up as ::ffff:a.b.c.d
        // and are mapped back by the receive path.
        let _ = s.set_only_v6(false);
    }
    if let Err(e) = s.set_recv_buffer_size(buffer) {
        log::warn!("cannot set receive buffer to {buffer}: {e}");
    }
    if let Err(e) = s.set_send_buffer_size(buffer) {
        log::warn!("cannot set send buffer to {buffer}: {e}");
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(UdpSocket::from_std(s.into()))
}

/// Binds `n` sockets on consecutive ports from `first`; with port 0, finds a free run.
fn bind_consecutive(first: SocketAddr, n: usize, buffer: usize) -> io::Result<Vec<UdpSocket>> {
    if first.port() != 0 || n == 1 {
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            let port = u16::try_from(usize::from(first.port()) + i).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "match ports run past 65535")
            })?;
            v.push(bind_udp(SocketAddr::new(first.ip(), port), buffer)?);
        }
        return Ok(v);
    }
    let mut last_err = None;
    for _ in 0..32 {
        let s0 = bind_udp(first, buffer)?;
        let base = s0.local_addr()?.port();
        let mut v = vec![s0];
        for i in 1..n {
            let port = usize::from(base) + i;
            let Ok(port) = u16::try_from(port) else { break };
            match bind_udp(SocketAddr::new(first.ip(), port), buffer) {
                Ok(s) => v.push(s),
                Err(e) => {
                    last_err = Some(e);
                    break;
                }
            }
        }
        if v.len() == n {
            return Ok(v);
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no free run of consecutive ports")))
}

impl<G: Game> Host<G> {
    /// Binds the sockets and builds one server per match, with `make_game(i)` for match `i`.
    pub fn bind(cfg: HostConfig, mut make_game: impl FnMut(usize) -> G) -> io::Result<Host<G>> {
        let poll = Poll::new()?;
        let n = cfg.matches.max(1);
        if cfg.server.require_ticket && cfg.lobby.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "tickets are required but there is no lobby to issue them",
            ));
        }
        let mut tickets = None;
        let lobby = match &cfg.lobby {
            Some((addr, lcfg)) => {
                let lcfg = lcfg.clone().sanitized();
                let t = Tickets::new(lcfg.max_conns);
                tickets = Some(t.clone());
                let mut l = Lobby::bind(*addr, lcfg, t)
                    .map_err(|e| io::Error::new(e.kind(), format!("lobby {addr}: {e}")))?;
                l.register(poll.registry(), LOBBY_BASE)?;
                Some(l)
            }
            None => None,
        };
        let sockets = bind_consecutive(cfg.bind, n, cfg.socket_buffer)?;
        let now = Instant::now();
        let mut matches = Vec::with_capacity(n);
        for (i, mut socket) in sockets.into_iter().enumerate() {
            poll.registry()
                .register(&mut socket, Token(i), Interest::READABLE)?;
            let mut scfg = cfg.server.clone();
            scfg.seed = cfg.server.seed.map(|s| s.wrapping_add(i as u64));
            // Stagger the matches' tick clocks evenly over one period, so their broadcasts
            // do not all fall due at the same instant and delay each other's ticks.
            let period_ns = 1_000_000_000 / u64::from(cfg.server.tick_hz.max(1));
            let offset = Duration::from_nanos(period_ns * i as u64 / n as u64);
            matches.push(Match {
                addr: socket.local_addr()?,
                socket,
                server: Server::new(scfg, make_game(i), now + offset),
                pending: true,
            });
            if let (Some(t), Some(m)) = (&tickets, matches.last_mut()) {
                m.server.set_tickets(t.clone());
            }
        }
        let mut timer = TimerFd::new()?;
        poll.registry()
            .register(&mut SourceFd(&timer.as_raw_fd()), TIMER, Interest::READABLE)?;
        timer.arm(now)?;
        let signals = if cfg.handle_signals {
            let mut s = signal_hook_mio::v1_0::Signals::new([
                signal_hook::consts::SIGINT,
                signal_hook::consts::SIGTERM,
            ])?;
            poll.registry()
                .register(&mut s, SIGNALS, Interest::READABLE)?;
            Some(s)
        } else {
            None
        };
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let v6 = cfg.bind.is_ipv6();
        Ok(Host {
            poll,
            matches,
            timer,
            signals,
            stop: Arc::new(AtomicBool::new(false)),
            waker,
            recv: RecvBatch::new(RECV_BATCH),
            send: SendBatch::new(SEND_BATCH, v6),
            stats: IoStats {
                recv_errors: 0,
                send_dropped: 0,
                recv_budget_hits: 0,
                tick_lateness: lateness_histogram(),
            },
            window: Window {
                at: now,
                datagrams_in: 0,
                datagrams_out: 0,
                lateness: lateness_histogram(),
            },
            stun: Stun::new(cfg.stun_limit),
            query: Query::new(cfg.query_limit),
            stun_out: vec![0u8; 1200].into_boxed_slice(),
            query_out: QueryOut::new(),
            lobby,
            cfg,
        })
    }

    /// The UDP address of each match.
    pub fn udp_addrs(&self) -> Vec<SocketAddr> {
        self.matches.iter().map(|m| m.addr).collect()
    }

    /// A handle that stops [`Host::run`] from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            flag: self.stop.clone(),
            waker: self.waker.clone(),
        }
    }

    /// Match `i`'s server.
    pub fn server(&self, i: usize) -> Option<&Server<G>> {
        self.matches.get(i).map(|m| &m.server)
    }

    /// The I/O counters.
    pub fn io_stats(&self) -> &IoStats {
        &self.stats
    }

    /// Runs the loop until stopped (signal or [`Stopper`]); then says BYE to every client.
    pub fn run(&mut self) -> io::Result<()> {
        // Timer slack (50 us by default) would delay every timerfd wake-up: ask for none.
        // SAFETY: prctl with PR_SET_TIMERSLACK only changes this thread's timer slack.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
        let mut events = Events::with_capacity(256);
        loop {
            let pending = self.matches.iter().any(|m| m.pending)
                || self.lobby.as_ref().is_some_and(|l| l.has_pending());
            let timeout = pending.then_some(Duration::ZERO);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for ev in events.iter() {
                match ev.token() {
                    TIMER => self.timer.clear(),
                    SIGNALS => {
                        if let Some(s) = self.signals.as_mut() {
                            for sig in s.pending() {
                                log::info!("signal {sig}: shutting down");
                                self.stop.store(true, Ordering::SeqCst);
                            }
                        }
                    }
                    WAKER => {}
                    t if self.lobby.as_ref().is_some_and(|l| l.owns(t)) => {
                        if let Some(l) = self.lobby.as_mut() {
                            l.handle_event(self.poll.registry(), ev, Instant::now());
                        }
                    }
                    Token(i) => {
                        if let Some(m) = self.matches.get_mut(i) {
                            m.pending = true;
                        }
                    }
                }
            }
            self.run_timers();
            for i in 0..self.matches.len() {
                if self.matches[i].pending {
                    self.receive(i);
                }
            }
            if let Some(l) = self.lobby.as_mut() {
                l.run_pending(self.poll.registry(), Instant::now());
            }
            self.run_timers();
            self.run_lobby_timers();
            if self.stop.load(Ordering::SeqCst) {
                self.shutdown();
                return Ok(());
            }
            self.maybe_log_stats();
            let next = self.next_deadline();
            self.timer.arm(next)?;
        }
    }

    /// The lobby's address, when there is one.
    pub fn lobby_addr(&self) -> Option<SocketAddr> {
        self.lobby.as_ref().map(|l| l.local_addr())
    }

    /// The lobby, when there is one.
    pub fn lobby(&self) -> Option<&Lobby> {
        self.lobby.as_ref()
    }

    fn run_lobby_timers(&mut self) {
        if let Some(l) = self.lobby.as_mut() {
            let now = Instant::now();
            if l.next_timeout().is_some_and(|t| t <= now) {
                l.handle_timeout(self.poll.registry(), now);
            }
        }
    }

    fn next_deadline(&self) -> Instant {
        let mut next = self
            .matches
            .iter()
            .map(|m| m.server.poll_timeout())
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        if let Some(iv) = self.cfg.stats_interval {
            next = next.min(self.window.at + iv);
        }
        if let Some(t) = self.lobby.as_ref().and_then(|l| l.next_timeout()) {
            next = next.min(t);
        }
        next
    }

    /// Starts every due tick, then sends the broadcasts in chunks of [`SEND_CHUNK`],
    /// starting any tick that falls due meanwhile before the next chunk: one match's
    /// broadcast never holds up another match's tick by more than a chunk.
    fn run_timers(&mut self) {
        loop {
            let now = Instant::now();
            for i in 0..self.matches.len() {
                let deadline = self.matches[i].server.poll_timeout();
                if deadline > now {
                    continue;
                }
                let late = u64::try_from((now - deadline).as_micros()).unwrap_or(u64::MAX);
                let _ = self.stats.tick_lateness.record(late.min(60_000_000));
                let _ = self.window.lateness.record(late.min(60_000_000));
                self.matches[i].server.handle_timeout(now);
            }
            let Some(m) = self
                .matches
                .iter_mut()
                .find(|m| !m.server.transmits().is_empty())
            else {
                return;
            };
            flush_some(m, &mut self.send, &mut self.stats, SEND_CHUNK);
        }
    }

    fn receive(&mut self, i: usize) {
        let budget = self.cfg.recv_budget.max(1);
        // Stop reading as soon as any match's tick falls due: a tick never waits for more
        // than one batch.
        let tick_due = self.matches.iter().map(|m| m.server.poll_timeout()).min();
        let m = &mut self.matches[i];
        let fd = m.socket.as_raw_fd();
        let mut done = 0;
        while done < budget {
            match self.recv.recv(fd) {
                Ok(n) => {
                    done += n;
                    let now = Instant::now();
                    for k in 0..n {
                        let Some((src, data, _truncated)) = self.recv.get(k) else {
                            continue;
                        };
                        match demux(data) {
                            Demux::Game => {
                                let _ = m.server.handle_datagram(now, src, data);
                            }
                            Demux::Stun => {
                                match self.stun.handle(now, src, data, &mut self.stun_out) {
                                    Ok(len) => {
                                        reply(m, src, &self.stun_out[..len], &mut self.stats)
                                    }
                                    Err(d) => m.server.count_drop(d),
                                }
                            }
                            Demux::Query => {
                                self.query_out.clear();
                                let view = QueryView {
                                    server: &m.server,
                                    info: &self.cfg.info,
                                    now,
                                    port: m.addr.port(),
                                };
                                match self
                                    .query
                                    .handle(now, src, data, &view, &mut self.query_out)
                                {
                                    Ok(()) => {
                                        for p in self.query_out.packets() {
                                            reply(m, src, p, &mut self.stats);
                                        }
                                    }
                                    Err(d) => m.server.count_drop(d),
                                }
                            }
                        }
                    }
                    // Replies go out with the broadcasts, in chunks, from run_timers.
                    if tick_due.is_some_and(|t| now >= t) {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    m.pending = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // ECONNREFUSED and friends report an earlier send; they never stop us.
                    self.stats.recv_errors += 1;
                    log::debug!("recvmmsg on {}: {e}", m.addr);
                    done += 1;
                }
            }
        }
        self.stats.recv_budget_hits += 1;
    }

    fn shutdown(&mut self) {
        if let Some(l) = self.lobby.as_mut() {
            l.shutdown(self.poll.registry());
        }
        let now = Instant::now();
        for m in &mut self.matches {
            m.server.shutdown(now);
            flush(m, &mut self.send, &mut self.stats);
        }
    }

    fn maybe_log_stats(&mut self) {
        let Some(iv) = self.cfg.stats_interval else {
            return;
        };
        let now = Instant::now();
        let elapsed = now - self.window.at;
        if elapsed < iv {
            return;
        }
        let (din, dout) = self.totals();
        let secs = elapsed.as_secs_f64().max(1e-9);
        let mut depth = Histogram::<u64>::new_with_bounds(1, 3600, 2).expect("static bounds");
        for m in &self.matches {
            let _ = depth.add(m.server.rewind_depth());
        }
        let line = stats_line(
            &self.merged_stats(),
            &depth,
            self.clients(),
            (din - self.window.datagrams_in) as f64 / secs,
            (dout - self.window.datagrams_out) as f64 / secs,
            &self.window.lateness,
        );
        match &self.lobby {
            Some(l) => {
                let ls = l.stats();
                log::info!(
                    "{line} lobby conns={} users={} rooms={} msgs_in={} msgs_out={} slow_cut={}",
                    ls.conns,
                    ls.users,
                    ls.rooms,
                    ls.msgs_in,
                    ls.msgs_out,
                    ls.slow_readers_cut
                );
            }
            None => log::info!("{line}"),
        }
        self.window.at = now;
        self.window.datagrams_in = din;
        self.window.datagrams_out = dout;
        self.window.lateness.reset();
    }

    fn totals(&self) -> (u64, u64) {
        self.matches.iter().fold((0, 0), |(a, b), m| {
            let s = m.server.stats();
            (a + s.datagrams_in, b + s.datagrams_out)
        })
    }

    /// Connected clients over all matches.
    pub fn clients(&self) -> usize {
        self.matches.iter().map(|m| m.server.client_count()).sum()
    }

    /// The core counters of all matches added up.
    pub fn merged_stats(&self) -> Stats {
        let mut t = Stats::default();
        for m in &self.matches {
            t.merge(m.server.stats());
        }
        t
    }

    /// A one-line summary of everything since start.
    pub fn summary(&self) -> String {
        let s = self.merged_stats();
        let l = &self.stats.tick_lateness;
        format!(
            "clients={} in={} out={} bytes_in={} bytes_out={} accepts={} timeouts={} byes={} lost={} late={} ticks={} skipped={} recv_errors={} send_dropped={} drops[{}] tick_late_us p50={} p99={} max={}",
            self.clients(),
            s.datagrams_in,
            s.datagrams_out,
            s.bytes_in,
            s.bytes_out,
            s.accepts,
            s.timeouts,
            s.byes,
            s.lost,
            s.late,
            s.ticks,
            s.ticks_skipped,
            self.stats.recv_errors,
            self.stats.send_dropped,
            drops_list(&s),
            l.value_at_quantile(0.5),
            l.value_at_quantile(0.99),
            l.max(),
        )
    }
}

/// Sends one STUN or A2S reply at once (they are rare and rate-limited; game traffic goes
/// through the batches).
fn reply<G>(m: &Match<G>, dst: SocketAddr, bytes: &[u8], stats: &mut IoStats) {
    let dst = match (dst, m.addr) {
        (SocketAddr::V4(a), SocketAddr::V6(_)) => {
            SocketAddr::new(a.ip().to_ipv6_mapped().into(), a.port())
        }
        (d, _) => d,
    };
    if let Err(e) = m.socket.send_to(bytes, dst) {
        log::debug!("reply to {dst}: {e}");
        stats.send_dropped += 1;
    }
}

/// Sends everything the match has queued.
fn flush<G: Game>(m: &mut Match<G>, batch: &mut SendBatch, stats: &mut IoStats) {
    flush_some(m, batch, stats, usize::MAX);
}

/// Sends up to `max` of the match's queued transmits and reports them sent.
fn flush_some<G: Game>(m: &mut Match<G>, batch: &mut SendBatch, stats: &mut IoStats, max: usize) {
    let fd = m.socket.as_raw_fd();
    let queued = m.server.transmits();
    let n = queued.len().min(max);
    for t in &queued[..n] {
        if batch.is_full() {
            stats.send_dropped += batch.flush(fd).dropped as u64;
        }
        // SAFETY: the transmits and the ring are not touched until the flush below (or
        // the one above, when the batch fills) has returned.
        unsafe { batch.push(t.dst, t.head(), m.server.body(t)) };
    }
    if !batch.is_empty() {
        stats.send_dropped += batch.flush(fd).dropped as u64;
    }
    m.server.sent(n);
}

fn drops_list(s: &Stats) -> String {
    use core::fmt::Write;
    let mut out = String::new();
    for d in DropReason::ALL {
        let n = s.drop_count(*d);
        if n > 0 {
            let _ = write!(out, "{}{}={}", if out.is_empty() { "" } else { " " }, d, n);
        }
    }
    out
}

fn stats_line(
    s: &Stats,
    depth: &Histogram<u64>,
    clients: usize,
    in_ps: f64,
    out_ps: f64,
    l: &Histogram<u64>,
) -> String {
    let r = &s.rewinds;
    let refused: String = crate::proto::RewindError::ALL
        .iter()
        .zip(r.refused.iter())
        .map(|(e, n)| format!(" {}={}", e.label(), n))
        .collect();
    format!(
        "clients={clients} in/s={in_ps:.0} out/s={out_ps:.0} drops[{}] tick_late_us p50={} p99={} max={} shots ok={}{} rewind_ticks p50={} p99={} max={}",
        drops_list(s),
        l.value_at_quantile(0.5),
        l.value_at_quantile(0.99),
        l.max(),
        r.ok,
        refused,
        depth.value_at_quantile(0.5),
        depth.value_at_quantile(0.99),
        depth.max(),
    )
}
