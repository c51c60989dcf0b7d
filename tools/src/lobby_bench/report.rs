//! The report: a table for people, one JSON object for scripts.

use serde_json::{json, Value};
use std::fmt::Write as _;

use super::echo::EchoReport;
use super::fanout::FanoutReport;
use super::idle::IdleReport;
use super::DRAIN_TIMEOUT;
use crate::common::Quantiles;
use hdrhistogram::Histogram;

/// What the benchmark measured.
pub struct Report {
    pub(super) server_bin: String,
    pub(super) pid: u32,
    /// Idle connections left open during the echo and fan-out figures (--keep-idle).
    pub(super) idle_kept_open: usize,
    pub(super) idle: Option<IdleReport>,
    pub(super) echo: Option<EchoReport>,
    pub(super) fanout: Option<FanoutReport>,
}

/// Nanoseconds as microseconds, rounded to 0.1.
fn us(ns: f64) -> f64 {
    (ns / 1e3 * 10.0).round() / 10.0
}

/// The figures of a histogram of nanoseconds, in microseconds rounded to 0.1.
struct Us {
    samples: u64,
    mean: f64,
    p50: f64,
    p99: f64,
    max: f64,
}

impl Us {
    fn of(h: &Histogram<u64>) -> Us {
        let q = Quantiles::of(h);
        Us {
            samples: q.samples,
            mean: us(q.mean),
            p50: us(q.p50 as f64),
            p99: us(q.p99 as f64),
            max: us(q.max as f64),
        }
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

impl FanoutReport {
    fn secs(&self) -> f64 {
        self.elapsed.as_secs_f64().max(1e-9)
    }
    fn server_cpu_per_ntf_us(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / (self.ntfs.max(1) as f64)
    }
}

impl Report {
    /// The report as one JSON object.
    pub fn json(&self) -> Value {
        let idle = self.idle.as_ref().map(|r| {
            json!({
                "connections": r.conns,
                "rss_before_bytes": r.rss_before,
                "rss_connected_bytes": r.rss_connected,
                "rss_logged_in_bytes": r.rss_logged_in,
                "bytes_per_idle_connection": round1(r.per_conn()),
                "bytes_per_logged_in_user": round1(r.per_user()),
                "bytes_per_login": round1(r.per_login()),
                "rss_in_rooms_bytes": r.rss_in_rooms,
                "bytes_per_idle_room_member": round1(r.per_member()),
            })
        });
        let echo = self.echo.as_ref().map(|r| {
            let h = Us::of(&r.hist);
            json!({
                "round_trips": r.round_trips,
                "seconds": r.elapsed.as_secs_f64(),
                "per_sec": round1(f64::from(r.round_trips) / r.elapsed.as_secs_f64().max(1e-9)),
                "mean_us": h.mean,
                "p50_us": h.p50,
                "p99_us": h.p99,
                "max_us": h.max,
            })
        });
        let fanout = self.fanout.as_ref().map(|r| {
            let l = Us::of(&r.latency);
            json!({
                "users": r.users,
                "window": r.window,
                "max_owed_chats": r.max_owed,
                "chat_bytes": r.chat_bytes,
                "seconds": r.elapsed.as_secs_f64(),
                "chats_accepted": r.chats,
                "chats_per_sec": round1(r.chats as f64 / r.secs()),
                "notifications_delivered": r.ntfs,
                "notifications_per_sec": round1(r.ntfs as f64 / r.secs()),
                "latency_samples": l.samples,
                "latency_mean_us": l.mean,
                "latency_p50_us": l.p50,
                "latency_p99_us": l.p99,
                "latency_max_us": l.max,
                "server_cpu_seconds": r.server_cpu.as_secs_f64(),
                "server_cpu_percent": round1(100.0 * r.server_cpu.as_secs_f64() / r.secs()),
                "server_cpu_us_per_notification": (r.server_cpu_per_ntf_us() * 1000.0).round() / 1000.0,
                "bench_cpu_seconds": r.bench_cpu.as_secs_f64(),
                "total_chats_accepted": r.total_chats,
                "total_notifications": r.total_ntfs,
                "drained": r.drained,
            })
        });
        json!({
            "server_bin": self.server_bin,
            "server_pid": self.pid,
            "idle_kept_open": self.idle_kept_open,
            "idle": idle,
            "echo": echo,
            "fanout": fanout,
        })
    }

    /// The report as a table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "tickwire-lobby-bench: server {} (pid {})",
            self.server_bin, self.pid
        );
        if self.idle_kept_open > 0 {
            let _ = writeln!(
                s,
                "({} idle logged-in connections stay open during echo and fan-out)",
                self.idle_kept_open
            );
        }
        if let Some(r) = &self.idle {
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            let _ = writeln!(s, "\nmemory per idle connection (server VmRSS)");
            let _ = writeln!(s, "  {:<38} {:>10.1} MiB", "before", mib(r.rss_before));
            let _ = writeln!(
                s,
                "  {:<38} {:>10.1} MiB  {:>9.0} bytes each",
                format!("{} connected, not logged in", r.conns),
                mib(r.rss_connected),
                r.per_conn()
            );
            let _ = writeln!(
                s,
                "  {:<38} {:>10.1} MiB  {:>9.0} bytes each ({:.0} per login)",
                format!("the same {} logged in", r.conns),
                mib(r.rss_logged_in),
                r.per_user(),
                r.per_login()
            );
            let _ = writeln!(
                s,
                "  {:<38} {:>10.1} MiB  {:>9.0} bytes each",
                "the same in rooms of 100",
                mib(r.rss_in_rooms),
                r.per_member()
            );
        }
        if let Some(r) = &self.echo {
            let h = Us::of(&r.hist);
            let _ = writeln!(
                s,
                "\necho: {} round trips of 16 bytes on one connection, one at a time",
                r.round_trips
            );
            let _ = writeln!(
                s,
                "  {:<38} {:>10.1}",
                "round trips/s",
                f64::from(r.round_trips) / r.elapsed.as_secs_f64().max(1e-9)
            );
            let _ = writeln!(
                s,
                "  {:<38} mean {:.1} us, p50 {:.1} us, p99 {:.1} us, max {:.1} us",
                "round trip", h.mean, h.p50, h.p99, h.max
            );
        }
        if let Some(r) = &self.fanout {
            let l = Us::of(&r.latency);
            let _ = writeln!(
                s,
                "\nroom fan-out: {} users in one room, {}-byte chats for {:.2} s; at most {} \
                 un-answered per user, at most {} unread by anyone",
                r.users,
                r.chat_bytes,
                r.secs(),
                r.window,
                r.max_owed
            );
            let row = |s: &mut String, k: &str, v: String| {
                let _ = writeln!(s, "  {k:<38} {v}");
            };
            row(
                &mut s,
                "chats accepted/s",
                format!("{:.0} ({} chats)", r.chats as f64 / r.secs(), r.chats),
            );
            row(
                &mut s,
                "notifications delivered/s",
                format!("{:.0} ({} ROOM_CHAT_NTF)", r.ntfs as f64 / r.secs(), r.ntfs),
            );
            row(
                &mut s,
                "chat -> own ROOM_CHAT_NTF latency",
                format!(
                    "mean {:.1} us, p50 {:.1} us, p99 {:.1} us, max {:.1} us ({} samples)",
                    l.mean, l.p50, l.p99, l.max, l.samples
                ),
            );
            row(
                &mut s,
                "server CPU (utime+stime)",
                format!(
                    "{:.2} s ({:.0}% of one core), {:.3} us per delivered notification",
                    r.server_cpu.as_secs_f64(),
                    100.0 * r.server_cpu.as_secs_f64() / r.secs(),
                    r.server_cpu_per_ntf_us()
                ),
            );
            row(
                &mut s,
                "bench (client) CPU",
                format!("{:.2} s", r.bench_cpu.as_secs_f64()),
            );
            row(
                &mut s,
                "every chat reached every member",
                if r.drained {
                    format!(
                        "yes ({} chats, {} notifications in all)",
                        r.total_chats, r.total_ntfs
                    )
                } else {
                    format!(
                        "NO: {} chats, {} notifications after {DRAIN_TIMEOUT:?} of draining",
                        r.total_chats, r.total_ntfs
                    )
                },
            );
        }
        s
    }
}
