//! What a run reports: the live [`Progress`] samples and the final [`Summary`].

use core::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::engine::{Engine, Phase};
use crate::common::{histogram, micros, Quantiles};
use tickwire::client::DisconnectReason;
use tickwire::wire::RejectReason;

/// Largest histogram value, microseconds (60 s).
const HIST_MAX_US: u64 = 60_000_000;

/// A live progress sample, handed to the callback of [`run`](super::run).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Progress {
    /// Seconds since the run started.
    pub elapsed_s: f64,
    /// Bots that have started connecting.
    pub started: usize,
    /// Bots connected now.
    pub connected: usize,
    /// Bots that failed to connect or were dropped so far.
    pub failed: usize,
    /// Whole snapshots received per second, all bots, over the last interval.
    pub snapshots_per_s: f64,
    /// Snapshot ticks missed over the last interval, as a share of those expected.
    pub loss: f64,
    /// Datagrams received per second over the last interval.
    pub datagrams_in_per_s: f64,
    /// Datagrams sent per second over the last interval.
    pub datagrams_out_per_s: f64,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:6.1}s] started {} connected {} failed {} | snapshots/s {:.0} ticks missed {:.3}% | in/s {:.0} out/s {:.0}",
            self.elapsed_s,
            self.started,
            self.connected,
            self.failed,
            self.snapshots_per_s,
            self.loss * 100.0,
            self.datagrams_in_per_s,
            self.datagrams_out_per_s,
        )
    }
}

/// Percentiles of a distribution, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// How many samples.
    pub samples: u64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    /// The percentiles of a histogram of microseconds.
    fn of(h: &Histogram<u64>) -> Percentiles {
        let q = Quantiles::of(h);
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            samples: q.samples,
            p50: ms(q.p50),
            p99: ms(q.p99),
            max: ms(q.max),
        }
    }
}

/// Datagrams and bytes in one direction.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Traffic {
    /// Datagrams.
    pub datagrams: u64,
    /// Bytes (UDP payload).
    pub bytes: u64,
}

/// CPU time the load generator itself used (`getrusage(RUSAGE_SELF)` over the run).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct CpuUse {
    /// User time, seconds.
    pub user_s: f64,
    /// System time, seconds.
    pub sys_s: f64,
    /// `(user + sys) / wall`: 1.0 means one core was busy the whole run, and the bots may
    /// have been the bottleneck.
    pub busy: f64,
}

/// Why the bots that failed failed: every bot counted in [`Summary::failed`] is counted in
/// exactly one of these.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Failures {
    /// REJECT 1: every slot of the match was taken (`--max-clients` per match).
    pub rejected_full: usize,
    /// REJECT 2: the server requires a ticket (`--require-ticket`) and this one was
    /// missing, unknown or used.
    pub rejected_bad_ticket: usize,
    /// REJECT with a reason this version does not know.
    pub rejected_other: usize,
    /// No ACCEPT within `--connect-timeout-ms` (nobody answering on that port?). In secure
    /// mode this also counts the bots whose token the server refused: it drops such a
    /// TOKEN_HELLO without an answer (expired, another fleet key or protocol id, a scope
    /// that is not its `--server-id`, already redeemed), so the bot times out.
    pub connect_timeout: usize,
    /// Still in the handshake when the run ended.
    pub still_connecting: usize,
    /// The lobby login failed (`--lobby`), so no HELLO was sent.
    pub lobby_login: usize,
    /// Connected, then the server said BYE before the end.
    pub dropped_bye: usize,
    /// Connected, then heard nothing for the client's timeout before the end.
    pub dropped_timeout: usize,
}

/// The outcome of a run; `Display` is the human summary, `Serialize` the JSON one.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Servers the bots were spread over.
    pub servers: Vec<String>,
    /// Bots asked for.
    pub clients: usize,
    /// Whether the bots spoke secure mode (connect tokens, PROTOCOL.md section 8).
    pub secure: bool,
    /// Bots that got ACCEPT.
    pub connected: usize,
    /// Bots that failed, counted as the progress line counts them: those that never
    /// connected (rejected, handshake timeout, lobby login failed, still connecting at the
    /// end) and those dropped after connecting. Why: [`Summary::failures`].
    pub failed: usize,
    /// Of the failed: REJECTed (server full or bad ticket).
    pub rejected: usize,
    /// Of the failed: connected bots the server dropped or that timed out before the end.
    pub dropped: usize,
    /// Why each failed bot failed.
    pub failures: Failures,
    /// Wall time of the run, seconds.
    pub wall_s: f64,
    /// Server tick rate, from ACCEPT (0 when nobody connected).
    pub tick_hz: u16,
    /// Time from first HELLO to ACCEPT.
    pub handshake_ms: Percentiles,
    /// Mean of each connected bot's snapshots per second of connected time.
    pub snapshots_per_s_mean: f64,
    /// Smallest of them.
    pub snapshots_per_s_min: f64,
    /// Whole snapshots received, all bots.
    pub snapshots_received: u64,
    /// Snapshots received inside the delivery window (see `delivery`).
    pub window_received: u64,
    /// Snapshots expected inside the delivery window: the ticks the server ran from each
    /// bot's ACCEPT to 50 ms before its end, which at the tick rate is the bot's connected
    /// time (minus 50 ms) times the tick rate.
    pub window_expected: u64,
    /// `window_received / window_expected`.
    pub delivery: f64,
    /// Ticks usable for rendering: complete in the bots' interpolation buffers
    /// (`bot_interp`) before their render time reached them, over the ticks from each
    /// bot's first snapshot to its newest (`InterpStats::usable_ratio`, all bots). Counts
    /// late snapshots that `delivery` (newest only) does not.
    pub render_usable: f64,
    /// The mean of the bots' interpolation delay at the end, ms (adaptive: the 99th
    /// percentile of the jitter they measured, plus one tick and a margin).
    pub render_delay_ms: f64,
    /// Ticks missing between received snapshots, all bots.
    pub snapshot_ticks_lost: u64,
    /// Server datagrams never seen (sequence gaps that no late arrival filled), all bots.
    pub datagrams_lost: u64,
    /// Server datagrams that arrived after a newer one (reordered: dropped, not lost).
    pub datagrams_late: u64,
    /// `datagrams_lost` over the distinct sequence numbers the server sent while the bots
    /// were connected (accepted + late + lost).
    pub loss: f64,
    /// Datagrams the clients dropped (malformed, duplicate, out of order, unexpected).
    pub datagrams_dropped: u64,
    /// Round-trip time as the clients measure it (from the server's acks; includes the
    /// server's wait for its next datagram to the bot, up to one tick).
    pub rtt_ms: Percentiles,
    /// Bots to servers.
    pub sent: Traffic,
    /// Servers to bots.
    pub received: Traffic,
    /// INPUT datagrams queued.
    pub inputs: u64,
    /// FIRE datagrams queued.
    pub fires: u64,
    /// Datagrams the kernel refused (socket buffer full, ICMP errors).
    pub send_errors: u64,
    /// Receive errors other than "nothing to read" (ICMP port unreachable and the like).
    pub recv_errors: u64,
    /// CPU used by the load generator.
    pub cpu: CpuUse,
}

impl Summary {
    /// The summary as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = |p: &Percentiles| format!("p50 {:.2} ms  p99 {:.2} ms", p.p50, p.p99);
        writeln!(f, "tickwire-bots summary")?;
        writeln!(f, "  servers              {}", self.servers.join(","))?;
        writeln!(
            f,
            "  clients              {} connected, {} failed ({} rejected, {} dropped early), of {}",
            self.connected, self.failed, self.rejected, self.dropped, self.clients
        )?;
        if self.failed > 0 {
            writeln!(f, "  failures             {}", self.failures)?;
        }
        let silent = self.failures.connect_timeout + self.failures.still_connecting;
        if self.secure && silent > 0 {
            writeln!(
                f,
                "  secure mode          {silent} bot(s) got no ACCEPT: a secure server drops a \
                 token it refuses without an answer (another fleet key or --protocol-id, a \
                 scope that is not its --server-id, expired, or already redeemed)"
            )?;
        }
        writeln!(f, "  wall time            {:.2} s", self.wall_s)?;
        writeln!(f, "  handshake            {}", p(&self.handshake_ms))?;
        writeln!(
            f,
            "  snapshots/s/client   mean {:.2}  min {:.2}  (tick rate {} Hz)",
            self.snapshots_per_s_mean, self.snapshots_per_s_min, self.tick_hz
        )?;
        writeln!(
            f,
            "  snapshot delivery    {:.4}% ({} of {} ticks expected; {} received in all, {} ticks skipped)",
            self.delivery * 100.0,
            self.window_received,
            self.window_expected,
            self.snapshots_received,
            self.snapshot_ticks_lost
        )?;
        writeln!(
            f,
            "  usable for rendering {:.4}% of ticks (interpolation delay {:.1} ms, mean of bots)",
            self.render_usable * 100.0,
            self.render_delay_ms
        )?;
        writeln!(
            f,
            "  loss                 {:.4}% ({} datagrams; {} late; {} dropped by clients)",
            self.loss * 100.0,
            self.datagrams_lost,
            self.datagrams_late,
            self.datagrams_dropped
        )?;
        writeln!(
            f,
            "  rtt                  {}  max {:.2} ms ({} samples)",
            p(&self.rtt_ms),
            self.rtt_ms.max,
            self.rtt_ms.samples
        )?;
        writeln!(
            f,
            "  sent                 {} datagrams, {} bytes ({} inputs, {} fires, {} send errors)",
            self.sent.datagrams, self.sent.bytes, self.inputs, self.fires, self.send_errors
        )?;
        writeln!(
            f,
            "  received             {} datagrams, {} bytes ({} recv errors)",
            self.received.datagrams, self.received.bytes, self.recv_errors
        )?;
        write!(
            f,
            "  load generator cpu   user {:.2} s  sys {:.2} s  = {:.0}% of one core{}",
            self.cpu.user_s,
            self.cpu.sys_s,
            self.cpu.busy * 100.0,
            if self.cpu.busy > 0.9 {
                "  (the bots may be the bottleneck)"
            } else {
                ""
            }
        )
    }
}

impl fmt::Display for Failures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = [
            (self.rejected_full, "rejected: server full (more bots than --max-clients per match? --matches K needs `tickwire serve --matches K`)"),
            (self.rejected_bad_ticket, "rejected: no valid ticket (the server requires tickets: give --lobby)"),
            (self.rejected_other, "rejected: unknown reason"),
            (self.connect_timeout, "handshake timed out (is a server listening on every port?)"),
            (self.still_connecting, "still connecting at the end (no answer yet: is a server listening on every port?)"),
            (self.lobby_login, "lobby login failed"),
            (self.dropped_bye, "dropped: BYE from the server"),
            (self.dropped_timeout, "dropped: timed out"),
        ];
        let mut first = true;
        for (n, what) in parts.into_iter().filter(|(n, _)| *n > 0) {
            if !first {
                write!(f, "; ")?;
            }
            first = false;
            write!(f, "{n} {what}")?;
        }
        Ok(())
    }
}

impl Failures {
    /// Counts bot `b`'s failure, if it failed.
    fn count(&mut self, b: &super::engine::Bot) {
        if let Some(r) = b.rejected {
            match r {
                RejectReason::Full => self.rejected_full += 1,
                RejectReason::BadTicket => self.rejected_bad_ticket += 1,
                RejectReason::Other(_) => self.rejected_other += 1,
            }
            return;
        }
        if b.lobby_failed {
            self.lobby_login += 1;
            return;
        }
        match (b.connected_at.is_some(), b.ended) {
            (true, Some(DisconnectReason::Bye)) => self.dropped_bye += 1,
            (true, Some(DisconnectReason::Timeout | DisconnectReason::ConnectTimeout)) => {
                self.dropped_timeout += 1
            }
            (true, _) => {}
            (false, Some(DisconnectReason::ConnectTimeout | DisconnectReason::Timeout)) => {
                self.connect_timeout += 1
            }
            // A BYE or a close before ACCEPT: the handshake did not complete.
            (false, Some(_)) => self.connect_timeout += 1,
            // In the handshake, or not started yet, when the run ended.
            (false, None) => self.still_connecting += 1,
        }
    }
}

impl Engine<'_> {
    pub(super) fn summary(&self, wall: Duration, cpu: (Duration, Duration)) -> Summary {
        let mut handshake = histogram(HIST_MAX_US);
        let mut rtt = histogram(HIST_MAX_US);
        let mut s = Summary {
            servers: {
                let mut v: Vec<String> = Vec::new();
                for b in &self.bots {
                    let a = b.server.to_string();
                    if !v.contains(&a) {
                        v.push(a);
                    }
                    if v.len() >= 64 {
                        break;
                    }
                }
                v
            },
            clients: self.bots.len(),
            secure: self.cfg.tokens.is_some(),
            connected: 0,
            failed: 0,
            rejected: 0,
            dropped: 0,
            failures: Failures::default(),
            wall_s: wall.as_secs_f64(),
            tick_hz: 0,
            handshake_ms: Percentiles::default(),
            snapshots_per_s_mean: 0.0,
            snapshots_per_s_min: 0.0,
            snapshots_received: 0,
            window_received: 0,
            window_expected: 0,
            delivery: 0.0,
            render_usable: 0.0,
            render_delay_ms: 0.0,
            snapshot_ticks_lost: 0,
            datagrams_lost: 0,
            datagrams_late: 0,
            loss: 0.0,
            datagrams_dropped: 0,
            rtt_ms: Percentiles::default(),
            sent: Traffic::default(),
            received: Traffic::default(),
            inputs: self.c.inputs,
            fires: self.c.fires,
            send_errors: self.c.send_errors,
            recv_errors: self.c.recv_errors,
            cpu: CpuUse::default(),
        };
        let mut rate_sum = 0.0;
        let (mut usable, mut spanned, mut delay_sum, mut buffers) = (0u64, 0u64, 0.0, 0u64);
        let mut accepted = 0u64;
        let mut rate_min = f64::INFINITY;
        for b in &self.bots {
            match b.phase {
                Phase::Rejected => s.rejected += 1,
                Phase::Dropped => s.dropped += 1,
                _ => {}
            }
            s.failures.count(b);
            let Some(client) = b.client.as_ref() else {
                continue;
            };
            let st = client.stats();
            s.sent.datagrams += st.datagrams_out;
            s.sent.bytes += st.bytes_out;
            s.received.datagrams += st.datagrams_in;
            s.received.bytes += st.bytes_in;
            s.datagrams_lost += st.lost;
            s.datagrams_late += st.late;
            s.datagrams_dropped += st.dropped_total();
            accepted += st.datagrams_in - st.dropped_total() - st.unexpected;
            s.snapshot_ticks_lost += st.snapshot_ticks_lost;
            s.snapshots_received += b.snapshots;
            if let Some(h) = st.handshake {
                let _ = handshake.record(micros(h).clamp(1, HIST_MAX_US));
            }
            let _ = rtt.add(client.rtt_histogram());
            if let Some(i) = client.interp_stats().filter(|i| i.ticks_spanned > 0) {
                (usable, spanned) = (usable + i.usable, spanned + i.ticks_spanned);
                delay_sum += i.delay.as_secs_f64() * 1e3;
                buffers += 1;
            }
            let Some(at) = b.connected_at else {
                continue;
            };
            s.connected += 1;
            s.tick_hz = s.tick_hz.max(b.tick_hz);
            let secs = b
                .ended_at
                .unwrap_or(at)
                .saturating_duration_since(at)
                .as_secs_f64();
            let (got, want) = b.window();
            s.window_received += got;
            s.window_expected += want;
            let rate = if secs > 0.0 {
                b.snapshots as f64 / secs
            } else {
                0.0
            };
            rate_sum += rate;
            rate_min = rate_min.min(rate);
        }
        // As the progress line counts them: never connected, or dropped after connecting.
        s.failed = s.clients - s.connected + s.dropped;
        if s.connected > 0 {
            s.snapshots_per_s_mean = rate_sum / s.connected as f64;
            s.snapshots_per_s_min = rate_min;
        }
        if s.window_expected > 0 {
            s.delivery = s.window_received as f64 / s.window_expected as f64;
        }
        if spanned > 0 {
            s.render_usable = usable as f64 / spanned as f64;
            s.render_delay_ms = delay_sum / buffers as f64;
        }
        let seen = accepted + s.datagrams_late + s.datagrams_lost;
        if seen > 0 {
            s.loss = s.datagrams_lost as f64 / seen as f64;
        }
        s.handshake_ms = Percentiles::of(&handshake);
        s.rtt_ms = Percentiles::of(&rtt);
        let secs = wall.as_secs_f64().max(1e-9);
        s.cpu = CpuUse {
            user_s: cpu.0.as_secs_f64(),
            sys_s: cpu.1.as_secs_f64(),
            busy: (cpu.0 + cpu.1).as_secs_f64() / secs,
        };
        s
    }
}

/// The interpolation buffer each bot keeps (issue 16), sized for the bots' snapshots (the
/// arena's 255 players at most: 2044 body bytes) and at most 200 ms of delay at 60 Hz.
pub(super) fn bot_interp() -> tickwire::client::InterpConfig {
    tickwire::client::InterpConfig {
        capacity: 16,
        max_snapshot_bytes: 2048,
        max_delay: Duration::from_millis(200),
        ..tickwire::client::InterpConfig::default()
    }
}
