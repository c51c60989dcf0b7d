//! The fleet end to end, small (tools/fleet-e2e.sh is the large one): a real
//! `redis-server`, two secure game servers (`tickwire serve --redis`, 25 seats each), two
//! matchmakers; 40 players log in, queue, get assigned, connect with their tokens and
//! play. No seat is handed out twice and no server goes above its capacity; the first
//! server fills before the second gets players. Redis stops for 2 s while they play and
//! every one of them plays on to the end. Then one server is killed: its record expires
//! and the next players all go to the other. Every wait is on an event, bounded.

#[path = "support/killed.rs"]
mod killed;
use killed::Killed;

#[path = "support/redis.rs"]
mod redis_support;

use redis_support::{wait_for, RedisServer};
use std::io::BufReader;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tickwire::secure::Key;
use tickwire_tools::common::first_line;
use tickwire_tools::fleet::booking::read_fleet;
use tickwire_tools::fleet::players::{run, PlayersConfig};

const PATIENCE: Duration = Duration::from_secs(30);

/// Starts `bin args` and returns it with the first stdout line.
fn start(bin: &str, args: &[&str]) -> (Killed, String) {
    let mut p = Killed(
        Command::new(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (line, _) = first_line(BufReader::new(p.0.stdout.take().unwrap()), PATIENCE).unwrap();
    (p, line)
}

fn game_server(redis: &str, key: &Path, id: u64) -> Killed {
    let id = id.to_string();
    let args = [
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--lobby",
        "off",
        "--stats-interval-ms",
        "0",
        "--secure",
        "--token-key",
        key.to_str().unwrap(),
        "--server-id",
        &id,
        "--redis",
        redis,
        "--max-clients",
        "25",
        "--max-clients-per-ip",
        "255",
        "--challenges-per-ip",
        "10000",
    ];
    start(env!("CARGO_BIN_EXE_tickwire"), &args).0
}

fn matchmaker(redis: &str, key: &Path) -> (Killed, String) {
    let args = [
        "--bind",
        "127.0.0.1:0",
        "--redis",
        redis,
        "--token-key",
        key.to_str().unwrap(),
        "--insecure-http",
        "--queue-seconds",
        "10",
    ];
    let (p, line) = start(env!("CARGO_BIN_EXE_tickwire-matchmaker"), &args);
    let at = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http="))
        .expect(&line)
        .to_string();
    (p, format!("http://{at}"))
}

/// Players on each server, from the registry.
fn players(con: &mut redis::Connection) -> Vec<(u64, u64)> {
    read_fleet(con)
        .unwrap_or_default()
        .iter()
        .map(|r| (r.id, r.num("players:0")))
        .collect()
}

#[test]
fn forty_players_through_two_matchmakers_onto_two_servers() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let dir = std::env::temp_dir().join(format!("tickwire-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key: PathBuf = dir.join("fleet.key");
    let _ = std::fs::remove_file(&key);
    Key::generate().write_file(&key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    let mut s1 = game_server(&url, &key, 1);
    let _s2 = game_server(&url, &key, 2);
    let (_m1, u1) = matchmaker(&url, &key);
    let (_m2, u2) = matchmaker(&url, &key);
    let mut con = redis.connect();
    wait_for(PATIENCE, "both servers ready", || {
        (players(&mut con).len() == 2).then_some(())
    });

    // 40 players on two matchmakers; they play until 8 s after the last one started.
    let cfg = PlayersConfig {
        matchmakers: vec![u1.clone(), u2.clone()],
        players: 40,
        play: Duration::from_secs(8),
        ..PlayersConfig::default()
    };
    let c = cfg.clone();
    let run1 = std::thread::spawn(move || run(&c));
    let seated = wait_for(PATIENCE, "40 players seated", || {
        let p = players(&mut con);
        (p.iter().map(|x| x.1).sum::<u64>() == 40).then_some(p)
    });
    assert_eq!(
        seated,
        vec![(1, 25), (2, 15)],
        "server 1 fills first; none above 25"
    );
    // Redis stops for 2 s; the game goes on.
    drop(con);
    redis.kill();
    std::thread::sleep(Duration::from_secs(2));
    let redis = RedisServer::start_on(redis.port);
    let mut con = redis.connect();
    let s = run1.join().unwrap();
    assert_eq!(s.duplicate_seats, 0, "{s:?}");
    assert_eq!((s.assigned, s.connected), (40, 40), "{s:?}");
    assert_eq!(
        s.played, 40,
        "every player played on through the outage: {s:?}"
    );
    assert_eq!(s.per_server.get(&1), Some(&25), "{s:?}");
    assert_eq!(s.per_server.get(&2), Some(&15), "{s:?}");
    assert!(s.errors.is_empty(), "{s:?}");
    eprintln!(
        "40 players: {:.0} assignments/s, ask -> ACCEPT p50 {:.1} ms p99 {:.1} ms",
        s.assignments_per_sec, s.ask_to_accept_p50_ms, s.ask_to_accept_p99_ms
    );

    // The records are back after the outage; kill server 1: it expires, and the next
    // players all go to server 2.
    wait_for(PATIENCE, "both records back", || {
        (players(&mut con).len() == 2).then_some(())
    });
    s1.0.kill().unwrap();
    s1.0.wait().unwrap();
    wait_for(PATIENCE, "server 1's record to expire", || {
        (players(&mut con).iter().map(|x| x.0).collect::<Vec<_>>() == [2]).then_some(())
    });
    let cfg = PlayersConfig {
        players: 10,
        prefix: "q".into(),
        play: Duration::from_secs(1),
        ..cfg
    };
    let s = run(&cfg);
    assert_eq!(s.played, 10, "{s:?}");
    assert_eq!(
        s.per_server.keys().copied().collect::<Vec<_>>(),
        [2],
        "{s:?}"
    );
    assert_eq!(s.duplicate_seats, 0);
    let _ = std::fs::remove_dir_all(&dir);
}
