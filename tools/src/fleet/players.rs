//! Players of a fleet, for the end-to-end run (`tickwire-fleet-players`,
//! `tools/fleet-e2e.sh`, `tools/tests/fleet_e2e.rs`): each logs in to a matchmaker, asks
//! for a match, long-polls its ticket, connects to the assigned server with its connect
//! token (the library's blocking [`Connection`]) and plays (walks, reads snapshots) until a
//! common deadline. One thread per player (they are few and mostly wait); every wait is
//! bounded.
//!
//! The summary says how many got each step done, where they went (per server id), whether
//! any client id (a seat) was handed out twice, the assignments per second over the
//! booking phase, and the time from "ask for a match" to the server's ACCEPT.

use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tickwire::client::blocking::Connection;
use tickwire::client::{ClientConfig, Event};
use tickwire::secure::ConnectToken;

/// What the players do.
#[derive(Debug, Clone)]
pub struct PlayersConfig {
    /// Matchmaker base URLs (`http://127.0.0.1:8080`); player i uses `matchmakers[i % n]`.
    pub matchmakers: Vec<String>,
    /// How many players.
    pub players: usize,
    /// The mode asked for.
    pub mode: String,
    /// Players that start per second.
    pub rate: f64,
    /// How long each plays, counted from the moment the last one started.
    pub play: Duration,
    /// Name prefix (`{prefix}{i}`).
    pub prefix: String,
    /// Bound on each HTTP call and on the UDP handshake.
    pub patience: Duration,
    /// Set from another thread to end the play early.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for PlayersConfig {
    fn default() -> Self {
        PlayersConfig {
            matchmakers: vec!["http://127.0.0.1:8080".into()],
            players: 40,
            mode: "arena".into(),
            rate: 200.0,
            play: Duration::from_secs(2),
            prefix: "p".into(),
            patience: Duration::from_secs(30),
            stop: None,
        }
    }
}

/// The run's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlayersSummary {
    /// Players started.
    pub players: usize,
    /// Logged in.
    pub logged_in: usize,
    /// Assigned a seat.
    pub assigned: usize,
    /// Tickets that failed (no seat), with their reasons' counts.
    pub failed: BTreeMap<String, usize>,
    /// Connected (ACCEPT).
    pub connected: usize,
    /// Connected players that received snapshots until their play ended.
    pub played: usize,
    /// Errors by step (HTTP, handshake, ...), counted.
    pub errors: BTreeMap<String, usize>,
    /// Players per server id.
    pub per_server: BTreeMap<u64, usize>,
    /// Client ids handed out more than once (must be 0).
    pub duplicate_seats: usize,
    /// Assignments per second, from the first request to the last assignment.
    pub assignments_per_sec: f64,
    /// Ask for a match -> ACCEPT, milliseconds: median.
    pub ask_to_accept_p50_ms: f64,
    /// 99th percentile.
    pub ask_to_accept_p99_ms: f64,
    /// The largest.
    pub ask_to_accept_max_ms: f64,
    /// Ask for a match -> assigned, milliseconds: median.
    pub ask_to_assigned_p50_ms: f64,
    /// 99th percentile.
    pub ask_to_assigned_p99_ms: f64,
    /// Snapshots received by all players.
    pub snapshots: u64,
}

#[derive(Default)]
struct Shared {
    summary: PlayersSummary,
    client_ids: Vec<u64>,
    to_accept: Vec<Duration>,
    to_assigned: Vec<Duration>,
    first_ask: Option<Instant>,
    last_assigned: Option<Instant>,
}

fn count(map: &mut BTreeMap<String, usize>, what: impl Into<String>) {
    *map.entry(what.into()).or_default() += 1;
}

fn post(
    agent: &ureq::Agent,
    url: &str,
    session: Option<&str>,
    body: Value,
) -> Result<Value, String> {
    let mut req = agent.post(url);
    if let Some(s) = session {
        req = req.set("Authorization", &format!("Bearer {s}"));
    }
    read(req.send_json(body))
}

fn read(res: Result<ureq::Response, ureq::Error>) -> Result<Value, String> {
    match res {
        Ok(r) => r.into_json().map_err(|e| format!("bad JSON: {e}")),
        Err(ureq::Error::Status(code, r)) => Err(format!(
            "HTTP {code}: {}",
            r.into_string().unwrap_or_default().trim()
        )),
        Err(e) => Err(format!("HTTP: {e}")),
    }
}

fn hex_token(s: &str) -> Option<ConnectToken> {
    if s.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    ConnectToken::parse(&bytes?).ok()
}

/// One player's life; the outcome goes into `shared`.
fn player(
    cfg: &PlayersConfig,
    i: usize,
    play_until: &Mutex<Option<Instant>>,
    shared: &Mutex<Shared>,
) {
    let lock = || shared.lock().unwrap_or_else(|e| e.into_inner());
    let agent = ureq::AgentBuilder::new().timeout(cfg.patience).build();
    let base = &cfg.matchmakers[i % cfg.matchmakers.len()];
    let login = post(
        &agent,
        &format!("{base}/v1/login"),
        None,
        json!({ "name": format!("{}{i}", cfg.prefix) }),
    );
    let session = match login.as_ref().ok().and_then(|v| v["session"].as_str()) {
        Some(s) => s.to_string(),
        None => {
            return count(
                &mut lock().summary.errors,
                format!("login: {}", login.err().unwrap_or_default()),
            )
        }
    };
    lock().summary.logged_in += 1;
    let asked = Instant::now();
    {
        let mut s = lock();
        s.first_ask = Some(s.first_ask.map_or(asked, |f| f.min(asked)));
    }
    let opened = post(
        &agent,
        &format!("{base}/v1/match"),
        Some(&session),
        json!({ "mode": cfg.mode }),
    );
    let Some(ticket) = opened
        .as_ref()
        .ok()
        .and_then(|v| v["ticket"].as_str())
        .map(str::to_string)
    else {
        return count(
            &mut lock().summary.errors,
            format!("match: {}", opened.err().unwrap_or_default()),
        );
    };
    let deadline = asked + cfg.patience;
    let answer = loop {
        let res = agent
            .get(&format!("{base}/v1/match/{ticket}?wait=5"))
            .set("Authorization", &format!("Bearer {session}"))
            .call();
        match read(res) {
            Ok(v) if v["status"] == "queued" && Instant::now() < deadline => continue,
            Ok(v) => break v,
            Err(e) => return count(&mut lock().summary.errors, format!("poll: {e}")),
        }
    };
    if answer["status"] != "assigned" {
        let why = answer["why"].as_str().unwrap_or("still queued").to_string();
        return count(&mut lock().summary.failed, why);
    }
    let assigned = Instant::now();
    let (Some(addr), Some(token), Some(server)) = (
        answer["addr"]
            .as_str()
            .and_then(|a| a.parse::<SocketAddr>().ok()),
        answer["token"].as_str().and_then(hex_token),
        answer["server"].as_u64(),
    ) else {
        return count(
            &mut lock().summary.errors,
            format!("assigned, but unreadable: {answer}"),
        );
    };
    {
        let mut s = lock();
        s.summary.assigned += 1;
        s.to_assigned.push(assigned - asked);
        s.last_assigned = Some(s.last_assigned.map_or(assigned, |l| l.max(assigned)));
        s.client_ids.push(token.client_id);
        *s.summary.per_server.entry(server).or_default() += 1;
    }
    let mut conn =
        match Connection::connect_with_token(addr, ClientConfig::default(), token, cfg.patience) {
            Ok(c) => c,
            Err(e) => return count(&mut lock().summary.errors, format!("connect: {e}")),
        };
    let accepted = Instant::now();
    {
        let mut s = lock();
        s.summary.connected += 1;
        s.to_accept.push(accepted - asked);
    }
    let mut snapshots = 0u64;
    let mut last_snapshot = Instant::now();
    let mut next_input = Instant::now();
    let mut alive = true;
    loop {
        let until = *play_until.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if until.is_some_and(|u| now >= u)
            || cfg.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed))
        {
            break;
        }
        if now >= next_input {
            let _ = conn.send_input(1, 0);
            next_input = now + Duration::from_millis(50);
        }
        match conn.poll(Duration::from_millis(20)) {
            Ok(Some(Event::Snapshot { .. })) => {
                snapshots += 1;
                last_snapshot = Instant::now();
            }
            Ok(Some(Event::Disconnected(_))) | Err(_) => {
                alive = false;
                break;
            }
            _ => {}
        }
    }
    let _ = conn.close();
    let mut s = lock();
    s.summary.snapshots += snapshots;
    if alive && last_snapshot.elapsed() < Duration::from_secs(1) && snapshots > 0 {
        s.summary.played += 1;
    } else {
        count(
            &mut s.summary.errors,
            "play: disconnected or no snapshots at the end",
        );
    }
}

fn percentile(v: &mut [Duration], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort();
    let k = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    v[k].as_secs_f64() * 1000.0
}

/// Runs the players; returns when all of them are done.
pub fn run(cfg: &PlayersConfig) -> PlayersSummary {
    let shared = Arc::new(Mutex::new(Shared::default()));
    let play_until = Arc::new(Mutex::new(None));
    let started = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / cfg.rate.max(0.001));
    let mut threads = Vec::with_capacity(cfg.players);
    for i in 0..cfg.players {
        let at = t0 + gap * i as u32;
        if let Some(d) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        let (c, sh, until, st) = (
            cfg.clone(),
            shared.clone(),
            play_until.clone(),
            started.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name(format!("player-{i}"))
            .stack_size(256 * 1024)
            .spawn(move || {
                st.fetch_add(1, Ordering::Relaxed);
                player(&c, i, &until, &sh)
            });
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => count(
                &mut shared
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .summary
                    .errors,
                format!("thread: {e}"),
            ),
        }
    }
    // Everyone plays until `play` after the last one started (and got its answer, at most
    // the patience later).
    *play_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + cfg.play);
    for t in threads {
        let _ = t.join();
    }
    let mut s = std::mem::take(&mut *shared.lock().unwrap_or_else(|e| e.into_inner()));
    s.summary.players = cfg.players;
    let mut ids = s.client_ids.clone();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    s.summary.duplicate_seats = before - ids.len();
    if let (Some(f), Some(l)) = (s.first_ask, s.last_assigned) {
        let span = l.duration_since(f).as_secs_f64().max(1e-3);
        s.summary.assignments_per_sec = s.summary.assigned as f64 / span;
    }
    s.summary.ask_to_accept_p50_ms = percentile(&mut s.to_accept, 0.5);
    s.summary.ask_to_accept_p99_ms = percentile(&mut s.to_accept, 0.99);
    s.summary.ask_to_accept_max_ms = percentile(&mut s.to_accept, 1.0);
    s.summary.ask_to_assigned_p50_ms = percentile(&mut s.to_assigned, 0.5);
    s.summary.ask_to_assigned_p99_ms = percentile(&mut s.to_assigned, 0.99);
    s.summary
}
