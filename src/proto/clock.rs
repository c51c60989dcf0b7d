//! The tick clock: tick `n` is due at `epoch + n * 1e9 / hz` nanoseconds, computed exactly
//! from `n` (never by adding periods, so it does not drift), and a caller that fell behind
//! steps at most [`MAX_CATCH_UP`] ticks at once.

use core::time::Duration;
use std::time::Instant;

/// Most ticks stepped in one call when the caller fell behind; beyond, ticks are skipped.
pub(crate) const MAX_CATCH_UP: u64 = 6;

/// The ticks one call to `handle_timeout` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Due {
    /// First tick to step.
    pub first: u64,
    /// Last (newest) tick to step; the one serialized.
    pub last: u64,
    /// Ticks skipped before `first`.
    pub skipped: u64,
}

/// Tick deadlines from one epoch.
#[derive(Debug, Clone)]
pub(crate) struct TickClock {
    epoch: Instant,
    hz: u16,
    /// Number of the next tick to run.
    next: u64,
}

impl TickClock {
    /// A clock whose tick 0 is due at `epoch`; `hz` is at least 1.
    pub(crate) fn new(epoch: Instant, hz: u16) -> TickClock {
        TickClock {
            epoch,
            hz: hz.max(1),
            next: 0,
        }
    }

    /// When the clock started.
    pub(crate) fn epoch(&self) -> Instant {
        self.epoch
    }

    /// The number of the next tick to run.
    pub(crate) fn next_tick(&self) -> u64 {
        self.next
    }

    /// Nanoseconds since the epoch at `now` (0 before it).
    #[inline]
    pub(crate) fn since_ns(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Microseconds since the epoch at `now` (0 before it), in u64 arithmetic.
    #[inline]
    pub(crate) fn since_us(&self, now: Instant) -> u64 {
        let d = now.saturating_duration_since(self.epoch);
        d.as_secs()
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(d.subsec_micros()))
    }

    /// The instant `ns` nanoseconds after the epoch (saturating far in the future).
    pub(crate) fn at(&self, ns: u64) -> Instant {
        let d = Duration::from_nanos(ns);
        self.epoch
            .checked_add(d)
            .or_else(|| self.epoch.checked_add(Duration::from_secs(1 << 32)))
            .unwrap_or(self.epoch)
    }

    /// When tick `n` is due, in nanoseconds since the epoch.
    #[inline]
    pub(crate) fn deadline_ns(&self, tick: u64) -> u64 {
        // u128 keeps `n * 1e9 / hz` exact however long the server runs.
        let ns = u128::from(tick) * 1_000_000_000 / u128::from(self.hz);
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// When the next tick is due, in nanoseconds since the epoch.
    #[inline]
    pub(crate) fn next_deadline_ns(&self) -> u64 {
        self.deadline_ns(self.next)
    }

    /// The ticks due at `now_ns`, and moves the clock past them; `None` when the next tick
    /// is not due yet. The newest due tick is the largest `n` with
    /// `floor(n * 1e9 / hz) <= now`; when more than [`MAX_CATCH_UP`] are due, the oldest are
    /// skipped.
    pub(crate) fn take_due(&mut self, now_ns: u64) -> Option<Due> {
        if self.next_deadline_ns() > now_ns {
            return None;
        }
        let hz = u128::from(self.hz);
        let last = u64::try_from(((u128::from(now_ns) + 1) * hz - 1) / 1_000_000_000)
            .unwrap_or(u64::MAX)
            .max(self.next);
        let (first, skipped) = if last - self.next >= MAX_CATCH_UP {
            (last + 1 - MAX_CATCH_UP, last - self.next + 1 - MAX_CATCH_UP)
        } else {
            (self.next, 0)
        };
        self.next = last + 1;
        Some(Due {
            first,
            last,
            skipped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_exact_and_catch_up_is_bounded() {
        let t0 = Instant::now();
        let mut c = TickClock::new(t0, 60);
        assert_eq!(c.deadline_ns(1), 16_666_666);
        assert_eq!(c.deadline_ns(60 * 3600), 3_600_000_000_000);
        let d = c.take_due(0).unwrap();
        assert_eq!((d.first, d.last, d.skipped), (0, 0, 0));
        assert_eq!(c.take_due(16_666_665), None);
        let d = c.take_due(16_666_666).unwrap();
        assert_eq!((d.first, d.last, d.skipped), (1, 1, 0));
        // 100 ticks late: the newest six run, the rest are skipped.
        let d = c.take_due(c.deadline_ns(101)).unwrap();
        assert_eq!((d.first, d.last, d.skipped), (96, 101, 94));
        assert_eq!(c.next_tick(), 102);
        assert_eq!(
            c.at(c.deadline_ns(2)) - t0,
            Duration::from_nanos(33_333_333)
        );
    }
}
