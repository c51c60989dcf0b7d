//! `tickwire serve --redis URL`: the server's record in a real `redis-server` (started by
//! the test on a free port): published ready with its address, capacity and players; a
//! booked seat moves from the reservations to the players when its token is redeemed; the
//! game goes on while Redis is down and the record comes back with it; SIGTERM's drain
//! shows as `draining` and a stopped server removes its record. Every wait is on an event
//! with a generous bound; nothing passes by timing.

#[path = "support/redis.rs"]
mod redis_support;

use redis_support::{wait_for, RedisServer};
use std::io::BufReader;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tickwire::client::blocking::Connection;
use tickwire::client::{ClientConfig, Event};
use tickwire::secure::{Issuer, Key};
use tickwire_tools::common::first_line;
use tickwire_tools::fleet::booking::{read_fleet, Booker, Record};

const PATIENCE: Duration = Duration::from_secs(20);

/// Kills the server if the test fails before it stops.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn key_file(key: &Key) -> (tempdir::Dir, PathBuf) {
    let dir = tempdir::Dir::new();
    let path = dir.0.join("fleet.key");
    key.write_file(&path).expect("write the key file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    (dir, path)
}

mod tempdir {
    /// A directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "tickwire-fleet-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A secure server with id `id` publishing to `redis`; its game address.
fn server(
    redis: &RedisServer,
    keyfile: &std::path::Path,
    id: u64,
    extra: &[&str],
) -> (Server, SocketAddr) {
    let mut child = Server(
        Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(["serve", "--bind", "127.0.0.1:0", "--lobby", "off"])
            .args(["--stats-interval-ms", "0", "--secure", "--token-key"])
            .arg(keyfile)
            .args(["--server-id", &id.to_string(), "--redis", &redis.url()])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (line, _) = first_line(BufReader::new(child.0.stdout.take().unwrap()), PATIENCE).unwrap();
    let udp = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("udp="))
        .and_then(|a| a.parse().ok())
        .expect(&line);
    (child, udp)
}

fn record(con: &mut redis::Connection, id: u64) -> Option<Record> {
    read_fleet(con).ok()?.into_iter().find(|r| r.id == id)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Receives snapshots for `n` of them (bounded by PATIENCE).
fn play(c: &mut Connection, n: usize) {
    let mut got = 0;
    wait_for(PATIENCE, "snapshots", || {
        while got < n {
            match c.poll(Duration::from_millis(50)) {
                Ok(Some(Event::Snapshot { .. })) => got += 1,
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => panic!("the connection ended: {e}"),
            }
        }
        let _ = c.send_input(1, 0);
        (got >= n).then_some(())
    });
}

#[test]
fn the_record_follows_the_server_through_joins_outages_and_drain() {
    let mut redis = RedisServer::start();
    let key = Key::generate();
    let (_dir, keyfile) = key_file(&key);
    let (mut srv, udp) = server(
        &redis,
        &keyfile,
        7,
        &[
            "--max-clients",
            "4",
            "--drain-seconds",
            "30",
            "--map",
            "duel",
        ],
    );
    let mut con = redis.connect();

    // Published: ready, its address, capacity, nobody yet.
    let r = wait_for(PATIENCE, "a ready record", || {
        record(&mut con, 7).filter(|r| r.text("state") == "ready")
    });
    assert_eq!(r.text("secure"), "1");
    assert_eq!(r.text("mode"), "duel");
    assert_eq!(r.text("addr:0"), udp.to_string());
    assert_eq!(
        (r.num("matches"), r.num("cap:0"), r.num("players:0")),
        (1, 4, 0)
    );
    assert_eq!(r.text("version"), env!("CARGO_PKG_VERSION"));
    let ttl: i64 = redis::cmd("PTTL")
        .arg("tw:server:7")
        .query(&mut con)
        .unwrap();
    assert!(ttl > 0 && ttl <= 5000, "the record expires: pttl {ttl}");

    // A booked seat is a reservation until its token is redeemed, then a player.
    let b = Booker::default()
        .book(&mut con, "duel", 1, Duration::from_secs(30))
        .expect("a seat");
    assert_eq!(
        (b.server, b.matched, b.addr.as_str()),
        (7, 0, udp.to_string().as_str())
    );
    assert_eq!(record(&mut con, 7).unwrap().reserved, vec![1]);
    let token = Issuer::new(key.clone(), 0).mint(b.client_ids[0], 7, "ann", unix_now());
    let mut c = Connection::connect_with_token(udp, ClientConfig::default(), token, PATIENCE)
        .expect("the token is admitted");
    let r = wait_for(PATIENCE, "the join counted", || {
        record(&mut con, 7).filter(|r| r.num("players:0") == 1)
    });
    assert_eq!(
        r.reserved,
        vec![0],
        "the reservation was redeemed, not counted twice"
    );

    // Redis goes away: the game goes on.
    drop(con);
    redis.kill();
    play(&mut c, 60);
    // Back at the same address: the record is written again.
    let redis = RedisServer::start_on(redis.port);
    let mut con = redis.connect();
    let r = wait_for(PATIENCE, "the record back after the outage", || {
        record(&mut con, 7)
    });
    assert_eq!(r.num("players:0"), 1);
    play(&mut c, 10);

    // SIGTERM drains (the player is still there): the record says so.
    unsafe { libc::kill(srv.0.id() as i32, libc::SIGTERM) };
    wait_for(PATIENCE, "a draining record", || {
        record(&mut con, 7).filter(|r| r.text("state") == "draining")
    });
    assert!(
        Booker::default()
            .book(&mut con, "duel", 1, Duration::from_secs(30))
            .is_err(),
        "nobody is booked on a draining server"
    );
    // The last player leaves: the server stops and removes its record.
    c.close().unwrap();
    let status = wait_for(PATIENCE, "the server to exit", || srv.0.try_wait().unwrap());
    assert!(status.success(), "{status:?}");
    assert!(record(&mut con, 7).is_none());
    let ids: Vec<u64> = redis::cmd("SMEMBERS")
        .arg("tw:servers")
        .query(&mut con)
        .unwrap();
    assert!(ids.is_empty(), "{ids:?}");
}

#[test]
fn a_dead_server_expires_and_bad_flags_are_refused() {
    let redis = RedisServer::start();
    let key = Key::generate();
    let (_dir, keyfile) = key_file(&key);
    let (mut srv, _) = server(&redis, &keyfile, 3, &[]);
    let mut con = redis.connect();
    wait_for(PATIENCE, "a record", || record(&mut con, 3));
    // SIGKILL: no goodbye; the TTL removes it.
    srv.0.kill().unwrap();
    srv.0.wait().unwrap();
    wait_for(PATIENCE, "the record to expire", || {
        record(&mut con, 3).is_none().then_some(())
    });

    for (args, says) in [
        (vec!["--redis", "redis://127.0.0.1:1"], "--server-id"),
        (
            vec!["--redis", "nope", "--server-id", "1"],
            "not a Redis URL",
        ),
        (
            vec![
                "--redis",
                "redis://127.0.0.1:1",
                "--server-id",
                "1",
                "--bind",
                "0.0.0.0:0",
            ],
            "--public-addr",
        ),
        (vec!["--public-addr", "1.2.3.4"], "--redis"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .arg("serve")
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn public_addr_is_what_is_published() {
    let redis = RedisServer::start();
    let key = Key::generate();
    let (_dir, keyfile) = key_file(&key);
    let (_srv, _) = server(
        &redis,
        &keyfile,
        5,
        &["--matches", "2", "--public-addr", "203.0.113.9:4000"],
    );
    let mut con = redis.connect();
    let r = wait_for(PATIENCE, "a ready record", || {
        record(&mut con, 5).filter(|r| r.text("state") == "ready")
    });
    assert_eq!(r.num("matches"), 2);
    assert_eq!(r.text("addr:0"), "203.0.113.9:4000");
    assert_eq!(r.text("addr:1"), "203.0.113.9:4001");
}
