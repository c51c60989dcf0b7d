//! The admin endpoint (`tickwire serve --admin ADDR`), run as a host [`Adapter`] on the
//! host's own loop (loop 0). It speaks two protocols on one port, told apart by the first
//! line a connection sends: HTTP/1.1 for monitoring, and a line-based text protocol for
//! operators.
//!
//! **HTTP** (a first line `METHOD TARGET HTTP/1.x`): `GET` (or `HEAD`) `/metrics` (the
//! Prometheus text format, see [`crate::metrics`]), `/healthz` (200 while every loop
//! ticks, 503 when one has not for [`STALL`](crate::monitor::STALL)) and `/readyz` (200
//! while admitting players, 503 while draining or stopping). One request per connection
//! (`Connection: close`); a request (line and headers) is at most [`MAX_REQUEST`] bytes
//! and must arrive within [`REQUEST_DEADLINE`] of the connection, or the connection is
//! answered 431 or closed. Nothing blocks the loop: a client that does not read its answer
//! only holds its own buffer until the deadline.
//!
//! **Lines** (anything else):
//!
//! ```text
//! > players
//! < player match=0 qport=17 addr=127.0.0.1:50123 rtt_ms=3 name=alice
//! < ok 1 player(s)
//! > kick 0 17
//! < ok kicked match 0 qport 17
//! ```
//!
//! Every request is one line (at most [`MAX_LINE`] bytes); every reply ends with one line
//! that starts `ok` or `error`. Commands: `players` (one `player` line per connected
//! player: match index, qport, source address, smoothed RTT in ms or `-`, lobby name or
//! `-`, the name last as it may hold spaces), `kick MATCH QPORT` (BYE and the slot freed),
//! `help`, `quit`. An operator connection idle for [`LINE_IDLE`] is closed. There is no
//! authentication: whoever reaches the port can kick, so it listens on 127.0.0.1 unless
//! told otherwise. At most [`MAX_CONNS`] connections at once, both kinds together.

use crate::metrics;
use crate::monitor::{LoopSnapshot, Monitor, Phase};
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickwire::{Adapter, Game, HostView, PlayerId, Registrar};

/// The longest request line of the line protocol, in bytes.
pub const MAX_LINE: usize = 256;
/// The longest HTTP request (request line and headers), in bytes; a longer one is
/// answered 431.
pub const MAX_REQUEST: usize = 8192;
/// Most headers in an HTTP request; more is answered 431.
const MAX_HEADERS: usize = 32;
/// How long an HTTP connection (or one that has not sent its first line yet) may take to
/// send its request and read the answer.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// An operator connection that sends nothing for this long is closed.
pub const LINE_IDLE: Duration = Duration::from_secs(600);
/// Most admin connections at once; one more is told `error busy` and closed.
pub const MAX_CONNS: usize = 8;
/// Reply bytes queued for one operator connection before it is closed as not reading.
const MAX_OUT: usize = 4 << 20;

/// The admin endpoint: a listener and up to [`MAX_CONNS`] connections.
pub struct Admin {
    listener: TcpListener,
    addr: SocketAddr,
    registry: Option<Registry>,
    listen_token: Token,
    conns: Vec<Option<Conn>>,
    tokens: Vec<Token>,
    kicks: Vec<(usize, PlayerId)>,
    monitor: Arc<Monitor>,
}

/// What a connection speaks, once its first line told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No full first line yet.
    Undecided,
    /// The operators' line protocol.
    Line,
    /// HTTP/1.x.
    Http,
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    input: Vec<u8>,
    out: Vec<u8>,
    closing: bool,
    mode: Mode,
    opened: Instant,
    last_input: Instant,
}

impl Conn {
    /// When the connection is closed if it is still open.
    fn deadline(&self) -> Instant {
        match self.mode {
            Mode::Line => self.last_input + LINE_IDLE,
            Mode::Undecided | Mode::Http => self.opened + REQUEST_DEADLINE,
        }
    }
}

impl Admin {
    /// Listens on `addr` (port 0: a free one, see [`Admin::local_addr`]); `/metrics`,
    /// `/healthz` and `/readyz` read `monitor`, which the loops' probes
    /// ([`Probe`](crate::monitor::Probe)) feed.
    pub fn bind(addr: SocketAddr, monitor: Arc<Monitor>) -> io::Result<Admin> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        Ok(Admin {
            listener,
            addr,
            registry: None,
            listen_token: Token(usize::MAX),
            conns: (0..MAX_CONNS).map(|_| None).collect(),
            tokens: Vec::new(),
            kicks: Vec::new(),
            monitor,
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn accept(&mut self) {
        loop {
            let (mut stream, peer) = match self.listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("admin: accept: {e}");
                    return;
                }
            };
            let Some(i) = self.conns.iter().position(Option::is_none) else {
                let _ = stream.write(b"error busy\n");
                continue;
            };
            let Some(reg) = &self.registry else { return };
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(e) = reg.register(&mut stream, self.tokens[i], interest) {
                log::warn!("admin: register {peer}: {e}");
                continue;
            }
            let now = Instant::now();
            self.conns[i] = Some(Conn {
                stream,
                peer,
                input: Vec::with_capacity(MAX_LINE),
                out: Vec::new(),
                closing: false,
                mode: Mode::Undecided,
                opened: now,
                last_input: now,
            });
        }
    }

    /// Reads, answers and writes connection `i`; closes it when done or broken.
    fn serve<G: Game>(&mut self, i: usize, host: &HostView<'_, G>) {
        let Some(c) = self.conns[i].as_mut() else {
            return;
        };
        let mut broken = false;
        let mut buf = [0u8; 1024];
        while !c.closing {
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    c.closing = true;
                }
                Ok(n) => {
                    c.input.extend_from_slice(&buf[..n]);
                    c.last_input = Instant::now();
                    if c.mode == Mode::Undecided {
                        c.mode = decide(&c.input);
                        match c.mode {
                            Mode::Line => log::info!("admin: operator connection from {}", c.peer),
                            Mode::Http => log::debug!("admin: HTTP request from {}", c.peer),
                            Mode::Undecided => {}
                        }
                    }
                    match c.mode {
                        Mode::Undecided => {}
                        Mode::Line => {
                            while let Some(end) = c.input.iter().position(|&b| b == b'\n') {
                                let line: Vec<u8> = c.input.drain(..=end).collect();
                                let line = String::from_utf8_lossy(&line);
                                if answer(line.trim(), host, &mut c.out, &mut self.kicks) {
                                    c.closing = true;
                                    break;
                                }
                            }
                            if c.input.len() > MAX_LINE {
                                c.out.extend_from_slice(b"error line too long\n");
                                c.closing = true;
                            }
                        }
                        Mode::Http => {
                            if let Some(reply) = http(&c.input, host, &self.monitor) {
                                c.out = reply;
                                c.input = Vec::new();
                                c.closing = true;
                            }
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    broken = true;
                    break;
                }
            }
        }
        while !broken && !c.out.is_empty() {
            match c.stream.write(&c.out) {
                Ok(0) => broken = true,
                Ok(n) => {
                    c.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => broken = true,
            }
        }
        let too_much = c.mode == Mode::Line && c.out.len() > MAX_OUT;
        if broken || too_much || (c.closing && c.out.is_empty()) {
            self.close(i);
        }
    }

    fn close(&mut self, i: usize) {
        if let Some(mut c) = self.conns[i].take() {
            if c.mode == Mode::Http {
                // The answer is all written: the FIN follows it.
                let _ = c.stream.shutdown(std::net::Shutdown::Write);
            }
            if let Some(reg) = &self.registry {
                let _ = reg.deregister(&mut c.stream);
            }
        }
    }
}

/// What a connection whose input starts with `input` speaks: HTTP when its first line is
/// an HTTP request line, the line protocol when it is anything else (or cannot become a
/// request line), undecided while the first line is not complete.
fn decide(input: &[u8]) -> Mode {
    match input.iter().position(|&b| b == b'\n') {
        Some(end) if is_request_line(&input[..end]) => Mode::Http,
        Some(_) => Mode::Line,
        None if could_be_http(input) && input.len() <= MAX_REQUEST => Mode::Undecided,
        None if input.len() > MAX_LINE => Mode::Line,
        None => Mode::Undecided,
    }
}

/// An HTTP method: 1 to 16 ASCII capitals (the line protocol's commands are lowercase).
fn is_method(w: &[u8]) -> bool {
    (1..=16).contains(&w.len()) && w.iter().all(u8::is_ascii_uppercase)
}

/// `METHOD TARGET HTTP/x.y`, with or without the `\r`.
fn is_request_line(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut words = line.split(|&b| b == b' ');
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some(m), Some(t), Some(v), None) => {
            is_method(m) && !t.is_empty() && v.starts_with(b"HTTP/")
        }
        _ => false,
    }
}

/// Whether a first line not yet complete may still become a request line.
fn could_be_http(prefix: &[u8]) -> bool {
    match prefix.iter().position(|&b| b == b' ') {
        Some(sp) => is_method(&prefix[..sp]),
        None => prefix.len() <= 16 && prefix.iter().all(u8::is_ascii_uppercase),
    }
}

/// The answer to the HTTP request that `input` starts with, once it is complete (or
/// refused); `None` while more is to come.
fn http<G: Game>(input: &[u8], host: &HostView<'_, G>, monitor: &Monitor) -> Option<Vec<u8>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(input) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) if input.len() > MAX_REQUEST => {
            return Some(response(431, "text/plain", "request too large\n", true));
        }
        Ok(httparse::Status::Partial) => return None,
        Err(httparse::Error::TooManyHeaders) => {
            return Some(response(431, "text/plain", "too many headers\n", true));
        }
        Err(e) => {
            return Some(response(
                400,
                "text/plain",
                &format!("bad request: {e}\n"),
                true,
            ));
        }
    }
    let method = req.method.unwrap_or("");
    let path = req.path.unwrap_or("");
    let path = path.split('?').next().unwrap_or(path);
    let body_too = method != "HEAD";
    if method != "GET" && method != "HEAD" {
        let mut r = response(405, "text/plain", "only GET and HEAD\n", true);
        // "Allow" goes before the blank line.
        let at = r.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0);
        r.splice(at..at, b"\r\nAllow: GET, HEAD".iter().copied());
        return Some(r);
    }
    let now = Instant::now();
    Some(match path {
        "/metrics" => {
            let mut loops = monitor.snapshots();
            // Loop 0 is this one: its numbers as of now.
            let live = LoopSnapshot::take(host, 0, false, now);
            match loops.first_mut() {
                Some(slot) => *slot = Some(Arc::new(live)),
                None => loops.push(Some(Arc::new(live))),
            }
            let text = metrics::render(&loops, monitor, now);
            response(200, metrics::CONTENT_TYPE, &text, body_too)
        }
        "/healthz" => {
            let (code, text) = health(monitor, now);
            response(code, "text/plain", &text, body_too)
        }
        "/readyz" => {
            let (code, text) = readiness(host.state().into(), monitor, now);
            response(code, "text/plain", &text, body_too)
        }
        "/" => response(
            200,
            "text/plain",
            "tickwire admin: GET /metrics, /healthz, /readyz\n",
            body_too,
        ),
        _ => response(
            404,
            "text/plain",
            "not found: try /metrics, /healthz or /readyz\n",
            body_too,
        ),
    })
}

/// `/healthz`: 200 while every loop ticks.
fn health(monitor: &Monitor, now: Instant) -> (u16, String) {
    let stalled = monitor.stalled(now);
    if stalled.is_empty() {
        return (200, format!("ok: {} loop(s) ticking\n", monitor.loops()));
    }
    let mut text = String::from("stalled:");
    for (l, d) in stalled {
        let _ = write!(
            text,
            " loop {l} has not ticked for {:.1} s;",
            d.as_secs_f64()
        );
    }
    text.push('\n');
    (503, text)
}

/// `/readyz`: 200 while admitting players (and every loop ticks).
fn readiness(phase: Phase, monitor: &Monitor, now: Instant) -> (u16, String) {
    let agones = monitor
        .agones_state()
        .map(|s| format!(" agones={s}"))
        .unwrap_or_default();
    match phase {
        Phase::Draining => (503, format!("draining: admitting no new player{agones}\n")),
        Phase::Stopped => (503, format!("stopping{agones}\n")),
        Phase::Running if !monitor.stalled(now).is_empty() => {
            (503, format!("not ticking: see /healthz{agones}\n"))
        }
        Phase::Running => (200, format!("ready: admitting players{agones}\n")),
    }
}

/// A whole HTTP/1.1 response that closes the connection; `body` left out for HEAD (its
/// length still said).
fn response(code: u16, content_type: &str, body: &str, with_body: bool) -> Vec<u8> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    };
    let mut r = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if with_body {
        r.extend_from_slice(body.as_bytes());
    }
    r
}

/// Answers one request line into `out`; `true` when the connection is to close.
fn answer<G: Game>(
    line: &str,
    host: &HostView<'_, G>,
    out: &mut Vec<u8>,
    kicks: &mut Vec<(usize, PlayerId)>,
) -> bool {
    let mut words = line.split_whitespace();
    let mut text = String::new();
    let close = match (words.next(), words.next(), words.next(), words.next()) {
        (None, ..) => false,
        (Some("players"), None, ..) => {
            let now = Instant::now();
            let mut n = 0;
            for m in 0..host.matches() {
                let Some(server) = host.server(m) else {
                    continue;
                };
                for p in server.players(now) {
                    let rtt = p
                        .rtt
                        .map_or_else(|| "-".to_string(), |r| r.as_millis().to_string());
                    let name = p.name.as_ref().map_or("-", |n| n.as_str());
                    let _ = writeln!(
                        text,
                        "player match={m} qport={} addr={} rtt_ms={rtt} name={name}",
                        p.id, p.addr
                    );
                    n += 1;
                }
            }
            let _ = writeln!(text, "ok {n} player(s)");
            false
        }
        (Some("kick"), Some(m), Some(q), None) => {
            match (m.parse::<usize>(), q.parse::<PlayerId>()) {
                (Ok(m), Ok(q)) => {
                    let now = Instant::now();
                    let there = host
                        .server(m)
                        .is_some_and(|s| s.players(now).any(|p| p.id == q));
                    if there && !kicks.contains(&(m, q)) {
                        kicks.push((m, q));
                        let _ = writeln!(text, "ok kicked match {m} qport {q}");
                    } else if there {
                        let _ = writeln!(text, "error match {m} qport {q} is being kicked");
                    } else {
                        let _ = writeln!(text, "error no player with qport {q} in match {m}");
                    }
                }
                _ => text.push_str("error usage: kick MATCH QPORT (two numbers)\n"),
            }
            false
        }
        (Some("help"), None, ..) => {
            text.push_str("ok commands: players | kick MATCH QPORT | help | quit\n");
            false
        }
        (Some("quit"), None, ..) => {
            text.push_str("ok bye\n");
            true
        }
        (Some(cmd), ..) => {
            let cmd: String = cmd.chars().take(32).collect();
            let _ = writeln!(
                text,
                "error unknown command or arguments: {cmd:?} (try help)"
            );
            false
        }
    };
    out.extend_from_slice(text.as_bytes());
    close
}

impl<G: Game> Adapter<G> for Admin {
    fn register(&mut self, reg: &mut Registrar<'_>) -> io::Result<()> {
        self.listen_token = reg.token();
        reg.registry()
            .register(&mut self.listener, self.listen_token, Interest::READABLE)?;
        self.tokens = (0..MAX_CONNS).map(|_| reg.token()).collect();
        self.registry = Some(reg.registry().try_clone()?);
        Ok(())
    }

    fn ready(&mut self, event: &mio::event::Event, host: &HostView<'_, G>) {
        if event.token() == self.listen_token {
            self.accept();
            // A connection whose request arrived with it is read at once.
            for i in 0..MAX_CONNS {
                self.serve(i, host);
            }
        } else if let Some(i) = self.tokens.iter().position(|&t| t == event.token()) {
            self.serve(i, host);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.conns.iter().flatten().map(Conn::deadline).min()
    }

    fn handle_timeout(&mut self, now: Instant, _host: &HostView<'_, G>) {
        for i in 0..MAX_CONNS {
            let Some(c) = self.conns[i].as_mut() else {
                continue;
            };
            if c.deadline() > now {
                continue;
            }
            match c.mode {
                Mode::Line => {
                    log::info!("admin: operator connection from {} idle: closed", c.peer);
                    let _ = c.stream.write(b"error idle for too long\n");
                }
                Mode::Undecided | Mode::Http => {
                    log::debug!("admin: {} took too long over its request: closed", c.peer);
                }
            }
            self.close(i);
        }
    }

    fn take_kick(&mut self) -> Option<(usize, PlayerId)> {
        self.kicks.pop()
    }
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("addr", &self.addr)
            .field("conns", &self.conns.iter().flatten().count())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_tells_http_from_the_line_protocol() {
        assert_eq!(decide(b"GET /metrics HTTP/1.1\r\nHost: x\r\n"), Mode::Http);
        assert_eq!(decide(b"HEAD / HTTP/1.0\n"), Mode::Http);
        assert_eq!(decide(b"players\n"), Mode::Line);
        assert_eq!(decide(b"kick 0 1\r\n"), Mode::Line);
        assert_eq!(decide(b"GET /metrics\n"), Mode::Line);
        assert_eq!(decide(b"GET  HTTP/1.1\n"), Mode::Line);
        assert_eq!(decide(b"PLAYERS\n"), Mode::Line);
        // Not complete yet.
        assert_eq!(decide(b"GET /metr"), Mode::Undecided);
        assert_eq!(decide(b"pla"), Mode::Undecided);
        // A long line that cannot be a request line is the line protocol's (too long).
        assert_eq!(decide(&[b'x'; MAX_LINE + 1]), Mode::Line);
        // A long target may still be HTTP, up to MAX_REQUEST.
        let mut long = b"GET /".to_vec();
        long.extend(std::iter::repeat_n(b'a', 1000));
        assert_eq!(decide(&long), Mode::Undecided);
        long.extend(std::iter::repeat_n(b'a', MAX_REQUEST));
        assert_eq!(decide(&long), Mode::Line);
    }

    #[test]
    fn responses_say_their_length_and_close() {
        let r = String::from_utf8(response(503, "text/plain", "draining\n", true)).unwrap();
        assert_eq!(
            r,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nCache-Control: no-store\r\nConnection: close\r\n\r\ndraining\n"
        );
        let head = String::from_utf8(response(200, "text/plain", "abc", false)).unwrap();
        assert!(
            head.ends_with(
                "Content-Length: 3\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
            ),
            "{head}"
        );
    }

    #[test]
    fn health_and_readiness_follow_the_loops() {
        let m = Monitor::new(2, false);
        let now = Instant::now();
        m.ticked(0, now);
        m.ticked(1, now);
        assert_eq!(health(&m, now).0, 200);
        assert_eq!(readiness(Phase::Running, &m, now).0, 200);
        assert_eq!(readiness(Phase::Draining, &m, now).0, 503);
        assert_eq!(readiness(Phase::Stopped, &m, now).0, 503);
        let later = now + crate::monitor::STALL + Duration::from_millis(500);
        m.ticked(0, later);
        let (code, text) = health(&m, later);
        assert_eq!(code, 503);
        assert!(text.contains("loop 1 has not ticked for 3.5 s"), "{text}");
        assert_eq!(readiness(Phase::Running, &m, later).0, 503);
        m.set_agones_state("Allocated");
        m.ticked(1, later);
        let (code, text) = readiness(Phase::Running, &m, later);
        assert_eq!(
            (code, text.as_str()),
            (200, "ready: admitting players agones=Allocated\n")
        );
    }
}
