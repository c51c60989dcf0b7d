//! Runs `tickwire-lobby-bench` with small numbers against the `tickwire` binary of this
//! build and checks its JSON report: every field there, counts above zero, the fan-out
//! complete. No timing thresholds: the figures depend on the machine.

use serde_json::Value;
use std::process::Command;

fn field<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| {
        v.get(k)
            .unwrap_or_else(|| panic!("no field {path:?} in the report: {v}"))
    })
}

fn num(v: &Value, path: &str) -> f64 {
    field(v, path)
        .as_f64()
        .unwrap_or_else(|| panic!("{path} is not a number: {}", field(v, path)))
}

#[test]
fn the_bench_runs_against_a_real_server_and_reports_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire-lobby-bench"))
        .args(["--server-bin", env!("CARGO_BIN_EXE_tickwire")])
        .args([
            "--users",
            "5",
            "--seconds",
            "1",
            "--idle",
            "20",
            "--echo",
            "200",
        ])
        .args(["--deadline-secs", "120", "--json"])
        .output()
        .expect("the bench starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the bench failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let r: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}):\n{stdout}"));

    assert!(num(&r, "server_pid") > 0.0);
    assert!(field(&r, "server_bin").as_str().is_some());
    assert_eq!(num(&r, "idle_kept_open"), 0.0);

    // Idle memory: the server grows by something per connection.
    assert_eq!(num(&r, "idle.connections"), 20.0);
    let before = num(&r, "idle.rss_before_bytes");
    assert!(before > 0.0);
    assert!(num(&r, "idle.rss_connected_bytes") > 0.0);
    assert!(num(&r, "idle.rss_logged_in_bytes") > 0.0);
    for k in [
        "bytes_per_idle_connection",
        "bytes_per_logged_in_user",
        "bytes_per_login",
    ] {
        num(&r, &format!("idle.{k}"));
    }

    // Echo.
    assert_eq!(num(&r, "echo.round_trips"), 200.0);
    for k in ["per_sec", "mean_us", "p50_us", "p99_us", "max_us"] {
        assert!(num(&r, &format!("echo.{k}")) > 0.0, "echo.{k}");
    }
    assert!(num(&r, "echo.p99_us") <= num(&r, "echo.max_us"));

    // Fan-out: chats went through, each reached all 5 members, the sender included.
    assert_eq!(num(&r, "fanout.users"), 5.0);
    assert_eq!(num(&r, "fanout.window"), 8.0);
    assert!(num(&r, "fanout.max_owed_chats") >= 1.0);
    assert_eq!(num(&r, "fanout.chat_bytes"), 100.0);
    let chats = num(&r, "fanout.chats_accepted");
    let ntfs = num(&r, "fanout.notifications_delivered");
    assert!(chats > 0.0, "no chat accepted");
    assert!(ntfs > 0.0, "no notification delivered");
    for k in [
        "seconds",
        "chats_per_sec",
        "notifications_per_sec",
        "latency_samples",
        "latency_mean_us",
        "latency_p50_us",
        "latency_p99_us",
        "latency_max_us",
    ] {
        assert!(num(&r, &format!("fanout.{k}")) > 0.0, "fanout.{k}");
    }
    for k in [
        "server_cpu_seconds",
        "server_cpu_percent",
        "server_cpu_us_per_notification",
        "bench_cpu_seconds",
    ] {
        assert!(num(&r, &format!("fanout.{k}")) >= 0.0, "fanout.{k}");
    }
    assert_eq!(field(&r, "fanout.drained"), &Value::Bool(true));
    let total_chats = num(&r, "fanout.total_chats_accepted");
    assert!(total_chats >= chats);
    assert_eq!(num(&r, "fanout.total_notifications"), total_chats * 5.0);
    assert_eq!(num(&r, "fanout.latency_samples"), total_chats);
}

#[test]
fn a_missing_server_binary_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire-lobby-bench"))
        .args(["--server-bin", "/nonexistent/tickwire", "--json"])
        .output()
        .expect("the bench starts");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot start the server /nonexistent/tickwire"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
