//! The socket-owning client: `TwConn`, a `TwClient` over a connected UDP socket on the
//! process's monotonic clock (`tw_now_us`).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use tickwire::secure::ConnectToken;
use tickwire::wire::MAX_DATAGRAM;

use crate::client::{client_mut, send_status, TwClient, TwClientConfig, TwEvent, TwEventKind};
use crate::{bytes, c_str, epoch, guard, micros_since, TwStatus};

/// A client that owns its UDP socket (opaque). One thread at a time.
pub struct TwConn {
    sock: UdpSocket,
    c: TwClient,
    recv: Box<[u8; 2048]>,
    send: Box<[u8; MAX_DATAGRAM]>,
}

fn now_us() -> u64 {
    micros_since(epoch(), Instant::now())
}

fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionRefused
    )
}

impl TwConn {
    /// Sends everything due.
    fn flush(&mut self) -> io::Result<()> {
        let now = now_us();
        loop {
            let at = self.c.at(now);
            let Some(n) = self.c.client.poll_transmit(at, &mut self.send[..]) else {
                return Ok(());
            };
            match self.sock.send(&self.send[..n]) {
                Ok(_) => {}
                Err(e) if transient(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits at most until `deadline` for one event (see `tw_conn_poll`). Datagrams already
    /// waiting are taken even past the deadline (at most `DRAIN` per call), so a caller
    /// polling with a zero timeout once a frame does not fall behind.
    fn poll(&mut self, deadline: Instant) -> io::Result<TwEvent> {
        const DRAIN: usize = 256;
        let mut drained = 0;
        loop {
            let at = self.c.at(now_us());
            if let Some(ev) = self.c.client.handle_timeout(at) {
                self.flush()?;
                return Ok(TwEvent::from(Some(ev)));
            }
            self.flush()?;
            if self.c.client.state().is_closed() {
                return Err(io::Error::from(io::ErrorKind::NotConnected));
            }
            let now = Instant::now();
            let wake = epoch()
                .checked_add(Duration::from_micros(
                    self.c.to_us(self.c.client.poll_timeout()),
                ))
                .unwrap_or(deadline)
                .min(deadline);
            let wait = wake.saturating_duration_since(now);
            if wait.is_zero() {
                self.sock.set_nonblocking(true)?;
            } else {
                self.sock.set_nonblocking(false)?;
                self.sock.set_read_timeout(Some(wait))?;
            }
            match self.sock.recv(&mut self.recv[..]) {
                Ok(n) => {
                    let at = self.c.at(now_us());
                    let ev = self.c.client.handle_datagram(at, &self.recv[..n]);
                    if ev.is_some() {
                        self.flush()?;
                        return Ok(TwEvent::from(ev));
                    }
                    drained += 1;
                    if drained < DRAIN {
                        continue;
                    }
                }
                Err(e) if transient(&e) => {}
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline {
                return Ok(TwEvent::NONE);
            }
        }
    }
}

fn io_status(e: &io::Error) -> TwStatus {
    match e.kind() {
        io::ErrorKind::NotConnected => TwStatus::ErrClosed,
        io::ErrorKind::TimedOut => TwStatus::ErrTimedOut,
        _ => TwStatus::ErrIo,
    }
}

fn connect(
    addr: *const std::ffi::c_char,
    cfg: *const TwClientConfig,
    token: Option<ConnectToken>,
    timeout_ms: u32,
    out: *mut *mut TwConn,
) -> TwStatus {
    // SAFETY: the caller passes a writable out or NULL, a readable config or NULL and a
    // NUL-terminated address.
    let Some(out) = (unsafe { out.as_mut() }) else {
        return TwStatus::ErrNull;
    };
    *out = std::ptr::null_mut();
    let Some(a) = (unsafe { c_str(addr) }) else {
        return if addr.is_null() {
            TwStatus::ErrNull
        } else {
            TwStatus::ErrInvalid
        };
    };
    let Some(server) = a.to_socket_addrs().ok().and_then(|mut v| v.next()) else {
        return TwStatus::ErrInvalid;
    };
    let cfg = unsafe { cfg.as_ref() }.copied().unwrap_or_default();
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    };
    let sock = match UdpSocket::bind(local).and_then(|s| s.connect(server).map(|()| s)) {
        Ok(s) => s,
        Err(e) => return io_status(&e),
    };
    let mut conn = Box::new(TwConn {
        sock,
        c: TwClient::new(&cfg, token, now_us()),
        recv: Box::new([0; 2048]),
        send: Box::new([0; MAX_DATAGRAM]),
    });
    let deadline = Instant::now() + Duration::from_millis(u64::from(timeout_ms));
    loop {
        match conn.poll(deadline) {
            Ok(ev) if ev.kind == TwEventKind::Connected as u32 => break,
            Ok(ev) if ev.kind == TwEventKind::Rejected as u32 => return TwStatus::ErrRejected,
            Ok(ev) if ev.kind == TwEventKind::None as u32 => return TwStatus::ErrTimedOut,
            Ok(ev) if ev.kind == TwEventKind::Disconnected as u32 => return TwStatus::ErrTimedOut,
            Ok(_) => {}
            Err(e) => return io_status(&e),
        }
    }
    *out = Box::into_raw(conn);
    TwStatus::Ok
}

/// Connects to `addr` ("host:port", e.g. "127.0.0.1:7777"): binds a UDP socket, runs the
/// handshake for at most `timeout_ms` (and the config's connect timeout) and writes the
/// handle to `*out`. `ErrRejected` when the server refused, `ErrTimedOut` without an
/// ACCEPT. Blocks. Free the handle with `tw_conn_free`.
#[no_mangle]
pub unsafe extern "C" fn tw_conn_connect(
    addr: *const std::ffi::c_char,
    cfg: *const TwClientConfig,
    timeout_ms: u32,
    out: *mut *mut TwConn,
) -> TwStatus {
    guard(|| connect(addr, cfg, None, timeout_ms, out))
}

/// Like `tw_conn_connect`, in secure mode with the `TW_TOKEN_LEN`-byte connect token at
/// `token`. A token the server refuses gets no answer: `ErrTimedOut`.
#[no_mangle]
pub unsafe extern "C" fn tw_conn_connect_secure(
    addr: *const std::ffi::c_char,
    cfg: *const TwClientConfig,
    token: *const u8,
    token_len: usize,
    timeout_ms: u32,
    out: *mut *mut TwConn,
) -> TwStatus {
    guard(|| {
        // SAFETY: `token_len` readable bytes at `token`.
        let Some(t) = (unsafe { bytes(token, token_len) }) else {
            return TwStatus::ErrNull;
        };
        match ConnectToken::parse(t) {
            Ok(t) => connect(addr, cfg, Some(t), timeout_ms, out),
            Err(_) => TwStatus::ErrInvalid,
        }
    })
}

/// Waits at most `timeout_ms` for the next event (written to `*event`; kind `None` when
/// the time passed), sending HELLOs, KEEPALIVEs and queued datagrams when due. Datagrams
/// already waiting are all read (up to 256 a call), also with a timeout of 0. `ErrClosed`
/// once the connection has ended and its event was given. No allocation.
#[no_mangle]
pub unsafe extern "C" fn tw_conn_poll(
    conn: *mut TwConn,
    timeout_ms: u32,
    event: *mut TwEvent,
) -> TwStatus {
    guard(|| {
        let c = client_mut!(conn);
        let deadline = Instant::now() + Duration::from_millis(u64::from(timeout_ms));
        let r = c.poll(deadline);
        // SAFETY: a writable event or NULL.
        if let Some(e) = unsafe { event.as_mut() } {
            *e = *r.as_ref().unwrap_or(&TwEvent::NONE);
        }
        match r {
            Ok(_) => TwStatus::Ok,
            Err(e) => io_status(&e),
        }
    })
}

/// Sends one game datagram (`kind` 0x10..=0xFF) now.
#[no_mangle]
pub unsafe extern "C" fn tw_conn_send_game(
    conn: *mut TwConn,
    kind: u8,
    data: *const u8,
    len: usize,
) -> TwStatus {
    guard(|| {
        let c = client_mut!(conn);
        // SAFETY: `len` readable bytes at `data`.
        let Some(d) = (unsafe { bytes(data, len) }) else {
            return TwStatus::ErrNull;
        };
        if let Err(e) = c.c.client.send_game(kind, d) {
            return send_status(e);
        }
        match c.flush() {
            Ok(()) => TwStatus::Ok,
            Err(e) => io_status(&e),
        }
    })
}

/// Sends an arena INPUT now: walk in direction (`dx`, `dy`).
#[no_mangle]
pub unsafe extern "C" fn tw_conn_send_input(conn: *mut TwConn, dx: i8, dy: i8) -> TwStatus {
    let (kind, payload) = tickwire::client::arena::input(dx, dy);
    // SAFETY: as tw_conn_send_game, with a payload of ours.
    unsafe { tw_conn_send_game(conn, kind, payload.as_ptr(), payload.len()) }
}

/// The client inside (borrowed: valid until `tw_conn_free`, not to be freed), for every
/// `tw_client_*` reader: snapshots, game payloads, stats, state, `tw_client_interpolate`
/// (with `tw_now_us()` as `now_us`). NULL for a NULL handle. Do not feed it datagrams or
/// timeouts yourself.
#[no_mangle]
pub unsafe extern "C" fn tw_conn_client(conn: *mut TwConn) -> *mut TwClient {
    // SAFETY: a live handle or NULL.
    match unsafe { conn.as_mut() } {
        Some(c) => &mut c.c,
        None => std::ptr::null_mut(),
    }
}

/// The local UDP port of the socket (0 for a NULL handle).
#[no_mangle]
pub unsafe extern "C" fn tw_conn_local_port(conn: *const TwConn) -> u16 {
    crate::guard_val(0, || {
        // SAFETY: a live handle or NULL.
        unsafe { conn.as_ref() }
            .and_then(|c| c.sock.local_addr().ok())
            .map_or(0, |a| a.port())
    })
}

/// Says BYE when connected (best effort) and frees the connection (NULL: nothing).
#[no_mangle]
pub unsafe extern "C" fn tw_conn_free(conn: *mut TwConn) {
    let _ = guard(|| {
        if conn.is_null() {
            return TwStatus::Ok;
        }
        // SAFETY: `conn` came from tw_conn_connect* and is not used after this.
        let mut c = unsafe { Box::from_raw(conn) };
        if c.c.client.state().is_connected() {
            c.c.client.disconnect();
            let _ = c.flush();
        }
        TwStatus::Ok
    });
}
