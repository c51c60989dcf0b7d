//! A blocking driver for [`Client`] over `std::net::UdpSocket`: no async runtime, no
//! threads. For launchers, bots and tools that want a connection in a few lines:
//!
//! ```no_run
//! use std::time::Duration;
//! use tickwire::client::{arena, blocking::Connection, ClientConfig, Event};
//!
//! let server = "127.0.0.1:27015".parse().unwrap();
//! let mut conn = Connection::connect(server, ClientConfig::default(), Duration::from_secs(5))?;
//! conn.send_input(1, 0)?;
//! while let Some(ev) = conn.poll(Duration::from_millis(100))? {
//!     if let Event::Snapshot { tick, .. } = ev {
//!         let players = arena::players_in(conn.snapshot_parts()).count();
//!         println!("tick {tick}: {players} players");
//!         break;
//!     }
//! }
//! conn.close()?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::arena;
use super::{Client, ClientConfig, ClientStats, Event, SendError, SnapshotParts, State};
use crate::wire::MAX_DATAGRAM;

/// Receive buffer size: larger than [`MAX_DATAGRAM`] so an oversize datagram is seen whole
/// and dropped as such instead of being truncated into something that parses.
const RECV_BUF: usize = 2048;

fn unspecified(server: SocketAddr) -> SocketAddr {
    match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

/// Asks `stun_server` for the address it sees `sock` at (RFC 5389 Binding), resending the
/// request every 250 ms for at most `timeout`. Other datagrams that arrive meanwhile are
/// ignored. The socket must not be connected to another address. The transaction id is
/// drawn from OS entropy.
pub fn stun_discover(
    sock: &UdpSocket,
    stun_server: SocketAddr,
    timeout: Duration,
) -> io::Result<SocketAddr> {
    stun_discover_with(sock, stun_server, timeout, rand::random())
}

/// [`stun_discover`] with the transaction id `txn` (RFC 5389 wants it random: draw it from
/// a seeded generator for a reproducible run, from entropy otherwise).
pub(crate) fn stun_discover_with(
    sock: &UdpSocket,
    stun_server: SocketAddr,
    timeout: Duration,
    txn: [u8; 12],
) -> io::Result<SocketAddr> {
    let mut req = [0u8; crate::stun::BINDING_REQUEST_LEN];
    let n = crate::stun::binding_request(txn, &mut req);
    let deadline = Instant::now() + timeout;
    let old = sock.read_timeout()?;
    let mut buf = [0u8; RECV_BUF];
    let result = loop {
        let now = Instant::now();
        if now >= deadline {
            break Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no STUN answer in time",
            ));
        }
        sock.send_to(&req[..n], stun_server)?;
        let resend = (now + Duration::from_millis(250)).min(deadline);
        let mut got = None;
        while got.is_none() {
            let left = resend.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            sock.set_read_timeout(Some(left))?;
            match sock.recv_from(&mut buf) {
                Ok((len, from)) if from == stun_server => {
                    got = crate::stun::parse_binding_response(&buf[..len], &txn);
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = sock.set_read_timeout(old);
                    return Err(e);
                }
            }
        }
        if let Some(a) = got {
            break Ok(a);
        }
    };
    sock.set_read_timeout(old)?;
    result
}

/// A [`Client`] driven over a connected UDP socket, with the wall clock.
pub struct Connection {
    sock: UdpSocket,
    client: Client,
    recv: Box<[u8; RECV_BUF]>,
    send: Box<[u8; MAX_DATAGRAM]>,
}

impl Connection {
    /// Binds a socket of the server's family (`0.0.0.0:0` or `[::]:0`), connects it to
    /// `server` (so only the server's datagrams are received) and runs the handshake for
    /// at most `timeout` (and at most `cfg.connect_timeout`).
    ///
    /// Errors: `ConnectionRefused` when the server sends REJECT, `TimedOut` when no ACCEPT
    /// came in time, or the socket's own errors.
    pub fn connect(
        server: SocketAddr,
        cfg: ClientConfig,
        timeout: Duration,
    ) -> io::Result<Connection> {
        let sock = UdpSocket::bind(unspecified(server))?;
        Connection::connect_on(sock, server, cfg, None, timeout)
    }

    /// Like [`Connection::connect`], but first asks `stun_server` (any RFC 5389 server; a
    /// tickwire game port answers STUN too) for this socket's public address and puts it
    /// in HELLO's reply address (PROTOCOL.md sections 2 and 6).
    pub fn connect_with_stun(
        server: SocketAddr,
        stun_server: SocketAddr,
        mut cfg: ClientConfig,
        timeout: Duration,
    ) -> io::Result<Connection> {
        let sock = UdpSocket::bind(unspecified(server))?;
        let start = Instant::now();
        cfg.reply = Some(stun_discover(&sock, stun_server, timeout)?);
        Connection::connect_on(
            sock,
            server,
            cfg,
            None,
            timeout.saturating_sub(start.elapsed()),
        )
    }

    /// Like [`Connection::connect`], in secure mode (PROTOCOL.md section 8): connects
    /// with `token` from its issuer (see [`Client::with_token`]). A token that the server
    /// refuses (expired, for another server, used) gets no answer at all: that is
    /// `TimedOut`, as the protocol gives a forger nothing to learn from.
    pub fn connect_with_token(
        server: SocketAddr,
        cfg: ClientConfig,
        token: crate::secure::ConnectToken,
        timeout: Duration,
    ) -> io::Result<Connection> {
        let sock = UdpSocket::bind(unspecified(server))?;
        Connection::connect_on(sock, server, cfg, Some(token), timeout)
    }

    fn connect_on(
        sock: UdpSocket,
        server: SocketAddr,
        cfg: ClientConfig,
        token: Option<crate::secure::ConnectToken>,
        timeout: Duration,
    ) -> io::Result<Connection> {
        sock.connect(server)?;
        let now = Instant::now();
        let client = match token {
            Some(t) => Client::with_token(cfg, t, now),
            None => Client::new(cfg, now),
        };
        let mut conn = Connection {
            sock,
            client,
            recv: Box::new([0; RECV_BUF]),
            send: Box::new([0; MAX_DATAGRAM]),
        };
        let deadline = now + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match conn.poll(left) {
                Ok(Some(Event::Connected { .. })) => return Ok(conn),
                Ok(Some(Event::Rejected(r))) => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        format!("server rejected the connection: {r:?}"),
                    ))
                }
                Ok(Some(Event::Disconnected(_))) | Ok(None) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no ACCEPT from the server in time",
                    ))
                }
                Ok(Some(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits at most `timeout` for the next event, sending HELLOs, KEEPALIVEs and queued
    /// datagrams when due and running the timeouts meanwhile. `Ok(None)` when `timeout`
    /// passed without an event; `Err(NotConnected)` once the connection has ended and its
    /// [`Event::Disconnected`] or [`Event::Rejected`] was returned.
    pub fn poll(&mut self, timeout: Duration) -> io::Result<Option<Event>> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            if let Some(ev) = self.client.handle_timeout(now) {
                self.flush(now)?;
                return Ok(Some(ev));
            }
            self.flush(now)?;
            if self.client.state().is_closed() {
                return Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "the connection has ended",
                ));
            }
            let wake = self.client.poll_timeout().min(deadline);
            if let Some(n) = self.recv_one(wake.saturating_duration_since(now))? {
                let now = Instant::now();
                if let Some(ev) = self.client.handle_datagram(now, &self.recv[..n]) {
                    self.flush(now)?;
                    return Ok(Some(ev));
                }
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// Sends an arena INPUT (PROTOCOL.md section 4): the direction to walk, each component
    /// clamped to `-1..=1`.
    pub fn send_input(&mut self, dx: i8, dy: i8) -> io::Result<()> {
        let (kind, payload) = arena::input(dx, dy);
        self.send_game(kind, &payload)
    }

    /// Sends an arena FIRE aimed at `(aim_x, aim_y)`, lag-compensated to the snapshot
    /// `tick` stamped `tick_time_us`. `InvalidInput` for an aim of `(0, 0)`.
    pub fn fire(&mut self, tick: u32, tick_time_us: u64, aim_x: i16, aim_y: i16) -> io::Result<()> {
        let Some((kind, payload)) = arena::fire(tick, tick_time_us, aim_x, aim_y) else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "aim of (0, 0)"));
        };
        self.send_game(kind, &payload)
    }

    /// Sends one game datagram (`kind` in `0x10..=0xFF`) now.
    pub fn send_game(&mut self, kind: u8, payload: &[u8]) -> io::Result<()> {
        self.client.send_game(kind, payload).map_err(|e| {
            let k = match e {
                SendError::NotConnected => io::ErrorKind::NotConnected,
                SendError::QueueFull => io::ErrorKind::WouldBlock,
                _ => io::ErrorKind::InvalidInput,
            };
            io::Error::new(k, e)
        })?;
        self.flush(Instant::now())
    }

    /// The body parts of the last whole snapshot, in part order.
    pub fn snapshot_parts(&self) -> SnapshotParts<'_> {
        self.client.snapshot_parts()
    }

    /// The payload of the last [`Event::Game`].
    pub fn game_payload(&self) -> &[u8] {
        self.client.game_payload()
    }

    /// Counters and measurements.
    pub fn stats(&self) -> ClientStats {
        self.client.stats()
    }

    /// Where the connection stands.
    pub fn state(&self) -> State {
        self.client.state()
    }

    /// The state machine underneath, for everything else it offers.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The state machine underneath, mutably: to turn on its interpolation buffer
    /// ([`Client::enable_interpolation`]) and read frames from it
    /// ([`Client::interpolate`]) between polls. Feeding it datagrams or timeouts yourself
    /// would bypass this connection's socket; use [`Connection::poll`] for that.
    pub fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }

    /// The local address of the socket.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// Sends BYE (when still connected) and closes the socket.
    pub fn close(mut self) -> io::Result<()> {
        self.client.disconnect();
        self.flush(Instant::now())
    }

    /// Sends everything the client has to send.
    fn flush(&mut self, now: Instant) -> io::Result<()> {
        while let Some(n) = self.client.poll_transmit(now, &mut self.send[..]) {
            match self.sock.send(&self.send[..n]) {
                Ok(_) => {}
                // UDP is lossy anyway: a full buffer or an ICMP error reported on this
                // connected socket (server not up yet) is a lost datagram, not a failure.
                Err(e) if transient(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Receives one datagram, waiting at most `wait` (not at all for zero).
    fn recv_one(&mut self, wait: Duration) -> io::Result<Option<usize>> {
        if wait.is_zero() {
            self.sock.set_nonblocking(true)?;
        } else {
            self.sock.set_nonblocking(false)?;
            self.sock.set_read_timeout(Some(wait))?;
        }
        match self.sock.recv(&mut self.recv[..]) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::TimedOut || transient(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("sock", &self.sock)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl core::ops::Drop for Connection {
    /// Best effort BYE, so the server frees the slot at once instead of timing it out.
    fn drop(&mut self) {
        if self.client.state().is_connected() {
            self.client.disconnect();
            let _ = self.flush(Instant::now());
        }
    }
}

fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::msg::{Accept, Challenge, Hello};
    use crate::wire::{flags, Direction, Header, Kind, Packet, HEADER_LEN};

    fn send(sock: &UdpSocket, to: SocketAddr, h: Header, payload: &[u8]) {
        let mut b = vec![0u8; HEADER_LEN + payload.len()];
        h.emit(&mut b).unwrap();
        b[HEADER_LEN..].copy_from_slice(payload);
        sock.send_to(&b, to).unwrap();
    }

    fn recv(sock: &UdpSocket) -> (Header, Vec<u8>, SocketAddr) {
        let mut b = [0u8; 2048];
        let (n, from) = sock.recv_from(&mut b).unwrap();
        let p = Packet::new_checked(&b[..n], Direction::ToServer, |_| true).unwrap();
        (Header::parse(&p), p.payload().to_vec(), from)
    }

    /// A one-client fake server on loopback: handshake, one two-part snapshot, then it
    /// waits for the client's INPUT and BYE.
    #[test]
    fn connects_over_loopback() {
        let srv = UdpSocket::bind("127.0.0.1:0").unwrap();
        srv.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let addr = srv.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let s0 = 0xFFFF_FFF0;
            let (h, p, from) = recv(&srv);
            assert_eq!(h.kind, Kind::Hello.to_u8());
            assert_eq!(Hello::parse(&p).unwrap().cookie, 0);
            let mut c = [0u8; 8];
            Challenge { cookie: 99 }.emit(&mut c).unwrap();
            let hdr = |flags, seq, ack, kind, len| Header {
                flags,
                seq,
                ack,
                qport: 3,
                kind,
                len,
            };
            send(
                &srv,
                from,
                Header {
                    qport: 0,
                    ..hdr(flags::CONNECT, 0, 0, 2, 8)
                },
                &c,
            );
            let (h, p, _) = recv(&srv);
            assert_eq!((h.kind, Hello::parse(&p).unwrap().cookie), (1, 99));
            let mut a = [0u8; 16];
            Accept {
                tick_hz: 60,
                max_payload: 1187,
                tick: 5,
                time_us: 7,
            }
            .emit(&mut a)
            .unwrap();
            send(&srv, from, hdr(0xB0, s0, 1, 3, 16), &a);
            let mut seq = s0;
            for part in 0..2u8 {
                seq = seq.wrapping_add(1);
                let mut sp = [0u8; 14 + 9];
                crate::wire::msg::SnapshotPrefix {
                    tick: 6,
                    time_us: 8,
                    part,
                    parts: 2,
                }
                .emit(&mut sp)
                .unwrap();
                sp[14..].copy_from_slice(&[1, 3 + part, 0, 1, 0, 2, 100, 0, 0]);
                send(&srv, from, hdr(flags::SEQ, seq, 0, 6, sp.len() as u16), &sp);
            }
            let mut kinds = vec![];
            loop {
                let (h, p, _) = recv(&srv);
                kinds.push((h.kind, p));
                if h.kind == Kind::Bye.to_u8() {
                    break;
                }
            }
            kinds
        });
        let cfg = ClientConfig::default();
        let mut conn = Connection::connect(addr, cfg, Duration::from_secs(5)).unwrap();
        assert_eq!(
            conn.state(),
            State::Connected {
                qport: 3,
                s0: 0xFFFF_FFF0
            }
        );
        let ev = conn.poll(Duration::from_secs(5)).unwrap();
        assert_eq!(
            ev,
            Some(Event::Snapshot {
                tick: 6,
                time_us: 8
            })
        );
        let q: Vec<u8> = arena::players_in(conn.snapshot_parts())
            .map(|p| p.qport)
            .collect();
        assert_eq!(q, [3, 4]);
        conn.send_input(0, -1).unwrap();
        assert!(conn.fire(6, 8, 0, 0).is_err());
        assert!(conn.stats().handshake.is_some());
        conn.close().unwrap();
        let kinds = server.join().unwrap();
        assert!(kinds.contains(&(0x10, vec![0, 0xFF])), "{kinds:?}");
        assert_eq!(kinds.last().map(|k| k.0), Some(5));
    }

    #[test]
    fn connect_times_out_without_a_server() {
        // a bound socket that never answers
        let srv = UdpSocket::bind("127.0.0.1:0").unwrap();
        let cfg = ClientConfig {
            hello_interval: Duration::from_millis(20),
            ..ClientConfig::default()
        };
        let t = Instant::now();
        let e = Connection::connect(srv.local_addr().unwrap(), cfg, Duration::from_millis(100))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(t.elapsed() < Duration::from_secs(2));
        let mut b = [0u8; 2048];
        srv.set_nonblocking(true).unwrap();
        let mut hellos = 0;
        while srv.recv(&mut b).is_ok() {
            hellos += 1;
        }
        assert!(hellos >= 2, "HELLO is resent: {hellos}");
    }
}
