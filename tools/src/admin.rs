//! The admin endpoint (`tickwire serve --admin ADDR`): a line-based text protocol over TCP,
//! run as a host [`Adapter`] on the host's own loop.
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
//! `help`, `quit`. There is no authentication: whoever reaches the port can kick, so it
//! listens on 127.0.0.1 unless told otherwise. At most [`MAX_CONNS`] operators at once.

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;
use tickwire::{Adapter, Game, HostView, PlayerId, Registrar};

/// The longest request line, in bytes.
pub const MAX_LINE: usize = 256;
/// Most admin connections at once; one more is told `error busy` and closed.
pub const MAX_CONNS: usize = 8;
/// Reply bytes queued for one connection before it is closed as not reading.
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
}

struct Conn {
    stream: TcpStream,
    input: Vec<u8>,
    out: Vec<u8>,
    closing: bool,
}

impl Admin {
    /// Listens on `addr` (port 0: a free one, see [`Admin::local_addr`]).
    pub fn bind(addr: SocketAddr) -> io::Result<Admin> {
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
            log::info!("admin: connection from {peer}");
            self.conns[i] = Some(Conn {
                stream,
                input: Vec::with_capacity(MAX_LINE),
                out: Vec::new(),
                closing: false,
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
        if broken || c.out.len() > MAX_OUT || (c.closing && c.out.is_empty()) {
            if let (Some(reg), Some(mut c)) = (&self.registry, self.conns[i].take()) {
                let _ = reg.deregister(&mut c.stream);
            }
        }
    }
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
