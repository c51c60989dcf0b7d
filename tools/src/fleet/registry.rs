//! The game server's side of the fleet registry (`tickwire serve --redis URL`).
//!
//! Two halves. On each event loop a [`RegistryAdapter`] (a host [`Adapter`]) looks at its
//! matches every [`POLL`]: when a player count or the run state changed, or a
//! [`REFRESH`] passed, it leaves a snapshot (state, per match the players and the client
//! ids of the connect tokens that admitted them) in a shared one-entry mailbox and
//! returns; it never waits on Redis. A side thread, owned by [`Registry`], owns the Redis
//! connection: it writes the newest snapshots of all loops with one Lua script (the
//! record, its TTL, the id in `tw:servers`, and for every connected client the removal of
//! its reservation, so a join is counted once: as a reservation before, as a player
//! after), and reconnects with a doubling backoff (up to [`MAX_BACKOFF`]) when Redis is
//! down, logging at most one warning per [`LOG_EVERY`]. When the server stops,
//! [`Registry::finish`] removes the record.

use super::{connect, redacted, server_key, RECORD_TTL, REFRESH, SEATS_TTL, SERVERS_KEY};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tickwire::{Adapter, Game, HostView, Registrar, RunState};

/// How often an adapter looks at its loop's player counts.
pub const POLL: Duration = Duration::from_millis(100);
/// The longest wait between two connection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The shortest interval between two "Redis unreachable" warnings.
pub const LOG_EVERY: Duration = Duration::from_secs(10);
/// The connect, read and write timeout of the side thread's Redis calls.
pub const IO_TIMEOUT: Duration = Duration::from_secs(1);

/// The refresh: the record, its TTL, the id, and every connected client's reservation
/// removed, in one atomic step. ARGV: id, record ttl ms, seats ttl ms, version, secure,
/// state, mode, K, then per match: addr, cap, players, n, n client ids.
const REFRESH_LUA: &str = r"
local id = ARGV[1]
local key = 'tw:server:' .. id
local ttl = tonumber(ARGV[2])
local seats_ttl = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local k = tonumber(ARGV[8])
redis.call('DEL', key)
redis.call('HSET', key, 'id', id, 'version', ARGV[4], 'secure', ARGV[5], 'state', ARGV[6],
  'mode', ARGV[7], 'matches', k, 'updated', now)
local i = 9
for m = 0, k - 1 do
  redis.call('HSET', key, 'addr:' .. m, ARGV[i], 'cap:' .. m, ARGV[i + 1],
    'players:' .. m, ARGV[i + 2])
  local n = tonumber(ARGV[i + 3])
  i = i + 4
  local seats = 'tw:seats:' .. id .. ':' .. m
  for c = 0, n - 1 do
    redis.call('ZREM', seats, ARGV[i + c])
  end
  i = i + n
  redis.call('ZREMRANGEBYSCORE', seats, '-inf', now)
  redis.call('PEXPIRE', seats, seats_ttl)
end
redis.call('PEXPIRE', key, ttl)
redis.call('SADD', 'tw:servers', id)
return now
";

/// What the record says of the server as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Started, its loops not yet running.
    Starting,
    /// Serving and admitting.
    Ready,
    /// Serving and admitting, and allocated by a fleet manager (Agones).
    Allocated,
    /// Admitting no one (SIGTERM's drain): matchmakers send no one here.
    Draining,
}

impl State {
    /// The record's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Ready => "ready",
            State::Allocated => "allocated",
            State::Draining => "draining",
        }
    }
}

/// What the registry publishes of one server, fixed at start-up.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Redis URL (`redis://host:port[/db]`).
    pub url: String,
    /// The server's id in the fleet (the scope of the tokens it admits).
    pub id: u64,
    /// The binary's version.
    pub version: String,
    /// Whether it runs secure mode (only secure servers get matchmaker players).
    pub secure: bool,
    /// The game mode players ask for (the server's `--map`).
    pub mode: String,
    /// The public address of each match, in match order.
    pub public: Vec<SocketAddr>,
    /// The seats of each match.
    pub capacity: u32,
}

/// One match as a loop saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct MatchSnap {
    players: u32,
    clients: Vec<u64>,
}

/// One loop's matches, `first` being the index of its first match.
#[derive(Debug, Clone)]
struct Part {
    first: usize,
    state: RunState,
    matches: Vec<MatchSnap>,
}

#[derive(Debug, Default)]
struct Mailbox {
    parts: Vec<Option<Part>>,
    dirty: bool,
    stop: bool,
}

/// Marks a [`Registry`]'s server allocated or not ([`Registry::allocation`]).
#[derive(Debug, Clone)]
pub struct Allocation(Arc<Shared>);

impl Allocation {
    /// Whether the server is allocated; the record says so at the next refresh.
    pub fn set(&self, allocated: bool) {
        if self.0.allocated.swap(allocated, Ordering::SeqCst) != allocated {
            self.0.lock().dirty = true;
            self.0.wake.notify_all();
        }
    }
}

#[derive(Debug)]
struct Shared {
    mailbox: Mutex<Mailbox>,
    wake: Condvar,
    allocated: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Mailbox> {
        self.mailbox.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The side thread and what it shares with the adapters.
#[derive(Debug)]
pub struct Registry {
    shared: Arc<Shared>,
    done: mpsc::Receiver<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Registry {
    /// Starts the side thread for a server of `loops` event loops. It connects at once and
    /// writes a `starting` record (when Redis answers; it keeps trying otherwise).
    pub fn start(identity: Identity, loops: usize) -> io::Result<Registry> {
        let shared = Arc::new(Shared {
            mailbox: Mutex::new(Mailbox {
                parts: vec![None; loops.max(1)],
                dirty: true,
                stop: false,
            }),
            wake: Condvar::new(),
            allocated: AtomicBool::new(false),
        });
        let (done_tx, done) = mpsc::channel();
        let side = shared.clone();
        let thread = std::thread::Builder::new()
            .name("tickwire-registry".into())
            .spawn(move || {
                Writer::new(identity, side).run();
                let _ = done_tx.send(());
            })?;
        Ok(Registry {
            shared,
            done,
            thread: Some(thread),
        })
    }

    /// The adapter of loop `l`, whose first match has index `first`.
    pub fn adapter(&self, l: usize, first: usize) -> RegistryAdapter {
        RegistryAdapter {
            shared: self.shared.clone(),
            loop_index: l,
            first,
            next: Instant::now(),
            last: None,
            last_sent: None,
        }
    }

    /// Marks the server allocated (or not): a fleet manager's allocation, shown in the
    /// record's `state` while the server is not draining.
    pub fn set_allocated(&self, allocated: bool) {
        self.allocation().set(allocated);
    }

    /// A handle that marks the server allocated from another thread (the Agones side
    /// thread, when the GameServer is Allocated), valid as long as the registry runs.
    pub fn allocation(&self) -> Allocation {
        Allocation(self.shared.clone())
    }

    /// Stops the side thread: it removes the record (one attempt, when connected) and
    /// exits. Waits at most `timeout` for it.
    pub fn finish(mut self, timeout: Duration) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if self.done.recv_timeout(timeout).is_ok() {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        } else {
            log::warn!("registry: Redis did not answer in {timeout:?}; record left to expire");
        }
    }
}

/// The loop side of the registry: an [`Adapter`] that snapshots its loop's matches.
#[derive(Debug)]
pub struct RegistryAdapter {
    shared: Arc<Shared>,
    loop_index: usize,
    first: usize,
    next: Instant,
    /// What was last handed over: state and player counts.
    last: Option<(RunState, Vec<u32>)>,
    last_sent: Option<Instant>,
}

impl RegistryAdapter {
    fn snapshot<G: Game>(&mut self, now: Instant, host: &HostView<'_, G>) {
        let state = host.state();
        let count = |i: usize| host.server(i).map_or(0, |s| s.client_count() as u32);
        // Compared in place: nothing is allocated on the loop unless something is handed
        // over (a change, or once per refresh).
        let changed = self.last.as_ref().is_none_or(|(s, c)| {
            !same_state(*s, state)
                || c.len() != host.matches()
                || c.iter().enumerate().any(|(i, n)| *n != count(i))
        });
        let due = self
            .last_sent
            .is_none_or(|t| now.duration_since(t) >= REFRESH);
        if !changed && !due {
            return;
        }
        let counts: Vec<u32> = (0..host.matches()).map(count).collect();
        let matches = (0..host.matches())
            .map(|i| match host.server(i) {
                Some(s) => MatchSnap {
                    players: s.client_count() as u32,
                    clients: s.players(now).filter_map(|p| p.client_id).collect(),
                },
                None => MatchSnap::default(),
            })
            .collect();
        let part = Part {
            first: self.first,
            state,
            matches,
        };
        // Held only to swap one entry: the side thread never holds it across Redis I/O.
        let mut mb = self.shared.lock();
        if let Some(slot) = mb.parts.get_mut(self.loop_index) {
            *slot = Some(part);
        }
        mb.dirty = true;
        drop(mb);
        self.shared.wake.notify_all();
        self.last = Some((state, counts));
        self.last_sent = Some(now);
    }
}

/// Whether two run states are the same for the record (a drain's deadline aside).
fn same_state(a: RunState, b: RunState) -> bool {
    std::mem::discriminant(&a) == std::mem::discriminant(&b)
}

impl<G: Game> Adapter<G> for RegistryAdapter {
    fn register(&mut self, _reg: &mut Registrar<'_>) -> io::Result<()> {
        Ok(())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next)
    }

    fn handle_timeout(&mut self, now: Instant, host: &HostView<'_, G>) {
        self.next = now + POLL;
        self.snapshot(now, host);
    }
}

/// The side thread's state: the connection, the backoff, the newest parts.
struct Writer {
    id: Identity,
    shared: Arc<Shared>,
    con: Option<redis::Connection>,
    script: redis::Script,
    backoff: Duration,
    retry_at: Instant,
    last_warn: Option<Instant>,
    failures: u64,
    parts: Vec<Option<Part>>,
}

impl Writer {
    fn new(id: Identity, shared: Arc<Shared>) -> Writer {
        let loops = shared.lock().parts.len();
        Writer {
            id,
            shared,
            con: None,
            script: redis::Script::new(REFRESH_LUA),
            backoff: Duration::from_millis(100),
            retry_at: Instant::now(),
            last_warn: None,
            failures: 0,
            parts: vec![None; loops],
        }
    }

    fn run(mut self) {
        log::info!(
            "registry: server {} publishes to {} every {:?} (ttl {:?})",
            self.id.id,
            redacted(&self.id.url),
            REFRESH,
            RECORD_TTL
        );
        let mut last_write: Option<Instant> = None;
        loop {
            let stop = {
                let mut mb = self.shared.lock();
                let wait_until = match last_write {
                    Some(t) => t + REFRESH,
                    None => Instant::now(),
                };
                while !mb.dirty && !mb.stop {
                    let now = Instant::now();
                    if now >= wait_until {
                        break;
                    }
                    mb = self
                        .shared
                        .wake
                        .wait_timeout(mb, wait_until - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                mb.dirty = false;
                for (mine, theirs) in self.parts.iter_mut().zip(mb.parts.iter_mut()) {
                    if let Some(p) = theirs.take() {
                        *mine = Some(p);
                    }
                }
                mb.stop
            };
            if stop {
                self.remove();
                return;
            }
            if self.write() {
                last_write = Some(Instant::now());
            } else {
                // Wait out the backoff (or a stop) before the next attempt.
                let mb = self.shared.lock();
                let wait = self.retry_at.saturating_duration_since(Instant::now());
                if !mb.stop && !wait.is_zero() {
                    let _ = self.shared.wake.wait_timeout(mb, wait);
                }
                last_write = None;
            }
        }
    }

    /// The record's state: the most advanced of the loops' (draining wins).
    fn state(&self) -> State {
        let mut any = false;
        for p in self.parts.iter().flatten() {
            any = true;
            if !matches!(p.state, RunState::Running) {
                return State::Draining;
            }
        }
        if !any || self.parts.iter().any(Option::is_none) {
            State::Starting
        } else if self.shared.allocated.load(Ordering::SeqCst) {
            State::Allocated
        } else {
            State::Ready
        }
    }

    /// The refresh script's invocation for the newest parts.
    fn invocation(&self) -> redis::ScriptInvocation<'_> {
        let mut inv = self.script.prepare_invoke();
        let k = self.id.public.len();
        inv.arg(self.id.id)
            .arg(RECORD_TTL.as_millis() as u64)
            .arg(SEATS_TTL.as_millis() as u64)
            .arg(&self.id.version)
            .arg(if self.id.secure { "1" } else { "0" })
            .arg(self.state().as_str())
            .arg(&self.id.mode)
            .arg(k);
        let mut snaps: Vec<Option<&MatchSnap>> = vec![None; k];
        for p in self.parts.iter().flatten() {
            for (j, m) in p.matches.iter().enumerate() {
                if let Some(s) = snaps.get_mut(p.first + j) {
                    *s = Some(m);
                }
            }
        }
        for (m, snap) in snaps.iter().enumerate() {
            inv.arg(self.id.public[m].to_string()).arg(self.id.capacity);
            match snap {
                Some(s) => {
                    inv.arg(s.players).arg(s.clients.len());
                    for c in &s.clients {
                        inv.arg(*c);
                    }
                }
                None => {
                    inv.arg(0).arg(0);
                }
            }
        }
        inv
    }

    /// Connects if needed and writes the record; false when Redis could not be reached.
    fn write(&mut self) -> bool {
        if self.con.is_none() {
            if Instant::now() < self.retry_at {
                return false;
            }
            match connect(&self.id.url, IO_TIMEOUT) {
                Ok(c) => {
                    if self.failures > 0 {
                        log::info!(
                            "registry: Redis {} reachable again after {} failed attempt(s)",
                            redacted(&self.id.url),
                            self.failures
                        );
                    }
                    self.con = Some(c);
                }
                Err(e) => {
                    self.failed(&e);
                    return false;
                }
            }
        }
        let Some(mut con) = self.con.take() else {
            return false;
        };
        let res: redis::RedisResult<u64> = self.invocation().invoke(&mut con);
        self.con = Some(con);
        match res {
            Ok(_) => {
                self.backoff = Duration::from_millis(100);
                self.failures = 0;
                true
            }
            Err(e) => {
                self.con = None;
                self.failed(&e);
                false
            }
        }
    }

    fn failed(&mut self, e: &redis::RedisError) {
        self.failures += 1;
        self.retry_at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        let now = Instant::now();
        if self
            .last_warn
            .is_none_or(|t| now.duration_since(t) >= LOG_EVERY)
        {
            self.last_warn = Some(now);
            log::warn!(
                "registry: Redis {} unreachable ({e}); the game goes on, retrying with \
                 backoff up to {MAX_BACKOFF:?} ({} failure(s) so far)",
                redacted(&self.id.url),
                self.failures
            );
        }
    }

    /// Removes the record and the id (one attempt, when connected or connectable).
    fn remove(&mut self) {
        if self.con.is_none() {
            self.con = connect(&self.id.url, IO_TIMEOUT).ok();
        }
        let Some(con) = self.con.as_mut() else {
            log::warn!("registry: Redis unreachable at stop; the record expires by itself");
            return;
        };
        let res: redis::RedisResult<()> = redis::pipe()
            .atomic()
            .del(server_key(self.id.id))
            .ignore()
            .srem(SERVERS_KEY, self.id.id)
            .ignore()
            .query(con);
        match res {
            Ok(()) => log::info!("registry: server {} removed from the fleet", self.id.id),
            Err(e) => log::warn!("registry: could not remove the record ({e}); it expires"),
        }
    }
}
