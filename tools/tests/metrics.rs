//! `tickwire serve --admin ADDR` over HTTP: `/metrics` scraped from the real binary and
//! read with an independent parser of the Prometheus text format (the `prometheus-parse`
//! crate), `/healthz`, `/readyz` through a drain, and requests the endpoint must refuse
//! without stalling the loop.
#[path = "support/killed.rs"]
mod killed;
use killed::Killed;

#[path = "../../tests/common/mod.rs"]
mod common;

use common::net::{NetClient, PATIENCE};
use prometheus_parse::{Scrape, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tickwire::wire::Kind;
use tickwire_tools::common::first_line;

/// What the server's first line says.
struct Addrs {
    udp: SocketAddr,
    admin: SocketAddr,
}

fn server(extra: &[&str]) -> (Killed, Addrs) {
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(["serve", "--bind", "127.0.0.1:0", "--lobby", "127.0.0.1:0"])
            .args(["--admin", "127.0.0.1:0", "--stats-interval-ms", "0"])
            .args(["--timeout-ms", "60000"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (line, _) = first_line(BufReader::new(child.0.stdout.take().unwrap()), PATIENCE).unwrap();
    let mut udp = None;
    let mut admin = None;
    for word in line.split_whitespace() {
        match word.split_once('=') {
            Some(("udp", a)) => udp = Some(a.parse().unwrap()),
            Some(("admin", a)) => admin = Some(a.parse().unwrap()),
            _ => {}
        }
    }
    (
        child,
        Addrs {
            udp: udp.expect(&line),
            admin: admin.expect(&line),
        },
    )
}

/// An HTTP response: status, headers (names lowercased), body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` as is and reads the response to the end (the server closes).
fn raw(at: SocketAddr, request: &[u8]) -> Reply {
    let mut s = TcpStream::connect(at).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(request).unwrap();
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).unwrap();
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut r = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(len) = r.parse(&bytes).unwrap() else {
        panic!("partial response: {:?}", String::from_utf8_lossy(&bytes));
    };
    let reply = Reply {
        status: r.code.unwrap(),
        headers: r
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8(bytes[len..].to_vec()).unwrap(),
    };
    // A HEAD answer says the length of the body it leaves out.
    if let (Some(n), false) = (reply.header("content-length"), request.starts_with(b"HEAD")) {
        assert_eq!(
            n.parse::<usize>().unwrap(),
            reply.body.len(),
            "content-length"
        );
    }
    reply
}

fn get(at: SocketAddr, path: &str) -> Reply {
    raw(
        at,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nUser-Agent: metrics-test\r\n\r\n").as_bytes(),
    )
}

/// `/metrics`, parsed; every sample line must be one the parser took.
fn scrape(at: SocketAddr) -> Scrape {
    let r = get(at, "/metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let lines: Vec<String> = r.body.lines().map(str::to_string).collect();
    let sample_lines = lines.iter().filter(|l| !l.starts_with('#')).count();
    let s = Scrape::parse(lines.into_iter().map(Ok)).unwrap();
    assert_eq!(s.samples.len(), sample_lines, "lines the parser skipped");
    s
}

/// The value of `metric` with exactly these labels among its own (others ignored).
fn value(s: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == metric && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            ref other => panic!("{metric}: {other:?}"),
        })
}

fn kind(s: &Scrape, metric: &str, labels: &[(&str, &str)]) -> &'static str {
    let x = s
        .samples
        .iter()
        .find(|x| x.metric == metric && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no {metric} {labels:?}"));
    match x.value {
        Value::Counter(_) => "counter",
        Value::Gauge(_) => "gauge",
        _ => "other",
    }
}

/// Scrapes until `f` holds, within the patience.
fn scrape_until(at: SocketAddr, what: &str, f: impl Fn(&Scrape) -> bool) -> Scrape {
    let end = Instant::now() + PATIENCE;
    loop {
        let s = scrape(at);
        if f(&s) {
            return s;
        }
        assert!(Instant::now() < end, "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn connected(udp: SocketAddr) -> NetClient {
    let mut c = NetClient::new(udp);
    c.connect();
    assert!(c.wait_for(Kind::Snapshot, PATIENCE).is_some());
    c
}

#[test]
fn metrics_show_every_loop_and_match_with_help_and_types() {
    let (_server, at) = server(&["--matches", "3", "--threads", "2"]);
    let port = at.udp.port();
    // Loop 0 runs match 0, loop 1 matches 1 and 2.
    let _a: Vec<NetClient> = (0..3).map(|_| connected(at.udp)).collect();
    let second = SocketAddr::from(([127, 0, 0, 1], port + 2));
    let _b = connected(second);

    let s = scrape_until(at.admin, "3 players on match 0, 1 on match 2", |s| {
        value(s, "tickwire_clients", &[("loop", "0"), ("match", "0")]) == Some(3.0)
            && value(s, "tickwire_clients", &[("loop", "1"), ("match", "2")]) == Some(1.0)
    });
    assert_eq!(
        value(&s, "tickwire_clients", &[("loop", "1"), ("match", "1")]),
        Some(0.0)
    );
    assert_eq!(kind(&s, "tickwire_clients", &[]), "gauge");
    assert!(s.docs.contains_key("tickwire_clients"));
    assert_eq!(
        value(&s, "tickwire_match_port", &[("match", "2")]),
        Some(f64::from(port + 2))
    );
    assert_eq!(
        value(&s, "tickwire_capacity", &[("match", "0")]),
        Some(255.0)
    );
    assert_eq!(
        value(&s, "tickwire_accepts_total", &[("match", "0")]),
        Some(3.0)
    );
    assert_eq!(kind(&s, "tickwire_accepts_total", &[]), "counter");
    for l in ["0", "1"] {
        let ticks = value(&s, "tickwire_loop_ticks_total", &[("loop", l)]).unwrap();
        assert!(ticks > 0.0, "loop {l} ticks {ticks}");
        for q in ["0.5", "0.99", "0.999", "1"] {
            assert!(
                value(
                    &s,
                    "tickwire_tick_lateness_microseconds",
                    &[("loop", l), ("quantile", q)]
                )
                .is_some(),
                "lateness {l} {q}"
            );
        }
        assert!(value(&s, "tickwire_loop_seconds_since_tick", &[("loop", l)]).unwrap() < 3.0);
    }
    let received = value(
        &s,
        "tickwire_datagrams_received_total",
        &[("loop", "0"), ("match", "0")],
    )
    .unwrap();
    assert!(received >= 3.0, "{received}");
    assert_eq!(
        value(
            &s,
            "tickwire_drops_total",
            &[("match", "0"), ("reason", "duplicate")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &s,
            "tickwire_shots_total",
            &[("match", "1"), ("outcome", "ok")]
        ),
        Some(0.0)
    );
    assert_eq!(value(&s, "tickwire_draining", &[]), Some(0.0));
    assert_eq!(value(&s, "tickwire_lobby_connections", &[]), Some(0.0));
    assert_eq!(
        kind(&s, "tickwire_lobby_messages_received_total", &[]),
        "counter"
    );
    // Every family has its help text.
    for x in &s.samples {
        assert!(s.docs.contains_key(&x.metric), "{} has no HELP", x.metric);
    }

    let h = get(at.admin, "/healthz");
    assert_eq!(h.status, 200, "{}", h.body);
    assert_eq!(h.body, "ok: 2 loop(s) ticking\n");
    let r = get(at.admin, "/readyz");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "ready: admitting players\n")
    );
}

#[test]
fn readyz_fails_while_draining_and_healthz_holds() {
    let (mut server, at) = server(&["--drain-seconds", "60"]);
    let player = connected(at.udp);
    assert_eq!(get(at.admin, "/readyz").status, 200);
    // SIGTERM: drain (the player keeps the server up).
    let pid = server.0.id() as libc::pid_t;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let end = Instant::now() + PATIENCE;
    let r = loop {
        let r = get(at.admin, "/readyz");
        if r.status != 200 || Instant::now() > end {
            break r;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.body, "draining: admitting no new player\n");
    assert_eq!(get(at.admin, "/healthz").status, 200);
    let s = scrape(at.admin);
    assert_eq!(value(&s, "tickwire_draining", &[]), Some(1.0));
    assert_eq!(value(&s, "tickwire_clients", &[("match", "0")]), Some(1.0));
    drop(player);
    // A second SIGTERM stops at once.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = server.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn bad_and_odd_requests_get_http_answers_and_the_line_protocol_stays() {
    let (_server, at) = server(&[]);
    assert_eq!(get(at.admin, "/nope").status, 404);
    let head = raw(at.admin, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(
        head.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 1000
    );
    let post = raw(
        at.admin,
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    // HTTP/1.0, a query string, no Host.
    let old = raw(at.admin, b"GET /healthz?verbose=1 HTTP/1.0\r\n\r\n");
    assert_eq!(old.status, 200);
    // A bad header line.
    assert_eq!(
        raw(at.admin, b"GET / HTTP/1.1\r\nno colon here\r\n\r\n").status,
        400
    );
    // Too many headers, and too many bytes.
    let mut many = b"GET /metrics HTTP/1.1\r\n".to_vec();
    for i in 0..40 {
        many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(raw(at.admin, &many).status, 431);
    let mut big = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 10_000));
    let mut s = TcpStream::connect(at.admin).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    // The server may answer and close before it has read it all.
    let _ = s.write_all(&big);
    let mut first = String::new();
    let _ = BufReader::new(&s).read_line(&mut first);
    assert!(first.starts_with("HTTP/1.1 431"), "{first:?}");

    // Slow clients hold their own connection only: a request half sent, a connection that
    // sends nothing; scrapes go on.
    let mut slow = TcpStream::connect(at.admin).unwrap();
    slow.write_all(b"GET /metr").unwrap();
    let _silent = TcpStream::connect(at.admin).unwrap();
    for _ in 0..3 {
        assert_eq!(get(at.admin, "/healthz").status, 200);
    }
    // The line protocol on the same port.
    let mut op = TcpStream::connect(at.admin).unwrap();
    op.set_read_timeout(Some(PATIENCE)).unwrap();
    op.write_all(b"players\n").unwrap();
    let mut line = String::new();
    BufReader::new(&op).read_line(&mut line).unwrap();
    assert_eq!(line, "ok 0 player(s)\n");
    // The half-sent request is answered once it is complete.
    slow.set_read_timeout(Some(PATIENCE)).unwrap();
    slow.write_all(b"ics HTTP/1.1\r\n\r\n").unwrap();
    let mut rest = String::new();
    slow.read_to_string(&mut rest).unwrap();
    assert!(rest.starts_with("HTTP/1.1 200 OK\r\n"), "{rest:.80}");
}
