//! What the admin endpoint's `/metrics`, `/healthz`, `/readyz` and the Agones side thread
//! know about the event loops: a [`Monitor`] shared by all of them, fed by one [`Probe`]
//! adapter per loop.
//!
//! A [`Probe`] runs on its loop (every [`PUBLISH_EVERY`], between ticks, like any
//! [`Adapter`] deadline): it notes whether the loop's tick count moved since its last
//! turn (one atomic store when it did) and leaves a [`LoopSnapshot`] of its loop's
//! counters in the monitor (one short lock). Nothing else crosses between the threads:
//! readers on other loops or other threads take the last snapshot and read the atomic.
//! A loop that stops turning stops moving its atomic, so a reader sees it as stalled
//! ([`Monitor::stalled`]) without asking the loop anything.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tickwire::lobby::LobbyStats;
use tickwire::{Adapter, Game, HostView, IoStats, Registrar, RunState, Stats};

/// How often a [`Probe`] looks at its loop and publishes a snapshot.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// A loop whose tick count has not moved for this long is stalled: `/healthz` answers
/// 503 and the Agones health pings stop. It is well above the longest healthy gap (one
/// tick period at `--tick-hz 1`, plus [`PUBLISH_EVERY`]).
pub const STALL: Duration = Duration::from_secs(3);

/// Where a loop is in its life, as its last snapshot saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Serving and admitting.
    Running,
    /// Admitting nobody, serving the players it has (SIGTERM with `--drain-seconds`, or
    /// an Agones Shutdown).
    Draining,
    /// Stopped (or stopping).
    Stopped,
}

impl From<RunState> for Phase {
    fn from(s: RunState) -> Phase {
        match s {
            RunState::Running => Phase::Running,
            RunState::Draining { .. } => Phase::Draining,
            RunState::Stopped => Phase::Stopped,
        }
    }
}

/// One match as a snapshot saw it.
#[derive(Debug, Clone)]
pub struct MatchSnapshot {
    /// Its index in the process (0 .. `--matches`), whatever loop runs it.
    pub index: usize,
    /// Its UDP port.
    pub port: u16,
    /// Connected clients.
    pub clients: usize,
    /// `--max-clients`.
    pub capacity: usize,
    /// Its counters since start.
    pub stats: Stats,
    /// Rewind depth in ticks since start: median, 99th percentile, worst.
    pub rewind_ticks: [u64; 3],
}

/// One loop's counters, taken on the loop by its [`Probe`] (or by the admin endpoint on
/// loop 0 at the time of a request).
#[derive(Debug, Clone)]
pub struct LoopSnapshot {
    /// When it was taken.
    pub taken: Instant,
    /// The loop's run state.
    pub phase: Phase,
    /// The I/O shell's counters (tick lateness percentiles since start).
    pub io: IoStats,
    /// Its matches, in port order.
    pub matches: Vec<MatchSnapshot>,
    /// The lobby's counters, on the loop that runs it (loop 0).
    pub lobby: Option<LobbyStats>,
    /// The connected players as ids for Agones player tracking (`MATCH:QPORT@ADDR`),
    /// sorted; empty unless the monitor tracks players.
    pub players: Vec<String>,
}

impl LoopSnapshot {
    /// Takes a snapshot of `host`, whose first match has index `first` in the process;
    /// with `players`, also the player ids.
    pub fn take<G: Game>(
        host: &HostView<'_, G>,
        first: usize,
        players: bool,
        now: Instant,
    ) -> LoopSnapshot {
        let mut matches = Vec::with_capacity(host.matches());
        let mut ids = Vec::new();
        for i in 0..host.matches() {
            let Some(server) = host.server(i) else {
                continue;
            };
            let depth = server.rewind_depth();
            matches.push(MatchSnapshot {
                index: first + i,
                port: host.udp_addr(i).map_or(0, |a| a.port()),
                clients: server.client_count(),
                capacity: usize::from(server.config().max_clients),
                stats: server.stats().clone(),
                rewind_ticks: [
                    depth.value_at_quantile(0.5),
                    depth.value_at_quantile(0.99),
                    depth.max(),
                ],
            });
            if players {
                ids.extend(
                    server
                        .players(now)
                        .map(|p| format!("{}:{}@{}", first + i, p.id, p.addr)),
                );
            }
        }
        ids.sort_unstable();
        LoopSnapshot {
            taken: now,
            phase: host.state().into(),
            io: host.io_stats(),
            matches,
            lobby: host.lobby().map(|l| l.stats()),
            players: ids,
        }
    }

    /// Connected clients over the loop's matches.
    pub fn clients(&self) -> usize {
        self.matches.iter().map(|m| m.clients).sum()
    }
}

/// One loop's place in the monitor.
struct Slot {
    /// Milliseconds from the monitor's base to when the loop's tick count last moved.
    ticked_ms: AtomicU64,
    /// Its last snapshot.
    snapshot: Mutex<Option<Arc<LoopSnapshot>>>,
}

/// What the loops last said about themselves. Shared (`Arc`) by the probes, the admin
/// endpoint and the Agones side thread.
pub struct Monitor {
    base: Instant,
    slots: Vec<Slot>,
    players: bool,
    /// The Agones GameServer state last seen (`Ready`, `Allocated`, ...), with `--agones`.
    agones: Mutex<Option<String>>,
}

impl Monitor {
    /// A monitor of `loops` loops (at least 1); with `players`, the probes list the
    /// player ids (for Agones player tracking). Every loop counts as having ticked now.
    pub fn new(loops: usize, players: bool) -> Arc<Monitor> {
        Arc::new(Monitor {
            base: Instant::now(),
            slots: (0..loops.max(1))
                .map(|_| Slot {
                    ticked_ms: AtomicU64::new(0),
                    snapshot: Mutex::new(None),
                })
                .collect(),
            players,
            agones: Mutex::new(None),
        })
    }

    /// How many loops it watches.
    pub fn loops(&self) -> usize {
        self.slots.len()
    }

    /// Whether snapshots list player ids.
    pub fn tracks_players(&self) -> bool {
        self.players
    }

    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX)
    }

    /// Loop `l`'s tick count moved at `now`.
    pub fn ticked(&self, l: usize, now: Instant) {
        if let Some(s) = self.slots.get(l) {
            s.ticked_ms.store(self.ms(now), Ordering::Relaxed);
        }
    }

    /// How long ago loop `l`'s tick count last moved, as of `now`.
    pub fn since_tick(&self, l: usize, now: Instant) -> Duration {
        let Some(s) = self.slots.get(l) else {
            return Duration::ZERO;
        };
        let then = s.ticked_ms.load(Ordering::Relaxed);
        Duration::from_millis(self.ms(now).saturating_sub(then))
    }

    /// The loops stalled as of `now` (no tick for [`STALL`]), with how long.
    pub fn stalled(&self, now: Instant) -> Vec<(usize, Duration)> {
        (0..self.slots.len())
            .map(|l| (l, self.since_tick(l, now)))
            .filter(|(_, d)| *d >= STALL)
            .collect()
    }

    /// Leaves loop `l`'s snapshot.
    pub fn publish(&self, l: usize, snap: LoopSnapshot) {
        if let Some(s) = self.slots.get(l) {
            let snap = Arc::new(snap);
            match s.snapshot.lock() {
                Ok(mut g) => *g = Some(snap),
                Err(p) => *p.into_inner() = Some(snap),
            }
        }
    }

    /// Loop `l`'s last snapshot, if it published one.
    pub fn snapshot(&self, l: usize) -> Option<Arc<LoopSnapshot>> {
        let s = self.slots.get(l)?;
        match s.snapshot.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Every loop's last snapshot.
    pub fn snapshots(&self) -> Vec<Option<Arc<LoopSnapshot>>> {
        (0..self.slots.len()).map(|l| self.snapshot(l)).collect()
    }

    /// Records the Agones GameServer state (from the SDK's watch).
    pub fn set_agones_state(&self, state: &str) {
        let mut g = self.agones.lock().unwrap_or_else(|p| p.into_inner());
        *g = Some(state.to_string());
    }

    /// The Agones GameServer state last seen, with `--agones`.
    pub fn agones_state(&self) -> Option<String> {
        self.agones
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("loops", &self.slots.len())
            .field("players", &self.players)
            .finish_non_exhaustive()
    }
}

/// The adapter that feeds a [`Monitor`] from one loop: add one to every loop
/// (`Loops::host_mut(l)`), before it runs.
#[derive(Debug)]
pub struct Probe {
    monitor: Arc<Monitor>,
    l: usize,
    first: usize,
    next: Instant,
    ticks: u64,
}

impl Probe {
    /// The probe of loop `l`, whose first match has index `first` in the process.
    pub fn new(monitor: Arc<Monitor>, l: usize, first: usize) -> Probe {
        Probe {
            monitor,
            l,
            first,
            next: Instant::now(),
            ticks: 0,
        }
    }
}

impl<G: Game> Adapter<G> for Probe {
    fn register(&mut self, _reg: &mut Registrar<'_>) -> std::io::Result<()> {
        Ok(())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next)
    }

    fn handle_timeout(&mut self, now: Instant, host: &HostView<'_, G>) {
        let ticks: u64 = (0..host.matches())
            .filter_map(|i| host.server(i))
            .map(|s| s.stats().ticks)
            .sum();
        if ticks != self.ticks {
            self.ticks = ticks;
            self.monitor.ticked(self.l, now);
        }
        let snap = LoopSnapshot::take(host, self.first, self.monitor.players, now);
        self.monitor.publish(self.l, snap);
        self.next = now + PUBLISH_EVERY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_whose_ticks_do_not_move_is_stalled_after_stall() {
        let m = Monitor::new(2, false);
        let t0 = m.base;
        m.ticked(0, t0 + Duration::from_secs(10));
        m.ticked(1, t0 + Duration::from_secs(8));
        let now = t0 + Duration::from_millis(11_500);
        assert_eq!(m.since_tick(0, now), Duration::from_millis(1500));
        assert_eq!(m.stalled(now), [(1, Duration::from_millis(3500))]);
        m.ticked(1, now);
        assert!(m.stalled(now).is_empty());
        // A reader whose clock is behind the writer's sees no stall, not an underflow.
        assert_eq!(m.since_tick(1, t0), Duration::ZERO);
        // Out of range: nothing, no panic.
        m.ticked(7, now);
        assert_eq!(m.since_tick(7, now), Duration::ZERO);
        assert!(m.snapshot(7).is_none());
    }
}
