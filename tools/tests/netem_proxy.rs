//! `tickwire-netem` between a UDP echo server and a client socket on 127.0.0.1. No
//! timing-based pass criteria: waits are bounded, and what the proxy did is checked
//! against the counts in its final statistics line.

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tickwire_tools::common::first_line;

/// A UDP echo server on a thread; counts what it echoed.
struct Echo {
    addr: SocketAddr,
    echoed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    fn start() -> Echo {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind echo");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let addr = sock.local_addr().expect("echo addr");
        let echoed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (e, s) = (echoed.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !s.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    if sock.send_to(&buf[..n], from).is_ok() {
                        e.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        Echo {
            addr,
            echoed,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The proxy process; killed on drop if still running.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    stderr: Option<ChildStderr>,
}

impl Proxy {
    fn start(upstream: SocketAddr, args: &[&str]) -> Proxy {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tickwire-netem"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                &upstream.to_string(),
            ])
            .args(["--seed", "7", "--stats-secs", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tickwire-netem");
        let stderr = child.stderr.take();
        let stdout = child.stdout.take().expect("stdout");
        let mut guard = Proxy {
            child,
            addr: "0.0.0.0:0".parse().expect("addr"),
            stderr,
        };
        let (line, _) =
            first_line(BufReader::new(stdout), Duration::from_secs(10)).expect("first line");
        // tickwire-netem listening ADDR upstream ADDR
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.len(), 5, "first line: {line:?}");
        assert_eq!(
            (words[0], words[1], words[3]),
            ("tickwire-netem", "listening", "upstream")
        );
        guard.addr = words[2].parse().expect("listen address");
        assert_ne!(guard.addr.port(), 0, "the real bound port: {line:?}");
        assert_eq!(words[4], upstream.to_string());
        guard
    }

    /// SIGTERM, wait, and return the final statistics line.
    fn stop(mut self) -> String {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill");
        let mut err = String::new();
        if let Some(mut s) = self.stderr.take() {
            s.read_to_string(&mut err).expect("stderr");
        }
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "exit status {status}: {err}");
        err.lines()
            .find(|l| l.starts_with("tickwire-netem stopped"))
            .unwrap_or_else(|| panic!("no final line in {err:?}"))
            .to_string()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `name` inside the `group[...]` section of a statistics line.
fn stat(line: &str, group: &str, name: &str) -> u64 {
    let open = format!(" {group}[");
    let start = line
        .find(&open)
        .unwrap_or_else(|| panic!("no {group} in {line}"))
        + open.len();
    let sect = &line[start..];
    let sect = &sect[..sect.find(']').expect("]")];
    let key = format!("{name}=");
    sect.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key.as_str()))
        .unwrap_or_else(|| panic!("no {group}.{name} in {line}"))
        .parse()
        .expect("number")
}

const N: u64 = 50;

fn client(proxy: &Proxy) -> UdpSocket {
    let c = UdpSocket::bind("127.0.0.1:0").expect("bind client");
    c.connect(proxy.addr).expect("connect");
    c
}

fn send_all(c: &UdpSocket) {
    for i in 0..N {
        c.send(format!("datagram {i}").as_bytes()).expect("send");
    }
}

/// Receives until `want` datagrams came or nothing came for `quiet`, at most 10 s in all.
fn receive(c: &UdpSocket, want: u64, quiet: Duration) -> HashMap<String, u64> {
    c.set_read_timeout(Some(quiet)).expect("timeout");
    let mut got = HashMap::new();
    let mut total = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 2048];
    while total < want && Instant::now() < deadline {
        match c.recv(&mut buf) {
            Ok(n) => {
                *got.entry(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .or_insert(0) += 1;
                total += 1;
            }
            Err(_) => break,
        }
    }
    got
}

fn expect_each(got: &HashMap<String, u64>, times: u64) {
    assert_eq!(got.len() as u64, N, "every datagram came back: {got:?}");
    for i in 0..N {
        assert_eq!(got.get(&format!("datagram {i}")), Some(&times), "{got:?}");
    }
}

#[test]
fn no_impairment_every_datagram_comes_back_once() {
    let echo = Echo::start();
    let proxy = Proxy::start(
        echo.addr,
        &[
            "--loss",
            "0",
            "--dup",
            "0",
            "--reorder",
            "0",
            "--delay-ms",
            "0",
        ],
    );
    let c = client(&proxy);
    send_all(&c);
    let got = receive(&c, N, Duration::from_secs(5));
    expect_each(&got, 1);
    // Nothing more arrives (a short bounded look; the counts below are the real check).
    assert!(receive(&c, 1, Duration::from_millis(100)).is_empty());
    let line = proxy.stop();
    assert_eq!(echo.echoed.load(Ordering::Relaxed), N);
    for dir in ["up", "down"] {
        assert_eq!(stat(&line, dir, "in"), N, "{line}");
        assert_eq!(stat(&line, dir, "forwarded"), N, "{line}");
        for zero in [
            "lost",
            "duplicated",
            "reordered",
            "queue_drops",
            "send_errors",
        ] {
            assert_eq!(stat(&line, dir, zero), 0, "{dir}.{zero}: {line}");
        }
    }
    assert_eq!(
        stat(&line, "clients", "total"),
        1,
        "one client, one mapping: {line}"
    );
}

#[test]
fn full_loss_nothing_comes_back() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr, &["--loss", "1.0", "--delay-ms", "0"]);
    let c = client(&proxy);
    send_all(&c);
    let got = receive(&c, 1, Duration::from_millis(500));
    assert!(got.is_empty(), "{got:?}");
    let line = proxy.stop();
    assert_eq!(stat(&line, "up", "in"), N, "{line}");
    assert_eq!(stat(&line, "up", "lost"), N, "{line}");
    assert_eq!(stat(&line, "up", "forwarded"), 0, "{line}");
    assert_eq!(stat(&line, "down", "in"), 0, "{line}");
    assert_eq!(echo.echoed.load(Ordering::Relaxed), 0);
}

#[test]
fn full_duplication_upstream_each_comes_back_twice() {
    let echo = Echo::start();
    let proxy = Proxy::start(
        echo.addr,
        &["--dup", "1.0", "--impair", "up", "--delay-ms", "0"],
    );
    let c = client(&proxy);
    send_all(&c);
    let got = receive(&c, 2 * N, Duration::from_secs(5));
    expect_each(&got, 2);
    let line = proxy.stop();
    assert_eq!(stat(&line, "up", "duplicated"), N, "{line}");
    assert_eq!(stat(&line, "up", "forwarded"), 2 * N, "{line}");
    assert_eq!(stat(&line, "down", "in"), 2 * N, "{line}");
    assert_eq!(stat(&line, "down", "duplicated"), 0, "{line}");
    assert_eq!(echo.echoed.load(Ordering::Relaxed), 2 * N);
}

#[test]
fn full_duplication_both_ways_each_comes_back_four_times() {
    // Each direction is impaired on its own, as netem on both ends of a link: two copies
    // reach the echo server and each of its two replies is doubled again.
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr, &["--dup", "1.0", "--delay-ms", "0"]);
    let c = client(&proxy);
    send_all(&c);
    let got = receive(&c, 4 * N, Duration::from_secs(5));
    expect_each(&got, 4);
    let line = proxy.stop();
    assert_eq!(stat(&line, "up", "duplicated"), N, "{line}");
    assert_eq!(stat(&line, "down", "duplicated"), 2 * N, "{line}");
    assert_eq!(stat(&line, "down", "forwarded"), 4 * N, "{line}");
}

#[test]
fn full_hold_back_upstream_each_comes_back_once_and_is_counted() {
    // Every datagram is held back 1..=5 ms on the way up (and not reordered), none on the
    // way down: nothing is lost or doubled, and the counts say which direction held them.
    let echo = Echo::start();
    let proxy = Proxy::start(
        echo.addr,
        &[
            "--hold-back",
            "1.0",
            "--hold-back-ms",
            "1-5",
            "--impair",
            "up",
        ],
    );
    let c = client(&proxy);
    send_all(&c);
    expect_each(&receive(&c, N, Duration::from_secs(5)), 1);
    let line = proxy.stop();
    assert_eq!(stat(&line, "up", "held_back"), N, "{line}");
    assert_eq!(stat(&line, "up", "reordered"), 0, "{line}");
    assert_eq!(stat(&line, "up", "forwarded"), N, "{line}");
    assert_eq!(stat(&line, "down", "in"), N, "{line}");
    assert_eq!(stat(&line, "down", "held_back"), 0, "{line}");
    assert_eq!(stat(&line, "down", "forwarded"), N, "{line}");
    assert_eq!(echo.echoed.load(Ordering::Relaxed), N);
}

#[test]
fn delayed_and_jittered_datagrams_all_arrive_and_clients_are_separate() {
    // Delay, jitter and reordering lose nothing; two client sockets get two upstream
    // mappings, and each gets back only its own datagrams.
    let echo = Echo::start();
    let proxy = Proxy::start(
        echo.addr,
        &["--delay-ms", "5", "--jitter-ms", "3", "--reorder", "0.3"],
    );
    let (a, b) = (client(&proxy), client(&proxy));
    send_all(&a);
    for i in 0..N {
        b.send(format!("other {i}").as_bytes()).expect("send");
    }
    expect_each(&receive(&a, N, Duration::from_secs(5)), 1);
    let got_b = receive(&b, N, Duration::from_secs(5));
    assert_eq!(got_b.len() as u64, N, "{got_b:?}");
    assert!(got_b.keys().all(|k| k.starts_with("other ")));
    let line = proxy.stop();
    assert_eq!(stat(&line, "clients", "total"), 2, "{line}");
    assert_eq!(stat(&line, "up", "forwarded"), 2 * N, "{line}");
    assert_eq!(stat(&line, "down", "forwarded"), 2 * N, "{line}");
    assert!(stat(&line, "up", "reordered") > 0, "{line}");
}

#[test]
fn sources_beyond_max_clients_are_dropped_and_counted() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr, &["--max-clients", "1"]);
    let (a, b) = (client(&proxy), client(&proxy));
    a.send(b"first").expect("send");
    assert_eq!(receive(&a, 1, Duration::from_secs(5)).len(), 1);
    b.send(b"second").expect("send");
    assert!(receive(&b, 1, Duration::from_millis(300)).is_empty());
    let line = proxy.stop();
    assert_eq!(stat(&line, "clients", "total"), 1, "{line}");
    assert_eq!(stat(&line, "clients", "rejected"), 1, "{line}");
}

#[test]
fn idle_mappings_expire_and_a_new_datagram_maps_again() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr, &["--idle-secs", "0.2"]);
    let c = client(&proxy);
    c.send(b"before").expect("send");
    assert_eq!(receive(&c, 1, Duration::from_secs(5)).len(), 1);
    // Well past the idle time (the sweep runs every 50 ms here).
    std::thread::sleep(Duration::from_millis(1000));
    c.send(b"after").expect("send");
    assert_eq!(receive(&c, 1, Duration::from_secs(5)).len(), 1);
    let line = proxy.stop();
    assert_eq!(stat(&line, "clients", "expired"), 1, "{line}");
    assert_eq!(stat(&line, "clients", "total"), 2, "{line}");
}
