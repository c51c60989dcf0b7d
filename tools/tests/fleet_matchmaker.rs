//! `tickwire-matchmaker` over HTTP against a real `redis-server`: login, a match request,
//! the long-poll that answers with an address and a connect token that opens under the
//! fleet key with the booked server's id as its scope; two matchmaker processes racing
//! on one Redis book every seat once and no match above its capacity; cancel gives the
//! seats back; bad requests get clear errors; HTTPS with a test certificate; no plain
//! HTTP without --insecure-http. Fleet records are written by the test (the game servers'
//! side has its own test, fleet_registry.rs).

#[path = "support/killed.rs"]
mod killed;
use killed::Killed;

#[path = "support/redis.rs"]
mod redis_support;

use redis_support::{put_server, RedisServer};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::BufReader;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tickwire::secure::{ConnectToken, Issuer, Key};
use tickwire_tools::common::first_line;

const PATIENCE: Duration = Duration::from_secs(20);

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("tickwire-mm-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn key_file(dir: &Dir, key: &Key) -> PathBuf {
    let path = dir.0.join("fleet.key");
    key.write_file(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// A matchmaker on a free port: it and its address.
fn matchmaker(redis: &RedisServer, key: &Path, extra: &[&str]) -> (Killed, SocketAddr) {
    let mut p = Killed(
        Command::new(env!("CARGO_BIN_EXE_tickwire-matchmaker"))
            .args([
                "--bind",
                "127.0.0.1:0",
                "--redis",
                &redis.url(),
                "--token-key",
            ])
            .arg(key)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (line, _) = first_line(BufReader::new(p.0.stdout.take().unwrap()), PATIENCE).unwrap();
    let at = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http=").or_else(|| w.strip_prefix("https=")))
        .and_then(|a| a.parse().ok())
        .expect(&line);
    (p, at)
}

/// An HTTP answer: status and JSON body.
fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    session: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = agent.request(method, url).timeout(PATIENCE + PATIENCE);
    if let Some(s) = session {
        req = req.set("Authorization", &format!("Bearer {s}"));
    }
    let res = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    let r = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let code = r.status();
    let text = r.into_string().unwrap();
    (
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn login(agent: &ureq::Agent, base: &str, name: &str) -> String {
    let (code, v) = call(
        agent,
        "POST",
        &format!("{base}/v1/login"),
        None,
        Some(json!({ "name": name })),
    );
    assert_eq!(code, 200, "{v}");
    v["session"].as_str().unwrap().to_string()
}

/// Asks for a match and long-polls it to an answer.
fn get_match(agent: &ureq::Agent, base: &str, session: &str, party: u32) -> Value {
    let (code, v) = call(
        agent,
        "POST",
        &format!("{base}/v1/match"),
        Some(session),
        Some(json!({ "mode": "arena", "party": party })),
    );
    assert_eq!(code, 202, "{v}");
    let ticket = v["ticket"].as_str().unwrap().to_string();
    loop {
        let (code, v) = call(
            agent,
            "GET",
            &format!("{base}/v1/match/{ticket}?wait=10"),
            Some(session),
            None,
        );
        assert_eq!(code, 200, "{v}");
        if v["status"] != "queued" {
            return v;
        }
    }
}

fn token_of(hex: &str) -> ConnectToken {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    ConnectToken::parse(&bytes).unwrap()
}

#[test]
fn two_matchmakers_book_every_seat_once() {
    let redis = RedisServer::start();
    let dir = Dir::new("race");
    let key = Key::generate();
    let keyfile = key_file(&dir, &key);
    let mut con = redis.connect();
    // 30 seats: server 1 has 10 + 6, server 2 has 14 (2 of them taken by players).
    put_server(&mut con, 1, "ready", true, &[10, 6], &[0, 0]);
    put_server(&mut con, 2, "ready", true, &[16], &[2]);
    let args = ["--insecure-http", "--queue-seconds", "1"];
    let (_a, at_a) = matchmaker(&redis, &keyfile, &args);
    let (_b, at_b) = matchmaker(&redis, &keyfile, &args);
    let agent = ureq::Agent::new();
    // A session from one matchmaker is good at the other (it is checked offline).
    let s = login(&agent, &format!("http://{at_a}"), "ann");
    let first = get_match(&agent, &format!("http://{at_b}"), &s, 1);
    assert_eq!(first["status"], "assigned", "{first}");
    assert_eq!(first["server"], 2, "the fuller server first: {first}");
    let t = token_of(first["token"].as_str().unwrap());
    let opened = Issuer::new(key.clone(), 0)
        .open(&t)
        .expect("minted with the fleet key");
    assert_eq!(opened.scope, 2, "scope = the booked server");
    assert_eq!(opened.name.unwrap().as_str(), "ann");
    assert_eq!(json!(opened.client_id), first["client_ids"][0]);

    // 8 players on each matchmaker at once, 5 requests each (parties of 1 and 2): 29
    // seats left for 60 asked, so some fail.
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let base = format!("http://{}", if i % 2 == 0 { at_a } else { at_b });
            std::thread::spawn(move || {
                let agent = ureq::Agent::new();
                let s = login(&agent, &base, &format!("p{i}"));
                (0..5)
                    .map(|k| get_match(&agent, &base, &s, 1 + (k + i) as u32 % 2))
                    .collect::<Vec<Value>>()
            })
        })
        .collect();
    let answers: Vec<Value> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let mut ids = HashSet::new();
    let mut per_match: HashMap<(u64, u64), u64> = HashMap::new();
    let mut failed = 0;
    for a in &answers {
        match a["status"].as_str() {
            Some("assigned") => {
                let ids_here = a["client_ids"].as_array().unwrap();
                assert_eq!(ids_here.len(), a["tokens"].as_array().unwrap().len());
                for c in ids_here {
                    assert!(ids.insert(c.as_u64().unwrap()), "a seat booked twice: {a}");
                }
                *per_match
                    .entry((a["server"].as_u64().unwrap(), a["match"].as_u64().unwrap()))
                    .or_default() += ids_here.len() as u64;
            }
            Some("failed") => {
                failed += 1;
                assert!(a["why"].as_str().unwrap().contains("no seat"), "{a}");
            }
            _ => panic!("{a}"),
        }
    }
    *per_match.entry((2, 0)).or_default() += 1; // ann's
    let caps = HashMap::from([((1, 0), 10), ((1, 1), 6), ((2, 0), 14)]);
    for (k, n) in &per_match {
        assert!(*n <= caps[k], "{k:?} above capacity: {n}");
    }
    assert!(failed > 0, "more asked than seats");
    assert!(ids.len() >= 28, "nearly every seat is taken: {per_match:?}");
    let (_, stats) = call(
        &agent,
        "GET",
        &format!("http://{at_a}/v1/stats"),
        None,
        None,
    );
    assert!(stats["assigned"].as_u64().unwrap() > 0, "{stats}");
}

#[test]
fn cancel_and_bad_requests() {
    let redis = RedisServer::start();
    let dir = Dir::new("bad");
    let key = Key::generate();
    let keyfile = key_file(&dir, &key);
    let mut con = redis.connect();
    put_server(&mut con, 4, "ready", true, &[3], &[0]);
    let (_a, at) = matchmaker(
        &redis,
        &keyfile,
        &[
            "--insecure-http",
            "--max-party",
            "3",
            "--queue-seconds",
            "1",
        ],
    );
    let base = format!("http://{at}");
    let agent = ureq::Agent::new();
    let s = login(&agent, &base, "bo");
    let m = format!("{base}/v1/match");

    // Cancel a booked ticket: its seats are free again.
    let (_, v) = call(
        &agent,
        "POST",
        &m,
        Some(&s),
        Some(json!({ "mode": "arena", "party": 3 })),
    );
    let ticket = v["ticket"].as_str().unwrap().to_string();
    let (_, v) = call(
        &agent,
        "GET",
        &format!("{m}/{ticket}?wait=10"),
        Some(&s),
        None,
    );
    assert_eq!(v["status"], "assigned", "{v}");
    let z = |con: &mut redis::Connection| -> u64 {
        redis::cmd("ZCARD").arg("tw:seats:4:0").query(con).unwrap()
    };
    assert_eq!(z(&mut con), 3);
    // Another session does not see it.
    let other = login(&agent, &base, "cy");
    assert_eq!(
        call(&agent, "GET", &format!("{m}/{ticket}"), Some(&other), None).0,
        404
    );
    assert_eq!(
        call(
            &agent,
            "DELETE",
            &format!("{m}/{ticket}"),
            Some(&other),
            None
        )
        .0,
        404
    );
    let (code, v) = call(&agent, "DELETE", &format!("{m}/{ticket}"), Some(&s), None);
    assert_eq!((code, v["status"].as_str()), (200, Some("cancelled")));
    assert_eq!(
        z(&mut con),
        0,
        "the cancelled ticket's seats were given back"
    );
    // No room: failed, with a reason.
    put_server(&mut con, 4, "draining", true, &[3], &[0]);
    let v = get_match(&agent, &base, &s, 1);
    assert_eq!(v["status"], "failed");
    assert!(
        v["why"].as_str().unwrap().contains("no ready server"),
        "{v}"
    );

    for (method, url, session, body, want) in [
        (
            "POST",
            m.clone(),
            None,
            Some(json!({ "mode": "arena" })),
            401,
        ),
        (
            "POST",
            m.clone(),
            Some("v1.1.00.00"),
            Some(json!({ "mode": "arena" })),
            401,
        ),
        (
            "POST",
            m.clone(),
            Some(s.as_str()),
            Some(json!({ "party": 1 })),
            400,
        ),
        (
            "POST",
            m.clone(),
            Some(s.as_str()),
            Some(json!({ "mode": "arena", "party": 4 })),
            400,
        ),
        (
            "POST",
            m.clone(),
            Some(s.as_str()),
            Some(json!({ "mode": "arena", "party": 0 })),
            400,
        ),
        (
            "POST",
            m.clone(),
            Some(s.as_str()),
            Some(json!({ "mode": "arena", "party": "x" })),
            400,
        ),
        ("POST", m.clone(), Some(s.as_str()), Some(json!("[]")), 400),
        (
            "POST",
            format!("{base}/v1/login"),
            None,
            Some(json!({ "name": "" })),
            400,
        ),
        (
            "POST",
            format!("{base}/v1/login"),
            None,
            Some(json!({ "name": "x".repeat(5000) })),
            413,
        ),
        ("GET", format!("{m}/nope"), Some(s.as_str()), None, 404),
        (
            "GET",
            format!("{m}/nope?wait=-1"),
            Some(s.as_str()),
            None,
            400,
        ),
        ("PUT", format!("{m}/nope"), Some(s.as_str()), None, 405),
        ("GET", format!("{base}/v2"), None, None, 404),
    ] {
        let (code, v) = call(&agent, method, &url, session, body);
        assert_eq!(code, want, "{method} {url}: {v}");
        assert!(v["error"].is_string(), "{method} {url}: a clear error: {v}");
    }
    let (code, v) = call(&agent, "GET", &format!("{base}/healthz"), None, None);
    assert_eq!((code, v), (200, Value::String("ok\n".into())));
}

#[test]
fn https_and_no_plain_http_without_the_flag() {
    let redis = RedisServer::start();
    let dir = Dir::new("tls");
    let key = Key::generate();
    let keyfile = key_file(&dir, &key);
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, pkey) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&pkey, ck.signing_key.serialize_pem()).unwrap();

    // Without TLS and without --insecure-http it refuses to start.
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire-matchmaker"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--redis",
            &redis.url(),
            "--token-key",
        ])
        .arg(&keyfile)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only over TLS"));

    let mut con = redis.connect();
    put_server(&mut con, 9, "ready", true, &[2], &[0]);
    let (_a, at) = matchmaker(
        &redis,
        &keyfile,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            pkey.to_str().unwrap(),
        ],
    );
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let agent = ureq::AgentBuilder::new().tls_config(Arc::new(tls)).build();
    let base = format!("https://localhost:{}", at.port());
    let s = login(&agent, &base, "dee");
    let v = get_match(&agent, &base, &s, 1);
    assert_eq!(v["status"], "assigned", "{v}");
    assert_eq!(v["addr"], "127.0.0.9:7000");
}

#[test]
fn a_matchmaker_session_logs_in_to_a_secure_servers_tls_lobby() {
    use tickwire::client::lobby::{Error, LobbyClient, Status, TlsTrust};
    let redis = RedisServer::start();
    let dir = Dir::new("lobby");
    let key = Key::generate();
    let keyfile = key_file(&dir, &key);
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, pkey) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&pkey, ck.signing_key.serialize_pem()).unwrap();
    let (_srv, line) = {
        let mut p = Killed(
            Command::new(env!("CARGO_BIN_EXE_tickwire"))
                .args(["serve", "--bind", "127.0.0.1:0", "--lobby", "127.0.0.1:0"])
                .args(["--secure", "--server-id", "3", "--token-key"])
                .arg(&keyfile)
                .arg("--lobby-tls-cert")
                .arg(&cert)
                .arg("--lobby-tls-key")
                .arg(&pkey)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let (line, _) = first_line(BufReader::new(p.0.stdout.take().unwrap()), PATIENCE).unwrap();
        (p, line)
    };
    let lobby: SocketAddr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("lobby="))
        .and_then(|a| a.parse().ok())
        .expect(&line);
    let (_mm, at) = matchmaker(&redis, &keyfile, &["--insecure-http"]);
    let session = login(&ureq::Agent::new(), &format!("http://{at}"), "eve");

    let trust = TlsTrust::from_ca_file(&cert).unwrap();
    let mut lc = LobbyClient::connect_tls(lobby, &trust, "localhost").unwrap();
    let me = lc.login_session(&session).expect("the session logs in");
    assert!(me.user > 0 && me.ticket != 0);
    // Logged in as the session's name: the lobby's token carries it.
    let t = lc.token(0).unwrap();
    let opened = Issuer::new(key.clone(), 0).open(&t).unwrap();
    assert_eq!((opened.name.unwrap().as_str(), opened.scope), ("eve", 3));
    // A session of another fleet is refused, with its own status.
    let forged = tickwire::secure::Sessions::new(&Key::generate()).mint("mal", u64::MAX / 2);
    let mut lc = LobbyClient::connect_tls(lobby, &trust, "localhost").unwrap();
    match lc.login_session(&forged) {
        Err(Error::Refused(Status::BadSession)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn with_redis_down_logins_work_and_tickets_fail_with_the_reason() {
    let mut redis = RedisServer::start();
    let dir = Dir::new("down");
    let key = Key::generate();
    let keyfile = key_file(&dir, &key);
    let (_a, at) = matchmaker(
        &redis,
        &keyfile,
        &["--insecure-http", "--queue-seconds", "1"],
    );
    redis.kill();
    let base = format!("http://{at}");
    let agent = ureq::Agent::new();
    let s = login(&agent, &base, "fay");
    let v = get_match(&agent, &base, &s, 1);
    assert_eq!(v["status"], "failed", "{v}");
    assert!(v["why"].as_str().unwrap().contains("unreachable"), "{v}");
}
