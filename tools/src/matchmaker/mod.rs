//! `tickwire-matchmaker`, the fleet's API server (docs/FLEET.md): logs players in (a
//! self-verifying session), queues their match requests, books seats through one atomic
//! Redis script ([`crate::fleet::booking`]) and hands out connect tokens minted with the
//! fleet key for the server it booked (scope = the server's id).
//!
//! Threads: the HTTP side runs on a small tokio runtime ([`http`]); one booking thread
//! owns the Redis connection, takes tickets in arrival order and retries the ones that
//! found no seat until their deadline. Everything is bounded: the queue, the tickets
//! kept, the long-poll waiters, the request bodies and the party size.

pub mod http;

use crate::fleet::booking::{release, BookError, Booker, Booking};
use crate::fleet::session::Sessions;
use crate::fleet::{connect, redacted};
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tickwire::secure::{Issuer, Key};
use tokio::sync::watch;

/// How the matchmaker runs (its command line).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Redis URL.
    pub redis: String,
    /// The application protocol id of the tokens.
    pub protocol_id: u32,
    /// How long a connect token (and its seat reservation) lives.
    pub token_lifetime: Duration,
    /// How long a session lives.
    pub session_lifetime: Duration,
    /// How long a ticket waits for a seat before it fails.
    pub queue_timeout: Duration,
    /// Most tickets waiting for a seat.
    pub max_queue: usize,
    /// Most tickets kept (waiting, or answered and not yet forgotten).
    pub max_tickets: usize,
    /// Most long-poll requests waiting at once.
    pub max_waiters: usize,
    /// The longest long-poll (`?wait=`).
    pub max_wait: Duration,
    /// Largest party.
    pub max_party: u32,
    /// Largest request body, in bytes.
    pub max_body: usize,
    /// How long an answered ticket can still be read.
    pub keep_answered: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            redis: "redis://127.0.0.1:6379".into(),
            protocol_id: 0,
            token_lifetime: Duration::from_secs(30),
            session_lifetime: Duration::from_secs(3600),
            queue_timeout: Duration::from_secs(30),
            max_queue: 10_000,
            max_tickets: 100_000,
            max_waiters: 10_000,
            max_wait: Duration::from_secs(30),
            max_party: 16,
            max_body: 4096,
            keep_answered: Duration::from_secs(60),
        }
    }
}

/// What a ticket has come to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Waiting for a seat.
    Queued,
    /// Seats booked: where to go and the tokens to get in.
    Assigned(Assignment),
    /// No seat in time, or the fleet was unreachable: why.
    Failed(String),
    /// Cancelled by its owner.
    Cancelled,
}

/// A booked ticket's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The booking (server id, match, address, client ids).
    pub booking: Booking,
    /// One connect token per seat, 410 hex digits each.
    pub tokens: Vec<String>,
    /// When the tokens expire, unix seconds.
    pub expires: u64,
}

struct Ticket {
    owner: String,
    mode: String,
    party: u32,
    deadline: Instant,
    status: Status,
    answered: Option<Instant>,
    changed: watch::Sender<u64>,
    why: Option<String>,
}

/// Counters (what `GET /v1/stats` shows).
#[derive(Debug, Default)]
pub struct Counters {
    /// Logins.
    pub logins: AtomicU64,
    /// Tickets opened.
    pub tickets: AtomicU64,
    /// Tickets assigned.
    pub assigned: AtomicU64,
    /// Tickets failed.
    pub failed: AtomicU64,
    /// Tickets cancelled.
    pub cancelled: AtomicU64,
    /// Booking scripts run.
    pub scripts: AtomicU64,
    /// Requests refused for a bound (queue, tickets).
    pub refused: AtomicU64,
}

/// The matchmaker's shared state.
pub struct Matchmaker {
    settings: Settings,
    sessions: Sessions,
    issuer: Issuer,
    tickets: Mutex<HashMap<String, Ticket>>,
    queue: mpsc::SyncSender<String>,
    waiters: AtomicUsize,
    /// Its counters.
    pub counters: Counters,
}

impl std::fmt::Debug for Matchmaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matchmaker")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Why a request could not open a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// The queue or the ticket table is full.
    Busy(&'static str),
    /// The party is too large or zero.
    BadParty(u32),
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// 16 random bytes as hex: a ticket id nobody can guess.
fn random_id() -> String {
    let mut b = [0u8; 16];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut b[..]);
    let mut s = String::with_capacity(32);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

impl Matchmaker {
    /// A matchmaker for `settings` with `fleet_key`; starts its booking thread.
    pub fn start(settings: Settings, fleet_key: Key) -> std::io::Result<Arc<Matchmaker>> {
        let (queue, rx) = mpsc::sync_channel(settings.max_queue.max(1));
        let mm = Arc::new(Matchmaker {
            sessions: Sessions::new(&fleet_key),
            issuer: Issuer::new(fleet_key, settings.protocol_id)
                .with_lifetime(settings.token_lifetime),
            settings,
            tickets: Mutex::new(HashMap::new()),
            queue,
            waiters: AtomicUsize::new(0),
            counters: Counters::default(),
        });
        let weak = Arc::downgrade(&mm);
        std::thread::Builder::new()
            .name("matchmaker-booking".into())
            .spawn(move || booking_thread(weak, rx))?;
        Ok(mm)
    }

    /// Its settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The session checker.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Ticket>> {
        self.tickets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a ticket for `owner`: its id.
    pub fn open(&self, owner: &str, mode: &str, party: u32) -> Result<String, OpenError> {
        if party == 0 || party > self.settings.max_party {
            return Err(OpenError::BadParty(party));
        }
        let mut t = self.lock();
        self.forget_old(&mut t);
        if t.len() >= self.settings.max_tickets {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            return Err(OpenError::Busy("too many tickets: try again later"));
        }
        let id = random_id();
        if self.queue.try_send(id.clone()).is_err() {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            return Err(OpenError::Busy("the queue is full: try again later"));
        }
        let (changed, _) = watch::channel(0);
        t.insert(
            id.clone(),
            Ticket {
                owner: owner.to_string(),
                mode: mode.to_string(),
                party,
                deadline: Instant::now() + self.settings.queue_timeout,
                status: Status::Queued,
                answered: None,
                changed,
                why: None,
            },
        );
        self.counters.tickets.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    /// Forgets answered tickets older than `keep_answered` (called while opening, so the
    /// table never holds more than its bound).
    fn forget_old(&self, t: &mut HashMap<String, Ticket>) {
        if t.len() < self.settings.max_tickets / 2 {
            return;
        }
        let keep = self.settings.keep_answered;
        t.retain(|_, k| k.answered.is_none_or(|a| a.elapsed() < keep));
    }

    /// A ticket's status, when `owner` owns it; and a receiver that changes when the
    /// status does.
    pub fn status(&self, id: &str, owner: &str) -> Option<(Status, watch::Receiver<u64>)> {
        let t = self.lock();
        let k = t.get(id).filter(|k| k.owner == owner)?;
        Some((k.status.clone(), k.changed.subscribe()))
    }

    /// Takes a long-poll slot; `None` when all [`Settings::max_waiters`] are taken.
    pub fn waiter(self: &Arc<Self>) -> Option<WaiterSlot> {
        let n = self.waiters.fetch_add(1, Ordering::SeqCst);
        if n >= self.settings.max_waiters {
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(WaiterSlot(self.clone()))
    }

    /// Cancels `owner`'s ticket: its status after (a booked ticket's seats are given back).
    pub fn cancel(&self, id: &str, owner: &str) -> Option<Status> {
        let mut t = self.lock();
        let k = t.get_mut(id).filter(|k| k.owner == owner)?;
        let release_it = match &k.status {
            Status::Queued => None,
            Status::Assigned(a) => Some(a.booking.clone()),
            other => return Some(other.clone()),
        };
        k.status = Status::Cancelled;
        k.answered = Some(Instant::now());
        k.changed.send_modify(|v| *v += 1);
        drop(t);
        self.counters.cancelled.fetch_add(1, Ordering::Relaxed);
        if let Some(b) = release_it {
            // One short call on the request's thread; a failure only leaves the seats
            // reserved until the token expires.
            match connect(&self.settings.redis, Duration::from_secs(1))
                .and_then(|mut c| release(&mut c, &b))
            {
                Ok(()) => {}
                Err(e) => log::warn!("cancel: seats left to expire ({e})"),
            }
        }
        Some(Status::Cancelled)
    }

    /// Mints one hex token per seat of `b` for `owner`.
    fn tokens(&self, b: &Booking, owner: &str) -> (Vec<String>, u64) {
        let now = unix_now();
        let mut out = Vec::with_capacity(b.client_ids.len());
        let mut expires = 0;
        for &c in &b.client_ids {
            let t = self.issuer.mint(c, b.server, owner, now);
            expires = t.expires;
            let mut s = String::with_capacity(2 * tickwire::secure::TOKEN_LEN);
            for x in t.to_bytes() {
                let _ = write!(s, "{x:02x}");
            }
            out.push(s);
        }
        (out, expires)
    }

    /// Sets a queued ticket's answer; false when it was no longer queued (cancelled).
    fn answer(&self, id: &str, status: Status) -> bool {
        let mut t = self.lock();
        let Some(k) = t.get_mut(id) else {
            return false;
        };
        if k.status != Status::Queued {
            return false;
        }
        match &status {
            Status::Assigned(_) => self.counters.assigned.fetch_add(1, Ordering::Relaxed),
            _ => self.counters.failed.fetch_add(1, Ordering::Relaxed),
        };
        k.status = status;
        k.answered = Some(Instant::now());
        k.changed.send_modify(|v| *v += 1);
        true
    }
}

/// A taken long-poll slot, given back on drop.
#[derive(Debug)]
pub struct WaiterSlot(Arc<Matchmaker>);

impl Drop for WaiterSlot {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How long the booking thread waits between two passes over tickets that found no seat.
const RETRY: Duration = Duration::from_millis(100);

/// The booking thread: takes tickets in order, books, retries, fails them at their
/// deadline. Ends when the matchmaker is gone.
fn booking_thread(mm: std::sync::Weak<Matchmaker>, rx: mpsc::Receiver<String>) {
    let booker = Booker::default();
    let mut con: Option<redis::Connection> = None;
    let mut pending: VecDeque<String> = VecDeque::new();
    let mut backoff = Duration::from_millis(100);
    let mut retry_at = Instant::now();
    let mut last_warn: Option<Instant> = None;
    // Why the last connection attempt failed (kept across rounds, for tickets' `why`).
    let mut unreachable: Option<String> = None;
    loop {
        // New tickets: wait for one when nothing is pending, else only take what is there.
        let first = if pending.is_empty() {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(id) => Some(id),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        } else {
            None
        };
        pending.extend(first);
        pending.extend(rx.try_iter());
        let Some(mm) = mm.upgrade() else { return };
        if pending.is_empty() {
            continue;
        }
        let round: Vec<String> = pending.drain(..).collect();
        // (mode, smallest party) that found no seat this round: larger ones will not fit.
        let mut full: HashMap<String, (u32, String)> = HashMap::new();
        let mut redis_down: Option<String> = None;
        for id in round {
            let (owner, mode, party, deadline) = {
                let t = mm.lock();
                match t.get(&id) {
                    Some(k) if k.status == Status::Queued => {
                        (k.owner.clone(), k.mode.clone(), k.party, k.deadline)
                    }
                    _ => continue,
                }
            };
            if Instant::now() >= deadline {
                let why = mm
                    .lock()
                    .get(&id)
                    .and_then(|k| k.why.clone())
                    .unwrap_or_else(|| "no seat".into());
                mm.answer(
                    &id,
                    Status::Failed(format!(
                        "no seat within {} s: {why}",
                        mm.settings.queue_timeout.as_secs()
                    )),
                );
                continue;
            }
            if let Some(why) = &redis_down {
                set_why(&mm, &id, Some(why.clone()));
                pending.push_back(id);
                continue;
            }
            if let Some((_, why)) = full.get(&mode).filter(|(p, _)| party >= *p) {
                set_why(&mm, &id, Some(why.clone()));
                pending.push_back(id);
                continue;
            }
            if con.is_none() && Instant::now() >= retry_at {
                match connect(&mm.settings.redis, Duration::from_secs(1)) {
                    Ok(c) => {
                        con = Some(c);
                        unreachable = None;
                    }
                    Err(e) => {
                        retry_at = Instant::now() + backoff;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        unreachable = Some(format!("fleet registry unreachable: {e}"));
                    }
                }
            }
            let Some(c) = con.as_mut() else {
                // Down (or waiting out the backoff): this ticket and the rest of the round
                // wait, with the reason.
                redis_down = unreachable.clone();
                set_why(&mm, &id, unreachable.clone());
                pending.push_back(id);
                continue;
            };
            mm.counters.scripts.fetch_add(1, Ordering::Relaxed);
            match booker.book(c, &mode, party, mm.settings.token_lifetime) {
                Ok(b) => {
                    backoff = Duration::from_millis(100);
                    let (tokens, expires) = mm.tokens(&b, &owner);
                    let assigned = Assignment {
                        booking: b.clone(),
                        tokens,
                        expires,
                    };
                    if !mm.answer(&id, Status::Assigned(assigned)) {
                        // Cancelled while booking: give the seats back.
                        let _ = release(c, &b);
                    }
                }
                Err(BookError::NoSeat(why)) => {
                    set_why(&mm, &id, Some(why.clone()));
                    full.insert(mode, (party, why));
                    pending.push_back(id);
                }
                Err(BookError::Redis(e)) => {
                    con = None;
                    retry_at = Instant::now() + backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    let why = format!("fleet registry unreachable: {e}");
                    if last_warn.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                        last_warn = Some(Instant::now());
                        log::warn!(
                            "matchmaker: Redis {}: {e}; tickets wait, retrying",
                            redacted(&mm.settings.redis)
                        );
                    }
                    set_why(&mm, &id, Some(why.clone()));
                    unreachable = Some(why.clone());
                    redis_down = Some(why);
                    pending.push_back(id);
                }
            }
        }
        drop(mm);
        if !pending.is_empty() {
            std::thread::sleep(RETRY);
        }
    }
}

fn set_why(mm: &Matchmaker, id: &str, why: Option<String>) {
    if let Some(k) = mm.lock().get_mut(id) {
        k.why = why;
    }
}
