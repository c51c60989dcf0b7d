//! `tickwire-netem`: a userspace UDP impairment proxy, for kernels built without `sch_netem`.
//!
//! One thread, one `mio` poll. Clients send to `--listen`; for each distinct client source
//! address the proxy opens its own upstream UDP socket (connected to `--upstream`), so the
//! server sees one source per client as it would without the proxy. Every datagram, in each
//! direction independently, may be lost, duplicated, delayed (with jitter) or reordered;
//! datagrams wait in a binary heap ordered by due time and the poll timeout wakes the loop
//! for the earliest one (mio rounds that timeout up to the next millisecond).

use clap::{Parser, ValueEnum};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use slab::Slab;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// tickwire-netem: a UDP impairment proxy (delay, jitter, loss, duplication, reordering),
/// netem-like, in userspace.
///
/// The first line on stdout is `tickwire-netem listening ADDR upstream ADDR` with the real
/// bound address (so `--listen 127.0.0.1:0` works). Statistics go to stderr every
/// --stats-secs and once more on SIGINT/SIGTERM, which end the proxy (queued datagrams are
/// discarded). Each impairment applies to each direction independently (as netem on both
/// ends of a link): a datagram is first lost with probability --loss; a survivor gets one
/// extra copy with probability --dup; each copy then skips the delay with probability
/// --reorder (sent at once, overtaking the delayed ones, like netem's `reorder`) or waits
/// --delay-ms plus jitter.
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
    queue_drops: u64,
    send_errors: u64,
    recv_errors: u64,
}

impl fmt::Display for DirStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "in={} forwarded={} lost={} duplicated={} reordered={} queue_drops={} send_errors={} recv_errors={}",
            self.r#in,
            self.forwarded,
            self.lost,
            self.duplicated,
            self.reordered,
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

/// A datagram waiting for its due time. Ordered by (due, seq) so equal due times keep
/// arrival order.
struct Pending {
    due: Instant,
    seq: u64,
    dir: Dir,
    client: usize,
    generation: u64,
    data: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.due, self.seq) == (o.due, o.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.due, self.seq).cmp(&(o.due, o.seq))
    }
}

struct Impairment {
    delay: f64,
    jitter: f64,
    dist: JitterDist,
    loss: f64,
    dup: f64,
    reorder: f64,
}

struct Proxy {
    poll: Poll,
    listen: UdpSocket,
    upstream: SocketAddr,
    clients: Slab<Client>,
    by_addr: HashMap<SocketAddr, usize>,
    max_clients: usize,
    next_generation: u64,
    queue: BinaryHeap<Reverse<Pending>>,
    queued_bytes: usize,
    max_queue_bytes: usize,
    next_seq: u64,
    imp: Impairment,
    impair: Impair,
    rng: SmallRng,
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
            self.queue.len(),
            self.queued_bytes
        )
    }

    /// Delay in seconds of one copy that is not reordered.
    fn sample_delay(&mut self) -> f64 {
        let j = self.imp.jitter;
        let offset = if j <= 0.0 {
            0.0
        } else {
            match self.imp.dist {
                JitterDist::Uniform => self.rng.gen_range(-j..=j),
                JitterDist::Normal => {
                    // Box-Muller; u1 in (0, 1] so ln is finite.
                    let u1: f64 = 1.0 - self.rng.gen::<f64>();
                    let u2: f64 = self.rng.gen::<f64>();
                    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                    z.clamp(-4.0, 4.0) * j
                }
            }
        };
        ((self.imp.delay + offset).max(0.0) / 1000.0).min(1e6)
    }

    fn impaired(&self, dir: Dir) -> bool {
        match self.impair {
            Impair::Both => true,
            Impair::Up => dir == Dir::Up,
            Impair::Down => dir == Dir::Down,
        }
    }

    /// Applies loss, duplication, reordering and delay to one received datagram and queues
    /// the copies that survive.
    fn admit(&mut self, dir: Dir, client: usize, len: usize, now: Instant) {
        let Some(c) = self.clients.get(client) else {
            return;
        };
        let generation = c.generation;
        self.dir_stats(dir).r#in += 1;
        let impaired = self.impaired(dir);
        if impaired && self.imp.loss > 0.0 && self.rng.gen::<f64>() < self.imp.loss {
            self.dir_stats(dir).lost += 1;
            return;
        }
        let copies = if impaired && self.imp.dup > 0.0 && self.rng.gen::<f64>() < self.imp.dup {
            self.dir_stats(dir).duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let due = if !impaired {
                now
            } else if self.imp.reorder > 0.0 && self.rng.gen::<f64>() < self.imp.reorder {
                self.dir_stats(dir).reordered += 1;
                now
            } else {
                now + Duration::from_secs_f64(self.sample_delay())
            };
            let cost = len + ENTRY_OVERHEAD;
            if self.queued_bytes + cost > self.max_queue_bytes {
                self.dir_stats(dir).queue_drops += 1;
                continue;
            }
            let Some(data) = self.buf.get(..len) else {
                return;
            };
            self.queued_bytes += cost;
            self.next_seq += 1;
            self.queue.push(Reverse(Pending {
                due,
                seq: self.next_seq,
                dir,
                client,
                generation,
                data: data.to_vec(),
            }));
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
        let any: SocketAddr = if self.upstream.is_ipv6() {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let sock = UdpSocket::bind(any)?;
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

    /// Sends every queued datagram that is due.
    fn send_due(&mut self, now: Instant) {
        while let Some(Reverse(p)) = self.queue.peek() {
            if p.due > now {
                break;
            }
            let Some(Reverse(p)) = self.queue.pop() else {
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
            let sent = match p.dir {
                Dir::Up => c.sock.send(&p.data),
                Dir::Down => self.listen.send_to(&p.data, c.addr),
            };
            let st = self.dir_stats(p.dir);
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

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 1e9))
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
        "tickwire-netem: delay {} ms jitter {} ms ({:?}) loss {} dup {} reorder {} on {:?}, seed {seed}",
        cli.delay_ms, cli.jitter_ms, cli.jitter_dist, cli.loss, cli.dup, cli.reorder, cli.impair
    );
    let mut p = Proxy {
        poll,
        listen,
        upstream: cli.upstream,
        clients: Slab::new(),
        by_addr: HashMap::new(),
        max_clients: cli.max_clients,
        next_generation: 0,
        queue: BinaryHeap::new(),
        queued_bytes: 0,
        max_queue_bytes: cli.max_queue_bytes,
        next_seq: 0,
        imp: Impairment {
            delay: cli.delay_ms,
            jitter: cli.jitter_ms,
            dist: cli.jitter_dist,
            loss: cli.loss,
            dup: cli.dup,
            reorder: cli.reorder,
        },
        impair: cli.impair,
        rng: SmallRng::seed_from_u64(seed),
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
        if let Some(Reverse(head)) = p.queue.peek() {
            wake = wake.min(head.due);
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
