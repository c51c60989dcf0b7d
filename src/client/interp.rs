//! The interpolation buffer: the last complete snapshots, ordered by tick, and the two the
//! game renders between at `now - delay`.
//!
//! The reassembly in [`snapshot`](super::snapshot) keeps only the newest tick (that is
//! what [`Event::Snapshot`](super::Event::Snapshot) and
//! [`Client::snapshot_parts`](super::Client::snapshot_parts) report). A renderer does not
//! show the newest tick: it shows the world a little in the past, blending between the two
//! snapshots around that moment, so a snapshot that arrives late (after a newer one, as
//! PROTOCOL.md section 3 allows a client to keep) is still useful as long as the render
//! time has not passed it yet. This buffer keeps those.
//!
//! # What it keeps
//!
//! `capacity` slots, each with room for `max_snapshot_bytes` of body and the part table of
//! one tick, all allocated when the buffer is created; nothing allocates afterwards. Every
//! snapshot part the client accepts is offered here, also a part whose datagram the
//! sequence window calls *late* (older than the newest, never seen before: the window
//! remembers the 64 seqs below the newest, so a part is offered at most once). A part is
//! taken when its tick is newer than what was already played out (see below) and not
//! already complete here; a tick's parts are collected in its slot, in any order, and the
//! tick is visible once it is complete. A full buffer frees its oldest slot for a newer
//! tick (counted in [`InterpStats::overflow`]).
//!
//! # Render time and delay
//!
//! For each complete snapshot (and each part that came too late, so that the estimate
//! sees what it missed) the buffer samples its *offset*: the local arrival time minus the
//! tick's server time (an unknown clock difference plus the one-way delay). Over the last
//! [`WINDOW`] samples, `base` is the smallest offset (the fastest path) and the *jitter*
//! of a sample is its offset minus `base`. The target delay is
//!
//! ```text
//! delay = clamp(percentile(jitter, p) + tick + margin, min_delay, max_delay)
//! ```
//!
//! (or `fixed_delay` when configured), and the render time on the server's clock is
//! `local now - base - delay`. A snapshot arrives in time for rendering exactly when its
//! jitter is below the delay, so `p` is the share of arriving snapshots the renderer gets
//! to use; `tick` (the server's tick interval, measured from consecutive ticks' times)
//! makes it arrive a tick before the render time reaches it, when it is first needed as
//! the newer end of a blend. The playout offset actually applied (`base + delay`) follows its target
//! smoothly: it grows at most half as fast as time passes (the rendered world slows down to
//! at most half speed, never goes backwards) and shrinks at most by 5% of the time that
//! passes (the world plays at most 5% fast), so the render time never jumps and never goes
//! back, also when `base` moves (clock drift, a new fastest path).
//!
//! *Played out*: everything at or before the render time, except the newest such snapshot
//! (it is the lower end of the current blend). A snapshot is **usable for rendering** when
//! it is complete here before the render time reaches its tick's time: it is then one end
//! of a blend. [`InterpStats::usable`] counts those (less the ones a full buffer dropped
//! before they were played); [`InterpStats::too_late`] the complete ones that were not.

use std::time::Duration;

use super::snapshot::SnapshotParts;
use crate::wire::{msg::SnapshotPrefix, seq_newer};

/// How many offset samples (complete snapshots) the delay estimator looks at: about four
/// seconds at 60 Hz.
pub const WINDOW: usize = 256;

/// The applied delay grows at most this fraction of the time that passes.
const GROW: f64 = 0.5;
/// The applied delay shrinks at most this fraction of the time that passes.
const SHRINK: f64 = 0.05;

const MISSING: u16 = u16::MAX;

/// Settings of the interpolation buffer ([`Client::with_interpolation`](super::Client::with_interpolation)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InterpConfig {
    /// Snapshots kept (1..=255). It must cover the delay: at 60 Hz, 32 slots hold 533 ms.
    pub capacity: u8,
    /// Body bytes one buffered snapshot may hold (all its parts); a larger tick is not
    /// buffered (counted in [`InterpStats::rejected`]) but still delivered by
    /// [`Event::Snapshot`](super::Event::Snapshot). `capacity` times this is allocated.
    pub max_snapshot_bytes: u16,
    /// A fixed delay behind the fastest snapshot instead of the adaptive one.
    pub fixed_delay: Option<Duration>,
    /// The adaptive delay covers this percentile of the measured jitter (1..=100).
    pub percentile: u8,
    /// Added to the measured jitter percentile and one tick interval.
    pub margin: Duration,
    /// The adaptive delay is at least this.
    pub min_delay: Duration,
    /// The adaptive delay is at most this.
    pub max_delay: Duration,
}

impl Default for InterpConfig {
    fn default() -> InterpConfig {
        InterpConfig {
            capacity: 32,
            max_snapshot_bytes: 4096,
            fixed_delay: None,
            percentile: 99,
            margin: Duration::from_millis(5),
            min_delay: Duration::ZERO,
            max_delay: Duration::from_millis(250),
        }
    }
}

/// The interpolation buffer's counters and its delay, from
/// [`Client::interp_stats`](super::Client::interp_stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InterpStats {
    /// Complete snapshots that entered the buffer (in order or late).
    pub complete: u64,
    /// Of those, the ones older than a tick already complete here (late arrivals the
    /// reassembly alone would have thrown away).
    pub late_kept: u64,
    /// Complete snapshots in the buffer before the render time reached them, less the
    /// ones a full buffer dropped unplayed: ticks usable for rendering.
    pub usable: u64,
    /// Snapshot parts whose tick the render time had already passed.
    pub too_late: u64,
    /// Ticks from the first complete one to the newest complete one, both included: what
    /// `usable` is a share of.
    pub ticks_spanned: u64,
    /// Slots freed for a newer tick before they were played.
    pub overflow: u64,
    /// Parts of a tick larger than a slot, or disagreeing with their tick's other parts,
    /// or repeating one.
    pub rejected: u64,
    /// The delay applied now, behind the fastest snapshot of the window.
    pub delay: Duration,
    /// The delay the estimator aims at.
    pub target_delay: Duration,
    /// The measured jitter at the configured percentile.
    pub jitter: Duration,
}

impl InterpStats {
    /// `usable / ticks_spanned`, 0 before any snapshot.
    pub fn usable_ratio(&self) -> f64 {
        if self.ticks_spanned == 0 {
            0.0
        } else {
            self.usable as f64 / self.ticks_spanned as f64
        }
    }
}

/// One buffered snapshot, from [`Interpolation`].
#[derive(Debug, Clone)]
pub struct BufferedSnapshot<'a> {
    /// Its tick.
    pub tick: u32,
    /// The server time of that tick, microseconds since the server started.
    pub time_us: u64,
    parts: SnapshotParts<'a>,
}

impl<'a> BufferedSnapshot<'a> {
    /// Its body parts in part order, as [`Client::snapshot_parts`](super::Client::snapshot_parts) gives them.
    pub fn parts(&self) -> SnapshotParts<'a> {
        self.parts.clone()
    }
}

/// What to render at one moment, from [`Client::interpolate`](super::Client::interpolate):
/// blend `from` and `to` by `alpha` (`from * (1 - alpha) + to * alpha`).
#[derive(Debug, Clone)]
pub struct Interpolation<'a> {
    /// The newest complete snapshot at or before the render time (the oldest one kept when
    /// the render time is before all of them).
    pub from: BufferedSnapshot<'a>,
    /// The oldest complete snapshot after the render time; `None` when nothing newer has
    /// arrived (hold `from`, or extrapolate by `render_time_us - from.time_us`).
    pub to: Option<BufferedSnapshot<'a>>,
    /// Where the render time lies between the two, `0.0..=1.0` (0 without `to`).
    pub alpha: f32,
    /// The render time on the server's clock, microseconds (0 while before the server
    /// started).
    pub render_time_us: u64,
    /// The delay applied.
    pub delay: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    tick: u32,
    time_us: u64,
    parts: u8,
    have: u8,
    /// Body bytes used in the slot.
    used: u16,
    /// Counted in `usable` when it completed.
    counted: bool,
}

/// The buffer (see the module docs).
pub(crate) struct Interp {
    cfg: InterpConfig,
    max_parts: usize,
    max_bytes: usize,
    /// `capacity * max_bytes` bytes; slot `s` at `s * max_bytes`.
    data: Box<[u8]>,
    /// `capacity * max_parts` part offsets and lengths (`MISSING` = not there).
    offs: Box<[u16]>,
    lens: Box<[u16]>,
    meta: Box<[Meta]>,
    /// Live slots, oldest tick first; `order[..live]`.
    order: Box<[u8]>,
    live: usize,
    /// Offset samples (µs), a ring, and a scratch copy for the percentile.
    samples: Box<[i64; WINDOW]>,
    scratch: Box<[i64; WINDOW]>,
    n_samples: usize,
    head: usize,
    /// The estimator's result: `(base, target delay, jitter)` in µs.
    base: i64,
    target: i64,
    jitter: i64,
    /// The server's tick interval (µs), measured; 0 until two ticks were seen.
    tick_us: i64,
    /// The playout offset applied, `base + delay` (µs), and when it was last moved
    /// (local µs). The whole offset is smoothed, so a new `base` does not jump either.
    playout: f64,
    delay_at: Option<u64>,
    /// The render time at the latest `now` (server µs); never goes back.
    cursor: Option<i64>,
    /// The newest tick at or before the cursor (played out up to it).
    horizon: Option<u32>,
    first: Option<u32>,
    newest: Option<u32>,
    stats: InterpStats,
}

impl core::fmt::Debug for Interp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Interp")
            .field("live", &self.live)
            .field("cursor", &self.cursor)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn us(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 4)
}

fn dur(us: i64) -> Duration {
    Duration::from_micros(us.max(0) as u64)
}

impl Interp {
    /// A buffer for snapshots of at most `max_parts` parts; allocates everything it uses.
    pub(crate) fn new(cfg: InterpConfig, max_parts: u8) -> Interp {
        let cap = cfg.capacity.max(1) as usize;
        let max_parts = (max_parts as usize).max(1);
        let max_bytes = cfg.max_snapshot_bytes as usize;
        let meta = Meta {
            tick: 0,
            time_us: 0,
            parts: 0,
            have: 0,
            used: 0,
            counted: false,
        };
        Interp {
            cfg: InterpConfig {
                capacity: cap as u8,
                percentile: cfg.percentile.clamp(1, 100),
                ..cfg
            },
            max_parts,
            max_bytes,
            data: vec![0; cap * max_bytes].into_boxed_slice(),
            offs: vec![0; cap * max_parts].into_boxed_slice(),
            lens: vec![MISSING; cap * max_parts].into_boxed_slice(),
            meta: vec![meta; cap].into_boxed_slice(),
            order: vec![0; cap].into_boxed_slice(),
            live: 0,
            samples: Box::new([0; WINDOW]),
            scratch: Box::new([0; WINDOW]),
            n_samples: 0,
            head: 0,
            base: 0,
            target: 0,
            jitter: 0,
            tick_us: 0,
            playout: 0.0,
            delay_at: None,
            cursor: None,
            horizon: None,
            first: None,
            newest: None,
            stats: InterpStats::default(),
        }
    }

    /// The configuration (capacity and percentile clamped into range).
    pub(crate) fn config(&self) -> &InterpConfig {
        &self.cfg
    }

    /// Takes one checked part (`p.part < p.parts`) at local time `now_us`; `true` when it
    /// completed a tick.
    pub(crate) fn part(&mut self, now_us: u64, p: &SnapshotPrefix, body: &[u8]) -> bool {
        self.advance(now_us);
        if self.is_played(p) {
            self.stats.too_late += 1;
            // The estimator must see what came too late, or the delay would never grow.
            if self.delay_at.is_some() {
                self.sample((now_us as i64).saturating_sub(p.time_us as i64));
            }
            return false;
        }
        if p.parts as usize > self.max_parts || body.len() > self.max_bytes || p.part >= p.parts {
            self.stats.rejected += 1;
            return false;
        }
        let slot = match self.find(p.tick) {
            Some(s) => {
                let m = &self.meta[s];
                if m.have == m.parts {
                    // Already complete: a repeat from the server, nothing new.
                    return false;
                }
                if m.parts != p.parts || m.time_us != p.time_us {
                    self.stats.rejected += 1;
                    return false;
                }
                s
            }
            None => match self.open(p) {
                Some(s) => s,
                None => {
                    self.stats.overflow += 1;
                    return false;
                }
            },
        };
        let at = slot * self.max_parts + p.part as usize;
        let m = &mut self.meta[slot];
        if self.lens[at] != MISSING || m.used as usize + body.len() > self.max_bytes {
            self.stats.rejected += 1;
            return false;
        }
        let start = slot * self.max_bytes + m.used as usize;
        self.data[start..start + body.len()].copy_from_slice(body);
        self.offs[at] = m.used;
        self.lens[at] = body.len() as u16;
        m.used += body.len() as u16;
        m.have += 1;
        if m.have < m.parts {
            return false;
        }
        self.completed(now_us, slot);
        true
    }

    /// Whether the render time has passed `p`'s tick (or it is not newer than the newest
    /// tick played out).
    fn is_played(&self, p: &SnapshotPrefix) -> bool {
        if let Some(h) = self.horizon {
            if !seq_newer(p.tick, h) {
                return true;
            }
        }
        self.cursor.is_some_and(|c| (p.time_us as i64) <= c)
    }

    /// The live slot holding `tick`.
    fn find(&self, tick: u32) -> Option<usize> {
        self.order[..self.live]
            .iter()
            .map(|&s| s as usize)
            .find(|&s| self.meta[s].tick == tick)
    }

    /// A slot for `p`'s tick, in tick order: a free one, or the oldest one when `p` is
    /// newer than it; `None` when the buffer is full of newer ticks.
    fn open(&mut self, p: &SnapshotPrefix) -> Option<usize> {
        let cap = self.meta.len();
        let slot = if self.live < cap {
            // The free slots are the ones not in order[..live].
            let mut free = 0;
            while self.order[..self.live].contains(&(free as u8)) {
                free += 1;
            }
            free
        } else {
            let oldest = self.order[0] as usize;
            if !seq_newer(p.tick, self.meta[oldest].tick) {
                return None;
            }
            let m = self.meta[oldest];
            if m.counted && !self.is_played_meta(&m) {
                self.stats.usable -= 1;
                self.stats.overflow += 1;
            }
            self.order.copy_within(1..self.live, 0);
            self.live -= 1;
            oldest
        };
        self.meta[slot] = Meta {
            tick: p.tick,
            time_us: p.time_us,
            parts: p.parts,
            have: 0,
            used: 0,
            counted: false,
        };
        let t = slot * self.max_parts;
        self.lens[t..t + p.parts as usize].fill(MISSING);
        // Insert by tick.
        let mut at = self.live;
        while at > 0 && seq_newer(self.meta[self.order[at - 1] as usize].tick, p.tick) {
            at -= 1;
        }
        self.order.copy_within(at..self.live, at + 1);
        self.order[at] = slot as u8;
        self.live += 1;
        Some(slot)
    }

    fn is_played_meta(&self, m: &Meta) -> bool {
        self.cursor.is_some_and(|c| (m.time_us as i64) <= c)
    }

    /// Slot `slot` just became complete at `now_us`.
    fn completed(&mut self, now_us: u64, slot: usize) {
        let m = self.meta[slot];
        self.stats.complete += 1;
        self.stats.usable += 1;
        self.meta[slot].counted = true;
        match self.newest {
            Some(n) if !seq_newer(m.tick, n) => self.stats.late_kept += 1,
            Some(n) => {
                let gap = m.tick.wrapping_sub(n);
                self.stats.ticks_spanned += u64::from(gap);
                // The tick interval, from the newest complete tick before this one.
                if let Some(prev) = self.find(n).map(|s| self.meta[s].time_us) {
                    let dt = m.time_us.saturating_sub(prev) / u64::from(gap);
                    if (1..=1_000_000).contains(&dt) && gap <= 16 {
                        self.tick_us = dt as i64;
                    }
                }
                self.newest = Some(m.tick);
            }
            None => {
                self.first = Some(m.tick);
                self.newest = Some(m.tick);
                self.stats.ticks_spanned = 1;
            }
        }
        if let Some(f) = self.first {
            // A late tick older than the first complete one widens the span.
            if seq_newer(f, m.tick) {
                self.stats.ticks_spanned += u64::from(f.wrapping_sub(m.tick));
                self.first = Some(m.tick);
            }
        }
        self.sample((now_us as i64).saturating_sub(m.time_us as i64));
        if self.delay_at.is_none() {
            // The first snapshot: start at the target at once.
            self.playout = self.base.saturating_add(self.target) as f64;
            self.delay_at = Some(now_us);
        }
    }

    /// Records one offset sample and recomputes the estimate.
    fn sample(&mut self, offset: i64) {
        self.samples[self.head] = offset;
        self.head = (self.head + 1) % WINDOW;
        self.n_samples = (self.n_samples + 1).min(WINDOW);
        let n = self.n_samples;
        let s = &mut self.scratch[..n];
        s.copy_from_slice(&self.samples[..n]);
        let base = s.iter().copied().min().unwrap_or(offset);
        // The sample at rank ceil(p/100 * n) - 1.
        let rank = ((self.cfg.percentile as usize * n).div_ceil(100)).clamp(1, n) - 1;
        let (_, at, _) = s.select_nth_unstable(rank);
        let jitter = at.saturating_sub(base);
        self.base = base;
        self.jitter = jitter;
        self.target = match self.cfg.fixed_delay {
            Some(d) => us(d),
            None => jitter
                .saturating_add(self.tick_us)
                .saturating_add(us(self.cfg.margin))
                .clamp(
                    us(self.cfg.min_delay),
                    us(self.cfg.max_delay).max(us(self.cfg.min_delay)),
                ),
        };
    }

    /// Moves the applied delay toward the target and the cursor to `now_us`; frees the
    /// slots played out (all before the newest one at or before the cursor).
    fn advance(&mut self, now_us: u64) {
        let Some(at) = self.delay_at else {
            return;
        };
        let dt = now_us.saturating_sub(at) as f64;
        self.delay_at = Some(now_us.max(at));
        let target = self.base.saturating_add(self.target) as f64;
        if target > self.playout {
            self.playout = (self.playout + dt * GROW).min(target);
        } else {
            self.playout = (self.playout - dt * SHRINK).max(target);
        }
        let render = (now_us as i64).saturating_sub(self.playout as i64);
        let c = self.cursor.map_or(render, |c| c.max(render));
        self.cursor = Some(c);
        // The newest complete slot at or before the cursor stays (lower end of the blend);
        // everything before it is played out. Incomplete ones before the cursor too.
        let mut keep = None;
        for i in 0..self.live {
            let m = &self.meta[self.order[i] as usize];
            if (m.time_us as i64) > c {
                break;
            }
            if m.have == m.parts {
                keep = Some(i);
            }
        }
        let mut drop_to = keep.unwrap_or(0);
        if keep.is_none() {
            // No complete one at or before the cursor: drop the incomplete ones it passed.
            while drop_to < self.live
                && (self.meta[self.order[drop_to] as usize].time_us as i64) <= c
            {
                drop_to += 1;
            }
        }
        if let Some(k) = keep {
            let t = self.meta[self.order[k] as usize].tick;
            if self.horizon.is_none_or(|h| seq_newer(t, h)) {
                self.horizon = Some(t);
            }
        }
        if drop_to > 0 {
            self.order.copy_within(drop_to..self.live, 0);
            self.live -= drop_to;
        }
    }

    /// What to render at local time `now_us`.
    pub(crate) fn interpolate(&mut self, now_us: u64) -> Option<Interpolation<'_>> {
        self.advance(now_us);
        let c = self.cursor?;
        let complete = |s: &u8| {
            let m = &self.meta[*s as usize];
            m.have == m.parts
        };
        let mut from = None;
        let mut to = None;
        for &s in self.order[..self.live].iter().filter(|s| complete(s)) {
            if (self.meta[s as usize].time_us as i64) <= c {
                from = Some(s as usize);
            } else {
                to = Some(s as usize);
                break;
            }
        }
        let (from, to) = match (from, to) {
            (Some(f), t) => (f, t),
            // The render time is before everything kept: hold the oldest.
            (None, Some(t)) => (t, None),
            (None, None) => return None,
        };
        let alpha = match to {
            Some(t) => {
                let a = self.meta[from].time_us as f64;
                let b = self.meta[t].time_us as f64;
                if b > a {
                    (((c as f64) - a) / (b - a)).clamp(0.0, 1.0) as f32
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        Some(Interpolation {
            from: self.snapshot(from),
            to: to.map(|t| self.snapshot(t)),
            alpha,
            render_time_us: c.max(0) as u64,
            delay: self.applied_delay(),
        })
    }

    fn snapshot(&self, slot: usize) -> BufferedSnapshot<'_> {
        let m = &self.meta[slot];
        let t = slot * self.max_parts;
        let d = slot * self.max_bytes;
        BufferedSnapshot {
            tick: m.tick,
            time_us: m.time_us,
            parts: SnapshotParts::spans(
                &self.data[d..d + self.max_bytes],
                &self.offs[t..t + m.parts as usize],
                &self.lens[t..t + m.parts as usize],
            ),
        }
    }

    /// The complete snapshot of `tick`, when it is kept.
    pub(crate) fn get(&self, tick: u32) -> Option<BufferedSnapshot<'_>> {
        let s = self.find(tick)?;
        let m = &self.meta[s];
        (m.have == m.parts).then(|| self.snapshot(s))
    }

    /// Complete snapshots kept, oldest first: `(tick, time_us)`.
    pub(crate) fn ticks(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.order[..self.live]
            .iter()
            .map(|&s| &self.meta[s as usize])
            .filter(|m| m.have == m.parts)
            .map(|m| (m.tick, m.time_us))
    }

    /// The delay applied now: the playout offset over `base`.
    pub(crate) fn applied_delay(&self) -> Duration {
        dur((self.playout as i64).saturating_sub(self.base))
    }

    pub(crate) fn stats(&self) -> InterpStats {
        InterpStats {
            delay: self.applied_delay(),
            target_delay: dur(self.target),
            jitter: dur(self.jitter),
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: u64 = 16_667;

    fn pre(tick: u32, part: u8, parts: u8) -> SnapshotPrefix {
        SnapshotPrefix {
            tick,
            time_us: u64::from(tick) * TICK,
            part,
            parts,
        }
    }

    fn fixed(ms: u64) -> InterpConfig {
        InterpConfig {
            fixed_delay: Some(Duration::from_millis(ms)),
            ..InterpConfig::default()
        }
    }

    fn ticks(b: &Interp) -> Vec<u32> {
        b.ticks().map(|t| t.0).collect()
    }

    /// Local clock = server clock + 1 s of offset, every snapshot 10 ms on the way.
    fn arrive(tick: u32) -> u64 {
        1_000_000 + u64::from(tick) * TICK + 10_000
    }

    #[test]
    fn blends_between_the_two_around_the_render_time() {
        let mut b = Interp::new(fixed(50), 4);
        for t in 0..10 {
            assert!(b.part(arrive(t), &pre(t, 0, 1), &[t as u8]));
        }
        // Every sample has the same offset: base = 1 s + 10 ms, delay 50 ms.
        let now = arrive(9);
        let i = b.interpolate(now).unwrap();
        let render = now as i64 - 1_010_000 - 50_000;
        assert_eq!(i.render_time_us, render as u64);
        assert_eq!(i.delay, Duration::from_millis(50));
        let from = i.from.tick;
        let to = i.to.as_ref().unwrap().tick;
        let below = (render as u64 / TICK) as u32;
        assert_eq!((from, to), (below, below + 1));
        let want = (render as f64 - f64::from(below) * TICK as f64) / TICK as f64;
        assert!(
            (f64::from(i.alpha) - want).abs() < 1e-4,
            "{} {want}",
            i.alpha
        );
        assert_eq!(i.from.parts().collect::<Vec<_>>(), [&[below as u8][..]]);
        // What the render time passed is freed, the lower end of the blend stays.
        assert_eq!(ticks(&b), (below..10).collect::<Vec<_>>());
        let s = b.stats();
        assert_eq!(
            (s.complete, s.usable, s.ticks_spanned, s.too_late),
            (10, 10, 10, 0)
        );
    }

    #[test]
    fn keeps_a_late_snapshot_and_orders_by_tick() {
        let mut b = Interp::new(fixed(100), 4);
        b.part(arrive(1), &pre(1, 0, 1), b"1");
        b.part(arrive(3), &pre(3, 0, 1), b"3");
        // Tick 2 arrives after 3, but well before the render time reaches it.
        assert!(b.part(arrive(3) + 1000, &pre(2, 0, 1), b"2"));
        assert_eq!(ticks(&b), [1, 2, 3]);
        // A second copy of a complete tick changes nothing.
        assert!(!b.part(arrive(3) + 2000, &pre(2, 0, 1), b"x"));
        let s = b.stats();
        assert_eq!(
            (s.complete, s.late_kept, s.usable, s.ticks_spanned),
            (3, 1, 3, 3)
        );
        // At arrival(3) + 100 ms - 1 tick the render time is between 2 and 3.
        let i = b.interpolate(arrive(2) + 100_000 + TICK / 2).unwrap();
        assert_eq!((i.from.tick, i.to.map(|t| t.tick)), (2, Some(3)));
        assert!((i.alpha - 0.5).abs() < 1e-3);
        assert_eq!(i.from.parts().next(), Some(&b"2"[..]));
    }

    #[test]
    fn too_late_once_the_render_time_passed_it() {
        let mut b = Interp::new(fixed(20), 4);
        for t in [0u32, 1, 2, 4, 5, 6] {
            b.part(arrive(t), &pre(t, 0, 1), b"");
        }
        // Tick 3 turns up 60 ms late: the render time (20 ms behind) passed it.
        let late = arrive(3) + 60_000;
        assert!(!b.part(late, &pre(3, 0, 1), b""));
        let s = b.stats();
        assert_eq!(
            (s.too_late, s.usable, s.complete, s.ticks_spanned),
            (1, 6, 6, 7)
        );
        assert!(!ticks(&b).contains(&3));
        // Older than what was played: too late as well, also for a part of a new tick.
        assert!(!b.part(late, &pre(0, 0, 2), b""));
        assert_eq!(b.stats().too_late, 2);
    }

    #[test]
    fn late_multi_part_tick_assembles_in_any_order() {
        let mut b = Interp::new(fixed(100), 4);
        b.part(arrive(1), &pre(1, 0, 1), b"a");
        b.part(arrive(2), &pre(2, 2, 3), b"c");
        b.part(arrive(3), &pre(3, 0, 1), b"d");
        b.part(arrive(3), &pre(2, 0, 3), b"a");
        assert_eq!(ticks(&b), [1, 3]);
        // Disagreeing part count: rejected, the slot stays.
        assert!(!b.part(arrive(3), &pre(2, 1, 2), b"b"));
        assert!(b.part(arrive(3), &pre(2, 1, 3), b"bb"));
        assert_eq!(ticks(&b), [1, 2, 3]);
        let i = b.interpolate(arrive(2) + 100_000).unwrap();
        assert_eq!(i.from.tick, 2);
        assert_eq!(
            i.from.parts().collect::<Vec<_>>(),
            [&b"a"[..], &b"bb"[..], &b"c"[..]]
        );
        assert_eq!(i.from.parts().len(), 3);
        assert_eq!(b.stats().rejected, 1);
    }

    #[test]
    fn full_buffer_drops_the_oldest_for_a_newer_tick() {
        let mut b = Interp::new(
            InterpConfig {
                capacity: 3,
                ..fixed(1000)
            },
            2,
        );
        for t in 10..13 {
            b.part(arrive(t), &pre(t, 0, 1), b"");
        }
        // Older than everything in a full buffer: no room.
        assert!(!b.part(arrive(12), &pre(9, 0, 1), b""));
        assert_eq!(b.stats().overflow, 1);
        b.part(arrive(13), &pre(13, 0, 1), b"");
        assert_eq!(ticks(&b), [11, 12, 13]);
        let s = b.stats();
        // Tick 10 was dropped before it was played: not usable after all.
        assert_eq!((s.overflow, s.usable, s.complete), (2, 3, 4));
        // Too big for a slot or more parts than the table: rejected.
        let small = InterpConfig {
            max_snapshot_bytes: 4,
            ..fixed(10)
        };
        let mut b = Interp::new(small, 2);
        assert!(!b.part(0, &pre(1, 0, 1), b"12345"));
        assert!(!b.part(0, &pre(1, 0, 3), b""));
        b.part(0, &pre(2, 0, 2), b"123");
        assert!(!b.part(0, &pre(2, 1, 2), b"45"));
        assert_eq!(b.stats().rejected, 3);
    }

    #[test]
    fn adaptive_delay_is_the_jitter_percentile_plus_a_tick_plus_margin_clamped() {
        let cfg = InterpConfig {
            percentile: 90,
            margin: Duration::from_millis(1),
            ..InterpConfig::default()
        };
        let mut b = Interp::new(cfg, 1);
        // Jitter cycles 0, 1, .., 9 ms: the 90th percentile of 0..=9 ms is 8 ms.
        for t in 0..100u32 {
            b.part(arrive(t) + u64::from(t % 10) * 1000, &pre(t, 0, 1), b"");
        }
        let s = b.stats();
        assert_eq!(s.jitter, Duration::from_millis(8));
        // 8 ms of jitter, one tick (16.667 ms), 1 ms of margin.
        let want = Duration::from_micros(8_000 + TICK + 1_000);
        assert_eq!(s.target_delay, want);
        // The applied delay reached the target (it grows at half the speed of time).
        assert_eq!(s.delay, want);
        // Clamped by max_delay.
        let mut b = Interp::new(
            InterpConfig {
                max_delay: Duration::from_millis(5),
                ..cfg
            },
            1,
        );
        for t in 0..100u32 {
            b.part(arrive(t) + u64::from(t % 10) * 1000, &pre(t, 0, 1), b"");
        }
        assert_eq!(b.stats().target_delay, Duration::from_millis(5));
    }

    #[test]
    fn render_time_never_goes_back_and_moves_smoothly() {
        let mut b = Interp::new(InterpConfig::default(), 1);
        let mut last = 0u64;
        let mut now = 0;
        for t in 0..300u32 {
            // A quiet link, then one that jitters by up to 40 ms, then quiet again.
            let j = if (100..200).contains(&t) {
                u64::from(t * 7919 % 41) * 1000
            } else {
                0
            };
            now = now.max(arrive(t) + j);
            b.part(now, &pre(t, 0, 1), b"");
            for k in 0..4 {
                let at = now + k * 4000;
                if let Some(i) = b.interpolate(at) {
                    assert!(i.render_time_us >= last, "tick {t}: went back");
                    // Never faster than 1.05 x time (4 ms steps: at most 4.2 ms + a µs).
                    if last > 0 && k > 0 {
                        assert!(i.render_time_us - last <= 4_201, "tick {t}: jumped");
                    }
                    last = i.render_time_us;
                }
            }
            now += 4 * 4000;
        }
        assert!(b.stats().delay > Duration::ZERO);
    }

    #[test]
    fn absurd_times_and_ticks_do_not_panic() {
        for cfg in [InterpConfig::default(), fixed(u64::MAX / 2_000)] {
            let mut b = Interp::new(cfg, 3);
            let times = [0, u64::MAX, 1 << 63, (1 << 63) - 1, 5, u64::MAX - 1];
            for (k, &t) in times.iter().cycle().take(200).enumerate() {
                let p = SnapshotPrefix {
                    tick: (k as u32).wrapping_mul(0x9E37_79B9),
                    time_us: t,
                    part: (k % 3) as u8,
                    parts: 1 + (k % 4) as u8,
                };
                let now = times[(k * 7) % times.len()];
                b.part(now, &p, &[1; 9]);
                if let Some(i) = b.interpolate(now) {
                    assert!((0.0..=1.0).contains(&i.alpha));
                }
                let _ = b.stats();
            }
        }
    }

    #[test]
    fn nothing_before_the_first_snapshot() {
        let mut b = Interp::new(InterpConfig::default(), 4);
        assert!(b.interpolate(5).is_none());
        b.part(10, &pre(7, 0, 2), b"");
        assert!(b.interpolate(20).is_none());
        assert_eq!(b.stats(), InterpStats::default());
        assert_eq!(b.stats().usable_ratio(), 0.0);
    }
}
