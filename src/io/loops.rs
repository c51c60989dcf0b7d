//! Several event loops, one per core, sharing nothing on the hot path: [`Loops`].
//!
//! Each loop is a whole [`Host`]: its own `mio::Poll`, its own matches (spread evenly, in
//! port order), its own sockets, buffers, timerfd, STUN and A2S responders and counters.
//! What they share is taken only off the per-datagram and per-tick paths: the lobby's
//! tickets (a lock at login and at HELLO), secure mode's redeemed-token memory (a lock per
//! TOKEN_HELLO that opened), the stop and drain request (one atomic load per turn), and
//! the stats board (a lock per stats interval). The lobby, the signal handlers and the
//! stats line run on loop 0.

use super::report::{self, Board};
use super::{
    bind_lobby, bind_matches, check_and_make_tickets, sys, Control, Host, HostConfig, Share,
    Stopper,
};
use crate::proto::Game;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

/// `loops` event loops on as many threads, each hosting its share of `cfg.matches`
/// matches. Built on the calling thread (every socket is bound before anything runs, so
/// a port in use is an error here), run by [`Loops::run`].
///
/// ```no_run
/// use tickwire::{Arena, HostConfig, Loops};
/// let cfg = HostConfig { matches: 8, handle_signals: true, ..HostConfig::default() };
/// let mut loops = Loops::bind(cfg, 2, |_| Arena::default())?;
/// println!("serving {:?}", loops.udp_addrs());
/// loops.run()?; // until SIGINT/SIGTERM or loops.stopper().stop()
/// println!("{}", loops.summary());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Loops<G> {
    hosts: Vec<Host<G>>,
}

/// Asks every loop to stop when dropped armed: a loop that panics (the guard drops while
/// unwinding) or fails does not leave the others running. A loop that returns `Ok` (it
/// was stopped, or its drain is over while others still drain) disarms it.
struct StopOnDrop(Option<Stopper>);

impl StopOnDrop {
    /// Disarms the guard when `r` is `Ok`; passes `r` on.
    fn after(mut self, r: io::Result<()>) -> io::Result<()> {
        if r.is_ok() {
            self.0 = None;
        }
        r
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            s.stop();
        }
    }
}

impl<G: Game + Send> Loops<G> {
    /// Binds every match's socket (consecutive ports from `cfg.bind`, as [`Host::bind`]
    /// does) and the lobby, and builds `loops` hosts (at least 1, at most one per match):
    /// loop `l` gets matches `total * l / loops .. total * (l + 1) / loops`, match `i`
    /// keeps the seed, port and tick offset it has with one loop. Loop 0 runs the lobby
    /// and, with [`HostConfig::handle_signals`], takes the signals for all. With
    /// [`HostConfig::pin_cpu`] `Some(c)`, loop `l` is pinned to the `l`-th CPU from `c` on
    /// among those the process may use (wrapping around).
    pub fn bind(
        cfg: HostConfig,
        loops: usize,
        mut make_game: impl FnMut(usize) -> G,
    ) -> io::Result<Loops<G>> {
        let total = cfg.matches.max(1);
        let loops = loops.clamp(1, total);
        let tickets = check_and_make_tickets(&cfg)?;
        let mut lobby = bind_lobby(&cfg, tickets.as_ref())?;
        let mut sockets = bind_matches(&cfg, total)?.into_iter();
        let control = Arc::new(Control::new());
        let cpus = cfg.pin_cpu.map(pin_plan);
        let board = (loops > 1).then(|| Arc::new(Board::new(loops)));
        let mut hosts = Vec::with_capacity(loops);
        for l in 0..loops {
            let first = total * l / loops;
            let end = total * (l + 1) / loops;
            let mut lcfg = cfg.clone();
            if let (Some(c), Some(cpus)) = (cfg.pin_cpu, &cpus) {
                lcfg.pin_cpu = Some(match cpus {
                    Plan::Allowed { cpus, from } => cpus[(from + l) % cpus.len()],
                    Plan::Unknown => c + l,
                });
            }
            let share = Share {
                first,
                total,
                sockets: sockets.by_ref().take(end - first).collect(),
                tickets: tickets.clone(),
                lobby: if l == 0 { lobby.take() } else { None },
                signals: l == 0 && cfg.handle_signals,
                control: control.clone(),
            };
            let mut host = Host::assemble(lcfg, share, &mut make_game)?;
            if let Some(b) = &board {
                host.reporter.join_board(b.clone(), l);
            }
            hosts.push(host);
        }
        let peers: Arc<[_]> = hosts.iter().map(|h| h.waker.clone()).collect();
        for h in &mut hosts {
            h.peers = peers.clone();
        }
        Ok(Loops { hosts })
    }

    /// How many loops there are.
    pub fn loops(&self) -> usize {
        self.hosts.len()
    }

    /// Loop `l`'s host (loop 0 runs the lobby): to add an [`Adapter`](super::Adapter)
    /// before [`Loops::run`], say.
    pub fn host_mut(&mut self, l: usize) -> Option<&mut Host<G>> {
        self.hosts.get_mut(l)
    }

    /// Loop `l`'s host.
    pub fn host(&self, l: usize) -> Option<&Host<G>> {
        self.hosts.get(l)
    }

    /// Every match's UDP address, in match order (loop 0's first).
    pub fn udp_addrs(&self) -> Vec<SocketAddr> {
        self.hosts.iter().flat_map(|h| h.udp_addrs()).collect()
    }

    /// The lobby's address, when there is one.
    pub fn lobby_addr(&self) -> Option<SocketAddr> {
        self.hosts.first().and_then(|h| h.lobby_addr())
    }

    /// A handle that stops or drains every loop from another thread.
    pub fn stopper(&self) -> Stopper {
        self.hosts[0].stopper()
    }

    /// Connected clients over every loop.
    pub fn clients(&self) -> usize {
        self.hosts.iter().map(|h| h.clients()).sum()
    }

    /// Runs every loop until stopped (a signal, [`Stopper::stop`]) or drained: loop 0 on
    /// the calling thread, the others on threads named `tickwire-loop-L`. Returns when all
    /// have returned; the first error, if a loop failed (which stops the others, as a
    /// loop's panic does). While draining, each loop stops once its own matches are empty.
    pub fn run(&mut self) -> io::Result<()> {
        let stopper = self.stopper();
        let (first, rest) = self.hosts.split_at_mut(1);
        std::thread::scope(|scope| {
            let mut handles = Vec::with_capacity(rest.len());
            for (k, host) in rest.iter_mut().enumerate() {
                let guard = StopOnDrop(Some(stopper.clone()));
                let spawned = std::thread::Builder::new()
                    .name(format!("tickwire-loop-{}", k + 1))
                    .spawn_scoped(scope, move || guard.after(host.run()));
                match spawned {
                    Ok(h) => handles.push(h),
                    Err(e) => {
                        stopper.stop();
                        return Err(e);
                    }
                }
            }
            let guard = StopOnDrop(Some(stopper.clone()));
            let mut result = guard.after(first[0].run());
            for h in handles {
                let r = h
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("an event loop thread panicked")));
                if result.is_ok() {
                    result = r;
                }
            }
            result
        })
    }

    /// A one-line summary of everything since start, every loop merged, then each loop's
    /// tick lateness (`loops[L:p50/p99/p99.9/max ...]`) when there are several.
    pub fn summary(&self) -> String {
        let views: Vec<_> = self.hosts.iter().map(|h| h.view()).collect();
        report::merged_summary(&views)
    }
}

/// The CPUs loops are pinned to, from the one asked for.
enum Plan {
    /// Those the process may use, starting at index `from`.
    Allowed { cpus: Vec<usize>, from: usize },
    /// The allowed set could not be read: `c + l`.
    Unknown,
}

fn pin_plan(c: usize) -> Plan {
    match sys::allowed_cpus() {
        Ok(cpus) if !cpus.is_empty() => Plan::Allowed {
            from: cpus.iter().position(|&x| x == c).unwrap_or(0),
            cpus,
        },
        _ => Plan::Unknown,
    }
}

impl<G> core::fmt::Debug for Loops<G> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Loops")
            .field("loops", &self.hosts.len())
            .finish_non_exhaustive()
    }
}
