//! The host's stats reporter: tick lateness histograms, the periodic stats line and the
//! summary since start. It reads the host through a [`HostView`]; nothing here runs per
//! datagram, and the stats line (which allocates its text) only every `interval`.

use super::adapter::HostView;
use super::IoStats;
use crate::proto::{Game, Stats};
use crate::wire::DropReason;
use hdrhistogram::Histogram;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest tick lateness recorded, in microseconds (larger values count as this).
const MAX_LATENESS_US: u64 = 60_000_000;

/// An empty lateness histogram (1 us .. 60 s, 3 significant digits).
pub(super) fn lateness_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENESS_US, 3).expect("static histogram bounds are valid")
}

/// How late a tick due at `due` started at `now`, in microseconds, capped for recording.
pub(super) fn lateness_us(due: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(due).as_micros())
        .unwrap_or(u64::MAX)
        .min(MAX_LATENESS_US)
}

/// Records `late_us` (from [`lateness_us`], so in range: recording cannot fail).
pub(super) fn record(h: &mut Histogram<u64>, late_us: u64) {
    let _ = h.record(late_us);
}

/// The stats window: the counters at its start and its tick lateness.
pub(super) struct Reporter {
    interval: Option<Duration>,
    /// Start of the current window.
    at: Instant,
    /// Datagrams in and out of all matches at the start of the window.
    datagrams_in: u64,
    datagrams_out: u64,
    /// The loop's wake-ups at the start of the window.
    wakeups: u64,
    /// Tick lateness in this window.
    window: Histogram<u64>,
    /// With several loops: the board they share and this loop's slot on it. Loop 0 logs
    /// the merged line; the others only publish their windows.
    board: Option<(Arc<Board>, usize)>,
}

/// Where the loops of a [`Loops`](super::Loops) group leave their last stats window for
/// loop 0's merged stats line. Locked once per loop per stats interval.
pub(crate) struct Board {
    slots: Vec<Mutex<Slot>>,
}

/// One loop's last window.
struct Slot {
    published: bool,
    clients: usize,
    rates: Rates,
    stats: Stats,
    window: Histogram<u64>,
    depth: Histogram<u64>,
}

impl Board {
    pub(crate) fn new(loops: usize) -> Board {
        Board {
            slots: (0..loops)
                .map(|_| {
                    Mutex::new(Slot {
                        published: false,
                        clients: 0,
                        rates: Rates::default(),
                        stats: Stats::default(),
                        window: lateness_histogram(),
                        depth: depth_histogram(),
                    })
                })
                .collect(),
        }
    }
}

/// An empty rewind-depth histogram (ticks, 1 .. 3600).
fn depth_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3600, 2).expect("static histogram bounds are valid")
}

impl Reporter {
    /// A reporter logging every `interval` (`None`: never), its first window from `now`.
    pub(super) fn new(interval: Option<Duration>, now: Instant) -> Reporter {
        Reporter {
            interval,
            at: now,
            datagrams_in: 0,
            datagrams_out: 0,
            wakeups: 0,
            window: lateness_histogram(),
            board: None,
        }
    }

    /// Makes this the reporter of loop `slot` of a group sharing `board`.
    pub(super) fn join_board(&mut self, board: Arc<Board>, slot: usize) {
        self.board = Some((board, slot));
    }

    /// Records a tick that started `late_us` late (see [`lateness_us`]).
    pub(super) fn tick_started(&mut self, late_us: u64) {
        record(&mut self.window, late_us);
    }

    /// When the next stats line is due, if ever.
    pub(super) fn next_report(&self) -> Option<Instant> {
        self.interval.map(|iv| self.at + iv)
    }

    /// Logs the stats line and starts a new window if the interval has passed.
    pub(super) fn maybe_log<G: Game>(&mut self, now: Instant, host: &HostView<'_, G>) {
        let Some(iv) = self.interval else {
            return;
        };
        let elapsed = now.saturating_duration_since(self.at);
        if elapsed < iv {
            return;
        }
        let (din, dout) = totals(host);
        let wakeups = host.counters.wakeups;
        let secs = elapsed.as_secs_f64().max(1e-9);
        let rates = Rates {
            in_ps: din.saturating_sub(self.datagrams_in) as f64 / secs,
            out_ps: dout.saturating_sub(self.datagrams_out) as f64 / secs,
            wakeups_ps: wakeups.saturating_sub(self.wakeups) as f64 / secs,
        };
        self.wakeups = wakeups;
        let s = host.merged_stats();
        let depth = depth_of(host);
        let line = match &self.board {
            None => format_line(host.clients(), &rates, &s, &self.window, &depth),
            Some((board, slot)) => {
                let published = publish(board, *slot, host.clients(), &rates, &s, self, &depth);
                if *slot != 0 || !published {
                    self.restart(now, din, dout);
                    return;
                }
                merged_line(board)
            }
        };
        match host.lobby() {
            Some(l) => {
                let ls = l.stats();
                log::info!(
                    "{line} lobby conns={} users={} rooms={} buffer_bytes={} total_msgs_in={} total_msgs_out={} total_slow_cut={} total_tls_handshakes={} total_tls_failed={} total_tls_unfinished={} total_tokens_issued={}",
                    ls.conns,
                    ls.users,
                    ls.rooms,
                    ls.buffer_bytes,
                    ls.msgs_in,
                    ls.msgs_out,
                    ls.slow_readers_cut,
                    ls.tls_handshakes,
                    ls.tls_failed,
                    ls.tls_unfinished,
                    ls.tokens_issued
                );
            }
            None => log::info!("{line}"),
        }
        self.restart(now, din, dout);
    }

    /// Starts the next window at `now`.
    fn restart(&mut self, now: Instant, din: u64, dout: u64) {
        self.at = now;
        self.datagrams_in = din;
        self.datagrams_out = dout;
        self.window.reset();
    }

    /// A one-line summary of everything since start.
    pub(super) fn summary<G: Game>(&self, host: &HostView<'_, G>) -> String {
        summary_text(host.clients(), &host.merged_stats(), &host.io_stats())
    }
}

/// The rewind depths of every match of `host`.
fn depth_of<G: Game>(host: &HostView<'_, G>) -> Histogram<u64> {
    let mut depth = depth_histogram();
    for i in 0..host.matches() {
        if let Some(server) = host.server(i) {
            // A histogram can always take another of the same bounds.
            let _ = depth.add(server.depth_histogram());
        }
    }
    depth
}

/// Leaves this loop's window on the board; `false` when the slot's lock is poisoned (a
/// loop panicked: the group is stopping).
fn publish(
    board: &Board,
    slot: usize,
    clients: usize,
    rates: &Rates,
    stats: &Stats,
    reporter: &Reporter,
    depth: &Histogram<u64>,
) -> bool {
    let Some(Ok(mut s)) = board.slots.get(slot).map(|m| m.lock()) else {
        return false;
    };
    s.published = true;
    s.clients = clients;
    s.rates = *rates;
    s.stats = stats.clone();
    s.window.reset();
    let _ = s.window.add(&reporter.window);
    s.depth.reset();
    let _ = s.depth.add(depth);
    true
}

/// The stats line of every loop's last window merged, then each loop's tick lateness.
fn merged_line(board: &Board) -> String {
    use core::fmt::Write;
    let mut clients = 0;
    let mut rates = Rates::default();
    let mut stats = Stats::default();
    let mut window = lateness_histogram();
    let mut depth = depth_histogram();
    let mut per_loop = String::new();
    for (l, slot) in board.slots.iter().enumerate() {
        let Ok(s) = slot.lock() else { continue };
        if !s.published {
            continue;
        }
        clients += s.clients;
        rates.in_ps += s.rates.in_ps;
        rates.out_ps += s.rates.out_ps;
        rates.wakeups_ps += s.rates.wakeups_ps;
        stats.merge(&s.stats);
        let _ = window.add(&s.window);
        let _ = depth.add(&s.depth);
        let _ = write!(
            per_loop,
            "{}{l}:{}",
            if per_loop.is_empty() { "" } else { " " },
            quantiles(&s.window)
        );
    }
    let line = format_line(clients, &rates, &stats, &window, &depth);
    format!("{line} loops_tick_late_us[{per_loop}]")
}

/// `p50/p99/p99.9/max` of a lateness histogram.
fn quantiles(h: &Histogram<u64>) -> String {
    format!(
        "{}/{}/{}/{}",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    )
}

/// The final line of a [`Loops`](super::Loops) group: every loop merged (its lateness
/// percentiles over every tick of every loop), then each loop's
/// (`loops_tick_late_us[L:p50/p99/p99.9/max ...]`) when there are several.
pub(super) fn merged_summary<G: Game>(views: &[HostView<'_, G>]) -> String {
    use core::fmt::Write;
    if let [one] = views {
        return summary_text(one.clients(), &one.merged_stats(), &one.io_stats());
    }
    let mut stats = Stats::default();
    let mut late = lateness_histogram();
    let mut io = IoStats::default();
    let mut per_loop = String::new();
    for (l, v) in views.iter().enumerate() {
        stats.merge(&v.merged_stats());
        let _ = late.add(&v.counters.tick_lateness);
        let i = v.io_stats();
        io.recv_errors += i.recv_errors;
        io.send_dropped += i.send_dropped;
        io.recv_budget_hits += i.recv_budget_hits;
        io.unknown_events += i.unknown_events;
        io.refused_draining += i.refused_draining;
        io.wakeups += i.wakeups;
        io.spin_polls += i.spin_polls;
        io.rx_stamped += i.rx_stamped;
        let _ = write!(
            per_loop,
            "{}{l}:{}",
            if per_loop.is_empty() { "" } else { " " },
            quantiles(&v.counters.tick_lateness)
        );
    }
    io.ticks = late.len();
    io.tick_late_p50_us = late.value_at_quantile(0.5);
    io.tick_late_p99_us = late.value_at_quantile(0.99);
    io.tick_late_p999_us = late.value_at_quantile(0.999);
    io.tick_late_max_us = late.max();
    let clients = views.iter().map(|v| v.clients()).sum();
    let line = summary_text(clients, &stats, &io);
    format!("{line} loops_tick_late_us[{per_loop}]")
}

/// The summary line's text.
fn summary_text(clients: usize, s: &Stats, io: &IoStats) -> String {
    format!(
        "clients={} in={} out={} bytes_in={} bytes_out={} accepts={} timeouts={} unacked={} rejects_per_ip={} byes={} lost={} late={} ticks={} skipped={} recv_errors={} send_dropped={} drops[{}] tick_late_us p50={} p99={} p99.9={} max={} wakeups={} spin_polls={} rx_stamped={}",
        clients,
        s.datagrams_in,
        s.datagrams_out,
        s.bytes_in,
        s.bytes_out,
        s.accepts,
        s.timeouts,
        s.unacked_drops,
        s.rejects_per_ip,
        s.byes,
        s.lost,
        s.late,
        s.ticks,
        s.ticks_skipped,
        io.recv_errors,
        io.send_dropped,
        drops_list(s),
        io.tick_late_p50_us,
        io.tick_late_p99_us,
        io.tick_late_p999_us,
        io.tick_late_max_us,
        io.wakeups,
        io.spin_polls,
        io.rx_stamped,
    )
}

/// Per-second rates over one stats window.
#[derive(Debug, Clone, Copy, Default)]
struct Rates {
    in_ps: f64,
    out_ps: f64,
    wakeups_ps: f64,
}

/// The stats line (README, "stats line"): gauges (`clients=`), per-second rates over the
/// last interval (`in/s=`, `out/s=`, `wakeups/s=`), tick lateness over the last interval
/// (`tick_late_us`), then counts since start, each prefixed `total_`.
fn format_line(
    clients: usize,
    rates: &Rates,
    s: &Stats,
    window: &Histogram<u64>,
    depth: &Histogram<u64>,
) -> String {
    let r = &s.rewinds;
    let refused: String = crate::proto::RewindError::ALL
        .iter()
        .zip(r.refused.iter())
        .map(|(e, n)| format!(" {}={}", e.label(), n))
        .collect();
    format!(
        "clients={} in/s={:.0} out/s={:.0} wakeups/s={:.0} tick_late_us p50={} p99={} p99.9={} max={} total_drops[{}] total_shots ok={}{} total_rewind_ticks p50={} p99={} max={}",
        clients,
        rates.in_ps,
        rates.out_ps,
        rates.wakeups_ps,
        window.value_at_quantile(0.5),
        window.value_at_quantile(0.99),
        window.value_at_quantile(0.999),
        window.max(),
        drops_list(s),
        r.ok,
        refused,
        depth.value_at_quantile(0.5),
        depth.value_at_quantile(0.99),
        depth.max(),
    )
}

/// Datagrams in and out of all matches.
fn totals<G: Game>(host: &HostView<'_, G>) -> (u64, u64) {
    (0..host.matches())
        .filter_map(|i| host.server(i))
        .fold((0, 0), |(a, b), server| {
            let s = server.stats();
            (a + s.datagrams_in, b + s.datagrams_out)
        })
}

/// `reason=count` for every drop reason counted at least once.
fn drops_list(s: &Stats) -> String {
    use core::fmt::Write;
    let mut out = String::new();
    for d in DropReason::ALL {
        let n = s.drop_count(*d);
        if n > 0 {
            // Writing to a String cannot fail.
            let _ = write!(out, "{}{}={}", if out.is_empty() { "" } else { " " }, d, n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rates and totals are told apart (issue 17, item 9): rates say `/s`, and every count
    /// since start is prefixed `total_`.
    #[test]
    fn the_stats_line_tells_rates_from_totals() {
        let mut s = Stats::default();
        s.drops.add(DropReason::Duplicate);
        s.rewinds.ok = 7;
        let line = format_line(
            3,
            &Rates {
                in_ps: 120.4,
                out_ps: 7000.0,
                wakeups_ps: 61.0,
            },
            &s,
            &lateness_histogram(),
            &Histogram::new_with_bounds(1, 3600, 2).unwrap(),
        );
        assert!(
            line.starts_with(
                "clients=3 in/s=120 out/s=7000 wakeups/s=61 tick_late_us p50=0 p99=0 p99.9=0 max=0"
            ),
            "{line}"
        );
        assert!(line.contains(" total_drops[duplicate=1] "), "{line}");
        assert!(line.contains(" total_shots ok=7 overwritten=0 "), "{line}");
        assert!(line.contains(" total_rewind_ticks p50=0 "), "{line}");
        assert!(!line.contains(" drops["), "{line}");
    }
}
