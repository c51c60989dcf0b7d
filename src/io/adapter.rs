//! Extension points of the host loop: [`Adapter`]s bring their own event sources and
//! deadlines, and see the host through a read-only [`HostView`].
//!
//! A metrics endpoint, a fleet registry or an Agones SDK client hooks in without editing
//! the loop. It registers its own sockets under tokens from a [`Registrar`], and may take
//! an [`AdapterWaker`] for a side thread that talks to it over a channel (what DESIGN.md
//! suggests for blocking SDK calls; mio allows one `Waker` per poll, so the host shares
//! its own). The loop calls it back:
//!
//! 1. [`Adapter::register`] once, from [`Host::add_adapter`](super::Host::add_adapter);
//! 2. [`Adapter::ready`] for every event on one of its tokens;
//! 3. [`Adapter::woken`] on the turn after one of its wakers was woken;
//! 4. [`Adapter::handle_timeout`] once its [`Adapter::poll_timeout`] has passed (the
//!    deadline is part of the loop's timer, like a match's next tick);
//! 5. [`Adapter::take_kick`] after each of those callbacks, until it returns `None`: the
//!    one change to the host an adapter can ask for (an admin endpoint's kick).
//!
//! The callbacks run on the loop's thread, between ticks: keep them short and do not block
//! (a slow adapter makes ticks late). An adapter that needs to stop or drain the host holds
//! a [`Stopper`](super::Stopper).
//!
//! ```
//! use std::sync::mpsc;
//! use tickwire::{Adapter, HostView, Registrar};
//! use tickwire::{Arena, Game, Host, HostConfig};
//!
//! /// Answers "how many players?" asked from another thread.
//! struct Players {
//!     asks: mpsc::Receiver<mpsc::Sender<usize>>,
//! }
//!
//! impl<G: Game> Adapter<G> for Players {
//!     fn register(&mut self, _reg: &mut Registrar<'_>) -> std::io::Result<()> {
//!         Ok(())
//!     }
//!     fn woken(&mut self, host: &HostView<'_, G>) {
//!         for reply in self.asks.try_iter() {
//!             let _ = reply.send(host.clients());
//!         }
//!     }
//! }
//!
//! let cfg = HostConfig { bind: "127.0.0.1:0".parse().unwrap(), ..HostConfig::default() };
//! let mut host = Host::bind(cfg, |_| Arena::default())?;
//! let (ask, asks) = mpsc::channel();
//! let (tx, rx) = mpsc::channel();
//! host.add_adapter(Box::new(Players { asks }))?;
//! let stopper = host.stopper();
//! let waker = host.adapter_waker(0).expect("adapter 0 exists");
//! let thread = std::thread::spawn(move || host.run());
//! let (reply, answer) = mpsc::channel();
//! ask.send(reply).unwrap();
//! waker.wake()?;
//! tx.send(answer.recv().unwrap()).unwrap();
//! stopper.stop();
//! thread.join().unwrap()?;
//! assert_eq!(rx.recv().unwrap(), 0);
//! # Ok::<(), std::io::Error>(())
//! ```

use super::control::RunState;
use super::source::{Source, Sources};
use super::udp::{Counters, Match};
use super::IoStats;
use crate::lobby::Lobby;
use crate::proto::{Game, PlayerId, Server, Stats};
use mio::event::Event;
use mio::{Registry, Token, Waker};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Something the host loop drives besides its matches and lobby. `Send`, so a host with
/// adapters can still move to another thread before it runs.
pub trait Adapter<G>: Send {
    /// Registers the adapter's event sources with `reg.registry()`, each under a token
    /// from [`Registrar::token`]. Called once, when the adapter is added.
    fn register(&mut self, reg: &mut Registrar<'_>) -> io::Result<()>;

    /// One of the adapter's sources is ready.
    fn ready(&mut self, event: &Event, host: &HostView<'_, G>) {
        let _ = (event, host);
    }

    /// One of the adapter's [`AdapterWaker`]s was woken since the last call.
    fn woken(&mut self, host: &HostView<'_, G>) {
        let _ = host;
    }

    /// When [`Adapter::handle_timeout`] wants to run next (`None`: no deadline).
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Called on the first turn of the loop at or after [`Adapter::poll_timeout`].
    fn handle_timeout(&mut self, now: Instant, host: &HostView<'_, G>) {
        let _ = (now, host);
    }

    /// A player to disconnect, as `(match index, player)`: asked after every callback
    /// above until `None`. The host disconnects it as [`Server::kick`] does (BYE, slot
    /// freed); a match or player that is not there is ignored. By default, none.
    fn take_kick(&mut self) -> Option<(usize, PlayerId)> {
        None
    }
}

/// Disconnects every player `adapter` asks to ([`Adapter::take_kick`]).
pub(super) fn apply_kicks<G: Game>(adapter: &mut dyn Adapter<G>, matches: &mut [Match<G>]) {
    while let Some((i, player)) = adapter.take_kick() {
        let Some(m) = matches.get_mut(i) else {
            continue;
        };
        if m.server.kick(Instant::now(), player) {
            log::info!("match {i}: player {player} kicked by an adapter");
        }
    }
}

/// Wakes the host loop for one adapter, from any thread: the adapter's
/// [`Adapter::woken`] runs on the loop's next turn. Several wakes before that turn make one
/// call. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct AdapterWaker {
    flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl AdapterWaker {
    /// Wakes the loop; an error is the poll's (the loop is gone).
    pub fn wake(&self) -> io::Result<()> {
        self.flag.store(true, Ordering::SeqCst);
        self.waker.wake()
    }
}

impl core::fmt::Debug for AdapterWaker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AdapterWaker")
            .field("woken", &self.flag.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// An adapter as the host keeps it: the adapter and the flag its wakers set.
pub(super) struct Slot<G> {
    pub(super) adapter: Box<dyn Adapter<G>>,
    pub(super) woken: Arc<AtomicBool>,
}

impl<G> Slot<G> {
    /// A waker for this adapter that wakes the loop through `waker`.
    pub(super) fn waker(&self, waker: &Arc<Waker>) -> AdapterWaker {
        AdapterWaker {
            flag: self.woken.clone(),
            waker: waker.clone(),
        }
    }

    /// Whether a waker was woken since the last call (and clears it).
    pub(super) fn take_woken(&self) -> bool {
        self.woken.load(Ordering::Relaxed) && self.woken.swap(false, Ordering::SeqCst)
    }
}

/// Hands out the tokens of one adapter, its wakers and the registry to register its
/// sources with.
pub struct Registrar<'a> {
    registry: &'a Registry,
    sources: &'a mut Sources,
    adapter: usize,
    waker: AdapterWaker,
}

impl<'a> Registrar<'a> {
    pub(super) fn new(
        registry: &'a Registry,
        sources: &'a mut Sources,
        adapter: usize,
        waker: AdapterWaker,
    ) -> Self {
        Registrar {
            registry,
            sources,
            adapter,
            waker,
        }
    }

    /// A waker for this adapter (also [`Host::adapter_waker`](super::Host::adapter_waker)).
    pub fn waker(&self) -> AdapterWaker {
        self.waker.clone()
    }

    /// The loop's registry.
    pub fn registry(&self) -> &Registry {
        self.registry
    }

    /// A new token whose events go to this adapter's [`Adapter::ready`].
    pub fn token(&mut self) -> Token {
        self.sources.add(Source::Adapter(self.adapter))
    }
}

impl core::fmt::Debug for Registrar<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Registrar")
            .field("adapter", &self.adapter)
            .finish_non_exhaustive()
    }
}

/// A read-only look at a host: its matches, lobby, counters and run state.
pub struct HostView<'a, G> {
    pub(super) matches: &'a [Match<G>],
    pub(super) lobby: Option<&'a Lobby>,
    pub(super) counters: &'a Counters,
    pub(super) state: RunState,
}

impl<G: Game> HostView<'_, G> {
    /// How many matches the host runs.
    pub fn matches(&self) -> usize {
        self.matches.len()
    }

    /// Match `i`'s server.
    pub fn server(&self, i: usize) -> Option<&Server<G>> {
        self.matches.get(i).map(|m| &m.server)
    }

    /// Match `i`'s UDP address.
    pub fn udp_addr(&self, i: usize) -> Option<SocketAddr> {
        self.matches.get(i).map(|m| m.addr)
    }

    /// Connected clients over all matches.
    pub fn clients(&self) -> usize {
        self.matches.iter().map(|m| m.server.client_count()).sum()
    }

    /// The core counters of all matches added up.
    pub fn merged_stats(&self) -> Stats {
        let mut t = Stats::default();
        for m in self.matches {
            t.merge(m.server.stats());
        }
        t
    }

    /// The lobby, when there is one.
    pub fn lobby(&self) -> Option<&Lobby> {
        self.lobby
    }

    /// The I/O shell's counters (the lateness percentiles are computed on each call: ask
    /// for them once per report, not per event).
    pub fn io_stats(&self) -> IoStats {
        let c = self.counters;
        let l = &c.tick_lateness;
        IoStats {
            recv_errors: c.recv_errors,
            send_dropped: c.send_dropped,
            recv_budget_hits: c.recv_budget_hits,
            unknown_events: c.unknown_events,
            refused_draining: c.refused_draining,
            tick_late_p50_us: l.value_at_quantile(0.5),
            tick_late_p99_us: l.value_at_quantile(0.99),
            tick_late_p999_us: l.value_at_quantile(0.999),
            tick_late_max_us: l.max(),
            ticks: l.len(),
            wakeups: c.wakeups,
            spin_polls: c.spin_polls,
            rx_stamped: c.rx_stamped,
        }
    }

    /// Where the host is in its life.
    pub fn state(&self) -> RunState {
        self.state
    }
}

impl<G> core::fmt::Debug for HostView<'_, G> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HostView")
            .field("matches", &self.matches.len())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}
