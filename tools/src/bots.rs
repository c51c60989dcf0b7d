//! The load generator's engine: many simulated arena players in one thread.
//!
//! [`run`] drives `clients` bots from one `mio::Poll` loop. Each bot has its own
//! non-blocking UDP socket (connected to its server, so the kernel filters strangers) and
//! its own sans-IO [`Client`]. Bots start connecting staggered at
//! [`BotConfig::connect_rate`] per second, then walk (INPUT at [`BotConfig::input_hz`],
//! changing direction at random), fire (FIRE at [`BotConfig::fire_hz`], naming the newest
//! snapshot they received, aimed at random), keep alive, and measure. At the end every
//! connected bot says BYE and [`run`] returns a [`Summary`].
//!
//! Timers live in one binary heap of `(deadline, bot)` with lazy deletion: a bot is pushed
//! again only when its next deadline moves earlier, and a popped entry that is not the bot's
//! current deadline is skipped, so the heap holds about one entry per bot.
//!
//! Receiving reads each readable socket with `recvmmsg` into one shared batch. A short
//! batch means the socket was empty at that moment; on Linux every datagram that arrives
//! later raises a new edge-triggered event, so the bot does not call again just to see
//! `WouldBlock` (which would cost one extra system call per wake-up per bot).
//!
//! ```no_run
//! use tickwire_tools::bots::{self, BotConfig};
//! let cfg = BotConfig {
//!     servers: vec!["127.0.0.1:7777".parse().unwrap()],
//!     clients: 20,
//!     ..BotConfig::default()
//! };
//! let summary = bots::run(&cfg, |p| eprintln!("{p}")).unwrap();
//! println!("{summary}");
//! ```

use core::cmp::Reverse;
use core::fmt;
use std::collections::BinaryHeap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use tickwire::client::{arena, Client, ClientConfig, DisconnectReason, Event};
use tickwire::internal::RecvBatch;
use tickwire::wire::MAX_DATAGRAM;

/// Datagrams read per `recvmmsg` call on one bot socket.
const RECV_BATCH: usize = 8;
/// Most `recvmmsg` calls per readiness event of one socket (a flood cannot starve others).
const RECV_CALLS: usize = 16;
/// Largest histogram value, microseconds (60 s).
const HIST_MAX_US: u64 = 60_000_000;
/// Snapshot ticks remembered per bot (see [`Bot::window`]).
const RECENT: usize = 64;
/// The delivery window closes this long before a bot's end, so snapshots still in flight
/// at the end are not counted as lost.
const WINDOW_MARGIN: Duration = Duration::from_millis(50);

/// What the bots do and where.
#[derive(Debug, Clone)]
pub struct BotConfig {
    /// Server game ports; bot `i` goes to `servers[i % servers.len()]`.
    pub servers: Vec<SocketAddr>,
    /// How many bots.
    pub clients: usize,
    /// How long the whole run lasts, ramp-up included.
    pub duration: Duration,
    /// INPUT datagrams per second per bot (0 = none).
    pub input_hz: f64,
    /// FIRE datagrams per second per bot (0 = none).
    pub fire_hz: f64,
    /// Protocol id sent in HELLO.
    pub protocol_id: u32,
    /// Bots that start connecting per second (the ramp lasts `clients / connect_rate`).
    pub connect_rate: f64,
    /// How often the progress callback runs (`None` = never).
    pub progress: Option<Duration>,
    /// Seed of the bots' random walk and aim.
    pub seed: u64,
    /// Settings of every bot's [`Client`] (protocol id is taken from above).
    pub client: ClientConfig,
    /// Kernel receive buffer per bot socket, bytes (`None` = the system default).
    pub socket_buffer: Option<usize>,
    /// Set it from another thread (or a signal handler) to end the run early, cleanly.
    pub stop: Option<Arc<AtomicBool>>,
    /// A STUN server (any RFC 5389 server; a tickwire game port answers STUN): each bot
    /// asks it for its socket's public address before it starts, and puts that address in
    /// HELLO's reply field. The request is blocking, at socket creation.
    pub stun: Option<SocketAddr>,
}

impl Default for BotConfig {
    fn default() -> BotConfig {
        BotConfig {
            servers: Vec::new(),
            clients: 1,
            duration: Duration::from_secs(10),
            input_hz: 10.0,
            fire_hz: 1.0,
            protocol_id: 0,
            connect_rate: 500.0,
            progress: None,
            seed: 1,
            client: ClientConfig {
                // Several snapshot parts at most for 255 players; keeps memory per bot small.
                max_snapshot_parts: 4,
                ..ClientConfig::default()
            },
            socket_buffer: None,
            stop: None,
            stun: None,
        }
    }
}

/// Expands `addr` into `matches` consecutive ports (the layout of `tickwire serve
/// --matches`). Ports past 65535 are left out.
pub fn consecutive(addrs: &[SocketAddr], matches: u16) -> Vec<SocketAddr> {
    let mut v = Vec::new();
    for a in addrs {
        for k in 0..matches.max(1) {
            if let Some(p) = a.port().checked_add(k) {
                v.push(SocketAddr::new(a.ip(), p));
            }
        }
    }
    v
}

/// A live progress sample, handed to the callback of [`run`].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Progress {
    /// Seconds since the run started.
    pub elapsed_s: f64,
    /// Bots that have started connecting.
    pub started: usize,
    /// Bots connected now.
    pub connected: usize,
    /// Bots that failed to connect or were dropped so far.
    pub failed: usize,
    /// Whole snapshots received per second, all bots, over the last interval.
    pub snapshots_per_s: f64,
    /// Snapshot ticks missed over the last interval, as a share of those expected.
    pub loss: f64,
    /// Datagrams received per second over the last interval.
    pub datagrams_in_per_s: f64,
    /// Datagrams sent per second over the last interval.
    pub datagrams_out_per_s: f64,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:6.1}s] started {} connected {} failed {} | snapshots/s {:.0} ticks missed {:.3}% | in/s {:.0} out/s {:.0}",
            self.elapsed_s,
            self.started,
            self.connected,
            self.failed,
            self.snapshots_per_s,
            self.loss * 100.0,
            self.datagrams_in_per_s,
            self.datagrams_out_per_s,
        )
    }
}

/// Percentiles of a distribution, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// How many samples.
    pub samples: u64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            samples: h.len(),
            p50: ms(h.value_at_quantile(0.5)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

/// Datagrams and bytes in one direction.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Traffic {
    /// Datagrams.
    pub datagrams: u64,
    /// Bytes (UDP payload).
    pub bytes: u64,
}

/// CPU time the load generator itself used (`getrusage(RUSAGE_SELF)` over the run).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct CpuUse {
    /// User time, seconds.
    pub user_s: f64,
    /// System time, seconds.
    pub sys_s: f64,
    /// `(user + sys) / wall`: 1.0 means one core was busy the whole run, and the bots may
    /// have been the bottleneck.
    pub busy: f64,
}

/// The outcome of a run; `Display` is the human summary, `Serialize` the JSON one.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Servers the bots were spread over.
    pub servers: Vec<String>,
    /// Bots asked for.
    pub clients: usize,
    /// Bots that got ACCEPT.
    pub connected: usize,
    /// Bots that did not (rejected, handshake timeout, or still connecting at the end).
    pub failed: usize,
    /// Of the failed: REJECTed (server full or bad ticket).
    pub rejected: usize,
    /// Connected bots the server dropped or that timed out before the end.
    pub dropped: usize,
    /// Wall time of the run, seconds.
    pub wall_s: f64,
    /// Server tick rate, from ACCEPT (0 when nobody connected).
    pub tick_hz: u16,
    /// Time from first HELLO to ACCEPT.
    pub handshake_ms: Percentiles,
    /// Mean of each connected bot's snapshots per second of connected time.
    pub snapshots_per_s_mean: f64,
    /// Smallest of them.
    pub snapshots_per_s_min: f64,
    /// Whole snapshots received, all bots.
    pub snapshots_received: u64,
    /// Snapshots received inside the delivery window (see `delivery`).
    pub window_received: u64,
    /// Snapshots expected inside the delivery window: the ticks the server ran from each
    /// bot's ACCEPT to 50 ms before its end, which at the tick rate is the bot's connected
    /// time (minus 50 ms) times the tick rate.
    pub window_expected: u64,
    /// `window_received / window_expected`.
    pub delivery: f64,
    /// Ticks missing between received snapshots, all bots.
    pub snapshot_ticks_lost: u64,
    /// Server datagrams never seen (sequence gaps that no late arrival filled), all bots.
    pub datagrams_lost: u64,
    /// Server datagrams that arrived after a newer one (reordered: dropped, not lost).
    pub datagrams_late: u64,
    /// `datagrams_lost` over the distinct sequence numbers the server sent while the bots
    /// were connected (accepted + late + lost).
    pub loss: f64,
    /// Datagrams the clients dropped (malformed, duplicate, out of order, unexpected).
    pub datagrams_dropped: u64,
    /// Round-trip time as the clients measure it (from the server's acks; includes the
    /// server's wait for its next datagram to the bot, up to one tick).
    pub rtt_ms: Percentiles,
    /// Bots to servers.
    pub sent: Traffic,
    /// Servers to bots.
    pub received: Traffic,
    /// INPUT datagrams queued.
    pub inputs: u64,
    /// FIRE datagrams queued.
    pub fires: u64,
    /// Datagrams the kernel refused (socket buffer full, ICMP errors).
    pub send_errors: u64,
    /// Receive errors other than "nothing to read" (ICMP port unreachable and the like).
    pub recv_errors: u64,
    /// CPU used by the load generator.
    pub cpu: CpuUse,
}

impl Summary {
    /// The summary as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = |p: &Percentiles| format!("p50 {:.2} ms  p99 {:.2} ms", p.p50, p.p99);
        writeln!(f, "tickwire-bots summary")?;
        writeln!(f, "  servers              {}", self.servers.join(","))?;
        writeln!(
            f,
            "  clients              {} connected, {} failed ({} rejected), {} dropped early, of {}",
            self.connected, self.failed, self.rejected, self.dropped, self.clients
        )?;
        writeln!(f, "  wall time            {:.2} s", self.wall_s)?;
        writeln!(f, "  handshake            {}", p(&self.handshake_ms))?;
        writeln!(
            f,
            "  snapshots/s/client   mean {:.2}  min {:.2}  (tick rate {} Hz)",
            self.snapshots_per_s_mean, self.snapshots_per_s_min, self.tick_hz
        )?;
        writeln!(
            f,
            "  snapshot delivery    {:.4}% ({} of {} ticks expected; {} received in all, {} ticks skipped)",
            self.delivery * 100.0,
            self.window_received,
            self.window_expected,
            self.snapshots_received,
            self.snapshot_ticks_lost
        )?;
        writeln!(
            f,
            "  loss                 {:.4}% ({} datagrams; {} late; {} dropped by clients)",
            self.loss * 100.0,
            self.datagrams_lost,
            self.datagrams_late,
            self.datagrams_dropped
        )?;
        writeln!(
            f,
            "  rtt                  {}  max {:.2} ms ({} samples)",
            p(&self.rtt_ms),
            self.rtt_ms.max,
            self.rtt_ms.samples
        )?;
        writeln!(
            f,
            "  sent                 {} datagrams, {} bytes ({} inputs, {} fires, {} send errors)",
            self.sent.datagrams, self.sent.bytes, self.inputs, self.fires, self.send_errors
        )?;
        writeln!(
            f,
            "  received             {} datagrams, {} bytes ({} recv errors)",
            self.received.datagrams, self.received.bytes, self.recv_errors
        )?;
        write!(
            f,
            "  load generator cpu   user {:.2} s  sys {:.2} s  = {:.0}% of one core{}",
            self.cpu.user_s,
            self.cpu.sys_s,
            self.cpu.busy * 100.0,
            if self.cpu.busy > 0.9 {
                "  (the bots may be the bottleneck)"
            } else {
                ""
            }
        )
    }
}

/// Raises the soft `RLIMIT_NOFILE` to at least `want` (up to the hard limit). Returns the
/// soft limit now in force.
// rlim_t is u64 on 64-bit Linux but not everywhere.
#[allow(clippy::useless_conversion)]
pub fn raise_fd_limit(want: u64) -> io::Result<u64> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write or read one rlimit we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if u64::from(r.rlim_cur) >= want {
        return Ok(u64::from(r.rlim_cur));
    }
    r.rlim_cur = (want as libc::rlim_t).min(r.rlim_max);
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::from(r.rlim_cur))
}

/// User and system CPU time of this process so far.
pub fn cpu_time() -> (Duration, Duration) {
    // SAFETY: getrusage writes one rusage we own; all-zero is a valid rusage.
    let mut u: libc::rusage = unsafe { core::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    (tv(u.ru_utime), tv(u.ru_stime))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    Running,
    Rejected,
    ConnectFailed,
    Dropped,
}

struct Bot {
    socket: UdpSocket,
    server: SocketAddr,
    /// HELLO's reply address (from STUN), or `None` for "the source".
    reply: Option<SocketAddr>,
    start: Instant,
    client: Option<Client>,
    phase: Phase,
    /// The instant of this bot's live heap entry.
    scheduled: Option<Instant>,
    connected_at: Option<Instant>,
    ended_at: Option<Instant>,
    tick_hz: u16,
    /// Server tick and time (µs) in ACCEPT.
    accept: (u32, u64),
    newest: Option<(u32, u64)>,
    snapshots: u64,
    /// The last [`RECENT`] snapshot ticks received, to count those after the window.
    recent: [u32; RECENT],
    next_input: Instant,
    next_fire: Instant,
    dir: (i8, i8),
}

#[derive(Default)]
struct Counters {
    started: usize,
    connected: usize,
    failed: usize,
    snapshots: u64,
    ticks_lost: u64,
    datagrams_in: u64,
    datagrams_out: u64,
    inputs: u64,
    fires: u64,
    send_errors: u64,
    recv_errors: u64,
}

struct Engine<'a> {
    cfg: &'a BotConfig,
    bots: Vec<Bot>,
    heap: BinaryHeap<Reverse<(Instant, u32)>>,
    rng: SmallRng,
    buf: Box<[u8; MAX_DATAGRAM]>,
    recv: RecvBatch,
    c: Counters,
}

fn period(hz: f64) -> Option<Duration> {
    (hz.is_finite() && hz > 0.0).then(|| Duration::from_secs_f64((1.0 / hz).max(1e-6)))
}

fn unspecified(a: &SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}

/// A bot's socket, connected to its server, and the reply address STUN found for it.
fn bot_socket(
    server: SocketAddr,
    buffer: Option<usize>,
    stun: Option<SocketAddr>,
) -> io::Result<(UdpSocket, Option<SocketAddr>)> {
    let (s, reply) = match stun {
        Some(st) => {
            let std_sock = std::net::UdpSocket::bind(unspecified(&server))?;
            let reply =
                tickwire::client::blocking::stun_discover(&std_sock, st, Duration::from_secs(5))?;
            std_sock.set_nonblocking(true)?;
            (UdpSocket::from_std(std_sock), Some(reply))
        }
        None => (UdpSocket::bind(unspecified(&server))?, None),
    };
    s.connect(server)?;
    if let Some(b) = buffer {
        let s2 = socket2::SockRef::from(&s);
        let _ = s2.set_recv_buffer_size(b);
    }
    Ok((s, reply))
}

/// Runs the bots until [`BotConfig::duration`] has passed (or [`BotConfig::stop`] is set),
/// calling `progress` every [`BotConfig::progress`]. Raises the fd limit when needed.
pub fn run(cfg: &BotConfig, mut progress: impl FnMut(&Progress)) -> io::Result<Summary> {
    if cfg.servers.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no server address",
        ));
    }
    let n = cfg.clients;
    let limit = raise_fd_limit(n as u64 + 64)?;
    if limit < n as u64 + 16 {
        return Err(io::Error::other(format!(
            "{n} bots need {} file descriptors; the limit is {limit}",
            n + 16
        )));
    }
    let poll = Poll::new()?;
    let t0 = Instant::now();
    let rate = if cfg.connect_rate.is_finite() && cfg.connect_rate > 0.0 {
        cfg.connect_rate
    } else {
        f64::INFINITY
    };
    let mut bots = Vec::with_capacity(n);
    for i in 0..n {
        let server = cfg.servers[i % cfg.servers.len()];
        let (mut socket, reply) = bot_socket(server, cfg.socket_buffer, cfg.stun)?;
        poll.registry()
            .register(&mut socket, Token(i), Interest::READABLE)?;
        let start = t0 + Duration::from_secs_f64((i as f64 / rate).min(1e6));
        bots.push(Bot {
            socket,
            server,
            reply,
            start,
            client: None,
            phase: Phase::Waiting,
            scheduled: None,
            connected_at: None,
            ended_at: None,
            tick_hz: 0,
            accept: (0, 0),
            newest: None,
            snapshots: 0,
            recent: [0; RECENT],
            next_input: start,
            next_fire: start,
            dir: (0, 0),
        });
    }
    let mut e = Engine {
        cfg,
        heap: BinaryHeap::with_capacity(2 * n + 16),
        bots,
        rng: SmallRng::seed_from_u64(cfg.seed),
        buf: Box::new([0; MAX_DATAGRAM]),
        recv: RecvBatch::new(RECV_BATCH),
        c: Counters::default(),
    };
    for i in 0..n {
        let at = e.bots[i].start;
        e.schedule(i, at);
    }
    let cpu0 = cpu_time();
    // Absurd durations saturate at a year instead of overflowing `Instant`.
    let end = later(t0, cfg.duration);
    let mut events = Events::with_capacity(1024);
    let mut next_progress = cfg.progress.map(|p| later(t0, p));
    let mut last = (t0, 0u64, 0u64, 0u64, 0u64);
    let mut poll = poll;
    loop {
        let now = Instant::now();
        if now >= end || cfg.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
            break;
        }
        e.run_due(now);
        if let (Some(at), Some(iv)) = (next_progress, cfg.progress) {
            if now >= at {
                let secs = now
                    .saturating_duration_since(last.0)
                    .as_secs_f64()
                    .max(1e-9);
                let snaps = e.c.snapshots - last.1;
                let lost = e.c.ticks_lost - last.2;
                progress(&Progress {
                    elapsed_s: now.saturating_duration_since(t0).as_secs_f64(),
                    started: e.c.started,
                    connected: e.c.connected,
                    failed: e.c.failed,
                    snapshots_per_s: snaps as f64 / secs,
                    loss: if snaps + lost > 0 {
                        lost as f64 / (snaps + lost) as f64
                    } else {
                        0.0
                    },
                    datagrams_in_per_s: (e.c.datagrams_in - last.3) as f64 / secs,
                    datagrams_out_per_s: (e.c.datagrams_out - last.4) as f64 / secs,
                });
                last = (
                    now,
                    e.c.snapshots,
                    e.c.ticks_lost,
                    e.c.datagrams_in,
                    e.c.datagrams_out,
                );
                next_progress = Some(later(at, iv).max(now));
            }
        }
        let mut wake = end;
        if let Some(Reverse((t, _))) = e.heap.peek() {
            wake = wake.min(*t);
        }
        if let Some(p) = next_progress {
            wake = wake.min(p);
        }
        // With a stop flag, look at it at least every 100 ms.
        if cfg.stop.is_some() {
            wake = wake.min(now + Duration::from_millis(100));
        }
        let timeout = wake.saturating_duration_since(now);
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
        let now = Instant::now();
        for ev in events.iter() {
            let i = ev.token().0;
            if i < e.bots.len() {
                e.receive(i, now);
                e.service(i, now);
            }
        }
    }
    let stop = Instant::now();
    e.finish(stop);
    let cpu1 = cpu_time();
    let wall = stop.saturating_duration_since(t0);
    Ok(e.summary(wall, (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1)))
}

impl Engine<'_> {
    /// Makes sure bot `i` is woken at `at` or earlier.
    fn schedule(&mut self, i: usize, at: Instant) {
        let b = &mut self.bots[i];
        if b.scheduled.is_some_and(|s| s <= at) {
            return;
        }
        b.scheduled = Some(at);
        self.heap.push(Reverse((at, i as u32)));
    }

    fn run_due(&mut self, now: Instant) {
        while let Some(&Reverse((t, i))) = self.heap.peek() {
            if t > now {
                break;
            }
            self.heap.pop();
            let i = i as usize;
            if self.bots[i].scheduled != Some(t) {
                continue; // superseded by an earlier entry that already ran
            }
            self.bots[i].scheduled = None;
            self.service(i, now);
        }
    }

    fn receive(&mut self, i: usize, now: Instant) {
        let fd = self.bots[i].socket.as_raw_fd();
        for _ in 0..RECV_CALLS {
            match self.recv.recv(fd) {
                Ok(got) => {
                    for k in 0..got {
                        let Some((_, data, _)) = self.recv.get(k) else {
                            continue;
                        };
                        self.c.datagrams_in += 1;
                        let b = &mut self.bots[i];
                        let Some(client) = b.client.as_mut() else {
                            continue;
                        };
                        let ev = client.handle_datagram(now, data);
                        if let Some(ev) = ev {
                            on_event(b, &mut self.c, &mut self.rng, self.cfg, now, ev);
                        }
                    }
                    if got < RECV_BATCH {
                        return; // drained: a later datagram raises a new event
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.c.recv_errors += 1,
            }
        }
    }

    /// Runs bot `i`'s timers and actions due at `now`, sends what it has, reschedules it.
    fn service(&mut self, i: usize, now: Instant) {
        let cfg = self.cfg;
        let b = &mut self.bots[i];
        if b.phase == Phase::Waiting {
            if now < b.start {
                let at = b.start;
                self.schedule(i, at);
                return;
            }
            let ccfg = ClientConfig {
                protocol_id: cfg.protocol_id,
                reply: b.reply.or(cfg.client.reply),
                ..cfg.client
            };
            b.client = Some(Client::new(ccfg, now));
            b.phase = Phase::Running;
            self.c.started += 1;
        }
        let Some(client) = b.client.as_mut() else {
            return;
        };
        if now >= client.poll_timeout() {
            if let Some(ev) = client.handle_timeout(now) {
                on_event(b, &mut self.c, &mut self.rng, cfg, now, ev);
            }
        }
        let Some(client) = b.client.as_mut() else {
            return;
        };
        if client.state().is_connected() {
            if let Some(p) = period(cfg.input_hz) {
                if now >= b.next_input {
                    if self.rng.gen_ratio(1, 4) {
                        b.dir = (self.rng.gen_range(-1..=1), self.rng.gen_range(-1..=1));
                    }
                    let (kind, payload) = arena::input(b.dir.0, b.dir.1);
                    if client.send_game(kind, &payload).is_ok() {
                        self.c.inputs += 1;
                    }
                    b.next_input = next_after(b.next_input, p, now);
                }
            }
            if let Some(p) = period(cfg.fire_hz) {
                if now >= b.next_fire {
                    if let Some((tick, time_us)) = b.newest {
                        let aim = loop {
                            let a = (
                                self.rng.gen_range(-100..=100),
                                self.rng.gen_range(-100..=100),
                            );
                            if a != (0, 0) {
                                break a;
                            }
                        };
                        if let Some((kind, payload)) = arena::fire(tick, time_us, aim.0, aim.1) {
                            if client.send_game(kind, &payload).is_ok() {
                                self.c.fires += 1;
                            }
                        }
                    }
                    b.next_fire = next_after(b.next_fire, p, now);
                }
            }
        }
        while let Some(len) = client.poll_transmit(now, &mut self.buf[..]) {
            self.c.datagrams_out += 1;
            match b.socket.send(&self.buf[..len]) {
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {
                    if b.socket.send(&self.buf[..len]).is_err() {
                        self.c.send_errors += 1;
                    }
                }
                Err(_) => self.c.send_errors += 1,
            }
        }
        let mut wake = client.poll_timeout();
        if client.state().is_connected() {
            if period(cfg.input_hz).is_some() {
                wake = wake.min(b.next_input);
            }
            if period(cfg.fire_hz).is_some() && b.newest.is_some() {
                wake = wake.min(b.next_fire);
            }
        }
        self.schedule(i, wake);
    }

    /// Ends the run at `now`: every bot stops its clock, connected ones say BYE.
    fn finish(&mut self, now: Instant) {
        for b in &mut self.bots {
            let Some(client) = b.client.as_mut() else {
                continue;
            };
            if client.state().is_connected() {
                b.ended_at = Some(now);
                client.disconnect();
                while let Some(len) = client.poll_transmit(now, &mut self.buf[..]) {
                    if b.socket.send(&self.buf[..len]).is_err() {
                        self.c.send_errors += 1;
                    }
                }
            } else if b.phase == Phase::Running && b.connected_at.is_none() {
                b.phase = Phase::ConnectFailed;
            }
        }
    }

    fn summary(&self, wall: Duration, cpu: (Duration, Duration)) -> Summary {
        let mut handshake = new_hist();
        let mut rtt = new_hist();
        let mut s = Summary {
            servers: {
                let mut v: Vec<String> = Vec::new();
                for b in &self.bots {
                    let a = b.server.to_string();
                    if !v.contains(&a) {
                        v.push(a);
                    }
                    if v.len() >= 64 {
                        break;
                    }
                }
                v
            },
            clients: self.bots.len(),
            connected: 0,
            failed: 0,
            rejected: 0,
            dropped: 0,
            wall_s: wall.as_secs_f64(),
            tick_hz: 0,
            handshake_ms: Percentiles::default(),
            snapshots_per_s_mean: 0.0,
            snapshots_per_s_min: 0.0,
            snapshots_received: 0,
            window_received: 0,
            window_expected: 0,
            delivery: 0.0,
            snapshot_ticks_lost: 0,
            datagrams_lost: 0,
            datagrams_late: 0,
            loss: 0.0,
            datagrams_dropped: 0,
            rtt_ms: Percentiles::default(),
            sent: Traffic::default(),
            received: Traffic::default(),
            inputs: self.c.inputs,
            fires: self.c.fires,
            send_errors: self.c.send_errors,
            recv_errors: self.c.recv_errors,
            cpu: CpuUse::default(),
        };
        let mut rate_sum = 0.0;
        let mut accepted = 0u64;
        let mut rate_min = f64::INFINITY;
        for b in &self.bots {
            match b.phase {
                Phase::Rejected => s.rejected += 1,
                Phase::Dropped => s.dropped += 1,
                _ => {}
            }
            let Some(client) = b.client.as_ref() else {
                continue;
            };
            let st = client.stats();
            s.sent.datagrams += st.datagrams_out;
            s.sent.bytes += st.bytes_out;
            s.received.datagrams += st.datagrams_in;
            s.received.bytes += st.bytes_in;
            s.datagrams_lost += st.lost;
            s.datagrams_late += st.late;
            s.datagrams_dropped += st.dropped_total();
            accepted += st.datagrams_in - st.dropped_total() - st.unexpected;
            s.snapshot_ticks_lost += st.snapshot_ticks_lost;
            s.snapshots_received += b.snapshots;
            if let Some(h) = st.handshake {
                let _ = handshake.record(us(h).clamp(1, HIST_MAX_US));
            }
            let _ = rtt.add(client.rtt_histogram());
            let Some(at) = b.connected_at else {
                continue;
            };
            s.connected += 1;
            s.tick_hz = s.tick_hz.max(b.tick_hz);
            let secs = b
                .ended_at
                .unwrap_or(at)
                .saturating_duration_since(at)
                .as_secs_f64();
            let (got, want) = b.window();
            s.window_received += got;
            s.window_expected += want;
            let rate = if secs > 0.0 {
                b.snapshots as f64 / secs
            } else {
                0.0
            };
            rate_sum += rate;
            rate_min = rate_min.min(rate);
        }
        s.failed = s.clients - s.connected;
        if s.connected > 0 {
            s.snapshots_per_s_mean = rate_sum / s.connected as f64;
            s.snapshots_per_s_min = rate_min;
        }
        if s.window_expected > 0 {
            s.delivery = s.window_received as f64 / s.window_expected as f64;
        }
        let seen = accepted + s.datagrams_late + s.datagrams_lost;
        if seen > 0 {
            s.loss = s.datagrams_lost as f64 / seen as f64;
        }
        s.handshake_ms = Percentiles::of(&handshake);
        s.rtt_ms = Percentiles::of(&rtt);
        let secs = wall.as_secs_f64().max(1e-9);
        s.cpu = CpuUse {
            user_s: cpu.0.as_secs_f64(),
            sys_s: cpu.1.as_secs_f64(),
            busy: (cpu.0 + cpu.1).as_secs_f64() / secs,
        };
        s
    }
}

fn on_event(
    b: &mut Bot,
    c: &mut Counters,
    rng: &mut SmallRng,
    cfg: &BotConfig,
    now: Instant,
    ev: Event,
) {
    match ev {
        Event::Connected {
            tick_hz,
            tick,
            server_time_us,
            ..
        } => {
            b.connected_at = Some(now);
            b.tick_hz = tick_hz;
            b.accept = (tick, server_time_us);
            c.connected += 1;
            // Random phases, so the bots' inputs do not all land in the same tick.
            if let Some(p) = period(cfg.input_hz) {
                b.next_input = now + p.mul_f64(rng.gen::<f64>());
            }
            if let Some(p) = period(cfg.fire_hz) {
                b.next_fire = now + p.mul_f64(rng.gen::<f64>());
            }
            b.dir = (rng.gen_range(-1..=1), rng.gen_range(-1..=1));
        }
        Event::Snapshot { tick, time_us } => {
            b.recent[b.snapshots as usize % RECENT] = tick;
            b.snapshots += 1;
            c.snapshots += 1;
            if let Some((prev, _)) = b.newest {
                let gap = tick.wrapping_sub(prev);
                if gap > 1 && gap < 1 << 31 {
                    c.ticks_lost += u64::from(gap - 1);
                }
            }
            b.newest = Some((tick, time_us));
        }
        Event::Game { .. } => {}
        Event::Rejected(_) => {
            b.phase = Phase::Rejected;
            c.failed += 1;
        }
        Event::Disconnected(reason) => {
            b.ended_at = Some(now);
            if b.connected_at.is_some() {
                c.connected = c.connected.saturating_sub(1);
                if reason != DisconnectReason::Closed {
                    b.phase = Phase::Dropped;
                    c.failed += 1;
                }
            } else {
                b.phase = Phase::ConnectFailed;
                c.failed += 1;
            }
        }
    }
}

impl Bot {
    /// The delivery window of a connected bot: `(received, expected)` snapshot ticks.
    ///
    /// The window runs from the first tick after ACCEPT's tick to the last tick due (in
    /// server time, estimated from ACCEPT's server time and our connect instant) by
    /// [`WINDOW_MARGIN`] before the bot's end. Counting ticks this way, rather than
    /// `tick rate * connected time`, leaves out the snapshot in flight at either edge, so
    /// a short run is not penalized for the delivery delay.
    fn window(&self) -> (u64, u64) {
        let (Some(at), Some(end)) = (self.connected_at, self.ended_at) else {
            return (0, 0);
        };
        let hz = u64::from(self.tick_hz.max(1));
        let margin =
            WINDOW_MARGIN.min(Duration::from_secs(RECENT as u64 - 2) / self.tick_hz.max(1) as u32);
        let since = us(end.saturating_duration_since(at).saturating_sub(margin));
        let server_end_us = self.accept.1.saturating_add(since);
        let last_tick = u32::try_from(u128::from(server_end_us) * u128::from(hz) / 1_000_000)
            .unwrap_or(u32::MAX);
        let expected = u64::from(last_tick.saturating_sub(self.accept.0));
        let recent = (self.snapshots as usize).min(RECENT);
        let after = self.recent[..recent]
            .iter()
            .filter(|&&t| (t.wrapping_sub(last_tick) as i32) > 0)
            .count() as u64;
        (self.snapshots.saturating_sub(after), expected)
    }
}

/// The next multiple of `p` after `prev` that is later than `now` (no burst after a stall).
fn next_after(prev: Instant, p: Duration, now: Instant) -> Instant {
    let next = prev + p;
    if next > now {
        next
    } else {
        now + p
    }
}

/// `t + d`, at most a year later.
fn later(t: Instant, d: Duration) -> Instant {
    let year = Duration::from_secs(365 * 86_400);
    t.checked_add(d.min(year)).unwrap_or(t)
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("constant histogram bounds are valid")
}
