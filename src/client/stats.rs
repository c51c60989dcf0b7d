//! What the client measures: traffic, drops, loss, round-trip time, snapshot rate.
//!
//! Loss, late arrivals, acks and RTT smoothing are the link layer's (`crate::link`, the
//! same code as the server's); this module adds what only the client reports: the RTT
//! histogram, the snapshot rate and the handshake time. Everything is preallocated when
//! the [`Client`](super::Client) is created: the histogram has fixed bounds, so recording
//! a sample never allocates.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::link::RttEstimator;
use crate::wire::{DropCounts, DropReason};

/// Largest RTT the histogram records, in microseconds (60 s); larger samples saturate.
pub(crate) const RTT_HIST_MAX_US: u64 = 60_000_000;

/// Round-trip time measurements, sampled from the server's ack of our datagrams.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RttStats {
    /// How many samples were taken.
    pub samples: u64,
    /// The latest sample.
    pub latest: Duration,
    /// Smoothed RTT (RFC 6298: `srtt = 7/8 srtt + 1/8 sample`).
    pub smoothed: Duration,
    /// RTT variation (RFC 6298: `rttvar = 3/4 rttvar + 1/4 |srtt - sample|`).
    pub var: Duration,
    /// Smallest sample.
    pub min: Duration,
    /// Largest sample.
    pub max: Duration,
    /// Median, from the histogram (microsecond resolution, 3 significant digits).
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
}

/// A copy of the client's counters and measurements, from [`Client::stats`](super::Client::stats).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientStats {
    /// Datagrams handed to `handle_datagram`, valid or not.
    pub datagrams_in: u64,
    /// Their bytes.
    pub bytes_in: u64,
    /// Datagrams produced by `poll_transmit`.
    pub datagrams_out: u64,
    /// Their bytes.
    pub bytes_out: u64,
    /// Dropped datagrams by reason: `drops.get(reason)`, `drops.total()`.
    pub drops: DropCounts,
    /// Well-formed datagrams that make no sense in the current state (a SNAPSHOT before
    /// ACCEPT, a CHALLENGE after it, anything after the connection ended); dropped.
    pub unexpected: u64,
    /// Server datagrams never seen: the gaps in the accepted seqs, less the ones that
    /// turned up late.
    pub lost: u64,
    /// Server datagrams that arrived after a newer one (reordered; dropped, not lost).
    pub late: u64,
    /// Repeated ACCEPTs (the server resends it when the answer to our HELLO was lost);
    /// ignored.
    pub duplicate_accepts: u64,
    /// Server acks of a seq we never sent; the datagram is kept, the ack ignored.
    pub bad_acks: u64,
    /// Whole snapshots delivered.
    pub snapshots: u64,
    /// Ticks missing between delivered snapshots (snapshot loss).
    pub snapshot_ticks_lost: u64,
    /// Snapshot parts of a tick older than the newest one being assembled or delivered.
    pub snapshot_parts_stale: u64,
    /// Ticks whose assembly was abandoned because a newer tick's part arrived first.
    pub snapshots_incomplete: u64,
    /// Snapshot parts whose tick is too big for the reassembly buffer, or that disagree
    /// with the other parts of their tick (part count, time).
    pub snapshot_parts_rejected: u64,
    /// Snapshots per second over the last completed window of at least one second.
    pub snapshots_per_sec: f64,
    /// Time from the first HELLO to ACCEPT, once connected.
    pub handshake: Option<Duration>,
    /// Round-trip time.
    pub rtt: RttStats,
}

impl ClientStats {
    /// How many datagrams were dropped for `reason`: `drops.get(reason)`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops.get(reason)
    }

    /// How many datagrams were dropped for any reason, `unexpected` included:
    /// `drops.total() + unexpected`.
    pub fn dropped_total(&self) -> u64 {
        self.drops.total() + self.unexpected
    }
}

/// The client's live counters (crate-private; [`ClientStats`] is the public copy).
#[derive(Debug)]
pub(crate) struct Meter {
    pub(crate) datagrams_in: u64,
    pub(crate) bytes_in: u64,
    pub(crate) datagrams_out: u64,
    pub(crate) bytes_out: u64,
    pub(crate) drops: DropCounts,
    pub(crate) unexpected: u64,
    pub(crate) duplicate_accepts: u64,
    pub(crate) bad_acks: u64,
    pub(crate) snapshots: u64,
    pub(crate) snapshot_ticks_lost: u64,
    pub(crate) handshake: Option<Duration>,
    hist: Histogram<u64>,
    rate_start: Option<Instant>,
    rate_count: u64,
    rate: f64,
}

impl Meter {
    pub(crate) fn new() -> Meter {
        Meter {
            datagrams_in: 0,
            bytes_in: 0,
            datagrams_out: 0,
            bytes_out: 0,
            drops: DropCounts::new(),
            unexpected: 0,
            duplicate_accepts: 0,
            bad_acks: 0,
            snapshots: 0,
            snapshot_ticks_lost: 0,
            handshake: None,
            // Constant, valid bounds: cannot fail.
            hist: Histogram::new_with_bounds(1, RTT_HIST_MAX_US, 2)
                .expect("constant histogram bounds are valid"),
            rate_start: None,
            rate_count: 0,
            rate: 0.0,
        }
    }

    pub(crate) fn drop(&mut self, reason: DropReason) {
        self.drops.add(reason);
    }

    /// Records an RTT sample (the link layer took it and smoothed it) in the histogram.
    pub(crate) fn rtt_sample(&mut self, us: u64) {
        self.hist.saturating_record(us.clamp(1, RTT_HIST_MAX_US));
    }

    /// A whole snapshot was delivered at `now`, `lost` ticks after the previous one.
    pub(crate) fn snapshot(&mut self, now: Instant, lost: u64) {
        self.snapshots += 1;
        self.snapshot_ticks_lost += lost;
        match self.rate_start {
            None => self.rate_start = Some(now),
            Some(start) => {
                let el = now.saturating_duration_since(start);
                if el >= Duration::from_secs(1) {
                    self.rate = self.rate_count as f64 / el.as_secs_f64();
                    self.rate_start = Some(now);
                    self.rate_count = 0;
                }
            }
        }
        self.rate_count += 1;
    }

    #[cfg(feature = "internal")]
    pub(crate) fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }

    /// The RTT figures: the link's estimate plus the histogram's percentiles.
    pub(crate) fn rtt(&self, e: &RttEstimator) -> RttStats {
        let mut r = RttStats {
            samples: e.samples(),
            latest: e.latest(),
            smoothed: e.smoothed().unwrap_or_default(),
            var: e.var(),
            min: e.min(),
            max: e.max(),
            ..RttStats::default()
        };
        if r.samples > 0 {
            let q = |q| Duration::from_micros(self.hist.value_at_quantile(q));
            r.p50 = q(0.5);
            r.p90 = q(0.9);
            r.p99 = q(0.99);
        }
        r
    }

    pub(crate) fn snapshots_per_sec(&self) -> f64 {
        self.rate
    }
}
