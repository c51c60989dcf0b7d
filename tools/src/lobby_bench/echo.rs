//! ECHO round trips.

use hdrhistogram::Histogram;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{check_deadline, connect, Res};
use crate::common::{histogram, nanos};

pub(super) struct EchoReport {
    pub(super) round_trips: u32,
    pub(super) elapsed: Duration,
    pub(super) hist: Histogram<u64>,
}

/// A histogram of nanoseconds, 1 ns .. 1 h.
pub(super) fn new_hist() -> Histogram<u64> {
    histogram(3_600_000_000_000)
}

pub(super) fn measure_echo(addr: SocketAddr, n: u32, deadline: Instant) -> Res<EchoReport> {
    let mut c = connect(addr)?;
    let body = *b"0123456789abcdef";
    // Warm up the path (first-use page faults and the like).
    for _ in 0..100.min(n) {
        c.echo(&body).map_err(|e| format!("ECHO: {e}"))?;
    }
    let mut hist = new_hist();
    let start = Instant::now();
    for i in 0..n {
        if i % 1024 == 0 {
            check_deadline(deadline, "the ECHO round trips")?;
        }
        let t = Instant::now();
        let back = c.echo(&body).map_err(|e| format!("ECHO {i}: {e}"))?;
        let _ = hist.record(nanos(t.elapsed()).max(1));
        if back != body {
            return Err(format!("ECHO {i}: the server sent back {back:?}"));
        }
    }
    Ok(EchoReport {
        round_trips: n,
        elapsed: start.elapsed(),
        hist,
    })
}
