//! `tickwire serve --log-format json`: every stderr line is one JSON object with timestamp,
//! level, target and message.

use std::io::{BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;
use tickwire_tools::common::first_line;

/// Every line of `stderr` as a JSON object with the four string fields.
fn records(stderr: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    assert!(!stderr.trim().is_empty(), "nothing logged");
    stderr
        .lines()
        .map(|line| {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
            let obj = v
                .as_object()
                .unwrap_or_else(|| panic!("not an object: {line}"));
            for key in ["timestamp", "level", "target", "message"] {
                assert!(
                    obj.get(key).is_some_and(|v| v.is_string()),
                    "{key} in {line}"
                );
            }
            let keys: Vec<&str> = obj.keys().map(|k| k.as_str()).collect();
            assert_eq!(keys.len(), 4, "{line}");
            obj.clone()
        })
        .collect()
}

#[test]
fn a_served_run_logs_json_lines() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["serve", "--bind", "127.0.0.1:0", "--lobby", "off"])
        .args(["--log-format", "json", "--stats-interval-ms", "0"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let started = first_line(stdout, Duration::from_secs(30));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let (first, _) = started.expect("the listening line");
    assert!(first.starts_with("tickwire listening"), "{first:?}");
    assert!(status.success(), "{status:?}");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let recs = records(&err);
    assert!(
        recs.iter().any(|r| r["level"] == "INFO"
            && r["target"] == "tickwire::io"
            && r["message"].as_str().unwrap().contains("shutting down")),
        "{err}"
    );
    let ts = recs[0]["timestamp"].as_str().unwrap();
    assert!(
        ts.len() >= 20 && ts.ends_with('Z') && ts.contains('T'),
        "RFC 3339: {ts}"
    );
}

#[test]
fn the_log_format_can_come_from_the_config_file() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("log_json");
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("json.toml");
    std::fs::write(&f, "log-format = \"json\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["serve", "--print-config", "--config"])
        .arg(&f)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    let recs = records(&err);
    assert!(recs.iter().any(|r| r["message"]
        .as_str()
        .unwrap()
        .contains("configuration read from")));
    assert!(String::from_utf8_lossy(&out.stdout).contains("log-format = \"json\""));
}
