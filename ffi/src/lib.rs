//! The C API of tickwire (issue 16): `include/tickwire.h`, generated from this crate by
//! cbindgen (`ffi/tests/header.rs` checks that the committed header is current; run it with
//! `TICKWIRE_BLESS=1` to rewrite it). `docs/C_API.md` is the guide.
//!
//! - **Handles** are opaque pointers, each made by one `*_new`/`*_connect` function and
//!   released by its `*_free`; NULL is accepted everywhere and answered with
//!   [`TwStatus::ErrNull`].
//! - **Errors** are [`TwStatus`] codes; [`tw_status_message`] names each one.
//! - **Panics** never cross the boundary: every entry point runs under
//!   `std::panic::catch_unwind` and answers [`TwStatus::ErrPanic`] instead (a handle that
//!   panicked should be freed). C callbacks must not unwind into Rust (no C++ exception
//!   and no `longjmp` out of a callback).
//! - **Allocation**: handles allocate every buffer when they are made; the per-datagram and
//!   per-tick calls (`tw_client_handle_datagram`, `tw_client_poll_transmit`,
//!   `tw_client_interpolate`, `tw_conn_poll`, the game callbacks' writer and context)
//!   allocate nothing.
//! - **Threads**: a handle may move between threads but is used by one thread at a time,
//!   except the calls the header marks thread-safe (`tw_host_stop`).
#![allow(clippy::missing_safety_doc)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod client;
mod conn;
mod host;

pub use client::*;
pub use conn::*;
pub use host::*;

/// What a call did. 0 is success; every other value is an error that
/// `tw_status_message` names.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwStatus {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    ErrNull = 1,
    /// An argument is out of range or malformed (address, token, size).
    ErrInvalid = 2,
    /// Not connected (yet, or any more).
    ErrNotConnected = 3,
    /// The send queue is full; poll the client (transmit) and try again.
    ErrQueueFull = 4,
    /// A payload larger than the server's maximum.
    ErrTooLarge = 5,
    /// A game kind below 0x10 (protocol kinds are not the game's).
    ErrNotGameKind = 6,
    /// The output buffer is too small for what is due (it stays due).
    ErrBufferTooSmall = 7,
    /// A socket or operating-system error.
    ErrIo = 8,
    /// No ACCEPT in time, or nothing within the timeout.
    ErrTimedOut = 9,
    /// The server refused the connection (REJECT).
    ErrRejected = 10,
    /// The connection has ended.
    ErrClosed = 11,
    /// Nothing there: no snapshot yet, no such part, no interpolation buffer.
    ErrNone = 12,
    /// The host is running (or already ran on its own thread).
    ErrBusy = 13,
    /// Rust code panicked inside the call; the panic was caught at the boundary.
    ErrPanic = 14,
}

const MESSAGES: [&str; 15] = [
    "ok\0",
    "a required pointer argument was NULL\0",
    "invalid argument\0",
    "not connected\0",
    "send queue full\0",
    "payload too large\0",
    "not a game kind (below 0x10)\0",
    "output buffer too small\0",
    "socket or system error\0",
    "timed out\0",
    "rejected by the server\0",
    "the connection has ended\0",
    "nothing there\0",
    "the host is running\0",
    "internal panic (caught)\0",
];

/// A static, NUL-terminated English message for a status code (also for codes this
/// library does not know: "unknown status"). Never NULL, never to be freed. Thread-safe.
#[no_mangle]
pub extern "C" fn tw_status_message(status: i32) -> *const std::ffi::c_char {
    let m = usize::try_from(status)
        .ok()
        .and_then(|i| MESSAGES.get(i))
        .copied()
        .unwrap_or("unknown status\0");
    m.as_ptr().cast()
}

/// The process's monotonic clock, in microseconds since its first use: the clock the
/// socket-owning client (`TwConn`) runs on. Thread-safe.
#[no_mangle]
pub extern "C" fn tw_now_us() -> u64 {
    guard_val(0, || micros_since(epoch(), Instant::now()))
}

/// Unix time in seconds (the clock connect tokens expire on). Thread-safe.
#[no_mangle]
pub extern "C" fn tw_unix_now() -> u64 {
    guard_val(0, || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    })
}

/// The library's version as a static string, e.g. "0.1.0". Thread-safe.
#[no_mangle]
pub extern "C" fn tw_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

pub(crate) fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

pub(crate) fn micros_since(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.saturating_duration_since(from).as_micros()).unwrap_or(u64::MAX)
}

pub(crate) fn ms(v: u32) -> Duration {
    Duration::from_millis(u64::from(v))
}

/// Runs `f`, turning a panic into [`TwStatus::ErrPanic`].
pub(crate) fn guard(f: impl FnOnce() -> TwStatus) -> TwStatus {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(TwStatus::ErrPanic)
}

/// Runs `f`, turning a panic into `fallback`.
pub(crate) fn guard_val<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// `ptr[..len]`, or an empty slice for a NULL pointer with a zero length; `None` for NULL
/// with a length.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        return (len == 0).then_some(&[][..]);
    }
    // SAFETY: the caller promises `len` readable bytes at `ptr` (the header says so).
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A C string argument as UTF-8.
pub(crate) unsafe fn c_str<'a>(ptr: *const std::ffi::c_char) -> Option<&'a str> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the caller promises a NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(ptr) }.to_str().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_message() {
        for s in 0..15 {
            let m = unsafe { std::ffi::CStr::from_ptr(tw_status_message(s)) };
            assert!(!m.to_str().unwrap().is_empty());
        }
        let unknown = unsafe { std::ffi::CStr::from_ptr(tw_status_message(99)) };
        assert_eq!(unknown.to_str().unwrap(), "unknown status");
        let neg = unsafe { std::ffi::CStr::from_ptr(tw_status_message(-1)) };
        assert_eq!(neg.to_str().unwrap(), "unknown status");
        assert_eq!(MESSAGES.len(), TwStatus::ErrPanic as usize + 1);
    }

    #[test]
    fn a_panic_becomes_a_status() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let s = guard(|| panic!("boom"));
        std::panic::set_hook(prev);
        assert_eq!(s, TwStatus::ErrPanic);
    }
}
