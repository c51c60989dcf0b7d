//! A real `redis-server` for a test: on a free port of 127.0.0.1, no persistence, killed
//! when dropped. `tools/install-test-deps.sh` installs it.

#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`, stopped on drop.
pub struct RedisServer {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl RedisServer {
    /// Starts one on a free port and waits (at most 20 s) until it answers PING.
    pub fn start() -> RedisServer {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("its address").port()
        };
        RedisServer::start_on(port)
    }

    /// Starts one on `port` (to bring a stopped one back at the same address).
    pub fn start_on(port: u16) -> RedisServer {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH: run tools/install-test-deps.sh");
        let r = RedisServer {
            child: Some(child),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut c) = r.try_connect() {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return r;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING in 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn try_connect(&self) -> redis::RedisResult<redis::Connection> {
        tickwire_tools::fleet::connect(&self.url(), Duration::from_secs(2))
    }

    /// A connection (panics when it cannot connect).
    pub fn connect(&self) -> redis::Connection {
        self.try_connect()
            .expect("connect to the test's redis-server")
    }

    /// Kills it now (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `f` every 20 ms until it returns `Some`, at most `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes a server record as `tickwire serve --redis` would: `caps[m]` seats and
/// `players[m]` players on match m.
pub fn put_server(
    con: &mut redis::Connection,
    id: u64,
    state: &str,
    secure: bool,
    caps: &[u32],
    players: &[u32],
) {
    let key = format!("tw:server:{id}");
    let mut cmd = redis::cmd("HSET");
    cmd.arg(&key)
        .arg("id")
        .arg(id)
        .arg("version")
        .arg("test")
        .arg("secure")
        .arg(if secure { "1" } else { "0" })
        .arg("state")
        .arg(state)
        .arg("mode")
        .arg("arena")
        .arg("matches")
        .arg(caps.len());
    for (m, (c, p)) in caps.iter().zip(players).enumerate() {
        cmd.arg(format!("addr:{m}"))
            .arg(format!("127.0.0.{id}:{}", 7000 + m))
            .arg(format!("cap:{m}"))
            .arg(*c)
            .arg(format!("players:{m}"))
            .arg(*p);
    }
    let _: () = cmd.query(con).unwrap();
    let _: () = redis::cmd("PEXPIRE")
        .arg(&key)
        .arg(60_000)
        .query(con)
        .unwrap();
    let _: () = redis::cmd("SADD")
        .arg("tw:servers")
        .arg(id)
        .query(con)
        .unwrap();
}
