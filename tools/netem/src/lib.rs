//! A seeded, sans-IO network impairment model: one direction of a link that delays,
//! jitters, loses, duplicates, reorders and holds back datagrams, reproducible from its
//! seed.
//!
//! It is shared by tickwire's simulated-network tests (`tests/common/netsim.rs`, simulated
//! time) and its userspace netem proxy (`tickwire-netem`, real sockets and the real clock),
//! so that "10 % loss, 5 % reorder" means the same thing in both. It does no I/O and reads
//! no clock: every call takes `now`, as in str0m's `netem` crate, which is the model.
//!
//! # The drive loop
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tickwire_netem::{Impairment, Netem};
//!
//! let imp = Impairment {
//!     latency: Duration::from_millis(50),
//!     loss: 0.1,
//!     ..Impairment::NONE
//! };
//! let mut link: Netem<Vec<u8>> = Netem::new(imp, 42);
//! let t0 = Instant::now();
//! // A datagram leaves the sender: it is lost, or queued (once or twice).
//! let fate = link.push(t0, vec![1, 2, 3]);
//! assert!(fate.lost() || link.len() >= 1);
//! // Until then, nothing arrives; `poll_timeout` says when to look again.
//! assert!(link.poll(t0).is_none());
//! if let Some(at) = link.poll_timeout() {
//!     assert_eq!(at, t0 + Duration::from_millis(50));
//!     while let Some(d) = link.poll(at) {
//!         assert_eq!(d, [1, 2, 3]); // deliver it
//!     }
//! }
//! ```
//!
//! # The impairments
//!
//! | [`Impairment`] field | What it does to a datagram (or to one copy of it) | Linux netem |
//! |---|---|---|
//! | [`latency`](Impairment::latency) | due that long after it was pushed | `delay TIME` |
//! | [`jitter`](Impairment::jitter), [`distribution`](Impairment::distribution) | plus a random offset of that shape (never below zero delay) | `delay TIME JITTER`, `distribution normal` |
//! | [`order`](Impairment::order) | [`Order::DueTime`]: jitter reorders; [`Order::Fifo`]: a delayed copy never leaves before the delayed copy queued before it | the default time-sorted queue; a FIFO in front of netem, or a `rate` |
//! | [`loss`](Impairment::loss) | dropped | `loss P` (random, no correlation) |
//! | [`duplicate`](Impairment::duplicate) | queued twice | `duplicate P` |
//! | [`reorder`](Impairment::reorder) | *skips the delay*: due at once, overtaking every copy still delayed | `reorder P` (with its implicit `gap 1`, no correlation) |
//! | [`hold_back`](Impairment::hold_back), [`hold_back_range`](Impairment::hold_back_range) | *held back*: due an extra amount drawn from the range after its normal due time, so copies pushed after it overtake it; it does not hold up the FIFO | no such knob: the closest is `delay` with a large jitter and no `rate` (which reorders every datagram a little rather than a few by a lot) |
//!
//! `reorder` and `hold_back` are the two ways the model reorders, and they are opposites:
//! a reordered copy overtakes the ones sent *before* it (it arrives early), a held-back
//! copy is overtaken by the ones sent *after* it (it arrives late). A receiver that drops
//! what arrives after something newer (a sequence window) loses the copies sent before a
//! reordered one that were still in flight, but only the held-back copy itself.
//!
//! # What happens to one datagram
//!
//! For each datagram pushed at `now`, the model draws, in this order (each probability is
//! drawn independently, without netem's correlation; a probability of 0, below 0 or NaN
//! draws nothing, so adding an impairment at 0 does not change a seeded run):
//!
//! 1. **loss**: with probability [`Impairment::loss`] it is dropped, and nothing else
//!    happens to it (a duplicate is never lost on its own);
//! 2. **duplication**: a survivor gets one extra copy with probability
//!    [`Impairment::duplicate`]; each copy then goes through 3 to 5 independently, the
//!    first copy's draws before the second's;
//! 3. **reorder**, with Linux netem's meaning: with probability [`Impairment::reorder`]
//!    the copy *skips the delay*, due at `now`, so it overtakes every datagram still
//!    delayed (netem's `reorder P` with the implicit `gap 1`: "P of the packets are sent
//!    immediately, the others are delayed"); steps 4 and 5 are skipped for it. A reordered
//!    copy is not part of the FIFO order of [`Order::Fifo`]. Like netem's, reordering is
//!    visible only with a delay: with zero latency and jitter every copy is due at once
//!    anyway;
//! 4. **hold-back**: otherwise, with probability [`Impairment::hold_back`] the copy is held
//!    back, by an extra amount then drawn uniformly from [`Impairment::hold_back_range`];
//! 5. **delay**: the copy is due after [`Impairment::latency`] plus a jitter drawn from
//!    [`Impairment::distribution`] (never below zero), and, with [`Order::Fifo`], no
//!    earlier than the delayed copy queued before it. That is its place in the FIFO, which
//!    the next delayed copy waits for; a held-back copy then leaves its extra amount later
//!    than that, without making the next one wait longer.
//!
//! Copies come out of [`Netem::poll`] in order of due time, and in push order among equal
//! due times.
//!
//! # Allocation
//!
//! The queue allocates only for the datagrams it holds (a binary heap of them, which grows
//! to the largest number in flight and keeps its capacity); [`Netem::push_with`] makes each
//! copy only once it is queued, so a lost datagram costs nothing.
#![deny(missing_docs)]

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// The shape of the jitter around [`Impairment::latency`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Distribution {
    /// Uniform in `[-jitter, +jitter]`.
    #[default]
    Uniform,
    /// Normal with standard deviation `jitter`, clamped to 4 deviations either side
    /// (netem's `distribution normal`).
    Normal,
}

/// Whether jitter may reorder datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Each copy leaves at its own due time, so jitter larger than the gap between two
    /// datagrams reorders them (netem's default time-sorted queue).
    #[default]
    DueTime,
    /// A delayed copy never leaves before the delayed copy queued before it: jitter alone
    /// does not reorder (netem with a FIFO in front, or with a rate). Reordered copies
    /// ([`Impairment::reorder`]) still overtake, and held-back ones
    /// ([`Impairment::hold_back`]) are still overtaken.
    Fifo,
}

/// What a link does to the datagrams that cross it, in one direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// Base one-way delay.
    pub latency: Duration,
    /// Jitter around the latency: the half-width of [`Distribution::Uniform`], the
    /// standard deviation of [`Distribution::Normal`].
    pub jitter: Duration,
    /// The shape of the jitter.
    pub distribution: Distribution,
    /// Whether jitter may reorder.
    pub order: Order,
    /// Probability (0..=1) that a datagram is dropped.
    pub loss: f64,
    /// Probability (0..=1) that a datagram that was not lost is queued twice.
    pub duplicate: f64,
    /// Probability (0..=1) that a copy skips the delay and is due at once, overtaking the
    /// delayed ones (netem's `reorder`; see the crate docs).
    pub reorder: f64,
    /// Probability (0..=1) that a copy that was not reordered is held back: due an extra
    /// amount drawn from [`hold_back_range`](Impairment::hold_back_range) after its normal
    /// due time, so later copies overtake it (netem has no such knob; see the crate docs).
    pub hold_back: f64,
    /// The extra delay of a held-back copy, drawn uniformly from `min..=max`, both ends
    /// included (a `max` below `min` counts as `min`).
    pub hold_back_range: (Duration, Duration),
}

impl Impairment {
    /// No impairment: every datagram is due the moment it is pushed.
    pub const NONE: Impairment = Impairment {
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        distribution: Distribution::Uniform,
        order: Order::DueTime,
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        hold_back: 0.0,
        hold_back_range: (Duration::ZERO, Duration::ZERO),
    };
}

impl Default for Impairment {
    fn default() -> Impairment {
        Impairment::NONE
    }
}

/// One queued copy of a datagram, as [`Netem::decide`] drew it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copy {
    /// When it is due.
    pub due: Instant,
    /// It skipped the delay ([`Impairment::reorder`]).
    pub reordered: bool,
    /// It was held back ([`Impairment::hold_back`]): `due` includes the extra amount.
    pub held_back: bool,
}

/// What the model decided for one datagram: lost, or one or two copies with their due
/// times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fate {
    copies: [Option<Copy>; 2],
}

impl Fate {
    /// The datagram was dropped: no copy.
    pub fn lost(&self) -> bool {
        self.copies[0].is_none()
    }

    /// The datagram was duplicated: two copies.
    pub fn duplicated(&self) -> bool {
        self.copies[1].is_some()
    }

    /// How many copies skip the delay (0, 1 or 2).
    pub fn reordered(&self) -> usize {
        self.copies().filter(|c| c.reordered).count()
    }

    /// How many copies are held back (0, 1 or 2).
    pub fn held_back(&self) -> usize {
        self.copies().filter(|c| c.held_back).count()
    }

    /// The copies (none, one or two).
    pub fn copies(&self) -> impl Iterator<Item = Copy> + '_ {
        self.copies.iter().flatten().copied()
    }
}

/// Counts of what a [`Netem`] did since it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Datagrams pushed (decided).
    pub pushed: u64,
    /// Of those, dropped.
    pub lost: u64,
    /// Of those, duplicated.
    pub duplicated: u64,
    /// Copies that skipped the delay.
    pub reordered: u64,
    /// Copies held back.
    pub held_back: u64,
    /// Copies handed out by [`Netem::poll`].
    pub delivered: u64,
}

/// One direction of an impaired link: a seeded model and the queue of datagrams in
/// flight, generic over the datagram type `T`.
///
/// Drive it with [`push`](Netem::push) (or [`push_with`](Netem::push_with), or
/// [`decide`](Netem::decide) then [`enqueue`](Netem::enqueue)) when a datagram leaves,
/// and with [`poll`](Netem::poll) until `None` whenever [`poll_timeout`](Netem::poll_timeout)
/// has passed. `now` must not go backwards between calls (an earlier `now` is treated as
/// the latest one seen).
#[derive(Debug)]
pub struct Netem<T> {
    imp: Impairment,
    rng: SmallRng,
    queue: BinaryHeap<Reverse<Queued<T>>>,
    /// Push counter: ties of due time leave in push order.
    next: u64,
    /// Due time of the last delayed copy, for [`Order::Fifo`].
    fifo: Option<Instant>,
    /// Latest `now` seen.
    now: Option<Instant>,
    stats: Stats,
}

#[derive(Debug)]
struct Queued<T> {
    due: Instant,
    order: u64,
    datagram: T,
}

impl<T> PartialEq for Queued<T> {
    fn eq(&self, o: &Self) -> bool {
        (self.due, self.order) == (o.due, o.order)
    }
}
impl<T> Eq for Queued<T> {}
impl<T> PartialOrd for Queued<T> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Queued<T> {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.due, self.order).cmp(&(o.due, o.order))
    }
}

/// The longest delay the model hands out (a year), so an absurd latency cannot overflow
/// `Instant`.
const MAX_DELAY: Duration = Duration::from_secs(365 * 86_400);

impl<T> Netem<T> {
    /// A link with impairment `imp` whose random draws all come from `seed`.
    pub fn new(imp: Impairment, seed: u64) -> Netem<T> {
        Netem {
            imp,
            rng: SmallRng::seed_from_u64(seed),
            queue: BinaryHeap::new(),
            next: 0,
            fifo: None,
            now: None,
            stats: Stats::default(),
        }
    }

    /// The impairment in force.
    pub fn impairment(&self) -> &Impairment {
        &self.imp
    }

    /// Changes the impairment for the datagrams pushed from now on; those in flight keep
    /// their due times, and the random stream goes on.
    pub fn set_impairment(&mut self, imp: Impairment) {
        self.imp = imp;
    }

    /// What the model did so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Datagrams in flight.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Nothing in flight.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The datagrams in flight, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.queue.iter().map(|Reverse(q)| &q.datagram)
    }

    /// Drops every datagram in flight.
    pub fn clear(&mut self) {
        self.queue.clear();
    }

    /// When the earliest datagram in flight is due (`None` when nothing is in flight).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse(q)| q.due)
    }

    /// The next datagram due at `now` or earlier, if any. Call it until `None`.
    pub fn poll(&mut self, now: Instant) -> Option<T> {
        let now = self.advance(now);
        if self.queue.peek()?.0.due > now {
            return None;
        }
        let Reverse(q) = self.queue.pop()?;
        self.stats.delivered += 1;
        Some(q.datagram)
    }

    /// Draws the fate of one datagram sent at `now` and queues its copies, made by
    /// `make` (called once per copy, only for copies that are queued). Returns the fate.
    pub fn push_with(&mut self, now: Instant, mut make: impl FnMut() -> T) -> Fate {
        let fate = self.decide(now);
        for c in fate.copies() {
            self.enqueue(c.due, make());
        }
        fate
    }

    /// Draws the fate of one datagram sent at `now` and queues it (and a clone of it when
    /// duplicated). Returns the fate.
    pub fn push(&mut self, now: Instant, datagram: T) -> Fate
    where
        T: Clone,
    {
        let fate = self.decide(now);
        let mut copies = fate.copies();
        if let (Some(a), b) = (copies.next(), copies.next()) {
            if let Some(b) = b {
                self.enqueue(a.due, datagram.clone());
                self.enqueue(b.due, datagram);
            } else {
                self.enqueue(a.due, datagram);
            }
        }
        fate
    }

    /// Draws the fate of one datagram sent at `now` without queueing anything: for a
    /// caller that may refuse a copy (a queue limit of its own) and then calls
    /// [`enqueue`](Netem::enqueue) for each copy it keeps.
    pub fn decide(&mut self, now: Instant) -> Fate {
        let now = self.advance(now);
        self.stats.pushed += 1;
        let mut fate = Fate::default();
        if self.draw(self.imp.loss) {
            self.stats.lost += 1;
            return fate;
        }
        let copies = if self.draw(self.imp.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for slot in fate.copies.iter_mut().take(copies) {
            *slot = Some(self.copy(now));
        }
        fate
    }

    /// Queues `datagram`, due at `due` (one of the copies [`decide`](Netem::decide)
    /// returned).
    pub fn enqueue(&mut self, due: Instant, datagram: T) {
        self.next += 1;
        self.queue.push(Reverse(Queued {
            due,
            order: self.next,
            datagram,
        }));
    }

    /// Draws reorder, hold-back and delay for one copy of a datagram pushed at `now`.
    fn copy(&mut self, now: Instant) -> Copy {
        if self.draw(self.imp.reorder) {
            self.stats.reordered += 1;
            return Copy {
                due: now,
                reordered: true,
                held_back: false,
            };
        }
        let extra = if self.draw(self.imp.hold_back) {
            self.stats.held_back += 1;
            Some(self.hold_back_amount())
        } else {
            None
        };
        let mut due = later(now, self.delay());
        if self.imp.order == Order::Fifo {
            if let Some(f) = self.fifo {
                due = due.max(f);
            }
            // Its place in the FIFO, without the hold-back: the next copy does not wait
            // for the extra amount.
            self.fifo = Some(due);
        }
        Copy {
            due: extra.map_or(due, |e| later(due, e)),
            reordered: false,
            held_back: extra.is_some(),
        }
    }

    /// The extra delay of a held-back copy: uniform in the range, at most [`MAX_DELAY`].
    fn hold_back_amount(&mut self) -> Duration {
        let (min, max) = self.imp.hold_back_range;
        let lo = min.min(MAX_DELAY).as_nanos() as u64;
        let hi = (max.min(MAX_DELAY).as_nanos() as u64).max(lo);
        if lo == hi {
            return Duration::from_nanos(lo);
        }
        Duration::from_nanos(self.rng.gen_range(lo..=hi))
    }

    /// The latest of `now` and every earlier `now`.
    fn advance(&mut self, now: Instant) -> Instant {
        let now = self.now.map_or(now, |n| n.max(now));
        self.now = Some(now);
        now
    }

    /// True with probability `p` (no draw when `p` is 0, NaN or negative).
    fn draw(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.gen::<f64>() < p
    }

    /// Latency plus jitter, never below zero, at most [`MAX_DELAY`].
    fn delay(&mut self) -> Duration {
        let base = self.imp.latency.min(MAX_DELAY);
        let j = self.imp.jitter.min(MAX_DELAY).as_nanos() as f64;
        if j <= 0.0 {
            return base;
        }
        let offset = match self.imp.distribution {
            Distribution::Uniform => self.rng.gen_range(-j..=j),
            Distribution::Normal => {
                // Box-Muller; u1 in (0, 1] so ln is finite.
                let u1: f64 = 1.0 - self.rng.gen::<f64>();
                let u2: f64 = self.rng.gen::<f64>();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                z.clamp(-4.0, 4.0) * j
            }
        };
        let ns = (base.as_nanos() as f64 + offset).clamp(0.0, MAX_DELAY.as_nanos() as f64);
        Duration::from_nanos(ns as u64)
    }
}

/// `t + d`, or `t` plus at most [`MAX_DELAY`] where that would overflow.
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d.min(MAX_DELAY)).unwrap_or(t)
}

#[cfg(test)]
mod tests;
