//! The server side: a `tickwire::Host` running a game given as a table of C callbacks,
//! on the caller's thread or on a thread of its own; and minting connect tokens.

use std::ffi::{c_char, c_void};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::thread::JoinHandle;

use tickwire::secure::{Issuer, Key, Secure};
use tickwire::{Config, Context, Game, Host, HostConfig, PlayerId, SnapshotWriter, Stopper};

use crate::client::{TW_KEY_LEN, TW_TOKEN_LEN};
use crate::{bytes, c_str, guard, guard_val, ms, TwStatus};

/// The context the core lends `input` (opaque; valid only during that callback).
pub struct TwContext {
    _private: [u8; 0],
}

/// The snapshot writer the core lends `snapshot` (opaque; valid only during that
/// callback).
pub struct TwSnapshotWriter {
    _private: [u8; 0],
}

/// Knows game kind `kind`? Return 1 to accept its datagrams.
pub type TwKnowsKindFn = Option<unsafe extern "C" fn(user: *mut c_void, kind: u8) -> u8>;
/// Payload of `kind` well-formed? Return 1 to accept it (checked before its seq moves the
/// window).
pub type TwCheckInputFn =
    Option<unsafe extern "C" fn(user: *mut c_void, kind: u8, data: *const u8, len: usize) -> u8>;
/// A player joined; `name` is its lobby name (NUL-terminated, valid during the call) or
/// NULL.
pub type TwConnectFn =
    Option<unsafe extern "C" fn(user: *mut c_void, player: u8, name: *const c_char)>;
/// A player left.
pub type TwDisconnectFn = Option<unsafe extern "C" fn(user: *mut c_void, player: u8)>;
/// A payload of one of the game's kinds from a connected player.
pub type TwInputFn = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        cx: *mut TwContext,
        player: u8,
        kind: u8,
        data: *const u8,
        len: usize,
    ),
>;
/// Advance the world by one tick.
pub type TwStepFn = Option<unsafe extern "C" fn(user: *mut c_void, tick: u32)>;
/// Serialize the world with `tw_snapshot_writer_entity`.
pub type TwSnapshotFn = Option<unsafe extern "C" fn(user: *mut c_void, w: *mut TwSnapshotWriter)>;

/// A game as C callbacks. Every callback is optional (NULL): `knows_kind` NULL accepts
/// every game kind (0x10..=0xFF), `check_input` NULL accepts every payload, the others do
/// nothing. The callbacks run on the thread that runs the host, one at a time, never
/// concurrently; none may block, and none may unwind (no C++ exception, no longjmp out).
/// `user` is passed to each as it is.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct TwGame {
    /// Passed to every callback.
    pub user: *mut c_void,
    /// See `TwKnowsKindFn`.
    pub knows_kind: TwKnowsKindFn,
    /// See `TwCheckInputFn`.
    pub check_input: TwCheckInputFn,
    /// See `TwConnectFn`.
    pub connect: TwConnectFn,
    /// See `TwDisconnectFn`.
    pub disconnect: TwDisconnectFn,
    /// See `TwInputFn`.
    pub input: TwInputFn,
    /// See `TwStepFn`.
    pub step: TwStepFn,
    /// See `TwSnapshotFn`.
    pub snapshot: TwSnapshotFn,
}

/// The game inside the host.
struct CGame(TwGame);

// SAFETY: the header requires the callbacks and `user` to be usable from the thread that
// runs the host (tw_host_spawn moves the game to a thread of its own); the host calls
// them from one thread at a time.
unsafe impl Send for CGame {}

impl Game for CGame {
    fn knows_kind(&self, kind: u8) -> bool {
        match self.0.knows_kind {
            // SAFETY: a C callback as the header describes it.
            Some(f) => unsafe { f(self.0.user, kind) != 0 },
            None => kind >= 0x10,
        }
    }

    fn check_input(&self, kind: u8, payload: &[u8]) -> bool {
        match self.0.check_input {
            // SAFETY: as above; the payload outlives the call.
            Some(f) => unsafe { f(self.0.user, kind, payload.as_ptr(), payload.len()) != 0 },
            None => true,
        }
    }

    fn connect(&mut self, player: PlayerId, name: Option<&str>) {
        let Some(f) = self.0.connect else {
            return;
        };
        // A NUL-terminated copy on the stack (names are at most 16 bytes).
        let mut buf = [0u8; 64];
        let ptr = match name {
            Some(n) => {
                let n = &n.as_bytes()[..n.len().min(buf.len() - 1)];
                buf[..n.len()].copy_from_slice(n);
                buf.as_ptr().cast()
            }
            None => std::ptr::null(),
        };
        // SAFETY: as above; `buf` outlives the call.
        unsafe { f(self.0.user, player, ptr) }
    }

    fn disconnect(&mut self, player: PlayerId) {
        if let Some(f) = self.0.disconnect {
            // SAFETY: as above.
            unsafe { f(self.0.user, player) }
        }
    }

    fn input(&mut self, cx: &mut Context<'_>, player: PlayerId, kind: u8, payload: &[u8]) {
        if let Some(f) = self.0.input {
            let cx: *mut Context<'_> = cx;
            // SAFETY: as above; the context is valid during the call only (the header
            // says so) and tw_context_* cast it back.
            unsafe {
                f(
                    self.0.user,
                    cx.cast(),
                    player,
                    kind,
                    payload.as_ptr(),
                    payload.len(),
                )
            }
        }
    }

    fn step(&mut self, tick: u32) {
        if let Some(f) = self.0.step {
            // SAFETY: as above.
            unsafe { f(self.0.user, tick) }
        }
    }

    fn snapshot(&self, w: &mut SnapshotWriter<'_>) {
        if let Some(f) = self.0.snapshot {
            let w: *mut SnapshotWriter<'_> = w;
            // SAFETY: as above; the writer is valid during the call only.
            unsafe { f(self.0.user, w.cast()) }
        }
    }

    fn description(&self) -> &str {
        "tickwire C game"
    }
}

/// Appends one entity (`len` bytes) to the snapshot being written. `ErrTooLarge` when it
/// does not fit (larger than a part, or the snapshot is full; counted by the server). No
/// allocation. Only inside the `snapshot` callback, with its writer.
#[no_mangle]
pub unsafe extern "C" fn tw_snapshot_writer_entity(
    w: *mut TwSnapshotWriter,
    data: *const u8,
    len: usize,
) -> TwStatus {
    guard(|| {
        // SAFETY: the writer the snapshot callback was given, during that call.
        let Some(w) = (unsafe { w.cast::<SnapshotWriter<'_>>().as_mut() }) else {
            return TwStatus::ErrNull;
        };
        let Some(d) = (unsafe { bytes(data, len) }) else {
            return TwStatus::ErrNull;
        };
        match w.entity(d) {
            Ok(()) => TwStatus::Ok,
            Err(_) => TwStatus::ErrTooLarge,
        }
    })
}

/// Sends `player` alone one game datagram (`kind` 0x10..=0xFF) with the next snapshot.
/// `ErrQueueFull` when its outbox is full, `ErrNotConnected` for no such player. No
/// allocation. Only inside the `input` callback, with its context.
#[no_mangle]
pub unsafe extern "C" fn tw_context_send(
    cx: *mut TwContext,
    player: u8,
    kind: u8,
    data: *const u8,
    len: usize,
) -> TwStatus {
    guard(|| {
        // SAFETY: the context the input callback was given, during that call.
        let Some(cx) = (unsafe { cx.cast::<Context<'_>>().as_mut() }) else {
            return TwStatus::ErrNull;
        };
        let Some(d) = (unsafe { bytes(data, len) }) else {
            return TwStatus::ErrNull;
        };
        match cx.send(player, kind, d) {
            Ok(()) => TwStatus::Ok,
            Err(tickwire::SendError::NotGameKind) => TwStatus::ErrNotGameKind,
            Err(tickwire::SendError::TooLarge) => TwStatus::ErrTooLarge,
            Err(tickwire::SendError::NotConnected) => TwStatus::ErrNotConnected,
            Err(tickwire::SendError::OutboxFull) => TwStatus::ErrQueueFull,
        }
    })
}

/// The server's time, microseconds since it started (0 for NULL). Only inside the
/// `input` callback.
#[no_mangle]
pub unsafe extern "C" fn tw_context_now_us(cx: *mut TwContext) -> u64 {
    guard_val(0, || {
        // SAFETY: as tw_context_send.
        unsafe { cx.cast::<Context<'_>>().as_ref() }.map_or(0, |c| c.now_us())
    })
}

/// A host's settings. Fill it with `tw_host_config_default`, then change fields.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TwHostConfig {
    /// The UDP address, NUL-terminated ("0.0.0.0:7777"; port 0 picks one). NULL = the
    /// default. Read during `tw_host_new` only.
    pub bind: *const c_char,
    /// Ticks per second (60).
    pub tick_hz: u16,
    /// Players at most (64).
    pub max_clients: u8,
    /// The application's protocol id (0).
    pub protocol_id: u32,
    /// Drop a player silent for this long (5000).
    pub timeout_ms: u32,
    /// Secure mode: the 32-byte fleet key, or NULL for plain mode. Read during
    /// `tw_host_new` only.
    pub secure_key: *const u8,
    /// Secure mode: the server id tokens are scoped to (0: scope-0 tokens only).
    pub server_id: u64,
    /// 1: seed every random stream with `seed` (reproducible runs); 0: OS entropy.
    pub use_seed: u8,
    /// See `use_seed`.
    pub seed: u64,
}

/// Writes the default host settings into `*out`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn tw_host_config_default(out: *mut TwHostConfig) -> TwStatus {
    guard(|| {
        let c = Config::default();
        // SAFETY: a writable config or NULL.
        let Some(o) = (unsafe { out.as_mut() }) else {
            return TwStatus::ErrNull;
        };
        *o = TwHostConfig {
            bind: std::ptr::null(),
            tick_hz: c.tick_hz,
            max_clients: c.max_clients,
            protocol_id: c.protocol_id,
            timeout_ms: u32::try_from(c.timeout.as_millis()).unwrap_or(u32::MAX),
            secure_key: std::ptr::null(),
            server_id: 0,
            use_seed: 0,
            seed: 0,
        };
        TwStatus::Ok
    })
}

type RunResult = (Host<CGame>, TwStatus);

/// A host (opaque): one match of a C game on one UDP port.
pub struct TwHost {
    stopper: Stopper,
    addr: SocketAddr,
    /// The host while it is not running.
    idle: Mutex<Option<Host<CGame>>>,
    /// The thread of `tw_host_spawn`, which gives the host back.
    thread: Mutex<Option<JoinHandle<RunResult>>>,
}

fn run(mut host: Host<CGame>) -> RunResult {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| host.run()));
    let s = match r {
        Ok(Ok(())) => TwStatus::Ok,
        Ok(Err(_)) => TwStatus::ErrIo,
        Err(_) => TwStatus::ErrPanic,
    };
    (host, s)
}

/// Binds the host's socket with `cfg` (NULL = defaults) and the game `game` (copied; its
/// `user` pointer must stay valid until `tw_host_free`) and writes the handle to `*out`.
/// Nothing runs yet: `tw_host_run` or `tw_host_spawn`. Allocates every buffer of the
/// host. Free it with `tw_host_free`.
#[no_mangle]
pub unsafe extern "C" fn tw_host_new(
    cfg: *const TwHostConfig,
    game: *const TwGame,
    out: *mut *mut TwHost,
) -> TwStatus {
    guard(|| {
        // SAFETY: the caller passes readable pointers or NULL, and a writable out.
        let Some(out) = (unsafe { out.as_mut() }) else {
            return TwStatus::ErrNull;
        };
        *out = std::ptr::null_mut();
        let Some(game) = (unsafe { game.as_ref() }).copied() else {
            return TwStatus::ErrNull;
        };
        let mut c = TwHostConfig {
            bind: std::ptr::null(),
            tick_hz: 0,
            max_clients: 0,
            protocol_id: 0,
            timeout_ms: 0,
            secure_key: std::ptr::null(),
            server_id: 0,
            use_seed: 0,
            seed: 0,
        };
        match unsafe { cfg.as_ref() } {
            Some(cfg) => c = *cfg,
            None => {
                unsafe { tw_host_config_default(&mut c) };
            }
        }
        let bind = match unsafe { c_str(c.bind) } {
            None if c.bind.is_null() => HostConfig::default().bind,
            None => return TwStatus::ErrInvalid,
            Some(s) => match s.parse() {
                Ok(a) => a,
                Err(_) => return TwStatus::ErrInvalid,
            },
        };
        let secure = if c.secure_key.is_null() {
            None
        } else {
            // SAFETY: TW_KEY_LEN readable bytes at `secure_key`.
            let k = unsafe { std::slice::from_raw_parts(c.secure_key, TW_KEY_LEN) };
            let mut key = [0u8; TW_KEY_LEN];
            key.copy_from_slice(k);
            Some(Secure::new(Key::from_bytes(key), c.server_id))
        };
        if c.tick_hz == 0 || c.max_clients == 0 {
            return TwStatus::ErrInvalid;
        }
        let hc = HostConfig {
            bind,
            server: Config {
                tick_hz: c.tick_hz,
                max_clients: c.max_clients,
                protocol_id: c.protocol_id,
                timeout: ms(c.timeout_ms),
                seed: (c.use_seed != 0).then_some(c.seed),
                secure,
                ..Config::default()
            },
            stats_interval: None,
            ..HostConfig::default()
        };
        let host = match Host::bind(hc, |_| CGame(game)) {
            Ok(h) => h,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => return TwStatus::ErrInvalid,
            Err(_) => return TwStatus::ErrIo,
        };
        let Some(addr) = host.udp_addrs().first().copied() else {
            return TwStatus::ErrIo;
        };
        *out = Box::into_raw(Box::new(TwHost {
            stopper: host.stopper(),
            addr,
            idle: Mutex::new(Some(host)),
            thread: Mutex::new(None),
        }));
        TwStatus::Ok
    })
}

macro_rules! host_ref {
    ($h:expr) => {
        // SAFETY: a live handle from tw_host_new, or NULL; every host call takes it
        // shared (its state is behind mutexes).
        match unsafe { $h.as_ref() } {
            Some(h) => h,
            None => return TwStatus::ErrNull,
        }
    };
}

/// The UDP port the host is bound to (0 for NULL). Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn tw_host_port(h: *const TwHost) -> u16 {
    // SAFETY: a live handle or NULL.
    guard_val(0, || unsafe { h.as_ref() }.map_or(0, |h| h.addr.port()))
}

/// Runs the host on the calling thread until `tw_host_stop` (from another thread, or
/// from a callback); then every player is told BYE and it returns. `ErrBusy` when it is
/// already running. A stop asked for before the run makes it return at once.
#[no_mangle]
pub unsafe extern "C" fn tw_host_run(h: *const TwHost) -> TwStatus {
    guard(|| {
        let h = host_ref!(h);
        let Some(host) = h.idle.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return TwStatus::ErrBusy;
        };
        let (host, s) = run(host);
        *h.idle.lock().unwrap_or_else(|p| p.into_inner()) = Some(host);
        s
    })
}

/// Runs the host on a thread of its own and returns at once; `tw_host_stop` ends it.
/// `ErrBusy` when it is already running.
#[no_mangle]
pub unsafe extern "C" fn tw_host_spawn(h: *const TwHost) -> TwStatus {
    guard(|| {
        let h = host_ref!(h);
        let Some(host) = h.idle.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return TwStatus::ErrBusy;
        };
        let t = std::thread::Builder::new()
            .name("tickwire-host".into())
            .spawn(move || run(host));
        match t {
            Ok(t) => {
                *h.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
                TwStatus::Ok
            }
            Err(_) => TwStatus::ErrIo,
        }
    })
}

/// Asks the host to stop (thread-safe: from any thread, also while `tw_host_run` runs
/// elsewhere, also from a callback). For a host of `tw_host_spawn` it waits for its
/// thread and returns the run's status; otherwise it returns `Ok` at once and
/// `tw_host_run` returns soon after.
#[no_mangle]
pub unsafe extern "C" fn tw_host_stop(h: *const TwHost) -> TwStatus {
    guard(|| {
        let h = host_ref!(h);
        h.stopper.stop();
        let t = h.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        match t.map(JoinHandle::join) {
            None => TwStatus::Ok,
            Some(Ok((host, s))) => {
                *h.idle.lock().unwrap_or_else(|p| p.into_inner()) = Some(host);
                s
            }
            Some(Err(_)) => TwStatus::ErrPanic,
        }
    })
}

/// Players connected now (0 while running: read it after a stop, or from callbacks'
/// own counts).
#[no_mangle]
pub unsafe extern "C" fn tw_host_clients(h: *const TwHost) -> u32 {
    guard_val(0, || {
        // SAFETY: a live handle or NULL.
        let Some(h) = (unsafe { h.as_ref() }) else {
            return 0;
        };
        h.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, |host| host.clients() as u32)
    })
}

/// Stops the host (waiting for its own thread) and frees it (NULL: nothing). Not while
/// `tw_host_run` runs on another thread: stop it and let that call return first.
#[no_mangle]
pub unsafe extern "C" fn tw_host_free(h: *mut TwHost) {
    let _ = guard(|| {
        if h.is_null() {
            return TwStatus::Ok;
        }
        // SAFETY: as above; after the stop nobody else uses it.
        unsafe { tw_host_stop(h) };
        drop(unsafe { Box::from_raw(h) });
        TwStatus::Ok
    });
}

/// Mints a connect token for `client_id` with the 32-byte fleet key at `key`, for servers
/// of `protocol_id` and server id `scope` (0: any), carrying `name` (NULL or a
/// NUL-terminated UTF-8 string, first 16 bytes), valid for 30 s from `now_unix`
/// (`tw_unix_now()`), into the `TW_TOKEN_LEN` bytes at `out`. Thread-safe. For tests,
/// tools and issuers; game clients get tokens from their issuer.
#[no_mangle]
pub unsafe extern "C" fn tw_token_mint(
    key: *const u8,
    protocol_id: u32,
    client_id: u64,
    scope: u64,
    name: *const c_char,
    now_unix: u64,
    out: *mut u8,
) -> TwStatus {
    guard(|| {
        if key.is_null() || out.is_null() {
            return TwStatus::ErrNull;
        }
        let name = match unsafe { c_str(name) } {
            Some(n) => n,
            None if name.is_null() => "",
            None => return TwStatus::ErrInvalid,
        };
        let mut k = [0u8; TW_KEY_LEN];
        // SAFETY: TW_KEY_LEN readable bytes at `key`, TW_TOKEN_LEN writable at `out`.
        k.copy_from_slice(unsafe { std::slice::from_raw_parts(key, TW_KEY_LEN) });
        let t = Issuer::new(Key::from_bytes(k), protocol_id).mint(client_id, scope, name, now_unix);
        let o = unsafe { std::slice::from_raw_parts_mut(out, TW_TOKEN_LEN) };
        o.copy_from_slice(&t.to_bytes());
        TwStatus::Ok
    })
}
