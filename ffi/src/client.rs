//! The sans-IO client: `TwClient` over `tickwire::client::Client`.

use std::time::{Duration, Instant};

use tickwire::client::{
    Client, ClientConfig, DisconnectReason, Event, InterpConfig, SendError, State,
};
use tickwire::secure::ConnectToken;
use tickwire::wire::RejectReason;

use crate::{bytes, guard, guard_val, ms, TwStatus};

/// Length of a connect token, bytes.
pub const TW_TOKEN_LEN: usize = 205;
/// Length of a fleet key, bytes.
pub const TW_KEY_LEN: usize = 32;
/// The largest datagram the client sends or receives: size transmit buffers to this.
pub const TW_MAX_DATAGRAM: usize = 1200;

/// A client's settings. Fill it with `tw_client_config_default`, then change fields.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TwClientConfig {
    /// The application's protocol id; must match the server's (0 by default).
    pub protocol_id: u32,
    /// Lobby ticket for HELLO, 0 = none (not used in secure mode).
    pub ticket: u64,
    /// HELLO is resent this often until the server answers (250).
    pub hello_interval_ms: u32,
    /// The handshake gives up after this long (5000).
    pub connect_timeout_ms: u32,
    /// A KEEPALIVE goes out this long after the last datagram (250).
    pub keepalive_interval_ms: u32,
    /// The connection ends after this long without a valid server datagram (5000).
    pub timeout_ms: u32,
    /// Parts one snapshot may have (16); buffers for that many are allocated.
    pub max_snapshot_parts: u8,
    /// 1: keep an interpolation buffer (`tw_client_interpolate`); 0: none (the default).
    pub interp: u8,
    /// Snapshots the buffer keeps (32).
    pub interp_capacity: u8,
    /// The adaptive delay covers this percentile of the measured jitter (99).
    pub interp_percentile: u8,
    /// Body bytes of one buffered snapshot (4096).
    pub interp_max_snapshot_bytes: u16,
    /// A fixed delay, microseconds; 0 = adaptive (the default).
    pub interp_fixed_delay_us: u32,
    /// Added to the measured jitter percentile and one tick, microseconds (5000).
    pub interp_margin_us: u32,
    /// The adaptive delay's floor, microseconds (0).
    pub interp_min_delay_us: u32,
    /// The adaptive delay's ceiling, microseconds (250000).
    pub interp_max_delay_us: u32,
}

fn dur_ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

fn dur_us(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

impl Default for TwClientConfig {
    fn default() -> TwClientConfig {
        let c = ClientConfig::default();
        let i = InterpConfig::default();
        TwClientConfig {
            protocol_id: c.protocol_id,
            ticket: c.ticket,
            hello_interval_ms: dur_ms(c.hello_interval),
            connect_timeout_ms: dur_ms(c.connect_timeout),
            keepalive_interval_ms: dur_ms(c.keepalive_interval),
            timeout_ms: dur_ms(c.timeout),
            max_snapshot_parts: c.max_snapshot_parts,
            interp: 0,
            interp_capacity: i.capacity,
            interp_percentile: i.percentile,
            interp_max_snapshot_bytes: i.max_snapshot_bytes,
            interp_fixed_delay_us: 0,
            interp_margin_us: dur_us(i.margin),
            interp_min_delay_us: dur_us(i.min_delay),
            interp_max_delay_us: dur_us(i.max_delay),
        }
    }
}

impl TwClientConfig {
    pub(crate) fn client(&self) -> ClientConfig {
        ClientConfig {
            protocol_id: self.protocol_id,
            ticket: self.ticket,
            hello_interval: ms(self.hello_interval_ms),
            connect_timeout: ms(self.connect_timeout_ms),
            keepalive_interval: ms(self.keepalive_interval_ms),
            timeout: ms(self.timeout_ms),
            max_snapshot_parts: self.max_snapshot_parts,
            ..ClientConfig::default()
        }
    }

    pub(crate) fn interp(&self) -> Option<InterpConfig> {
        let us = |v: u32| Duration::from_micros(u64::from(v));
        (self.interp != 0).then(|| InterpConfig {
            capacity: self.interp_capacity,
            max_snapshot_bytes: self.interp_max_snapshot_bytes,
            fixed_delay: (self.interp_fixed_delay_us != 0).then(|| us(self.interp_fixed_delay_us)),
            percentile: self.interp_percentile,
            margin: us(self.interp_margin_us),
            min_delay: us(self.interp_min_delay_us),
            max_delay: us(self.interp_max_delay_us),
        })
    }
}

/// What an event is.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwEventKind {
    /// Nothing happened.
    None = 0,
    /// ACCEPT arrived: `qport`, `tick_hz`, `tick`, `time_us` (the server's).
    Connected = 1,
    /// A whole snapshot, newer than every earlier one: `tick`, `time_us`; read it with
    /// `tw_client_snapshot_part`.
    Snapshot = 2,
    /// A game datagram for this player: `game_kind`; read it with
    /// `tw_client_game_payload`.
    Game = 3,
    /// The server refused us: `reason` (1 full, 2 bad ticket, other values as sent).
    Rejected = 4,
    /// The connection ended: `reason` (a `TwDisconnect`).
    Disconnected = 5,
}

/// Why a connection ended (`TwEvent::reason` of a `Disconnected` event).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwDisconnect {
    /// The server sent BYE.
    Bye = 1,
    /// We closed it (`tw_client_disconnect`).
    Closed = 2,
    /// Nothing valid from the server for the timeout.
    Timeout = 3,
    /// No ACCEPT within the connect timeout.
    ConnectTimeout = 4,
}

/// One event, written by the calls that take datagrams and timeouts.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TwEvent {
    /// A `TwEventKind`.
    pub kind: u32,
    /// `Connected`: our slot id.
    pub qport: u8,
    /// `Game`: the datagram's kind.
    pub game_kind: u8,
    /// `Rejected`: the reject reason; `Disconnected`: a `TwDisconnect`.
    pub reason: u8,
    /// `Connected`: the server's tick rate.
    pub tick_hz: u16,
    /// `Connected`, `Snapshot`: a tick.
    pub tick: u32,
    /// `Connected`, `Snapshot`: the server's time of that tick, microseconds.
    pub time_us: u64,
}

impl TwEvent {
    pub(crate) const NONE: TwEvent = TwEvent {
        kind: TwEventKind::None as u32,
        qport: 0,
        game_kind: 0,
        reason: 0,
        tick_hz: 0,
        tick: 0,
        time_us: 0,
    };

    pub(crate) fn from(ev: Option<Event>) -> TwEvent {
        let mut e = TwEvent::NONE;
        match ev {
            None => {}
            Some(Event::Connected {
                qport,
                tick_hz,
                tick,
                server_time_us,
            }) => {
                e.kind = TwEventKind::Connected as u32;
                e.qport = qport;
                e.tick_hz = tick_hz;
                e.tick = tick;
                e.time_us = server_time_us;
            }
            Some(Event::Snapshot { tick, time_us }) => {
                e.kind = TwEventKind::Snapshot as u32;
                e.tick = tick;
                e.time_us = time_us;
            }
            Some(Event::Game { kind }) => {
                e.kind = TwEventKind::Game as u32;
                e.game_kind = kind;
            }
            Some(Event::Rejected(r)) => {
                e.kind = TwEventKind::Rejected as u32;
                e.reason = reject_code(r);
            }
            Some(Event::Disconnected(d)) => {
                e.kind = TwEventKind::Disconnected as u32;
                e.reason = disconnect_code(d) as u8;
            }
        }
        e
    }
}

pub(crate) fn reject_code(r: RejectReason) -> u8 {
    match r {
        RejectReason::Full => 1,
        RejectReason::BadTicket => 2,
        RejectReason::Other(v) => v,
    }
}

fn disconnect_code(d: DisconnectReason) -> TwDisconnect {
    match d {
        DisconnectReason::Bye => TwDisconnect::Bye,
        DisconnectReason::Closed => TwDisconnect::Closed,
        DisconnectReason::Timeout => TwDisconnect::Timeout,
        DisconnectReason::ConnectTimeout => TwDisconnect::ConnectTimeout,
    }
}

/// Where a connection stands.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwStateKind {
    /// Sending HELLO.
    Connecting = 0,
    /// Got a CHALLENGE, sending HELLO with its cookie.
    Challenged = 1,
    /// Accepted.
    Connected = 2,
    /// The server refused us.
    Rejected = 3,
    /// The connection ended.
    Disconnected = 4,
}

/// A client's counters (`tw_client_stats`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct TwClientStats {
    /// Datagrams handed in, valid or not.
    pub datagrams_in: u64,
    /// Their bytes.
    pub bytes_in: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Their bytes.
    pub bytes_out: u64,
    /// Datagrams dropped (malformed, duplicate, late, forged...).
    pub dropped: u64,
    /// Server datagrams never seen.
    pub lost: u64,
    /// Server datagrams that arrived after a newer one.
    pub late: u64,
    /// Whole snapshots delivered as `Snapshot` events (the newest only).
    pub snapshots: u64,
    /// Ticks missing between them.
    pub snapshot_ticks_lost: u64,
    /// Smoothed round-trip time, microseconds (0 before a sample).
    pub rtt_us: u64,
    /// 99th percentile round-trip time, microseconds.
    pub rtt_p99_us: u64,
    /// Interpolation buffer: ticks usable for rendering (0 without a buffer).
    pub interp_usable: u64,
    /// Interpolation buffer: the ticks `interp_usable` is a share of.
    pub interp_ticks_spanned: u64,
    /// Interpolation buffer: late snapshots kept.
    pub interp_late_kept: u64,
    /// Interpolation buffer: parts that came after the render time passed them.
    pub interp_too_late: u64,
    /// Interpolation buffer: the delay applied, microseconds.
    pub interp_delay_us: u64,
    /// Interpolation buffer: the measured jitter at the configured percentile, µs.
    pub interp_jitter_us: u64,
}

/// What to render (`tw_client_interpolate`): blend the snapshots of `from_tick` and
/// `to_tick` by `alpha`; read their parts with `tw_client_buffered_part`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct TwFrame {
    /// The newest complete snapshot at or before the render time.
    pub from_tick: u32,
    /// Its server time, microseconds.
    pub from_time_us: u64,
    /// Its part count.
    pub from_parts: u32,
    /// 1 when there is a snapshot after the render time; 0: hold `from` (or
    /// extrapolate by `render_time_us - from_time_us`).
    pub has_to: u32,
    /// The oldest complete snapshot after the render time (when `has_to`).
    pub to_tick: u32,
    /// Its server time, microseconds.
    pub to_time_us: u64,
    /// Its part count.
    pub to_parts: u32,
    /// Where the render time lies between them, 0..1.
    pub alpha: f32,
    /// The render time on the server's clock, microseconds.
    pub render_time_us: u64,
    /// The delay applied, microseconds.
    pub delay_us: u64,
}

/// A sans-IO client (opaque). One thread at a time.
pub struct TwClient {
    pub(crate) client: Client,
    /// `now_us` values are on the caller's clock: `anchor_us` there is `anchor` here.
    anchor: Instant,
    anchor_us: u64,
    last_us: u64,
}

impl TwClient {
    pub(crate) fn new(cfg: &TwClientConfig, token: Option<ConnectToken>, now_us: u64) -> TwClient {
        let anchor = Instant::now();
        let c = match token {
            Some(t) => Client::with_token(cfg.client(), t, anchor),
            None => Client::new(cfg.client(), anchor),
        };
        let client = match cfg.interp() {
            Some(i) => c.with_interpolation(i),
            None => c,
        };
        TwClient {
            client,
            anchor,
            anchor_us: now_us,
            last_us: now_us,
        }
    }

    /// The caller's `now_us` as an instant; never before the last one.
    pub(crate) fn at(&mut self, now_us: u64) -> Instant {
        self.last_us = self.last_us.max(now_us);
        let d = Duration::from_micros(self.last_us.saturating_sub(self.anchor_us));
        self.anchor.checked_add(d).unwrap_or(self.anchor)
    }

    pub(crate) fn to_us(&self, t: Instant) -> u64 {
        self.anchor_us
            .saturating_add(crate::micros_since(self.anchor, t))
    }
}

pub(crate) fn send_status(e: SendError) -> TwStatus {
    match e {
        SendError::NotConnected => TwStatus::ErrNotConnected,
        SendError::NotGameKind => TwStatus::ErrNotGameKind,
        SendError::TooLarge => TwStatus::ErrTooLarge,
        SendError::QueueFull => TwStatus::ErrQueueFull,
    }
}

/// Writes the default settings into `*out`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn tw_client_config_default(out: *mut TwClientConfig) -> TwStatus {
    guard(|| {
        // SAFETY: the caller passes a writable TwClientConfig or NULL.
        match unsafe { out.as_mut() } {
            Some(o) => {
                *o = TwClientConfig::default();
                TwStatus::Ok
            }
            None => TwStatus::ErrNull,
        }
    })
}

/// Makes a client that starts connecting at `now_us` (microseconds on a monotonic clock
/// of the caller's choice; every later `now_us` must be on the same clock, and a value
/// that goes back counts as the last one). `cfg` NULL = defaults. Allocates every buffer
/// the client will use. Writes the handle to `*out`; free it with `tw_client_free`.
#[no_mangle]
pub unsafe extern "C" fn tw_client_new(
    cfg: *const TwClientConfig,
    now_us: u64,
    out: *mut *mut TwClient,
) -> TwStatus {
    guard(|| {
        // SAFETY: the caller passes a readable config or NULL, and a writable out or NULL.
        let Some(out) = (unsafe { out.as_mut() }) else {
            return TwStatus::ErrNull;
        };
        *out = std::ptr::null_mut();
        let cfg = unsafe { cfg.as_ref() }.copied().unwrap_or_default();
        *out = Box::into_raw(Box::new(TwClient::new(&cfg, None, now_us)));
        TwStatus::Ok
    })
}

/// Like `tw_client_new`, in secure mode: connects with the `TW_TOKEN_LEN`-byte connect
/// token at `token` (from its issuer: a lobby over TLS, a matchmaker, `tw_token_mint`).
/// `ErrInvalid` for a token that does not parse.
#[no_mangle]
pub unsafe extern "C" fn tw_client_new_secure(
    cfg: *const TwClientConfig,
    token: *const u8,
    token_len: usize,
    now_us: u64,
    out: *mut *mut TwClient,
) -> TwStatus {
    guard(|| {
        // SAFETY: as tw_client_new; `token_len` readable bytes at `token`.
        let Some(out) = (unsafe { out.as_mut() }) else {
            return TwStatus::ErrNull;
        };
        *out = std::ptr::null_mut();
        let Some(t) = (unsafe { bytes(token, token_len) }) else {
            return TwStatus::ErrNull;
        };
        let Ok(t) = ConnectToken::parse(t) else {
            return TwStatus::ErrInvalid;
        };
        let cfg = unsafe { cfg.as_ref() }.copied().unwrap_or_default();
        *out = Box::into_raw(Box::new(TwClient::new(&cfg, Some(t), now_us)));
        TwStatus::Ok
    })
}

/// Frees a client (NULL: nothing). Sends nothing: call `tw_client_disconnect` and
/// transmit the BYE first for a clean end.
#[no_mangle]
pub unsafe extern "C" fn tw_client_free(c: *mut TwClient) {
    let _ = guard(|| {
        if !c.is_null() {
            // SAFETY: `c` came from tw_client_new* and is not used after this.
            drop(unsafe { Box::from_raw(c) });
        }
        TwStatus::Ok
    });
}

macro_rules! client_mut {
    ($c:expr) => {
        // SAFETY: the caller passes a live handle from tw_client_new* or NULL, used by one
        // thread at a time.
        match unsafe { $c.as_mut() } {
            Some(c) => c,
            None => return TwStatus::ErrNull,
        }
    };
}
pub(crate) use client_mut;

macro_rules! client_ref {
    ($c:expr) => {
        // SAFETY: as client_mut.
        match unsafe { $c.as_ref() } {
            Some(c) => c,
            None => return TwStatus::ErrNull,
        }
    };
}

unsafe fn put<T>(out: *mut T, v: T) {
    if let Some(o) = unsafe { out.as_mut() } {
        *o = v;
    }
}

/// Takes one datagram from the server (`len` bytes at `data`). Writes what happened to
/// `*event` (may be NULL). Anything malformed or forged is dropped and counted. No
/// allocation.
#[no_mangle]
pub unsafe extern "C" fn tw_client_handle_datagram(
    c: *mut TwClient,
    now_us: u64,
    data: *const u8,
    len: usize,
    event: *mut TwEvent,
) -> TwStatus {
    guard(|| {
        let c = client_mut!(c);
        let Some(d) = (unsafe { bytes(data, len) }) else {
            return TwStatus::ErrNull;
        };
        let now = c.at(now_us);
        let ev = c.client.handle_datagram(now, d);
        unsafe { put(event, TwEvent::from(ev)) };
        TwStatus::Ok
    })
}

/// Runs the timers due at `now_us` (call it once `tw_client_poll_timeout` has passed).
/// Writes what happened to `*event` (may be NULL).
#[no_mangle]
pub unsafe extern "C" fn tw_client_handle_timeout(
    c: *mut TwClient,
    now_us: u64,
    event: *mut TwEvent,
) -> TwStatus {
    guard(|| {
        let c = client_mut!(c);
        let now = c.at(now_us);
        let ev = c.client.handle_timeout(now);
        unsafe { put(event, TwEvent::from(ev)) };
        TwStatus::Ok
    })
}

/// When the client next has work (`tw_client_handle_timeout`, `tw_client_poll_transmit`),
/// on the caller's clock; 0 for a NULL handle.
#[no_mangle]
pub unsafe extern "C" fn tw_client_poll_timeout(c: *const TwClient) -> u64 {
    guard_val(0, || {
        // SAFETY: a live handle or NULL.
        unsafe { c.as_ref() }.map_or(0, |c| c.to_us(c.client.poll_timeout()))
    })
}

/// Writes the next datagram due into `out` and its length into `*len`; `*len` = 0 when
/// nothing is due. Call it until it gives 0 after every other call. `out` must hold
/// `TW_MAX_DATAGRAM` bytes (`cap`): `ErrBufferTooSmall` otherwise, and nothing is taken.
/// No allocation.
#[no_mangle]
pub unsafe extern "C" fn tw_client_poll_transmit(
    c: *mut TwClient,
    now_us: u64,
    out: *mut u8,
    cap: usize,
    len: *mut usize,
) -> TwStatus {
    guard(|| {
        let c = client_mut!(c);
        if out.is_null() || len.is_null() {
            return TwStatus::ErrNull;
        }
        unsafe { put(len, 0) };
        if cap < TW_MAX_DATAGRAM {
            return TwStatus::ErrBufferTooSmall;
        }
        // SAFETY: `cap` writable bytes at `out`.
        let buf = unsafe { std::slice::from_raw_parts_mut(out, cap) };
        let now = c.at(now_us);
        let n = c.client.poll_transmit(now, buf);
        unsafe { put(len, n.unwrap_or(0)) };
        TwStatus::Ok
    })
}

/// Queues one game datagram (`kind` 0x10..=0xFF, `len` bytes at `data`) for the next
/// `tw_client_poll_transmit`.
#[no_mangle]
pub unsafe extern "C" fn tw_client_send_game(
    c: *mut TwClient,
    kind: u8,
    data: *const u8,
    len: usize,
) -> TwStatus {
    guard(|| {
        let c = client_mut!(c);
        let Some(d) = (unsafe { bytes(data, len) }) else {
            return TwStatus::ErrNull;
        };
        match c.client.send_game(kind, d) {
            Ok(()) => TwStatus::Ok,
            Err(e) => send_status(e),
        }
    })
}

/// Queues an arena INPUT: walk in direction (`dx`, `dy`), each clamped to -1..=1.
#[no_mangle]
pub unsafe extern "C" fn tw_client_send_input(c: *mut TwClient, dx: i8, dy: i8) -> TwStatus {
    guard(|| {
        let c = client_mut!(c);
        let (kind, payload) = tickwire::client::arena::input(dx, dy);
        match c.client.send_game(kind, &payload) {
            Ok(()) => TwStatus::Ok,
            Err(e) => send_status(e),
        }
    })
}

/// Ends the connection: a BYE is queued when connected (transmit it), and the state is
/// `Disconnected` at once.
#[no_mangle]
pub unsafe extern "C" fn tw_client_disconnect(c: *mut TwClient) -> TwStatus {
    guard(|| {
        client_mut!(c).client.disconnect();
        TwStatus::Ok
    })
}

/// Where the connection stands: writes a `TwStateKind` to `*state` and, when connected,
/// our slot id to `*qport` (either may be NULL).
#[no_mangle]
pub unsafe extern "C" fn tw_client_state(
    c: *const TwClient,
    state: *mut u32,
    qport: *mut u8,
) -> TwStatus {
    guard(|| {
        let c = client_ref!(c);
        let (k, q) = match c.client.state() {
            State::Connecting => (TwStateKind::Connecting, 0),
            State::Challenged => (TwStateKind::Challenged, 0),
            State::Connected { qport, .. } => (TwStateKind::Connected, qport),
            State::Rejected(_) => (TwStateKind::Rejected, 0),
            State::Disconnected(_) => (TwStateKind::Disconnected, 0),
        };
        unsafe {
            put(state, k as u32);
            put(qport, q);
        }
        TwStatus::Ok
    })
}

/// The last whole snapshot (the newest `Snapshot` event): its tick, server time and part
/// count (any pointer may be NULL). `ErrNone` before the first.
#[no_mangle]
pub unsafe extern "C" fn tw_client_snapshot(
    c: *const TwClient,
    tick: *mut u32,
    time_us: *mut u64,
    parts: *mut u32,
) -> TwStatus {
    guard(|| {
        let c = client_ref!(c);
        let Some((t, at)) = c.client.last_snapshot() else {
            return TwStatus::ErrNone;
        };
        unsafe {
            put(tick, t);
            put(time_us, at);
            put(parts, c.client.snapshot_parts().len() as u32);
        }
        TwStatus::Ok
    })
}

/// Part `index` of the last whole snapshot: `*data` points into the client (valid until
/// the next call that takes the client mutably), `*len` its length. Each part is
/// `count u8` then `count` entities. `ErrNone` for no such part.
#[no_mangle]
pub unsafe extern "C" fn tw_client_snapshot_part(
    c: *const TwClient,
    index: u32,
    data: *mut *const u8,
    len: *mut usize,
) -> TwStatus {
    guard(|| {
        let c = client_ref!(c);
        let Some(p) = c.client.snapshot_parts().nth(index as usize) else {
            return TwStatus::ErrNone;
        };
        unsafe {
            put(data, p.as_ptr());
            put(len, p.len());
        }
        TwStatus::Ok
    })
}

/// The payload of the last `Game` event (pointer valid as for `tw_client_snapshot_part`).
#[no_mangle]
pub unsafe extern "C" fn tw_client_game_payload(
    c: *const TwClient,
    data: *mut *const u8,
    len: *mut usize,
) -> TwStatus {
    guard(|| {
        let c = client_ref!(c);
        let p = c.client.game_payload();
        unsafe {
            put(data, p.as_ptr());
            put(len, p.len());
        }
        TwStatus::Ok
    })
}

/// The client's counters. No allocation.
#[no_mangle]
pub unsafe extern "C" fn tw_client_stats(c: *const TwClient, out: *mut TwClientStats) -> TwStatus {
    guard(|| {
        let c = client_ref!(c);
        if out.is_null() {
            return TwStatus::ErrNull;
        }
        let s = c.client.stats();
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let mut o = TwClientStats {
            datagrams_in: s.datagrams_in,
            bytes_in: s.bytes_in,
            datagrams_out: s.datagrams_out,
            bytes_out: s.bytes_out,
            dropped: s.dropped_total(),
            lost: s.lost,
            late: s.late,
            snapshots: s.snapshots,
            snapshot_ticks_lost: s.snapshot_ticks_lost,
            rtt_us: us(s.rtt.smoothed),
            rtt_p99_us: us(s.rtt.p99),
            ..TwClientStats::default()
        };
        if let Some(i) = c.client.interp_stats() {
            o.interp_usable = i.usable;
            o.interp_ticks_spanned = i.ticks_spanned;
            o.interp_late_kept = i.late_kept;
            o.interp_too_late = i.too_late;
            o.interp_delay_us = us(i.delay);
            o.interp_jitter_us = us(i.jitter);
        }
        unsafe { put(out, o) };
        TwStatus::Ok
    })
}

/// What to render at `now_us` (needs `interp = 1` in the config): the two snapshots
/// around `now - delay` and the blend factor, in `*frame`. `ErrNone` without a buffer or
/// before the first complete snapshot. No allocation.
#[no_mangle]
pub unsafe extern "C" fn tw_client_interpolate(
    c: *mut TwClient,
    now_us: u64,
    frame: *mut TwFrame,
) -> TwStatus {
    guard(|| {
        let c = client_mut!(c);
        if frame.is_null() {
            return TwStatus::ErrNull;
        }
        let now = c.at(now_us);
        let Some(i) = c.client.interpolate(now) else {
            return TwStatus::ErrNone;
        };
        let mut f = TwFrame {
            from_tick: i.from.tick,
            from_time_us: i.from.time_us,
            from_parts: i.from.parts().len() as u32,
            alpha: i.alpha,
            render_time_us: i.render_time_us,
            delay_us: u64::try_from(i.delay.as_micros()).unwrap_or(u64::MAX),
            ..TwFrame::default()
        };
        if let Some(to) = &i.to {
            f.has_to = 1;
            f.to_tick = to.tick;
            f.to_time_us = to.time_us;
            f.to_parts = to.parts().len() as u32;
        }
        unsafe { put(frame, f) };
        TwStatus::Ok
    })
}

/// Part `index` of the buffered snapshot of `tick` (a frame's `from_tick` or `to_tick`);
/// the pointer is valid as for `tw_client_snapshot_part`. `ErrNone` when that tick or part
/// is not kept.
#[no_mangle]
pub unsafe extern "C" fn tw_client_buffered_part(
    c: *const TwClient,
    tick: u32,
    index: u32,
    data: *mut *const u8,
    len: *mut usize,
) -> TwStatus {
    guard(|| {
        let c = client_ref!(c);
        let Some(s) = c.client.buffered_snapshot(tick) else {
            return TwStatus::ErrNone;
        };
        let Some(p) = s.parts().nth(index as usize) else {
            return TwStatus::ErrNone;
        };
        unsafe {
            put(data, p.as_ptr());
            put(len, p.len());
        }
        TwStatus::Ok
    })
}

/// One arena player, as `tw_arena_player` decodes it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct TwArenaPlayer {
    /// Its slot id.
    pub qport: u8,
    /// Position, world units.
    pub x: i16,
    /// Position, world units.
    pub y: i16,
    /// Hit points.
    pub hp: u8,
    /// Score.
    pub score: i32,
}

/// Decodes entity `index` of one arena snapshot part (`len` bytes at `part`) into
/// `*out`. `ErrNone` past the last one, `ErrInvalid` for a malformed part. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn tw_arena_player(
    part: *const u8,
    len: usize,
    index: u32,
    out: *mut TwArenaPlayer,
) -> TwStatus {
    guard(|| {
        let Some(d) = (unsafe { bytes(part, len) }) else {
            return TwStatus::ErrNull;
        };
        let mut players = tickwire::client::arena::players(d);
        let Some(p) = players.nth(index as usize) else {
            return if players.malformed() {
                TwStatus::ErrInvalid
            } else {
                TwStatus::ErrNone
            };
        };
        unsafe {
            put(
                out,
                TwArenaPlayer {
                    qport: p.qport,
                    x: p.x,
                    y: p.y,
                    hp: p.hp,
                    score: i32::from(p.score),
                },
            )
        };
        TwStatus::Ok
    })
}
