//! The host's run state and the handle that changes it from other threads.
//!
//! ```text
//!   Running ──drain(within)──► Draining ──every match empty, or `within` passed──► Stopped
//!      │                          │
//!      └──────stop() / SIGINT / SIGTERM / SIGHUP────────────────────────────────► Stopped
//! ```
//!
//! - **Running**: everything is served.
//! - **Draining**: no new client is admitted (every HELLO is dropped unanswered and counted
//!   in [`IoStats::refused_draining`](super::IoStats::refused_draining)); connected
//!   clients play on; the lobby keeps serving. The host stops by itself once no match has a
//!   client, or when the drain deadline passes, whichever comes first.
//! - **Stopped**: every client was sent BYE, the lobby closed its connections, and
//!   [`Host::run`](super::Host::run) has returned.
//!
//! A request is a word in an atomic, read twice per turn of the loop (one load each, no
//! lock: right after the events, and at the end of the turn), and a wake-up of the loop's
//! [`Waker`] so that it is seen at once. A drain asked for before a turn begins admits
//! nobody in that turn.

use mio::Waker;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a [`Host`](super::Host) is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Serving and admitting.
    Running,
    /// Serving the clients it has, admitting none, until they are gone or the deadline.
    Draining {
        /// When the host stops even if clients are left.
        until: Instant,
    },
    /// Done: BYE sent to everyone, [`Host::run`](super::Host::run) returned (or about to).
    Stopped,
}

const NONE: u8 = 0;
const DRAIN: u8 = 1;
const STOP: u8 = 2;

/// The requests shared by the host and its [`Stopper`]s.
#[derive(Debug)]
pub(crate) struct Control {
    request: AtomicU8,
    /// How long a drain may last, set before `request` becomes `DRAIN`.
    drain_within: Mutex<Duration>,
}

/// What the loop was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Request {
    None,
    Drain,
    Stop,
}

impl Control {
    pub(crate) fn new() -> Control {
        Control {
            request: AtomicU8::new(NONE),
            drain_within: Mutex::new(Duration::ZERO),
        }
    }

    /// Asks for a stop (also from the signal handler's event).
    pub(crate) fn stop(&self) {
        self.request.store(STOP, Ordering::SeqCst);
    }

    fn drain(&self, within: Duration) {
        *self
            .drain_within
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = within;
        // A stop asked for earlier wins.
        let _ = self
            .request
            .compare_exchange(NONE, DRAIN, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The pending request: one atomic load.
    pub(crate) fn request(&self) -> Request {
        match self.request.load(Ordering::SeqCst) {
            NONE => Request::None,
            DRAIN => Request::Drain,
            _ => Request::Stop,
        }
    }

    /// How long the requested drain may last (read once, when the drain begins).
    pub(crate) fn drain_within(&self) -> Duration {
        *self
            .drain_within
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Stops or drains a running [`Host`](super::Host) from another thread (or from an
/// [`Adapter`](super::Adapter)); a [`Loops`](super::Loops) group's stopper (any of its
/// hosts') stops or drains every loop of the group. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Stopper {
    pub(crate) control: Arc<Control>,
    /// Every loop's waker.
    pub(crate) wakers: Arc<[Arc<Waker>]>,
}

impl Stopper {
    /// Asks the host to say BYE to everyone and return from [`Host::run`](super::Host::run).
    pub fn stop(&self) {
        self.control.stop();
        self.wake();
    }

    /// Asks the host to stop admitting clients and to stop once every match is empty, or
    /// after `within` at the latest (see [`RunState::Draining`]). Ignored after a stop; a
    /// second drain while draining keeps the first deadline.
    pub fn drain(&self, within: Duration) {
        self.control.drain(within);
        self.wake();
    }

    fn wake(&self) {
        for w in self.wakers.iter() {
            if let Err(e) = w.wake() {
                // The loop still sees the request on its next turn (at the latest at the
                // next tick), only later.
                log::debug!("host waker: {e}");
            }
        }
    }
}

impl core::fmt::Debug for Stopper {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Stopper")
            .field("request", &self.control.request())
            .finish_non_exhaustive()
    }
}
