//! Round-trip time estimation (RFC 6298 section 2), one implementation for both ends.
//!
//! quinn-proto's `RttEstimator` (`connection/paths.rs`) is the model. Everything is integer
//! microseconds, the unit of the link's clock: the first sample sets `smoothed = sample` and
//! `var = sample / 2`; each later one sets `var = (3 var + |smoothed - sample|) / 4`, then
//! `smoothed = (7 smoothed + sample) / 8` (integer division, rounding down).

use core::time::Duration;

/// Smoothed RTT, its variation and the extremes, from the samples a link took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct RttEstimator {
    samples: u64,
    latest_us: u64,
    smoothed_us: Option<u64>,
    var_us: u64,
    min_us: u64,
    max_us: u64,
}

impl RttEstimator {
    /// Takes one sample.
    #[inline]
    pub(crate) fn update(&mut self, sample_us: u64) {
        match self.smoothed_us {
            None => {
                self.smoothed_us = Some(sample_us);
                self.var_us = sample_us / 2;
                self.min_us = sample_us;
                self.max_us = sample_us;
            }
            Some(srtt) => {
                self.var_us = (3 * self.var_us + srtt.abs_diff(sample_us)) / 4;
                self.smoothed_us = Some((7 * srtt + sample_us) / 8);
                self.min_us = self.min_us.min(sample_us);
                self.max_us = self.max_us.max(sample_us);
            }
        }
        self.latest_us = sample_us;
        self.samples += 1;
    }

    /// How many samples were taken.
    pub(crate) fn samples(&self) -> u64 {
        self.samples
    }

    /// Smoothed RTT in microseconds, once sampled.
    #[inline]
    pub(crate) fn smoothed_us(&self) -> Option<u64> {
        self.smoothed_us
    }

    /// Smoothed RTT, once sampled.
    pub(crate) fn smoothed(&self) -> Option<Duration> {
        self.smoothed_us.map(Duration::from_micros)
    }

    /// RTT variation (zero before the first sample).
    pub(crate) fn var(&self) -> Duration {
        Duration::from_micros(self.var_us)
    }

    /// The latest sample (zero before the first).
    pub(crate) fn latest(&self) -> Duration {
        Duration::from_micros(self.latest_us)
    }

    /// The smallest sample (zero before the first).
    pub(crate) fn min(&self) -> Duration {
        Duration::from_micros(self.min_us)
    }

    /// The largest sample (zero before the first).
    pub(crate) fn max(&self) -> Duration {
        Duration::from_micros(self.max_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6298_smoothing_in_integer_microseconds() {
        let mut r = RttEstimator::default();
        assert_eq!(r.smoothed(), None);
        r.update(40_000);
        assert_eq!(r.smoothed_us(), Some(40_000));
        assert_eq!(r.var(), Duration::from_micros(20_000));
        r.update(20_000);
        assert_eq!(r.smoothed_us(), Some(37_500));
        assert_eq!(r.var(), Duration::from_micros((3 * 20_000 + 20_000) / 4));
        assert_eq!(
            (r.min(), r.max()),
            (Duration::from_millis(20), Duration::from_millis(40))
        );
        assert_eq!((r.samples(), r.latest()), (2, Duration::from_millis(20)));
        r.update(3);
        assert_eq!(r.smoothed_us(), Some((7 * 37_500 + 3) / 8));
    }
}
