//! The [`Game`] trait: what a game plugs into the server core, and the context the core
//! lends it (the clock, and lag-compensated rewind into the snapshot ring).

use super::ring::{Ring, SnapshotWriter};
use core::time::Duration;

/// A player's id: its qport, 1..=255.
pub type PlayerId = u8;

/// A game that the server core runs. The core owns slots, sequence numbers, the tick clock
/// and the snapshot ring; the game owns the world.
///
/// Every method is called on the server's one thread, never concurrently. None may block.
pub trait Game {
    /// Whether clients may send game kind `kind` (0x10..=0xFF). An unknown kind is dropped
    /// before anything else is looked at.
    fn knows_kind(&self, kind: u8) -> bool;

    /// Whether `payload` has the right shape for `kind`. Called before the datagram's
    /// sequence number is accepted: a malformed payload never moves the window.
    fn check_input(&self, kind: u8, payload: &[u8]) -> bool;

    /// A player joined. `name` is the lobby name when a ticket was presented.
    fn connect(&mut self, player: PlayerId, name: Option<&str>);

    /// A player left (BYE, timeout or server shutdown).
    fn disconnect(&mut self, player: PlayerId);

    /// A payload of one of the game's kinds from a connected player, after every check of
    /// the core. `cx` gives the time and lag-compensated rewind.
    fn input(&mut self, cx: &mut Context<'_>, player: PlayerId, kind: u8, payload: &[u8]);

    /// Advances the world by one tick.
    fn step(&mut self, tick: u32);

    /// Serializes the world. Called once per broadcast tick; every client gets these bytes.
    fn snapshot(&self, w: &mut SnapshotWriter<'_>);

    /// A player's score, shown by server queries. 0 by default.
    fn score(&self, _player: PlayerId) -> i32 {
        0
    }
}

/// Why a rewind was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RewindError {
    /// The ring slot holds another tick now (overwritten, or never written).
    Overwritten,
    /// The slot holds that tick, but with another time: the client made it up.
    Forged,
    /// Older than the rewind limit.
    TooOld,
    /// A tick the server has not run yet.
    Future,
    /// Further from what the client's measured RTT allows it to have seen than the
    /// plausibility tolerance.
    Implausible,
    /// The player used up its rewinds for this second.
    OverBudget,
}

impl RewindError {
    /// Every reason, in counter order.
    pub const ALL: [RewindError; 6] = [
        RewindError::Overwritten,
        RewindError::Forged,
        RewindError::TooOld,
        RewindError::Future,
        RewindError::Implausible,
        RewindError::OverBudget,
    ];

    /// A short snake_case label.
    pub fn label(self) -> &'static str {
        match self {
            RewindError::Overwritten => "overwritten",
            RewindError::Forged => "forged",
            RewindError::TooOld => "too_old",
            RewindError::Future => "future",
            RewindError::Implausible => "implausible",
            RewindError::OverBudget => "over_budget",
        }
    }
}

/// The world as it was serialized at a past tick.
#[derive(Debug, Clone, Copy)]
pub struct Past<'a> {
    ring: &'a Ring,
    index: usize,
    /// The tick.
    pub tick: u32,
    /// How many ticks back from the newest one.
    pub depth: u32,
}

impl<'a> Past<'a> {
    /// The snapshot's part bodies, in order, exactly as they were broadcast.
    pub fn parts(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let slot = self.ring.at(self.index);
        let n = slot.map_or(0, |s| s.parts());
        (0..n).filter_map(move |i| slot.map(|s| s.part(i)))
    }
}

/// Per-player rewind accounting, kept in the core's slot.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RewindBudget {
    /// Start of the current one-second window, server microseconds.
    pub window_start_us: u64,
    /// Rewinds granted in this window.
    pub used: u32,
}

/// Counters of rewind outcomes.
#[derive(Debug, Clone, Default)]
pub struct RewindStats {
    /// Rewinds granted.
    pub ok: u64,
    /// Refused, by [`RewindError`] in [`RewindError::ALL`] order.
    pub refused: [u64; 6],
}

impl RewindStats {
    /// Refusals for one reason.
    pub fn refused_for(&self, e: RewindError) -> u64 {
        RewindError::ALL
            .iter()
            .position(|x| *x == e)
            .map_or(0, |i| self.refused[i])
    }

    /// All refusals.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().sum()
    }
}

/// What the core lends a game while it handles one input.
pub struct Context<'a> {
    pub(crate) now_us: u64,
    pub(crate) newest_tick: Option<u32>,
    pub(crate) ring: &'a Ring,
    pub(crate) max_rewind_us: u64,
    pub(crate) tolerance_us: u64,
    pub(crate) rewinds_per_sec: u32,
    pub(crate) srtt_us: Option<u64>,
    pub(crate) budget: &'a mut RewindBudget,
    pub(crate) stats: &'a mut RewindStats,
    pub(crate) depth: &'a mut hdrhistogram::Histogram<u64>,
}

impl<'a> Context<'a> {
    /// Server time now, microseconds since the server started.
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    /// The newest tick that was serialized, if any.
    pub fn newest_tick(&self) -> Option<u32> {
        self.newest_tick
    }

    /// The player's smoothed round-trip time, once measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.srtt_us.map(Duration::from_micros)
    }

    /// Rewinds to the snapshot of `tick` stamped `time_us`, as a client saw it. Refused,
    /// and counted, when that tick is in the future, older than the rewind limit, no longer
    /// (or never) in the ring, stamped with another time, implausibly far from what the
    /// player's RTT allows, or over the player's rewind budget.
    pub fn rewind(&mut self, tick: u32, time_us: u64) -> Result<Past<'a>, RewindError> {
        let r = self.try_rewind(tick, time_us);
        match r {
            Ok(p) => {
                self.stats.ok += 1;
                let _ = self.depth.record(u64::from(p.depth));
            }
            Err(e) => {
                let i = RewindError::ALL.iter().position(|x| *x == e).unwrap_or(0);
                self.stats.refused[i] += 1;
            }
        }
        r
    }

    fn try_rewind(&mut self, tick: u32, time_us: u64) -> Result<Past<'a>, RewindError> {
        let newest = self.newest_tick.ok_or(RewindError::Overwritten)?;
        if crate::wire::seq_newer(tick, newest) || time_us > self.now_us {
            return Err(RewindError::Future);
        }
        let age = self.now_us - time_us;
        if age > self.max_rewind_us {
            return Err(RewindError::TooOld);
        }
        let ring: &'a Ring = self.ring;
        let slot = ring.slot(tick);
        if !slot.valid || slot.tick != tick {
            return Err(RewindError::Overwritten);
        }
        if slot.time_us != time_us {
            return Err(RewindError::Forged);
        }
        // A client sees tick T about half an RTT after T, and its shot arrives about half
        // an RTT later: the age of the named tick should be close to one RTT.
        let rtt = self.srtt_us.unwrap_or(0);
        if age.abs_diff(rtt) > self.tolerance_us {
            return Err(RewindError::Implausible);
        }
        if self.now_us.saturating_sub(self.budget.window_start_us) >= 1_000_000 {
            self.budget.window_start_us = self.now_us;
            self.budget.used = 0;
        }
        if self.budget.used >= self.rewinds_per_sec {
            return Err(RewindError::OverBudget);
        }
        self.budget.used += 1;
        Ok(Past {
            ring,
            index: ring.index(tick),
            tick,
            depth: newest.wrapping_sub(tick),
        })
    }
}
