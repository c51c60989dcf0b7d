//! `tickwire-netem`: a userspace UDP impairment proxy, for kernels built without `sch_netem`.
//!
//! One thread, one `mio` poll. Clients send to `--listen`; for each distinct client source
//! address the proxy opens its own upstream UDP socket (connected to `--upstream`), so the
//! server sees one source per client as it would without the proxy. Every datagram, in each
//! direction independently, may be lost, duplicated, delayed (with jitter), reordered or
//! held back, as the impairment model `tickwire_netem` (shared with the simulated-network tests) draws
//! it; datagrams wait in that model's queue, one per direction, and the poll timeout wakes
//! the loop for the earliest one (mio rounds that timeout up to the next millisecond).

use clap::{Parser, ValueEnum};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tickwire_netem::{Distribution, Impairment, Netem, Order};
use tickwire_tools::common::{millis, secs, unspecified};

/// tickwire-netem: a UDP impairment proxy (delay, jitter, loss, duplication, reordering,
/// hold-back), netem-like, in userspace.
///
/// The first line on stdout is `tickwire-netem listening ADDR upstream ADDR` with the real
/// bound address (so `--listen 127.0.0.1:0` works). Statistics go to stderr every
/// --stats-secs and once more on SIGINT/SIGTERM, which end the proxy (queued datagrams are
/// discarded). Each impairment applies to each direction independently (as netem on both
/// ends of a link): a datagram is first lost with probability --loss; a survivor gets one
/// extra copy with probability --dup; each copy then skips the delay with probability
/// --reorder (sent at once, overtaking the delayed ones, like netem's `reorder`) or waits
/// --delay-ms plus jitter, and, with probability --hold-back, an extra time drawn from
/// --hold-back-ms on top (later datagrams overtake it; netem has no such knob). The
/// impairment model `tickwire_netem` documents each one; tickwire's simulated-network
/// tests use the same model.
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
struct Cli {
    /// Address the clients send to (port 0 picks a free port; the first stdout line shows
    /// the one bound).
    #[arg(long)]
    listen: SocketAddr,

    /// The server's address. Each client gets its own upstream socket connected to it.
    #[arg(long)]
    upstream: SocketAddr,

    /// Base one-way delay in milliseconds, applied in each direction.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative)]
    delay_ms: f64,

    /// Jitter in milliseconds around --delay-ms: the standard deviation of a normal
    /// distribution clamped to +/- 4 deviations (netem's `distribution normal`), or the
    /// half-width with --jitter-dist uniform. A delay never goes below 0. Jitter reorders
    /// datagrams, as netem's does by default.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative)]
    jitter_ms: f64,

    /// Shape of the jitter.
    #[arg(long, value_enum, default_value_t = JitterDist::Normal)]
    jitter_dist: JitterDist,

    /// Probability (0..=1) that a datagram is dropped, per direction.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    loss: f64,

    /// Probability (0..=1) that a datagram that was not lost is sent twice, per direction.
    /// Each copy is delayed (or reordered) independently.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    dup: f64,

    /// Probability (0..=1) that a datagram skips the delay and is sent at once, overtaking
    /// those still delayed (netem's `reorder`, without its correlation).
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    reorder: f64,

    /// Probability (0..=1) that a datagram that was not reordered is held back: sent an
    /// extra time drawn from --hold-back-ms after its delay, so those sent after it
    /// overtake it, per direction. Linux netem has no such knob (a large jitter without a
    /// rate is the closest). tickwire's simulated-network tests call this hold-back.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    hold_back: f64,

    /// The extra delay of a held-back datagram in milliseconds, MIN-MAX (uniform, both
    /// included) or one value. The default is 1 to 3 ticks at 60 Hz, as in the
    /// simulated-network tests.
    #[arg(long, default_value = "17-50", value_parser = ms_range)]
    hold_back_ms: MsRange,

    /// Which direction(s) the impairments apply to: both, up (client to server) or down
    /// (server to client). The other direction is forwarded at once and untouched.
    #[arg(long, value_enum, default_value_t = Impair::Both)]
    impair: Impair,

    /// Seed of the random impairments (0 = a random seed, printed on stderr).
    #[arg(long, default_value_t = 0)]
    seed: u64,

    /// Most client source addresses mapped at once; datagrams from new sources beyond it
    /// are dropped and counted (clients rejected).
    #[arg(long, default_value_t = 4096)]
    max_clients: usize,

    /// Most bytes of datagrams waiting for their due time, both directions together;
    /// datagrams past it are dropped and counted (queue_drops).
    #[arg(long, default_value_t = 32 << 20)]
    max_queue_bytes: usize,

    /// A client mapping with no datagram in either direction for this many seconds is
    /// removed (its upstream socket closed); datagrams still queued for it are discarded.
    #[arg(long, default_value_t = 30.0, value_parser = positive)]
    idle_secs: f64,

    /// Interval of the statistics line on stderr in seconds (0 = only the final one).
    #[arg(long, default_value_t = 10.0, value_parser = non_negative)]
    stats_secs: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum JitterDist {
    Normal,
    Uniform,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Impair {
    Both,
    Up,
    Down,
}

fn parse_f64(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err("must be finite".into())
    }
}

fn non_negative(s: &str) -> Result<f64, String> {
    let v = parse_f64(s)?;
    if (0.0..=1e9).contains(&v) {
        Ok(v)
    } else {
        Err("must be between 0 and 1e9".into())
    }
}

fn positive(s: &str) -> Result<f64, String> {
    let v = non_negative(s)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err("must be greater than 0".into())
    }
}

/// A range of milliseconds, `MIN-MAX` (or one value), as --hold-back-ms takes it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct MsRange {
    min: f64,
    max: f64,
}

impl fmt::Display for MsRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.min, self.max)
    }
}

fn ms_range(s: &str) -> Result<MsRange, String> {
    let (min, max) = match s.split_once('-') {
        Some((a, b)) => (non_negative(a.trim())?, non_negative(b.trim())?),
        None => {
            let v = non_negative(s.trim())?;
            (v, v)
        }
    };
    if min <= max {
        Ok(MsRange { min, max })
    } else {
        Err(format!("MIN-MAX with MIN <= MAX (got {min} > {max})"))
    }
}

fn probability(s: &str) -> Result<f64, String> {
    let v = parse_f64(s)?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be a probability between 0 and 1".into())
    }
}

const LISTEN: Token = Token(0);
const SIGNALS: Token = Token(1);
const FIRST_CLIENT: usize = 2;
/// Datagrams read from one socket before the loop looks at timers and other sockets again.
const READ_BUDGET: usize = 256;
/// Bytes counted against --max-queue-bytes per queued datagram besides its payload.
const ENTRY_OVERHEAD: usize = 64;
const MAX_DATAGRAM: usize = 65536;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dir {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

#[derive(Default, Clone, Copy)]
struct DirStats {
    r#in: u64,
    forwarded: u64,
    lost: u64,
    duplicated: u64,
    reordered: u64,
    held_back: u64,
    queue_drops: u64,
    send_errors: u64,
    recv_errors: u64,
}

impl fmt::Display for DirStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "in={} forwarded={} lost={} duplicated={} reordered={} held_back={} queue_drops={} send_errors={} recv_errors={}",
            self.r#in,
            self.forwarded,
            self.lost,
            self.duplicated,
            self.reordered,
            self.held_back,
            self.queue_drops,
            self.send_errors,
            self.recv_errors
        )
    }
}

#[derive(Default)]
struct ClientStats {
    total: u64,
    rejected: u64,
    expired: u64,
    socket_errors: u64,
    /// Datagrams discarded at their due time because their client mapping had expired.
    orphaned: u64,
}

struct Client {
    addr: SocketAddr,
    sock: UdpSocket,
    generation: u64,
    last_active: Instant,
}

/// A datagram waiting in a direction's queue for its due time.
struct Pending {
    client: usize,
    generation: u64,
    data: Vec<u8>,
}

/// The impairment the flags describe, for one direction (`impaired` false: none).
fn impairment(cli: &Cli, impaired: bool) -> Impairment {
    if !impaired {
        return Impairment::NONE;
    }
    Impairment {
        latency: millis(cli.delay_ms),
        jitter: millis(cli.jitter_ms),
        distribution: match cli.jitter_dist {
            JitterDist::Normal => Distribution::Normal,
            JitterDist::Uniform => Distribution::Uniform,
        },
        // Jitter reorders, as netem's does by default.
        order: Order::DueTime,
        loss: cli.loss,
        duplicate: cli.dup,
        reorder: cli.reorder,
        hold_back: cli.hold_back,
        hold_back_range: (millis(cli.hold_back_ms.min), millis(cli.hold_back_ms.max)),
    }
}

struct Proxy {
    poll: Poll,
    listen: UdpSocket,
    upstream: SocketAddr,
    clients: Slab<Client>,
    by_addr: HashMap<SocketAddr, usize>,
    max_clients: usize,
    next_generation: u64,
    /// Client to server, and server to client.
    up_link: Netem<Pending>,
    down_link: Netem<Pending>,
    queued_bytes: usize,
    max_queue_bytes: usize,
    idle: Duration,
    up: DirStats,
    down: DirStats,
    cs: ClientStats,
    /// Sockets that still had datagrams when their read budget ran out.
    readable: Vec<Token>,
    buf: Vec<u8>,
}

impl Proxy {
    fn dir_stats(&mut self, dir: Dir) -> &mut DirStats {
        match dir {
            Dir::Up => &mut self.up,
            Dir::Down => &mut self.down,
        }
    }

    fn link(&mut self, dir: Dir) -> &mut Netem<Pending> {
        match dir {
            Dir::Up => &mut self.up_link,
            Dir::Down => &mut self.down_link,
        }
    }

    fn line(&self) -> String {
        format!(
            "up[{}] down[{}] clients[now={} total={} rejected={} expired={} socket_errors={} orphaned={}] queue[datagrams={} bytes={}]",
            self.up,
            self.down,
            self.clients.len(),
            self.cs.total,
            self.cs.rejected,
            self.cs.expired,
            self.cs.socket_errors,
            self.cs.orphaned,
            self.up_link.len() + self.down_link.len(),
            self.queued_bytes
        )
    }

    /// Draws loss, duplication, reordering, hold-back and delay for one received datagram and queues
    /// the copies that survive (and fit under --max-queue-bytes).
    fn admit(&mut self, dir: Dir, client: usize, len: usize, now: Instant) {
        let Some(c) = self.clients.get(client) else {
            return;
        };
        let generation = c.generation;
        self.dir_stats(dir).r#in += 1;
        let fate = self.link(dir).decide(now);
        if fate.lost() {
            self.dir_stats(dir).lost += 1;
            return;
        }
        if fate.duplicated() {
            self.dir_stats(dir).duplicated += 1;
        }
        for copy in fate.copies() {
            if copy.reordered {
                self.dir_stats(dir).reordered += 1;
            }
            if copy.held_back {
                self.dir_stats(dir).held_back += 1;
            }
            let cost = len + ENTRY_OVERHEAD;
            if self.queued_bytes + cost > self.max_queue_bytes {
                self.dir_stats(dir).queue_drops += 1;
                continue;
            }
            let Some(data) = self.buf.get(..len) else {
                return;
            };
            let p = Pending {
                client,
                generation,
                data: data.to_vec(),
            };
            self.queued_bytes += cost;
            self.link(dir).enqueue(copy.due, p);
        }
    }

    /// When the earliest queued datagram is due, either direction.
    fn next_due(&self) -> Option<Instant> {
        match (self.up_link.poll_timeout(), self.down_link.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The client slot for a source address, created (with its upstream socket) if new.
    fn client_for(&mut self, addr: SocketAddr, now: Instant) -> Option<usize> {
        if let Some(&k) = self.by_addr.get(&addr) {
            if let Some(c) = self.clients.get_mut(k) {
                c.last_active = now;
            }
            return Some(k);
        }
        if self.clients.len() >= self.max_clients {
            self.cs.rejected += 1;
            return None;
        }
        let sock = match self.open_upstream() {
            Ok(s) => s,
            Err(e) => {
                self.cs.socket_errors += 1;
                if self.cs.socket_errors <= 10 {
                    eprintln!("tickwire-netem: cannot open an upstream socket for {addr}: {e}");
                }
                return None;
            }
        };
        let entry = self.clients.vacant_entry();
        let k = entry.key();
        let mut client = Client {
            addr,
            sock,
            generation: self.next_generation,
            last_active: now,
        };
        if let Err(e) = self.poll.registry().register(
            &mut client.sock,
            Token(FIRST_CLIENT + k),
            Interest::READABLE,
        ) {
            self.cs.socket_errors += 1;
            if self.cs.socket_errors <= 10 {
                eprintln!("tickwire-netem: cannot register an upstream socket: {e}");
            }
            return None;
        }
        entry.insert(client);
        self.next_generation += 1;
        self.cs.total += 1;
        self.by_addr.insert(addr, k);
        Some(k)
    }

    fn open_upstream(&self) -> io::Result<UdpSocket> {
        let sock = UdpSocket::bind(unspecified(&self.upstream))?;
        sock.connect(self.upstream)?;
        Ok(sock)
    }

    /// Reads up to READ_BUDGET datagrams from the socket behind `token`. Returns true if
    /// the socket may still hold more.
    fn read(&mut self, token: Token) -> bool {
        for _ in 0..READ_BUDGET {
            let now = Instant::now();
            if token == LISTEN {
                match self.listen.recv_from(&mut self.buf) {
                    Ok((len, from)) => {
                        if let Some(k) = self.client_for(from, now) {
                            self.admit(Dir::Up, k, len, now);
                        } else {
                            self.up.r#in += 1;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                    Err(_) => self.up.recv_errors += 1,
                }
            } else {
                let k = token.0 - FIRST_CLIENT;
                let Some(c) = self.clients.get_mut(k) else {
                    return false;
                };
                match c.sock.recv(&mut self.buf) {
                    Ok(len) => {
                        c.last_active = now;
                        self.admit(Dir::Down, k, len, now);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                    // ECONNREFUSED from an ICMP port unreachable (server not up yet) and
                    // the like: counted, and the socket is read on.
                    Err(_) => self.down.recv_errors += 1,
                }
            }
        }
        true
    }

    /// Sends every queued datagram that is due, earliest first over both directions.
    fn send_due(&mut self, now: Instant) {
        loop {
            let up = self.up_link.poll_timeout().filter(|&t| t <= now);
            let down = self.down_link.poll_timeout().filter(|&t| t <= now);
            let dir = match (up, down) {
                (None, None) => break,
                (Some(u), Some(d)) if d < u => Dir::Down,
                (Some(_), _) => Dir::Up,
                (None, Some(_)) => Dir::Down,
            };
            let Some(p) = self.link(dir).poll(now) else {
                break;
            };
            self.queued_bytes = self
                .queued_bytes
                .saturating_sub(p.data.len() + ENTRY_OVERHEAD);
            let Some(c) = self
                .clients
                .get(p.client)
                .filter(|c| c.generation == p.generation)
            else {
                self.cs.orphaned += 1;
                continue;
            };
            let sent = match dir {
                Dir::Up => c.sock.send(&p.data),
                Dir::Down => self.listen.send_to(&p.data, c.addr),
            };
            let st = self.dir_stats(dir);
            match sent {
                Ok(_) => st.forwarded += 1,
                Err(_) => st.send_errors += 1,
            }
        }
    }

    fn expire(&mut self, now: Instant) {
        let idle = self.idle;
        let stale: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| now.saturating_duration_since(c.last_active) >= idle)
            .map(|(k, _)| k)
            .collect();
        for k in stale {
            if let Some(mut c) = self.clients.try_remove(k) {
                let _ = self.poll.registry().deregister(&mut c.sock);
                self.by_addr.remove(&c.addr);
                self.cs.expired += 1;
            }
        }
        if self.clients.is_empty() && self.clients.capacity() > 1024 {
            self.clients.shrink_to_fit();
            self.by_addr.shrink_to_fit();
        }
    }
}

fn run(cli: Cli) -> io::Result<()> {
    let poll = Poll::new()?;
    let mut listen = UdpSocket::bind(cli.listen)?;
    poll.registry()
        .register(&mut listen, LISTEN, Interest::READABLE)?;
    let mut signals = signal_hook_mio::v1_0::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    poll.registry()
        .register(&mut signals, SIGNALS, Interest::READABLE)?;
    let local = listen.local_addr()?;
    let seed = if cli.seed != 0 {
        cli.seed
    } else {
        rand::random::<u64>().max(1)
    };
    {
        let mut out = io::stdout().lock();
        writeln!(
            out,
            "tickwire-netem listening {local} upstream {}",
            cli.upstream
        )?;
        out.flush()?;
    }
    eprintln!(
        "tickwire-netem: delay {} ms jitter {} ms ({:?}) loss {} dup {} reorder {} hold-back {} ({} ms) on {:?}, seed {seed}",
        cli.delay_ms,
        cli.jitter_ms,
        cli.jitter_dist,
        cli.loss,
        cli.dup,
        cli.reorder,
        cli.hold_back,
        cli.hold_back_ms,
        cli.impair
    );
    let mut p = Proxy {
        poll,
        listen,
        upstream: cli.upstream,
        clients: Slab::new(),
        by_addr: HashMap::new(),
        max_clients: cli.max_clients,
        next_generation: 0,
        // Each direction draws from its own stream of the one seed.
        up_link: Netem::new(impairment(&cli, cli.impair != Impair::Down), seed),
        down_link: Netem::new(
            impairment(&cli, cli.impair != Impair::Up),
            seed ^ 0x9E37_79B9_7F4A_7C15,
        ),
        queued_bytes: 0,
        max_queue_bytes: cli.max_queue_bytes,
        idle: secs(cli.idle_secs),
        up: DirStats::default(),
        down: DirStats::default(),
        cs: ClientStats::default(),
        readable: Vec::new(),
        buf: vec![0; MAX_DATAGRAM],
    };
    let stats_every = (cli.stats_secs > 0.0).then(|| secs(cli.stats_secs));
    let sweep_every = secs((cli.idle_secs / 4.0).clamp(0.05, 1.0));
    let start = Instant::now();
    let mut next_stats = stats_every.map(|d| start + d);
    let mut next_sweep = start + sweep_every;
    let mut events = Events::with_capacity(1024);
    loop {
        let now = Instant::now();
        let mut wake = next_sweep;
        if let Some(t) = next_stats {
            wake = wake.min(t);
        }
        if let Some(due) = p.next_due() {
            wake = wake.min(due);
        }
        let timeout = if p.readable.is_empty() {
            wake.saturating_duration_since(now)
        } else {
            Duration::ZERO
        };
        match p.poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            match ev.token() {
                SIGNALS => {
                    if signals.pending().next().is_some() {
                        eprintln!("tickwire-netem stopped {}", p.line());
                        return Ok(());
                    }
                }
                t => {
                    if !p.readable.contains(&t) {
                        p.readable.push(t);
                    }
                }
            }
        }
        // Sockets take turns, READ_BUDGET datagrams each, and due sends go out between.
        let tokens = std::mem::take(&mut p.readable);
        for t in tokens {
            p.send_due(Instant::now());
            if p.read(t) {
                p.readable.push(t);
            }
        }
        let now = Instant::now();
        p.send_due(now);
        if now >= next_sweep {
            p.expire(now);
            next_sweep = now + sweep_every;
        }
        if let (Some(t), Some(every)) = (next_stats, stats_every) {
            if now >= t {
                eprintln!("tickwire-netem stats {}", p.line());
                next_stats = Some(t + every).filter(|&n| n > now).or(Some(now + every));
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickwire-netem: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
#[path = "tickwire-netem/tests.rs"]
mod tests;
