//! The I/O shell: one thread, one `mio::Poll`, the sockets, the clock.
//!
//! [`Host`] owns one UDP socket per match (each with its own [`Server`]), a `timerfd`
//! armed at the next deadline (mio's own poll timeout rounds to whole milliseconds), the
//! optional lobby and signal handlers, and any [`Adapter`]s. Datagrams are read with
//! `recvmmsg` into buffers allocated at start-up and answered with `sendmmsg`, snapshot
//! bodies straight from the ring. Receive work per wake-up is capped so a flood cannot
//! starve the tick.
//!
//! One turn of [`Host::run`]:
//!
//! 1. wait for events (not at all when a socket still has unread datagrams) and dispatch
//!    each by its token, which one allocator handed out and remembers (`source.rs`); an
//!    unknown token is logged and counted in [`IoStats::unknown_events`];
//! 2. take a stop or drain request ([`RunState`]: a drain asked for before the turn admits
//!    nobody in it);
//! 3. start every due tick, sending broadcasts in chunks (`run_timers`);
//! 4. read the readable sockets (`udp.rs`) and the lobby's pending connections;
//! 5. ticks again, the lobby's timeouts, the adapters' timeouts;
//! 6. take a request that came meanwhile; when stopped (or a drain is over) say BYE to
//!    everyone and return;
//! 7. the stats line when due (`report.rs`), and the timer armed at the next deadline.
//!
//! Files: `mod.rs` the loop, `udp.rs` the per-match socket driver, `report.rs` the stats
//! reporter, `bind.rs` socket setup, `source.rs` the token table, `control.rs` the run
//! state and [`Stopper`], `adapter.rs` the extension points, `config.rs` the settings and
//! counters, `sys.rs` the syscalls.

mod adapter;
mod bind;
mod config;
mod control;
mod loops;
mod query_view;
mod report;
mod source;
pub(crate) mod sys;
mod udp;

pub use adapter::{Adapter, AdapterWaker, HostView, Registrar};
pub use config::{HostConfig, IoStats, Receive, TickPhase};
pub use control::{RunState, Stopper};
pub use loops::Loops;
pub use query_view::ServerInfo;

use crate::lobby::Lobby;
use crate::proto::{Game, Server, Stats};
use crate::query::Query;
use crate::seed::{derive, Stream};
use crate::stun::Stun;
use crate::tickets::Tickets;
use control::{Control, Request};
use mio::event::Event;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Waker};
use report::Reporter;
use source::{Source, Sources};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};
use sys::TimerFd;
use udp::{Counters, Match, Turn, Udp};

/// Broadcast datagrams sent between two looks at the tick deadlines when another tick is
/// due within [`ROOM_FOR_BIG_CHUNK`] (about 25 us of loopback sends).
const SEND_CHUNK: usize = 8;
/// Broadcast datagrams sent per `sendmmsg` when no tick is due for a while.
const BIG_SEND_CHUNK: usize = 128;
/// How far the next tick must be for a [`BIG_SEND_CHUNK`] (128 sends take about 400 us on
/// loopback here).
const ROOM_FOR_BIG_CHUNK: Duration = Duration::from_millis(1);

/// One event loop hosting one or more matches.
///
/// # Logging
///
/// A host logs through the [`log`](https://docs.rs/log) crate (joins and leaves, the stats
/// line every [`HostConfig::stats_interval`], signals, lobby events) and prints nothing
/// itself: an embedder sees none of it unless it installs a logger, for example
/// `env_logger::init()` at the start of `main` (see `examples/embed.rs`).
///
/// `Host<G>` is `Send` when `G` is: it may be built on one thread and run on another
/// (every part of it, adapters included, is `Send`). It is not `Sync`: one thread runs it.
pub struct Host<G> {
    cfg: HostConfig,
    poll: Poll,
    sources: Sources,
    matches: Vec<Match<G>>,
    timer: TimerFd,
    signals: Option<signal_hook_mio::v1_0::Signals>,
    control: Arc<Control>,
    waker: Arc<Waker>,
    /// Every loop's waker (this one's included): a signal or a [`Stopper`] wakes them all.
    peers: Arc<[Arc<Waker>]>,
    udp: Udp,
    counters: Counters,
    reporter: Reporter,
    lobby: Option<Lobby>,
    adapters: Vec<adapter::Slot<G>>,
    state: RunState,
    /// Whether a SIGTERM came already (the one that drains; the next stops at once).
    sigterm_seen: bool,
    /// With [`Receive::Batched`]: how long the drain before a tick takes (every match whose
    /// tick shares that deadline), so that it starts early enough to end before the spin.
    drain_cost: DrainCost,
}

/// How long the drains before a tick take: the longest recent one, decaying by 1/16 per
/// drain towards shorter ones (a burst of arrivals is planned for at once, and forgotten
/// slowly). At most [`DrainCost::MAX`].
#[derive(Debug, Clone, Copy, Default)]
struct DrainCost(Duration);

impl DrainCost {
    /// The most the drain before a tick is moved ahead of the spin (a quarter of a 60 Hz
    /// period: about 6000 datagrams here).
    const MAX: Duration = Duration::from_millis(4);

    fn get(self) -> Duration {
        self.0
    }

    fn record(&mut self, took: Duration) {
        let took = took.min(DrainCost::MAX);
        self.0 = if took >= self.0 {
            took
        } else {
            self.0 - (self.0 - took) / 16
        };
    }
}

/// A [`HostView`] of the host's fields, borrowing only those (so that another field, an
/// adapter or the reporter, can be borrowed mutably beside it).
macro_rules! view {
    ($h:expr) => {
        HostView {
            matches: &$h.matches,
            lobby: $h.lobby.as_ref(),
            counters: &$h.counters,
            state: $h.state,
        }
    };
}

/// When the tick of `server` is due, for its lateness (the core's `poll_timeout` may be an
/// earlier client idle timeout).
fn tick_due<G: Game>(server: &Server<G>) -> Instant {
    server.next_tick_deadline()
}

/// `now + d`, or a far-off instant when that does not fit.
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

/// What one loop is given of the whole: its matches' sockets and what the loops share.
pub(crate) struct Share {
    /// The index of this loop's first match among all loops' matches.
    pub(crate) first: usize,
    /// Matches over all loops.
    pub(crate) total: usize,
    /// This loop's matches' sockets, bound, in match order.
    pub(crate) sockets: Vec<mio::net::UdpSocket>,
    /// The lobby's tickets, redeemed by every match of every loop.
    pub(crate) tickets: Option<Tickets>,
    /// The lobby, on the loop that runs it.
    pub(crate) lobby: Option<Lobby>,
    /// Whether this loop takes SIGINT, SIGTERM and SIGHUP (for all of them).
    pub(crate) signals: bool,
    /// The stop and drain requests, shared by every loop.
    pub(crate) control: Arc<Control>,
}

/// Refuses settings that cannot work together; the lobby's tickets when there is a lobby.
pub(crate) fn check_and_make_tickets(cfg: &HostConfig) -> io::Result<Option<Tickets>> {
    if cfg.server.require_ticket && cfg.lobby.is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "tickets are required but there is no lobby to issue them",
        ));
    }
    Ok(cfg.lobby.as_ref().map(|(_, lcfg)| {
        let max = lcfg.clone().sanitized().max_conns;
        match cfg.server.seed {
            Some(s) => Tickets::with_seed(max, derive(s, Stream::Tickets)),
            None => Tickets::new(max),
        }
    }))
}

/// Binds the lobby's listener, when there is a lobby.
pub(crate) fn bind_lobby(cfg: &HostConfig, tickets: Option<&Tickets>) -> io::Result<Option<Lobby>> {
    let (Some((addr, lcfg)), Some(t)) = (&cfg.lobby, tickets) else {
        return Ok(None);
    };
    let mut l = Lobby::bind(*addr, lcfg.clone().sanitized(), t.clone()).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("the lobby cannot listen on tcp {addr}: {e}"),
        )
    })?;
    // The room games' shoes are drawn from the host's seed, so tests replay them.
    if let Some(s) = cfg.server.seed {
        l.set_game_seed(derive(s, Stream::RoomGames));
    }
    Ok(Some(l))
}

/// Binds the `n` matches' UDP sockets on consecutive ports.
pub(crate) fn bind_matches(cfg: &HostConfig, n: usize) -> io::Result<Vec<mio::net::UdpSocket>> {
    bind::bind_consecutive(cfg.bind, n, cfg.socket_buffer).map_err(|e| {
        let what = if n == 1 {
            "the game port"
        } else {
            "the match ports"
        };
        io::Error::new(
            e.kind(),
            format!("{what} cannot bind udp {}: {e}", cfg.bind),
        )
    })
}

impl<G: Game> Host<G> {
    /// Binds the sockets and builds one server per match, with `make_game(i)` for match `i`,
    /// on the calling thread. To run the host on another thread, build it there or move
    /// it there (it is `Send` when `G` is). For several loops, see [`Loops`].
    pub fn bind(cfg: HostConfig, mut make_game: impl FnMut(usize) -> G) -> io::Result<Host<G>> {
        let n = cfg.matches.max(1);
        let tickets = check_and_make_tickets(&cfg)?;
        let lobby = bind_lobby(&cfg, tickets.as_ref())?;
        let sockets = bind_matches(&cfg, n)?;
        let share = Share {
            first: 0,
            total: n,
            sockets,
            tickets,
            lobby,
            signals: cfg.handle_signals,
            control: Arc::new(Control::new()),
        };
        Host::assemble(cfg, share, &mut make_game)
    }

    /// Builds one loop from its share of the matches (their sockets bound already).
    pub(crate) fn assemble(
        cfg: HostConfig,
        share: Share,
        make_game: &mut impl FnMut(usize) -> G,
    ) -> io::Result<Host<G>> {
        let poll = Poll::new()?;
        let mut sources = Sources::new();
        let seed = cfg.server.seed;
        let lobby = match share.lobby {
            Some(mut l) => {
                let base = sources.add_run(Source::Lobby, l.tokens());
                l.register(poll.registry(), base.0)?;
                Some(l)
            }
            None => None,
        };
        let n = share.total;
        let now = Instant::now();
        let mut matches = Vec::with_capacity(share.sockets.len());
        for (k, mut socket) in share.sockets.into_iter().enumerate() {
            // `i` numbers the match among all loops' (its seed, its tick offset, its port).
            let i = share.first + k;
            let token = sources.add(Source::Match(k));
            match cfg.receive {
                Receive::Immediate => {
                    poll.registry()
                        .register(&mut socket, token, Interest::READABLE)?;
                }
                // Not registered: its datagrams wake nobody; the loop drains it on time.
                Receive::Batched { .. } => {
                    if let Err(e) = sys::enable_rx_timestamps(socket.as_raw_fd()) {
                        log::warn!(
                            "match {i}: no kernel receive timestamps ({e}): datagrams are \
                             timed when read, up to a drain interval late"
                        );
                    }
                }
            }
            let mut scfg = cfg.server.clone();
            scfg.seed = seed.map(|s| s.wrapping_add(i as u64));
            // Staggered: the matches' tick clocks spread evenly over one period, so their
            // broadcasts do not all fall due at the same instant. Aligned: one deadline.
            let period_ns = 1_000_000_000 / u64::from(cfg.server.tick_hz.max(1));
            let offset = match cfg.tick_phase {
                TickPhase::Staggered => Duration::from_nanos(period_ns * i as u64 / n as u64),
                TickPhase::Aligned => Duration::ZERO,
            };
            let mut server = Server::new(scfg, make_game(i), now + offset);
            if let Some(t) = &share.tickets {
                server.set_tickets(t.clone());
            }
            matches.push(Match {
                addr: socket.local_addr()?,
                socket,
                server,
                pending: true,
                drain_at: now,
                lead_drain: false,
                core_now: now,
            });
        }
        let mut timer = TimerFd::new()?;
        poll.registry().register(
            &mut SourceFd(&timer.as_raw_fd()),
            sources.add(Source::Timer),
            Interest::READABLE,
        )?;
        timer.arm(now)?;
        let signals = if share.signals {
            let mut s = signal_hook_mio::v1_0::Signals::new([
                signal_hook::consts::SIGINT,
                signal_hook::consts::SIGTERM,
                // Closing the terminal that runs the server: stop cleanly too (there is no
                // configuration file to reload).
                signal_hook::consts::SIGHUP,
            ])?;
            poll.registry()
                .register(&mut s, sources.add(Source::Signals), Interest::READABLE)?;
            Some(s)
        } else {
            None
        };
        let waker = Arc::new(Waker::new(poll.registry(), sources.add(Source::Waker))?);
        let (stun, query) = match seed {
            Some(s) => (
                Stun::with_seed(cfg.stun_limit, derive(s, Stream::Stun)),
                Query::with_seed(cfg.query_limit, derive(s, Stream::Query)),
            ),
            None => (Stun::new(cfg.stun_limit), Query::new(cfg.query_limit)),
        };
        Ok(Host {
            poll,
            sources,
            matches,
            timer,
            signals,
            control: share.control,
            peers: Arc::from([waker.clone()]),
            waker,
            udp: Udp::new(
                cfg.bind.is_ipv6(),
                stun,
                query,
                matches!(cfg.receive, Receive::Batched { .. }),
            ),
            counters: Counters::new(),
            reporter: Reporter::new(cfg.stats_interval, now),
            lobby,
            adapters: Vec::new(),
            state: RunState::Running,
            sigterm_seen: false,
            drain_cost: DrainCost::default(),
            cfg,
        })
    }

    /// Adds an [`Adapter`]: calls its [`register`](Adapter::register) now, then drives it
    /// from every turn of [`Host::run`]. Its index (for [`Host::adapter_waker`]) is the
    /// number of adapters added before it.
    pub fn add_adapter(&mut self, adapter: Box<dyn Adapter<G>>) -> io::Result<()> {
        let index = self.adapters.len();
        let mut slot = adapter::Slot {
            adapter,
            woken: Default::default(),
        };
        let waker = slot.waker(&self.waker);
        let mut reg = Registrar::new(self.poll.registry(), &mut self.sources, index, waker);
        slot.adapter.register(&mut reg)?;
        self.adapters.push(slot);
        Ok(())
    }

    /// A waker for adapter `index` (see [`Adapter::woken`]), to hand to another thread.
    pub fn adapter_waker(&self, index: usize) -> Option<AdapterWaker> {
        self.adapters.get(index).map(|s| s.waker(&self.waker))
    }

    /// The UDP address of each match.
    pub fn udp_addrs(&self) -> Vec<SocketAddr> {
        self.matches.iter().map(|m| m.addr).collect()
    }

    /// A handle that stops or drains [`Host::run`] from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            control: self.control.clone(),
            wakers: self.peers.clone(),
        }
    }

    /// Match `i`'s server.
    pub fn server(&self, i: usize) -> Option<&Server<G>> {
        self.matches.get(i).map(|m| &m.server)
    }

    /// The I/O counters.
    pub fn io_stats(&self) -> IoStats {
        self.view().io_stats()
    }

    /// A read-only look at the host (what adapters see).
    pub fn view(&self) -> HostView<'_, G> {
        view!(self)
    }

    /// Where the host is in its life.
    pub fn state(&self) -> RunState {
        self.state
    }

    /// Runs the loop until stopped (signal or [`Stopper::stop`]) or drained
    /// ([`Stopper::drain`]); then says BYE to every client and returns.
    pub fn run(&mut self) -> io::Result<()> {
        // Timer slack (50 us by default) would delay every timerfd wake-up: ask for none.
        // SAFETY: prctl with PR_SET_TIMERSLACK only changes this thread's timer slack.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
        self.set_up_thread();
        let mut events = Events::with_capacity(256);
        loop {
            let pending = self.matches.iter().any(|m| m.pending)
                || self.lobby.as_ref().is_some_and(|l| l.has_pending());
            // Within the spin window of a tick: poll without blocking until it is due (and,
            // receiving in batches, drain the sockets meanwhile: `mark_due_drains`).
            let spinning = self.near_tick(Instant::now());
            let timeout = (pending || spinning).then_some(Duration::ZERO);
            match timeout {
                None => self.counters.wakeups += 1,
                Some(_) if spinning => self.counters.spin_polls += 1,
                Some(_) => {}
            }
            let r = self.poll.poll(&mut events, timeout);
            if let Err(e) = r {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for ev in events.iter() {
                self.dispatch(ev);
            }
            // A drain asked for before this turn admits nobody in it.
            self.take_request(Instant::now());
            // Batched: the drains that are due, before the ticks they precede.
            if self.mark_due_drains(Instant::now()) {
                self.receive();
            }
            self.run_timers();
            self.receive();
            if let Some(l) = self.lobby.as_mut() {
                l.run_pending(self.poll.registry(), Instant::now());
            }
            self.run_timers();
            let now = Instant::now();
            self.run_lobby_timers(now);
            self.run_adapter_timers(now);
            if self.turn_ends_run(now) {
                self.shutdown();
                return Ok(());
            }
            self.reporter.maybe_log(now, &view!(self));
            let next = self.next_deadline();
            // Wake at the start of the next tick's spin window and spin the rest of the way.
            let wake = match self.next_tick() {
                Some(t) if !self.cfg.tick_spin.is_zero() => {
                    next.min(t.checked_sub(self.spin_window()).unwrap_or(t))
                }
                _ => next,
            };
            // Spinning to a tick: the next turns poll without blocking, so the timer is
            // not armed in the past (it would fire at once, and its stale event would end
            // the first sleep after the tick: a wake-up for nothing).
            if !(wake <= now && self.near_tick(now)) {
                self.timer.arm(wake)?;
            }
        }
    }

    /// Scheduling of the loop's thread, as configured: the CPU it is pinned to and
    /// SCHED_FIFO. What the process may not do is a warning; the loop runs anyway.
    fn set_up_thread(&self) {
        if let Some(cpu) = self.cfg.pin_cpu {
            match sys::pin_to_cpu(cpu) {
                Ok(()) => log::info!("loop pinned to cpu {cpu}"),
                Err(e) => log::warn!(
                    "cannot pin the loop to cpu {cpu} ({e}); it runs on any cpu it may \
                     (allowed: {:?})",
                    sys::allowed_cpus().unwrap_or_default()
                ),
            }
        }
        if let Some(prio) = self.cfg.realtime {
            match sys::set_fifo(prio) {
                Ok(()) => log::info!("loop runs SCHED_FIFO at priority {}", prio.clamp(1, 99)),
                Err(e) => log::warn!(
                    "cannot run the loop SCHED_FIFO at priority {} ({e}): the process needs \
                     CAP_SYS_NICE or an RLIMIT_RTPRIO of at least that (`ulimit -r`, \
                     LimitRTPRIO= in a systemd unit); running with normal scheduling",
                    prio.clamp(1, 99)
                ),
            }
        }
    }

    /// With [`Receive::Batched`]: marks every match whose drain is due as pending, and
    /// every match whose tick is within the spin window: the loop is spinning anyway, and
    /// what it reads then is not left for the drain at the deadline, which would delay
    /// the tick. Whether any is.
    fn mark_due_drains(&mut self, now: Instant) -> bool {
        if self.cfg.receive == Receive::Immediate {
            return false;
        }
        let window = self.spin_window();
        let mut any = false;
        for m in self.matches.iter_mut() {
            let spinning = !window.is_zero()
                && m.server.next_tick_deadline().saturating_duration_since(now) <= window;
            if m.drain_at <= now || spinning {
                m.pending = true;
                any = true;
            }
        }
        any
    }

    /// With [`Receive::Batched`]: when match `m`'s socket is drained next, after a drain
    /// at `now`: evenly spaced, at most `interval` apart, up to the lead, then at the tick
    /// itself. The lead is where the tick's spin begins, moved earlier by `cost`, what the
    /// drain before a tick takes, so that it ends before the spin does.
    fn schedule_drain(cfg: &HostConfig, m: &mut Match<G>, now: Instant, cost: Duration) {
        let Receive::Batched { interval } = cfg.receive else {
            return;
        };
        let tick = m.server.next_tick_deadline();
        let lead = tick.checked_sub(cfg.tick_spin + cost).unwrap_or(tick);
        (m.drain_at, m.lead_drain) = if now < lead {
            // Evenly spaced drains up to the lead, none more than `interval` apart: with
            // the default half period, one mid-period drain.
            let left = lead.saturating_duration_since(now);
            let k = left.as_nanos().div_ceil(interval.as_nanos().max(1)).max(1);
            let step = u64::try_from(left.as_nanos() / k).unwrap_or(u64::MAX);
            let at = later(now, Duration::from_nanos(step)).min(lead);
            (at, k == 1)
        } else if now < tick {
            (tick, false)
        } else {
            // The tick runs this turn; the drain after it is scheduled then.
            (later(now, interval), false)
        };
    }

    /// How long before a tick the loop stops sleeping: the tick spin and, receiving in
    /// batches, the drain before the tick, which runs first (so that its end and the tick
    /// are not two wake-ups). Zero when the spin is off.
    fn spin_window(&self) -> Duration {
        match (self.cfg.tick_spin.is_zero(), self.cfg.receive) {
            (true, _) => Duration::ZERO,
            (false, Receive::Immediate) => self.cfg.tick_spin,
            (false, Receive::Batched { .. }) => self.cfg.tick_spin + self.drain_cost.get(),
        }
    }

    /// The earliest tick deadline of any match.
    fn next_tick(&self) -> Option<Instant> {
        self.matches
            .iter()
            .map(|m| m.server.next_tick_deadline())
            .min()
    }

    /// Whether a tick falls due within the spin window of `now`, or is due
    /// already (the next turn must not sleep: it starts that tick).
    fn near_tick(&self, now: Instant) -> bool {
        let spin = self.spin_window();
        !spin.is_zero()
            && self
                .next_tick()
                .is_some_and(|t| t.saturating_duration_since(now) <= spin)
    }

    /// The lobby's address, when there is one.
    pub fn lobby_addr(&self) -> Option<SocketAddr> {
        self.lobby.as_ref().map(|l| l.local_addr())
    }

    /// The lobby, when there is one.
    pub fn lobby(&self) -> Option<&Lobby> {
        self.lobby.as_ref()
    }

    /// Connected clients over all matches.
    pub fn clients(&self) -> usize {
        self.view().clients()
    }

    /// The core counters of all matches added up.
    pub fn merged_stats(&self) -> Stats {
        self.view().merged_stats()
    }

    /// A one-line summary of everything since start.
    pub fn summary(&self) -> String {
        self.reporter.summary(&self.view())
    }

    /// Hands one event to the source its token was registered for.
    fn dispatch(&mut self, ev: &Event) {
        match self.sources.get(ev.token()) {
            Some(Source::Timer) => self.timer.clear(),
            Some(Source::Signals) => {
                if let Some(s) = self.signals.as_mut() {
                    let stopper = Stopper {
                        control: self.control.clone(),
                        wakers: self.peers.clone(),
                    };
                    let drain = self.cfg.term_drain;
                    for sig in s.pending() {
                        // Every loop: they share the request, and each is woken. The
                        // first SIGTERM drains, even when a drain asked for otherwise (an
                        // Agones Shutdown, whose pod deletion sends SIGTERM next) is on.
                        let term = sig == signal_hook::consts::SIGTERM;
                        let first_term = term && !self.sigterm_seen;
                        self.sigterm_seen |= term;
                        let draining = self.control.request() == Request::Drain;
                        if first_term && !drain.is_zero() && draining {
                            log::info!(
                                "signal {sig} (SIGTERM): already draining, draining on; \
                                 another SIGTERM or a SIGINT stops at once"
                            );
                        } else if first_term && !drain.is_zero() {
                            log::info!(
                                "signal {sig} (SIGTERM): draining for up to {drain:?}; \
                                 another SIGTERM or a SIGINT stops at once"
                            );
                            stopper.drain(drain);
                        } else {
                            log::info!("signal {sig}: shutting down");
                            stopper.stop();
                        }
                    }
                }
            }
            Some(Source::Waker) => {
                // A stop or a drain is taken right after the events; adapters now.
                let view = view!(self);
                for slot in self.adapters.iter_mut().filter(|s| s.take_woken()) {
                    slot.adapter.woken(&view);
                }
                for slot in self.adapters.iter_mut() {
                    adapter::apply_kicks(slot.adapter.as_mut(), &mut self.matches);
                }
            }
            Some(Source::Match(i)) if i < self.matches.len() => self.matches[i].pending = true,
            Some(Source::Lobby) if self.lobby.is_some() => {
                if let Some(l) = self.lobby.as_mut() {
                    l.handle_event(self.poll.registry(), ev, Instant::now());
                }
            }
            Some(Source::Adapter(i)) if i < self.adapters.len() => {
                let view = view!(self);
                self.adapters[i].adapter.ready(ev, &view);
                adapter::apply_kicks(self.adapters[i].adapter.as_mut(), &mut self.matches);
            }
            _ => {
                self.counters.unknown_events += 1;
                log::debug!("event for unknown token {:?}", ev.token());
            }
        }
    }

    fn run_lobby_timers(&mut self, now: Instant) {
        if let Some(l) = self.lobby.as_mut() {
            if l.next_timeout().is_some_and(|t| t <= now) {
                l.handle_timeout(self.poll.registry(), now);
            }
        }
    }

    fn run_adapter_timers(&mut self, now: Instant) {
        let view = view!(self);
        for a in self.adapters.iter_mut().map(|s| &mut s.adapter) {
            if a.poll_timeout().is_some_and(|t| t <= now) {
                a.handle_timeout(now, &view);
            }
        }
        for slot in self.adapters.iter_mut() {
            adapter::apply_kicks(slot.adapter.as_mut(), &mut self.matches);
        }
    }

    /// Moves the run state on as a [`Stopper`] or a signal asked (one atomic load).
    fn take_request(&mut self, now: Instant) {
        match (self.state, self.control.request()) {
            (RunState::Stopped, _) | (_, Request::None) => {}
            (_, Request::Stop) => self.state = RunState::Stopped,
            (RunState::Running, Request::Drain) => {
                let within = self.control.drain_within();
                log::info!(
                    "draining: admitting nobody, stopping when empty or in {within:?} ({} clients)",
                    self.clients()
                );
                self.state = RunState::Draining {
                    until: later(now, within),
                };
            }
            (RunState::Draining { .. }, Request::Drain) => {}
        }
    }

    /// Takes a request that came during the turn; `true` when the host is to stop now
    /// (asked to, or done draining).
    fn turn_ends_run(&mut self, now: Instant) -> bool {
        self.take_request(now);
        if let RunState::Draining { until } = self.state {
            let clients = self.clients();
            if clients == 0 || now >= until {
                log::info!("drained: stopping ({clients} clients left)");
                self.state = RunState::Stopped;
            }
        }
        self.state == RunState::Stopped
    }

    /// The earliest of every deadline the loop knows: ticks, client and lobby timeouts, the
    /// stats line, the adapters', the end of a drain.
    fn next_deadline(&self) -> Instant {
        let mut next = self
            .matches
            .iter()
            .map(|m| m.server.poll_timeout())
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        let others = [
            self.reporter.next_report(),
            self.lobby.as_ref().and_then(|l| l.next_timeout()),
            match self.state {
                RunState::Draining { until } => Some(until),
                _ => None,
            },
        ];
        for t in others.into_iter().flatten() {
            next = next.min(t);
        }
        if self.cfg.receive != Receive::Immediate {
            for m in &self.matches {
                next = next.min(m.drain_at);
            }
        }
        for t in self
            .adapters
            .iter()
            .filter_map(|s| s.adapter.poll_timeout())
        {
            next = next.min(t);
        }
        next
    }

    /// Starts every due tick, then sends the broadcasts in chunks, starting any tick that
    /// falls due meanwhile before the next chunk: one match's broadcast never holds up
    /// another match's tick by more than a chunk. A chunk is [`SEND_CHUNK`] datagrams when
    /// a tick is near, [`BIG_SEND_CHUNK`] (fewer `sendmmsg` calls) when none is.
    fn run_timers(&mut self) {
        loop {
            let now = Instant::now();
            for m in self.matches.iter_mut() {
                if m.server.poll_timeout() > now {
                    continue;
                }
                let due = tick_due(&m.server);
                if due <= now {
                    let late = report::lateness_us(due, now);
                    self.counters.tick_started(late);
                    self.reporter.tick_started(late);
                }
                m.server.handle_timeout(now);
                m.core_now = m.core_now.max(now);
                Self::schedule_drain(&self.cfg, m, now, self.drain_cost.get());
            }
            let room = self
                .next_tick()
                .map_or(Duration::MAX, |t| t.saturating_duration_since(now));
            let chunk = match room > ROOM_FOR_BIG_CHUNK {
                true => BIG_SEND_CHUNK,
                false => SEND_CHUNK,
            };
            let Some(m) = self
                .matches
                .iter_mut()
                .find(|m| !m.server.transmits().is_empty())
            else {
                return;
            };
            self.udp.flush_some(m, &mut self.counters, chunk);
        }
    }

    /// Reads every socket that has datagrams waiting, one budget each.
    fn receive(&mut self) {
        // Immediate: stop reading as soon as any match's deadline falls due. Batched: the
        // drain is what precedes the tick; only the budget bounds it.
        let batched = self.cfg.receive != Receive::Immediate;
        let turn = Turn {
            budget: self.cfg.recv_budget,
            tick_due: match batched {
                true => None,
                false => self.matches.iter().map(|m| m.server.poll_timeout()).min(),
            },
            info: &self.cfg.info,
            admitting: self.state == RunState::Running,
        };
        let cost = self.drain_cost.get();
        let mut lead_took = Duration::ZERO;
        let mut leads = 0;
        for m in self.matches.iter_mut().filter(|m| m.pending) {
            let start = Instant::now();
            self.udp.receive(m, &turn, &mut self.counters);
            if batched && !m.pending {
                let end = Instant::now();
                if m.lead_drain {
                    lead_took += end.saturating_duration_since(start);
                    leads += 1;
                }
                Self::schedule_drain(&self.cfg, m, end, cost);
            }
        }
        if leads > 0 {
            self.drain_cost.record(lead_took);
        }
    }

    fn shutdown(&mut self) {
        if let Some(l) = self.lobby.as_mut() {
            l.shutdown(self.poll.registry());
        }
        // Batched: what arrived since the last drain is read first, admitting nobody, so a
        // client whose BYE is waiting in the kernel leaves as it asked and is not sent one.
        if self.cfg.receive != Receive::Immediate {
            for m in &mut self.matches {
                m.pending = true;
            }
            self.receive();
        }
        let now = Instant::now();
        for m in &mut self.matches {
            m.server.shutdown(now);
            self.udp.flush(m, &mut self.counters);
        }
        self.state = RunState::Stopped;
    }
}

impl<G> core::fmt::Debug for Host<G> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Host")
            .field("matches", &self.matches.len())
            .field("state", &self.state)
            .field("adapters", &self.adapters.len())
            .finish_non_exhaustive()
    }
}
