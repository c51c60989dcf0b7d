//! The per-user send budget: a token bucket in its GCRA form (one `Instant` per user).
//!
//! `interval` is the time one request costs (1 s / rate) and `tolerance` how far ahead of
//! `now` the user may have spent: `(burst - 1) * interval`. A user who has been quiet can
//! send `burst` requests at once, then one per `interval`.

use std::time::{Duration, Instant};

/// The budget's parameters, from the config.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rate {
    /// Time one request costs; `None`: no limit.
    interval: Option<Duration>,
    /// How much of the future a user may spend at once.
    tolerance: Duration,
}

impl Rate {
    /// `per_sec` requests a second on average (0: no limit), `burst` at once.
    pub(super) fn new(per_sec: u32, burst: u32) -> Rate {
        let interval = (per_sec > 0).then(|| Duration::from_secs(1) / per_sec);
        let tolerance = interval.unwrap_or_default() * burst.saturating_sub(1);
        Rate {
            interval,
            tolerance,
        }
    }
}

/// One user's budget: the theoretical arrival time of its next request.
#[derive(Debug, Clone, Copy)]
pub(super) struct Budget {
    tat: Instant,
}

impl Budget {
    /// A full budget at `now` (a user just logged in).
    pub(super) fn new(now: Instant) -> Budget {
        Budget { tat: now }
    }

    /// A budget at `now` that starts no fuller than `left`, the budget of a user who
    /// logged out from the same address: logging out and in again does not refill it.
    pub(super) fn inherit(now: Instant, left: Option<Budget>) -> Budget {
        Budget {
            tat: left.map_or(now, |b| b.tat.max(now)),
        }
    }

    /// Whether this budget is spent beyond `now`, i.e. still differs from a full one.
    pub(super) fn in_debt(self, now: Instant) -> bool {
        self.tat > now
    }

    /// The emptier of two budgets.
    pub(super) fn emptier(self, other: Budget) -> Budget {
        Budget {
            tat: self.tat.max(other.tat),
        }
    }

    /// Spends one request at `now`; `false` (and nothing spent) when over the rate.
    pub(super) fn take(&mut self, rate: Rate, now: Instant) -> bool {
        let Some(interval) = rate.interval else {
            return true;
        };
        let tat = self.tat.max(now);
        if tat.saturating_duration_since(now) > rate.tolerance {
            return false;
        }
        self.tat = tat + interval;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let rate = Rate::new(10, 20);
        let t0 = Instant::now();
        let mut b = Budget::new(t0);
        assert_eq!((0..100).filter(|_| b.take(rate, t0)).count(), 20);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!((0..100).filter(|_| b.take(rate, t1)).count(), 10);
        // Quiet for a long time: the burst again, never more.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!((0..100).filter(|_| b.take(rate, t2)).count(), 20);
        let mut free = Budget::new(t0);
        assert!((0..10_000).all(|_| free.take(Rate::new(0, 1), t0)));
    }
}
