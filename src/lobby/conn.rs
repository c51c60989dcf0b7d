//! The mio shell around [`LobbyCore`]: listener, accept, edge-triggered reads and writes,
//! closing. Model: mio's `examples/tcp_server.rs`.
//!
//! Over TLS ([`LobbyConfig::tls`]) every socket read goes into rustls, and the plaintext it
//! yields into the core's receive ring; what the core queues goes through rustls's writer
//! and its records onto the socket (`tls.rs`). A connection rustls refuses is closed with
//! [`CloseReason::Tls`]; one that never finishes its handshake meets the core's login
//! deadline and idle timeout like any connection that does not log in.

use super::state::{CloseReason, LobbyCore};
use super::tls::{LobbyTls, Stream};
use super::{LobbyConfig, LobbyStats};
use crate::tickets::Tickets;
use log::{debug, error, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

/// Most bytes read and thrown away from a connection being closed, so that the kernel
/// sends FIN rather than RST and the peer gets to read our last ERROR.
const DRAIN_ON_CLOSE: usize = 64 * 1024;

/// Most bytes read from one connection per readiness event or per
/// [`Lobby::run_pending`] call, so a fast sender cannot hold up the game tick or the other
/// connections; what is left is read on the next turn of the loop.
const READ_BUDGET: usize = 64 * 1024;

/// How long after an `accept` failure that the spare descriptor could not absorb the
/// listener is tried again. Edge-triggered readiness is not repeated for connections
/// already queued, so without a retry a full queue would never be served again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// The lobby's TCP listener and connections, driven by the caller's `mio::Poll`.
#[derive(Debug)]
pub struct Lobby {
    listener: TcpListener,
    addr: SocketAddr,
    core: LobbyCore<Stream>,
    /// The certificate and key, when the lobby serves TLS.
    tls: Option<LobbyTls>,
    /// TLS counters: handshakes completed, connections rustls refused, connections closed
    /// before their handshake completed.
    tls_handshakes: u64,
    tls_failed: u64,
    tls_unfinished: u64,
    token_base: usize,
    /// Connections whose read budget ran out before `WouldBlock`.
    pending: Vec<usize>,
    /// Scratch list swapped with `pending` while it is served.
    serving: Vec<usize>,
    /// A descriptor held in reserve (`/dev/null`): when `accept` fails with EMFILE or
    /// ENFILE it is closed, one connection is accepted into its number and closed at
    /// once, and it is reopened, so that the listener's queue keeps draining (the
    /// libev/nginx way).
    spare: Option<File>,
    /// When to call `accept` again after a failure the spare could not absorb.
    accept_retry: Option<Instant>,
    /// Connections refused for lack of descriptors.
    refused_no_fd: u64,
}

impl Lobby {
    /// Binds the listener. Nothing happens until [`Lobby::register`].
    pub fn bind(addr: SocketAddr, cfg: LobbyConfig, tickets: Tickets) -> io::Result<Lobby> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let tls = cfg.tls.clone();
        let core = LobbyCore::new(cfg, tickets);
        info!("lobby: listening on {addr} ({:?})", core.config());
        if core.config().issuer.is_some() && tls.is_none() {
            warn!(
                "lobby: a token issuer but no TLS: TOKEN_REQ is refused (10) over plain TCP; \
                 give the lobby a certificate and key to issue connect tokens"
            );
        }
        let max = core.config().max_conns;
        Ok(Lobby {
            listener,
            addr,
            core,
            tls,
            tls_handshakes: 0,
            tls_failed: 0,
            tls_unfinished: 0,
            token_base: 0,
            pending: Vec::with_capacity(max),
            serving: Vec::with_capacity(max),
            spare: open_spare(),
            accept_retry: None,
            refused_no_fd: 0,
        })
    }

    /// Sets the unix clock of the connect tokens' expiry (tests; by default the system
    /// clock).
    pub fn set_unix_clock(&mut self, clock: crate::secure::UnixClock) {
        self.core.set_unix_clock(clock);
    }

    /// Whether the lobby serves TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Seeds the room games' shoes ([`LobbyCore::set_game_seed`]); OS entropy without it.
    pub fn set_game_seed(&mut self, seed: u64) {
        self.core.set_game_seed(seed);
    }

    /// The address the listener is bound to (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many consecutive tokens [`Lobby::register`] claims: the listener's and one per
    /// connection slot (`max_conns + 1`).
    pub fn tokens(&self) -> usize {
        self.core.config().max_conns + 1
    }

    /// Registers the listener as `Token(token_base)`; connections get
    /// `token_base + 1 + slab key`, so the lobby owns the [`Lobby::tokens`] tokens
    /// `token_base..=token_base + max_conns`.
    pub fn register(&mut self, registry: &Registry, token_base: usize) -> io::Result<()> {
        self.token_base = token_base;
        registry.register(&mut self.listener, Token(token_base), Interest::READABLE)
    }

    /// Whether `token` is the lobby's.
    pub fn owns(&self, token: Token) -> bool {
        token
            .0
            .checked_sub(self.token_base)
            .is_some_and(|k| k <= self.core.config().max_conns)
    }

    /// Handles one readiness event for a token the lobby [owns](Lobby::owns).
    pub fn handle_event(&mut self, registry: &Registry, event: &mio::event::Event, now: Instant) {
        let token = event.token();
        if token.0 == self.token_base {
            self.accept(registry, now);
        } else if let Some(id) = token.0.checked_sub(self.token_base + 1) {
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                self.read_budgeted(id, now);
            }
            if event.is_writable() {
                self.flush(id);
            }
        }
        self.pump(registry);
    }

    /// Whether some connection has more to read than its last budget allowed: call
    /// [`Lobby::run_pending`] without waiting for a new event.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Reads on from the connections whose budget ran out, one budget each.
    pub fn run_pending(&mut self, registry: &Registry, now: Instant) {
        if self.pending.is_empty() {
            return;
        }
        std::mem::swap(&mut self.pending, &mut self.serving);
        let mut serving = std::mem::take(&mut self.serving);
        for id in serving.drain(..) {
            self.read_budgeted(id, now);
        }
        self.serving = serving;
        self.pump(registry);
    }

    fn read_budgeted(&mut self, id: usize, now: Instant) {
        if self.read(id, now) && !self.pending.contains(&id) {
            self.pending.push(id);
        }
    }

    /// The earliest deadline of any connection, or of a retry of `accept`.
    pub fn next_timeout(&self) -> Option<Instant> {
        match (self.core.next_timeout(), self.accept_retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Closes every connection whose deadline is at or before `now`; retries `accept` if
    /// that is due.
    pub fn handle_timeout(&mut self, registry: &Registry, now: Instant) {
        if self.accept_retry.is_some_and(|t| t <= now) {
            self.accept_retry = None;
            self.accept(registry, now);
        }
        self.core.handle_timeout(now);
        self.pump(registry);
    }

    /// Counters and gauges.
    pub fn stats(&self) -> LobbyStats {
        let mut s = self.core.stats();
        s.refused_no_fd = self.refused_no_fd;
        s.tls_handshakes = self.tls_handshakes;
        s.tls_failed = self.tls_failed;
        s.tls_unfinished = self.tls_unfinished;
        s
    }

    /// Closes every connection (flushing what the sockets take) and deregisters the
    /// listener.
    pub fn shutdown(&mut self, registry: &Registry) {
        let ids: Vec<usize> = self.core.ids().collect();
        info!("lobby: shutting down, closing {} connections", ids.len());
        for id in ids {
            self.core.close(id, CloseReason::Shutdown);
        }
        self.pump(registry);
        if let Err(e) = registry.deregister(&mut self.listener) {
            debug!("lobby: deregister listener: {e}");
        }
    }

    fn accept(&mut self, registry: &Registry, now: Instant) {
        if self.spare.is_none() {
            self.spare = open_spare();
        }
        loop {
            let (stream, peer) = match self.listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if out_of_fds(&e) && self.spare.is_some() => {
                    // Free the spare's number, take the oldest queued connection into
                    // it, close it, take the number back: the queue drains, so readiness
                    // comes again once descriptors are free.
                    self.spare = None;
                    let refused = self.listener.accept();
                    if let Ok((stream, peer)) = &refused {
                        self.refused_no_fd += 1;
                        warn!("lobby: out of file descriptors ({e}), refused {peer}");
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                    // The refused stream is closed (dropped) before the spare is reopened
                    // into the number it held.
                    let refused = refused.map(drop);
                    self.spare = open_spare();
                    match refused {
                        Ok(()) => continue,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                        Err(e) => {
                            error!("lobby: accept failed even with the spare descriptor: {e}");
                            self.accept_retry = Some(now + ACCEPT_RETRY);
                            return;
                        }
                    }
                }
                Err(e) => {
                    // No spare (it could not be reopened) or another failure: the queued
                    // connections will not raise readiness again, so retry on a timer.
                    error!("lobby: accept failed: {e}; retrying in {ACCEPT_RETRY:?}");
                    self.accept_retry = Some(now + ACCEPT_RETRY);
                    return;
                }
            };
            let _ = stream.set_nodelay(true);
            let opened = match &self.tls {
                None => self.core.open(peer.ip(), Stream::plain(stream), now),
                Some(tls) => match tls.accept() {
                    Ok(conn) => self
                        .core
                        .open_tls(peer.ip(), Stream::tls(stream, conn), now),
                    Err(e) => {
                        // rustls refuses only a configuration it cannot serve at all.
                        error!("lobby: TLS state for {peer}: {e}; closing it");
                        let _ = stream.shutdown(Shutdown::Both);
                        continue;
                    }
                },
            };
            // A connection not logged in that was shed to make room: out of the core
            // already, its token about to be reused.
            if let Some(mut old) = self.core.take_shed() {
                self.count_unfinished(&old);
                if let Err(e) = registry.deregister(&mut old.tcp) {
                    debug!("lobby: deregister a shed conn: {e}");
                }
                let _ = old.tcp.shutdown(Shutdown::Both);
            }
            match opened {
                Ok(id) => {
                    let token = Token(self.token_base + 1 + id);
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    let registered = self
                        .core
                        .io(id)
                        .map(|s| registry.register(&mut s.tcp, token, interest));
                    if let Some(Err(e)) = registered {
                        error!("lobby: register {peer}: {e}");
                        self.core.remove(id);
                        continue;
                    }
                    info!("lobby: conn {id} from {peer} accepted");
                }
                Err((stream, why)) => {
                    warn!("lobby: refused {peer}: {why:?}");
                    let _ = stream.tcp.shutdown(Shutdown::Both);
                }
            }
        }
    }

    /// Reads until `WouldBlock` or the budget, handing every chunk to the core and writing
    /// out what each chunk queued (for the sender and for everyone it notified) before the
    /// next, so that peers that do read are not mistaken for slow readers.
    ///
    /// Returns `true` when [`READ_BUDGET`] ran out before `WouldBlock` (more may be waiting).
    fn read(&mut self, id: usize, now: Instant) -> bool {
        if self.core.is_tls(id) {
            return self.read_tls(id, now);
        }
        let mut budget = READ_BUDGET;
        loop {
            let Some((stream, space)) = self.core.recv_space(id) else {
                return false;
            };
            match stream.tcp.read(space) {
                Ok(0) => {
                    self.core.peer_closed(id);
                    return false;
                }
                Ok(n) => {
                    self.core.received(id, n, now);
                    // Write out everyone this chunk queued for (a room chat fans out to
                    // every member), not only the sender: otherwise one burst could fill
                    // the members' send rings before a byte reached their sockets, and
                    // cut readers that keep up as slow.
                    while let Some(d) = self.core.pop_dirty() {
                        self.flush(d);
                    }
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        return true;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    debug!("lobby: conn {id}: read: {e}");
                    self.core.io_error(id);
                    return false;
                }
            }
        }
    }

    /// [`Lobby::read`] of a TLS connection: ciphertext from the socket into rustls (at
    /// most [`READ_BUDGET`] bytes of it), the plaintext it yields into the core, and the
    /// records it wants sent (the handshake's) onto the socket.
    fn read_tls(&mut self, id: usize, now: Instant) -> bool {
        let mut budget = READ_BUDGET;
        loop {
            // What rustls holds decrypted first: it takes no more ciphertext while its
            // plaintext buffer is full.
            if !self.deliver_plaintext(id, now) {
                return false;
            }
            let Some(stream) = self.core.io(id) else {
                return false;
            };
            let Some(tls) = stream.tls.as_mut() else {
                return false;
            };
            match tls.conn.read_tls(&mut stream.tcp) {
                Ok(0) => {
                    // The peer closed TCP; whatever it sent before is handled.
                    self.deliver_plaintext(id, now);
                    self.core.peer_closed(id);
                    return false;
                }
                Ok(n) => {
                    if let Err(e) = tls.conn.process_new_packets() {
                        // rustls queued the alert that says why: it is written as the
                        // connection closes, and nothing else is.
                        tls.failed = true;
                        self.tls_failed += 1;
                        warn!(
                            "lobby: conn {id} from {}: TLS failed ({e}), closing",
                            self.core.peer_shown(id)
                        );
                        self.core.close(id, CloseReason::Tls);
                        return false;
                    }
                    if !tls.established && !tls.conn.is_handshaking() {
                        tls.established = true;
                        self.tls_handshakes += 1;
                        debug!("lobby: conn {id}: TLS handshake done");
                    }
                    // The handshake's answer, or a key update's.
                    self.flush(id);
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        return self.deliver_plaintext(id, now);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    debug!("lobby: conn {id}: read: {e}");
                    self.core.io_error(id);
                    return false;
                }
            }
        }
    }

    /// Moves what rustls has decrypted into the core, handling the frames it completes
    /// and writing out what they queued. `false` when the connection is closing or gone
    /// (the peer's close_notify included).
    fn deliver_plaintext(&mut self, id: usize, now: Instant) -> bool {
        loop {
            let Some((stream, space)) = self.core.recv_space(id) else {
                // Closing or gone. (Full never: the ring holds at least one frame, and
                // whole frames leave it as they arrive.)
                return false;
            };
            let Some(tls) = stream.tls.as_mut() else {
                return false;
            };
            match tls.conn.reader().read(space) {
                Ok(0) => {
                    // close_notify: the peer is done.
                    self.core.peer_closed(id);
                    return false;
                }
                Ok(n) => {
                    self.core.received(id, n, now);
                    while let Some(d) = self.core.pop_dirty() {
                        self.flush(d);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                    // TCP closed without close_notify.
                    self.core.peer_closed(id);
                    return false;
                }
                Err(e) => {
                    debug!("lobby: conn {id}: TLS read: {e}");
                    self.core.io_error(id);
                    return false;
                }
            }
        }
    }

    /// Writes until the send buffer is empty or `WouldBlock`.
    fn flush(&mut self, id: usize) {
        if self.core.is_tls(id) {
            return self.flush_tls(id);
        }
        loop {
            let Some((stream, data)) = self.core.send_data(id) else {
                return;
            };
            match stream.tcp.write(data) {
                Ok(0) => return self.core.io_error(id),
                Ok(n) => self.core.sent(id, n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    debug!("lobby: conn {id}: write: {e}");
                    return self.core.io_error(id);
                }
            }
        }
    }

    /// [`Lobby::flush`] of a TLS connection: the records rustls holds onto the socket, then
    /// the core's queued plaintext into rustls (as much as its [`TLS_SEND_LIMIT`] takes),
    /// and again, until both are empty or the socket would block. A connection whose TLS
    /// failed writes only the alert rustls queued.
    ///
    /// [`TLS_SEND_LIMIT`]: super::tls::TLS_SEND_LIMIT
    fn flush_tls(&mut self, id: usize) {
        loop {
            let Some(stream) = self.core.io(id) else {
                return;
            };
            let Some(tls) = stream.tls.as_mut() else {
                return;
            };
            while tls.conn.wants_write() {
                match tls.conn.write_tls(&mut stream.tcp) {
                    Ok(0) => return self.core.io_error(id),
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        debug!("lobby: conn {id}: write: {e}");
                        return self.core.io_error(id);
                    }
                }
            }
            if tls.failed {
                return;
            }
            let Some((stream, data)) = self.core.send_data(id) else {
                return;
            };
            let Some(tls) = stream.tls.as_mut() else {
                return;
            };
            match tls.conn.writer().write(data) {
                // rustls holds as much as it takes (before the handshake completes, or
                // records not written yet): the rest waits in the core's ring.
                Ok(0) => return,
                Ok(n) => self.core.sent(id, n),
                Err(e) => {
                    debug!("lobby: conn {id}: TLS write: {e}");
                    return self.core.io_error(id);
                }
            }
        }
    }

    /// Counts a TLS connection leaving before its handshake completed; returns whether it
    /// was one.
    fn count_unfinished(&mut self, stream: &Stream) -> bool {
        let unfinished = stream.tls.as_ref().is_some_and(|t| !t.established);
        self.tls_unfinished += u64::from(unfinished);
        unfinished
    }

    /// Writes out whatever the last step queued, then closes what it marked for closing.
    fn pump(&mut self, registry: &Registry) {
        loop {
            while let Some(id) = self.core.pop_dirty() {
                self.flush(id);
            }
            let Some((id, reason)) = self.core.pop_closing() else {
                return;
            };
            if reason.flush() {
                self.flush(id);
            }
            let peer = self.core.peer_shown(id);
            let left = self.core.queued(id);
            let mut unfinished = false;
            if let Some(mut stream) = self.core.remove(id) {
                unfinished = self.count_unfinished(&stream);
                close_notify(&mut stream);
                let _ = stream.tcp.shutdown(Shutdown::Write);
                drain(&mut stream.tcp);
                if let Err(e) = registry.deregister(&mut stream.tcp) {
                    debug!("lobby: deregister conn {id}: {e}");
                }
            }
            let tls = if unfinished {
                ", before its TLS handshake completed"
            } else {
                ""
            };
            info!("lobby: conn {id} from {peer} closed: {reason:?} ({left} bytes unsent{tls})");
        }
    }
}

/// Over TLS, tells the peer the connection ends (close_notify), with one write that may
/// not block: the connection is going either way.
fn close_notify(stream: &mut Stream) {
    let Some(tls) = stream.tls.as_mut() else {
        return;
    };
    if !tls.failed && tls.established {
        tls.conn.send_close_notify();
    }
    while tls.conn.wants_write() {
        match tls.conn.write_tls(&mut stream.tcp) {
            Ok(n) if n > 0 => {}
            _ => return,
        }
    }
}

/// Whether an `accept` failed for lack of file descriptors (per process or system-wide).
fn out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// The spare descriptor, or `None` when even that cannot be had now.
fn open_spare() -> Option<File> {
    File::open("/dev/null").ok()
}

/// Reads and discards what the peer already sent, up to [`DRAIN_ON_CLOSE`] bytes.
fn drain(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    while total < DRAIN_ON_CLOSE {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => total += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}
