//! `/metrics`: the loops' snapshots ([`LoopSnapshot`]) in the Prometheus text exposition
//! format, version 0.0.4 (`# HELP`, `# TYPE`, one sample per line, every family's samples
//! together).
//!
//! Every counter of the stats line is here, per match (`loop="L",match="M"`) or per loop
//! (`loop="L"`), the lobby's without labels; the stats line's per-second rates are the
//! counters' `rate()`. Names, labels and types are listed in docs/OPERATING.md ("Metrics");
//! `tools/tests/metrics.rs` scrapes a running server and parses the text with an
//! independent parser.

use crate::monitor::{LoopSnapshot, MatchSnapshot, Monitor, Phase};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;
use tickwire::lobby::LobbyStats;
use tickwire::wire::DropReason;
use tickwire::{IoStats, RewindError};

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

type MatchGet = fn(&MatchSnapshot) -> u64;
type LoopGet = fn(&IoStats) -> u64;
type LobbyGet = fn(&LobbyStats) -> u64;

/// Per-match counters: name, help, value.
const MATCH_COUNTERS: &[(&str, &str, MatchGet)] = &[
    (
        "tickwire_datagrams_received_total",
        "Game datagrams received on the match's port (valid or not).",
        |m| m.stats.datagrams_in,
    ),
    (
        "tickwire_received_bytes_total",
        "Bytes of the game datagrams received.",
        |m| m.stats.bytes_in,
    ),
    (
        "tickwire_datagrams_sent_total",
        "Datagrams queued for sending.",
        |m| m.stats.datagrams_out,
    ),
    (
        "tickwire_sent_bytes_total",
        "Bytes of the datagrams queued for sending.",
        |m| m.stats.bytes_out,
    ),
    ("tickwire_challenges_total", "CHALLENGEs sent.", |m| {
        m.stats.challenges
    }),
    (
        "tickwire_challenges_limited_total",
        "CHALLENGEs not sent: their destination IP was over its limit.",
        |m| m.stats.challenges_limited,
    ),
    ("tickwire_accepts_total", "Clients accepted.", |m| {
        m.stats.accepts
    }),
    (
        "tickwire_accept_resends_total",
        "ACCEPTs sent again to a client whose first one was lost.",
        |m| m.stats.accept_resends,
    ),
    (
        "tickwire_rejects_full_total",
        "REJECTs for a full match.",
        |m| m.stats.rejects_full,
    ),
    (
        "tickwire_rejects_per_ip_total",
        "REJECTs for an IP address at --max-clients-per-ip.",
        |m| m.stats.rejects_per_ip,
    ),
    (
        "tickwire_rejects_ticket_total",
        "REJECTs for a bad or used ticket.",
        |m| m.stats.rejects_ticket,
    ),
    (
        "tickwire_timeouts_total",
        "Clients dropped for silence.",
        |m| m.stats.timeouts,
    ),
    (
        "tickwire_unacked_drops_total",
        "Clients dropped for acknowledging nothing for the timeout.",
        |m| m.stats.unacked_drops,
    ),
    ("tickwire_byes_total", "Clients that said BYE.", |m| {
        m.stats.byes
    }),
    (
        "tickwire_lost_total",
        "Client sequence numbers skipped and never seen since (loss).",
        |m| m.stats.lost,
    ),
    (
        "tickwire_late_total",
        "Client datagrams that arrived after a newer one (reordered, dropped).",
        |m| m.stats.late,
    ),
    ("tickwire_ticks_total", "Ticks run by the match.", |m| {
        m.stats.ticks
    }),
    (
        "tickwire_ticks_skipped_total",
        "Ticks skipped because the loop fell far behind.",
        |m| m.stats.ticks_skipped,
    ),
    (
        "tickwire_snapshot_overflows_total",
        "Ticks whose snapshot did not fit its ring slot.",
        |m| m.stats.snapshot_overflows,
    ),
    (
        "tickwire_game_sent_total",
        "Game datagrams queued to one player (also in tickwire_datagrams_sent_total).",
        |m| m.stats.game_sent,
    ),
];

/// Per-loop counters of the I/O shell.
const LOOP_COUNTERS: &[(&str, &str, LoopGet)] = &[
    (
        "tickwire_loop_ticks_total",
        "Ticks started by the loop, all its matches.",
        |i| i.ticks,
    ),
    (
        "tickwire_loop_wakeups_total",
        "Times the loop slept in epoll_wait and woke up.",
        |i| i.wakeups,
    ),
    (
        "tickwire_loop_spin_polls_total",
        "Polls that did not block because a tick was due within --tick-spin-us.",
        |i| i.spin_polls,
    ),
    (
        "tickwire_loop_rx_stamped_total",
        "Datagrams timed by their kernel arrival stamp (--receive batched).",
        |i| i.rx_stamped,
    ),
    (
        "tickwire_loop_recv_errors_total",
        "recvmmsg errors other than WouldBlock.",
        |i| i.recv_errors,
    ),
    (
        "tickwire_loop_send_dropped_total",
        "Datagrams the kernel would not take or refused.",
        |i| i.send_dropped,
    ),
    (
        "tickwire_loop_recv_budget_hits_total",
        "Times a socket's --recv-budget ran out before it was drained.",
        |i| i.recv_budget_hits,
    ),
    (
        "tickwire_loop_unknown_events_total",
        "Events for a token no source was registered under.",
        |i| i.unknown_events,
    ),
    (
        "tickwire_loop_refused_draining_total",
        "HELLOs dropped unanswered while draining.",
        |i| i.refused_draining,
    ),
];

/// The lobby's gauges.
const LOBBY_GAUGES: &[(&str, &str, LobbyGet)] = &[
    (
        "tickwire_lobby_connections",
        "Open lobby connections.",
        |l| l.conns as u64,
    ),
    ("tickwire_lobby_users", "Logged-in lobby users.", |l| {
        l.users as u64
    }),
    ("tickwire_lobby_rooms", "Lobby rooms.", |l| l.rooms as u64),
    (
        "tickwire_lobby_tables",
        "Lobby rooms with a game open.",
        |l| l.tables as u64,
    ),
    (
        "tickwire_lobby_buffer_bytes",
        "Bytes of buffer the lobby's connections hold now.",
        |l| l.buffer_bytes as u64,
    ),
    (
        "tickwire_lobby_send_queued_bytes",
        "Bytes queued in all lobby send buffers now.",
        |l| l.send_queued as u64,
    ),
];

/// The lobby's counters.
const LOBBY_COUNTERS: &[(&str, &str, LobbyGet)] = &[
    (
        "tickwire_lobby_accepted_total",
        "Lobby connections accepted.",
        |l| l.accepted,
    ),
    (
        "tickwire_lobby_messages_received_total",
        "Lobby requests handled.",
        |l| l.msgs_in,
    ),
    (
        "tickwire_lobby_messages_sent_total",
        "Lobby frames queued to peers.",
        |l| l.msgs_out,
    ),
    (
        "tickwire_lobby_received_bytes_total",
        "Lobby bytes read (plaintext).",
        |l| l.bytes_in,
    ),
    (
        "tickwire_lobby_sent_bytes_total",
        "Lobby bytes written (plaintext).",
        |l| l.bytes_out,
    ),
    (
        "tickwire_lobby_slow_readers_cut_total",
        "Lobby connections cut because their send buffer would overflow.",
        |l| l.slow_readers_cut,
    ),
    (
        "tickwire_lobby_rate_limited_total",
        "Lobby requests refused: the user was over its rate.",
        |l| l.rate_limited,
    ),
    (
        "tickwire_lobby_tls_handshakes_total",
        "Lobby TLS handshakes completed.",
        |l| l.tls_handshakes,
    ),
    (
        "tickwire_lobby_tls_failed_total",
        "Lobby TLS connections closed because rustls refused what the peer sent.",
        |l| l.tls_failed,
    ),
    (
        "tickwire_lobby_tls_unfinished_total",
        "Lobby TLS connections closed before their handshake completed.",
        |l| l.tls_unfinished,
    ),
    (
        "tickwire_lobby_tokens_issued_total",
        "Connect tokens issued by the lobby.",
        |l| l.tokens_issued,
    ),
];

/// The text being written.
struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape_label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// A help text as the format wants it: `\` and newline escaped.
fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A label value as the format wants it: `\`, `"` and newline escaped.
fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The exposition of `loops` (loop `l`'s snapshot at index `l`; a loop that has not
/// published yet is left out) as of `now`.
pub fn render(loops: &[Option<Arc<LoopSnapshot>>], monitor: &Monitor, now: Instant) -> String {
    let mut t = Text(String::with_capacity(4096 + loops.len() * 8192));
    let present: Vec<(String, &LoopSnapshot)> = loops
        .iter()
        .enumerate()
        .filter_map(|(l, s)| s.as_deref().map(|s| (l.to_string(), s)))
        .collect();
    let matches: Vec<(&str, String, &MatchSnapshot)> = present
        .iter()
        .flat_map(|(l, s)| {
            s.matches
                .iter()
                .map(move |m| (l.as_str(), m.index.to_string(), m))
        })
        .collect();

    // Process.
    let draining = present.iter().any(|(_, s)| s.phase != Phase::Running);
    t.family(
        "tickwire_draining",
        "gauge",
        "1 while the server admits no new client (draining or stopping), else 0.",
    );
    t.sample("tickwire_draining", &[], u8::from(draining));
    if let Some(state) = monitor.agones_state() {
        t.family(
            "tickwire_agones_state",
            "gauge",
            "The Agones GameServer state last seen through the SDK (value 1).",
        );
        t.sample("tickwire_agones_state", &[("state", &state)], 1);
    }

    // Per match.
    t.family(
        "tickwire_clients",
        "gauge",
        "Clients connected to the match.",
    );
    for (l, m, s) in &matches {
        t.sample("tickwire_clients", &[("loop", l), ("match", m)], s.clients);
    }
    t.family(
        "tickwire_capacity",
        "gauge",
        "Most clients the match admits (--max-clients).",
    );
    for (l, m, s) in &matches {
        t.sample(
            "tickwire_capacity",
            &[("loop", l), ("match", m)],
            s.capacity,
        );
    }
    t.family("tickwire_match_port", "gauge", "The match's UDP port.");
    for (l, m, s) in &matches {
        t.sample("tickwire_match_port", &[("loop", l), ("match", m)], s.port);
    }
    for (name, help, get) in MATCH_COUNTERS {
        t.family(name, "counter", help);
        for (l, m, s) in &matches {
            t.sample(name, &[("loop", l), ("match", m)], get(s));
        }
    }
    t.family(
        "tickwire_drops_total",
        "counter",
        "Datagrams dropped, by reason (the stats line's total_drops).",
    );
    for (l, m, s) in &matches {
        for d in DropReason::ALL {
            t.sample(
                "tickwire_drops_total",
                &[("loop", l), ("match", m), ("reason", d.label())],
                s.stats.drop_count(*d),
            );
        }
    }
    t.family(
        "tickwire_shots_total",
        "counter",
        "Lag-compensated shots: outcome=\"ok\" granted, else why it was refused.",
    );
    for (l, m, s) in &matches {
        let r = &s.stats.rewinds;
        t.sample(
            "tickwire_shots_total",
            &[("loop", l), ("match", m), ("outcome", "ok")],
            r.ok,
        );
        for (e, n) in RewindError::ALL.iter().zip(r.refused.iter()) {
            t.sample(
                "tickwire_shots_total",
                &[("loop", l), ("match", m), ("outcome", e.label())],
                n,
            );
        }
    }
    t.family(
        "tickwire_rewind_ticks",
        "gauge",
        "Rewind depth of granted shots in ticks since start: quantile 0.5, 0.99 and 1 (the worst).",
    );
    for (l, m, s) in &matches {
        for (q, v) in ["0.5", "0.99", "1"].iter().zip(s.rewind_ticks) {
            t.sample(
                "tickwire_rewind_ticks",
                &[("loop", l), ("match", m), ("quantile", q)],
                v,
            );
        }
    }

    // Per loop.
    for (name, help, get) in LOOP_COUNTERS {
        t.family(name, "counter", help);
        for (l, s) in &present {
            t.sample(name, &[("loop", l)], get(&s.io));
        }
    }
    t.family(
        "tickwire_tick_lateness_microseconds",
        "gauge",
        "How late the loop's ticks started, since start, in microseconds: quantile 0.5, 0.99, 0.999 and 1 (the worst).",
    );
    for (l, s) in &present {
        let io = &s.io;
        for (q, v) in ["0.5", "0.99", "0.999", "1"].iter().zip([
            io.tick_late_p50_us,
            io.tick_late_p99_us,
            io.tick_late_p999_us,
            io.tick_late_max_us,
        ]) {
            t.sample(
                "tickwire_tick_lateness_microseconds",
                &[("loop", l), ("quantile", q)],
                v,
            );
        }
    }
    t.family(
        "tickwire_loop_seconds_since_tick",
        "gauge",
        "Seconds since the loop's tick count last moved, as its probe saw it (/healthz fails at 3).",
    );
    for (l, _) in &present {
        let i: usize = l.parse().unwrap_or(0);
        t.sample(
            "tickwire_loop_seconds_since_tick",
            &[("loop", l)],
            monitor.since_tick(i, now).as_secs_f64(),
        );
    }
    t.family(
        "tickwire_loop_snapshot_age_seconds",
        "gauge",
        "Age of the loop's numbers in this scrape (loop 0's are taken at the scrape).",
    );
    for (l, s) in &present {
        t.sample(
            "tickwire_loop_snapshot_age_seconds",
            &[("loop", l)],
            now.saturating_duration_since(s.taken).as_secs_f64(),
        );
    }

    // The lobby (on loop 0).
    if let Some(lobby) = present.iter().find_map(|(_, s)| s.lobby.as_ref()) {
        for (name, help, get) in LOBBY_GAUGES {
            t.family(name, "gauge", help);
            t.sample(name, &[], get(lobby));
        }
        for (name, help, get) in LOBBY_COUNTERS {
            t.family(name, "counter", help);
            t.sample(name, &[], get(lobby));
        }
    }
    t.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_help_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape_help("x\\y\nz \"q\""), "x\\\\y\\nz \"q\"");
        let mut t = Text(String::new());
        t.family("n", "gauge", "h");
        t.sample("n", &[("a", "1"), ("b", "x\"y")], 2.5);
        t.sample("n", &[], 3);
        assert_eq!(
            t.0,
            "# HELP n h\n# TYPE n gauge\nn{a=\"1\",b=\"x\\\"y\"} 2.5\nn 3\n"
        );
    }

    #[test]
    fn every_family_has_one_help_and_one_type_and_names_are_valid() {
        let monitor = Monitor::new(1, false);
        let now = Instant::now();
        let snap = LoopSnapshot {
            taken: now,
            phase: Phase::Running,
            io: IoStats::default(),
            matches: vec![MatchSnapshot {
                index: 0,
                port: 7777,
                clients: 2,
                capacity: 255,
                stats: tickwire::Stats::default(),
                rewind_ticks: [0; 3],
            }],
            lobby: Some(LobbyStats::default()),
            players: Vec::new(),
        };
        let text = render(&[Some(Arc::new(snap))], &monitor, now);
        let mut seen = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap();
                assert!(seen.insert(name.to_string()), "{name} twice");
                assert!(
                    name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{name}"
                );
                if rest.ends_with(" counter") {
                    assert!(name.ends_with("_total"), "{name}");
                }
            }
        }
        assert!(
            text.contains("\ntickwire_clients{loop=\"0\",match=\"0\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("\ntickwire_lobby_users 0\n"), "{text}");
    }
}
