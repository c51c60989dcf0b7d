//! A real A2S client, python-a2s, queries a `Query` served on a loopback UDP socket.
//!
//! Needs Python with the `a2s` module: run `tools/install-test-deps.sh` (a virtual
//! environment under `target/test-venv/`; see `common/python.rs` for which Python runs).

#[path = "common/python.rs"]
mod python;
use python::{python, require_a2s};

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use tickwire::internal::{Query, QueryOut, QueryState};

/// The longest a test may run; the serving thread stops by itself after it.
const DEADLINE: Duration = Duration::from_secs(20);

struct Fake {
    players: Vec<(String, i32, f32)>,
}

impl QueryState for Fake {
    fn server_name(&self) -> &str {
        "tickwire test server"
    }
    fn map(&self) -> &str {
        "arena"
    }
    fn folder(&self) -> &str {
        "tickwire"
    }
    fn game(&self) -> &str {
        "Tickwire Arena"
    }
    fn players(&self) -> u8 {
        self.players.len().min(255) as u8
    }
    fn max_players(&self) -> u8 {
        255
    }
    fn for_each_player(&self, f: &mut dyn FnMut(&str, i32, f32)) {
        for (name, score, secs) in &self.players {
            f(name, *score, *secs);
        }
    }
    fn for_each_rule(&self, f: &mut dyn FnMut(&str, &str)) {
        f("tick_hz", "60");
        f("max_clients", "255");
        f("version", env!("CARGO_PKG_VERSION"));
        f("protocol_id", "0");
    }
    fn game_port(&self) -> Option<u16> {
        Some(27015)
    }
}

/// Serves `state` on a loopback socket from a thread, runs the python client against it and
/// returns its JSON.
fn query_with_python(state: Fake) -> serde_json::Value {
    require_a2s();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let port = sock.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        thread::spawn(move || {
            let start = Instant::now();
            let mut query = Query::default();
            let mut out = QueryOut::new();
            let mut buf = [0u8; 1500];
            let mut answered = 0usize;
            while !stop.load(Ordering::Relaxed) && start.elapsed() < DEADLINE {
                let Ok((n, src)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if query
                    .handle(Instant::now(), src, &buf[..n], &state, &mut out)
                    .is_ok()
                {
                    for p in out.packets() {
                        sock.send_to(p, src).unwrap();
                    }
                    answered += 1;
                }
            }
            answered
        })
    };

    let mut child = Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/a2s_query.py"))
        .arg("127.0.0.1")
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE / 2 {
            let _ = child.kill();
            let _ = child.wait();
            stop.store(true, Ordering::Relaxed);
            panic!("python-a2s did not finish in {:?}", DEADLINE / 2);
        }
        thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output().unwrap();
    stop.store(true, Ordering::Relaxed);
    let answered = server.join().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        status.success(),
        "a2s_query.py failed: {status}\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // info, players and rules, each after a challenge.
    assert_eq!(answered, 6);
    serde_json::from_str(&stdout).expect("JSON from a2s_query.py")
}

#[test]
fn python_a2s_reads_info_players_and_rules() {
    let v = query_with_python(Fake {
        players: vec![
            ("alice".into(), 12, 30.5),
            ("bob".into(), -3, 61.0),
            ("chloé".into(), 0, 0.25),
        ],
    });
    let info = &v["info"];
    assert_eq!(info["protocol"], 17);
    assert_eq!(info["server_name"], "tickwire test server");
    assert_eq!(info["map_name"], "arena");
    assert_eq!(info["folder"], "tickwire");
    assert_eq!(info["game"], "Tickwire Arena");
    assert_eq!(info["player_count"], 3);
    assert_eq!(info["max_players"], 255);
    assert_eq!(info["bot_count"], 0);
    assert_eq!(info["server_type"], "d");
    assert_eq!(info["platform"], "l");
    assert_eq!(info["password_protected"], false);
    assert_eq!(info["vac_enabled"], false);
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["port"], 27015);

    let players = v["players"].as_array().unwrap();
    let got: Vec<(&str, i64, f64)> = players
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["score"].as_i64().unwrap(),
                p["duration"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("alice", 12, 30.5), ("bob", -3, 61.0), ("chloé", 0, 0.25)]
    );

    let rules = &v["rules"];
    assert_eq!(rules["tick_hz"], "60");
    assert_eq!(rules["max_clients"], "255");
    assert_eq!(rules["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(rules["protocol_id"], "0");
    assert_eq!(rules.as_object().unwrap().len(), 4);
}

#[test]
fn python_a2s_reassembles_a_split_player_list() {
    let v = query_with_python(Fake {
        players: (0..255)
            .map(|i| (format!("player_{i:09}"), i, i as f32))
            .collect(),
    });
    assert_eq!(v["info"]["player_count"], 255);
    let players = v["players"].as_array().unwrap();
    assert_eq!(players.len(), 255);
    for (i, p) in players.iter().enumerate() {
        assert_eq!(p["name"], format!("player_{i:09}"));
        assert_eq!(p["score"], i as i64);
        assert_eq!(p["duration"].as_f64().unwrap(), i as f64);
    }
}

/// Issue 17, item 10: the A2S client comes from the project's own virtual environment
/// (`tools/install-test-deps.sh` makes it; the test command runs that first), not from the
/// system's Python: `a2s` imports from under `target/test-venv/`.
#[test]
fn python_a2s_comes_from_the_project_venv() {
    if std::env::var_os("TICKWIRE_PYTHON").is_some_and(|p| !p.is_empty()) {
        return; // the caller chose an interpreter
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-venv");
    assert!(
        std::path::Path::new(venv).join("bin/python3").exists(),
        "no {venv}: run tools/install-test-deps.sh"
    );
    let out = Command::new(python())
        .args([
            "-c",
            "import a2s, os; print(os.path.realpath(a2s.__file__))",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let file = String::from_utf8(out.stdout).unwrap();
    let venv = std::fs::canonicalize(venv).unwrap();
    assert!(
        std::path::Path::new(file.trim()).starts_with(&venv),
        "a2s from {file:?}, not from {}",
        venv.display()
    );
}
