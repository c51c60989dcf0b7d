//! The `tickwire` binary: parse flags, start logging, run the host.

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tickwire::secure::{Key, Secure};
use tickwire::{Arena, Config, HostConfig, Loops, Receive, ServerInfo, TickPhase};
use tickwire_tools::lobby_args::LobbyArgs;
use tickwire_tools::logging::LogFormat;
use tickwire_tools::token_cmd::TokenCmd;

/// tickwire: a real-time game server (UDP game port, 60 Hz snapshots, lag compensation).
///
/// With no subcommand, runs `serve` with its defaults: the arena game on UDP 0.0.0.0:7777
/// and the lobby on TCP 0.0.0.0:7778. The lobby login takes only a name, over plain TCP:
/// `--require-ticket` admits anyone who reaches the lobby. For access control run `serve
/// --secure --token-key FILE` (connect tokens, every datagram authenticated; `tickwire
/// token` makes keys and tokens). Logs go to stderr (RUST_LOG=debug for more); the first line on stdout is
/// `tickwire listening udp=ADDR lobby=ADDR matches=K` (lobby= when the lobby runs,
/// matches= when K > 1, loops=N when N > 1, then admin=ADDR with --admin). SIGINT, SIGTERM and SIGHUP (closing the terminal) all
/// stop the server: BYE to every client, the final stats, exit 0 (SIGHUP does not
/// reload `serve --config FILE`: restart the server to apply a changed file).
///
/// Exit status of `serve`: 0 stopped by a signal, cleanly; 1 could not start (an address
/// in use, ...) or the event loop failed; 2 bad flags, a bad --config file or a refused
/// --token-key file (nothing was started). `tickwire token --help` gives its own.
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the game server (the arena game) until SIGINT, SIGTERM or SIGHUP.
    Serve(Box<Serve>),
    /// Fleet keys and connect tokens for secure mode: keygen, mint, inspect.
    ///
    /// A fleet key is 32 random bytes shared by every server (`tickwire serve --secure
    /// --token-key FILE`) and every token issuer of a fleet; its file holds 64 hex digits
    /// and a newline and must be readable by its owner only (mode 0600). A connect token
    /// is 205 bytes: client id, expiry and two connection keys in the clear, the same
    /// sealed under the fleet key (PROTOCOL.md section 8.1). Its text form, what `mint`
    /// prints and `inspect` reads, is the 205 bytes as 410 lowercase hex digits and a
    /// newline.
    ///
    /// Exit status: 0 done; 1 a file could not be read or written (a key file refused for
    /// its mode or format, an output file that exists); 2 bad flags; 3 (inspect) the input
    /// is not a token; 4 (inspect --token-key) the token does not open under that key and
    /// protocol id.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
}

#[derive(Args, Debug, Clone)]
struct Serve {
    /// UDP address of the game port: IP:PORT, or HOST:PORT resolved at start-up (the first
    /// address it resolves to). Port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "0.0.0.0:7777", value_parser = parse_addr)]
    bind: SocketAddr,

    /// Simulation and snapshot rate in Hz; every tick is broadcast to every client.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u16).range(1..=1000))]
    tick_hz: u16,

    /// Most clients per match (1..=255: qports are one byte).
    #[arg(long, default_value_t = 255, value_parser = clap::value_parser!(u8).range(1..))]
    max_clients: u8,

    /// Most clients per match from one IP address (an IPv6 address counts by its /64); a
    /// HELLO over it is refused as full. The default leaves room for a household or a LAN
    /// party behind one NAT, while one host can no longer hold every slot. Raise it (up to
    /// 255) for load tests from one machine.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u8).range(1..))]
    max_clients_per_ip: u8,

    /// CHALLENGEs per second the handshake sends to one IP address, in bursts of twice as
    /// many (the protocol's 10 by default). Raise it only for load tests that connect many
    /// clients from one machine at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    challenges_per_ip: u32,

    /// A client the server hears nothing valid from for this long is dropped and sent BYE;
    /// so is one whose datagrams acknowledged none of the server's for this long.
    #[arg(long, default_value_t = 5000, value_parser = parse_timeout_ms)]
    timeout_ms: u64,

    /// Application protocol id; HELLOs carrying another one are dropped silently.
    #[arg(long, default_value_t = 0)]
    protocol_id: u32,

    /// Shots naming a tick older than this are refused (lag-compensation limit).
    #[arg(long, default_value_t = 1000)]
    max_rewind_ms: u64,

    /// How far a shot's tick age may be from the shooter's measured RTT before the shot is
    /// refused as implausible.
    #[arg(long, default_value_t = 200)]
    rewind_tolerance_ms: u64,

    /// The most RTT the plausibility check believes: a client can inflate its measured RTT
    /// by holding back its acks, so a larger one counts as this much. Trade-off: a shot's
    /// tick may then be at most this plus --rewind-tolerance-ms old (450 ms by default), so
    /// honest players with a higher RTT get their shots refused as implausible. 250 ms
    /// covers players on the same continent and most intercontinental links.
    #[arg(long, default_value_t = 250)]
    max_rewind_rtt_ms: u64,

    /// Rewinds (lag-compensated shots) granted per player per second, also charged to the
    /// player's IP (so reconnecting does not refresh them).
    #[arg(long, default_value_t = 30)]
    rewinds_per_sec: u32,

    /// Independent matches in this one process and event loop, on consecutive UDP ports
    /// starting at --bind's port.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    matches: u16,

    /// Kernel socket send and receive buffer size in bytes.
    #[arg(long, default_value_t = 8 << 20)]
    socket_buffer: usize,

    /// Most datagrams read from one socket per wake-up, so floods cannot starve the tick.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    recv_budget: u64,

    /// Microseconds before each tick at which the loop stops sleeping and spins on the
    /// clock to the deadline, still serving ready I/O without blocking (0 = off: sleep
    /// to the deadline). It hides the timer's wake-up latency; it costs up to this much
    /// CPU per tick deadline (one per loop with --tick-phase aligned, one per match with
    /// staggered; BENCHMARKS.md, "Loops per core, ticks on time").
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    tick_spin_us: u64,

    /// Run the event loop under SCHED_FIFO at this priority (1..=99; 10 when the flag is
    /// given bare). Needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at least the priority; when
    /// the process lacks it, a warning says so and the loop runs with normal scheduling.
    /// A real-time loop preempts everything of lower priority on its CPU: give it a CPU
    /// of its own (--pin, and keep other work off that CPU).
    #[arg(long, value_name = "PRIO", num_args = 0..=1, default_missing_value = "10",
          value_parser = clap::value_parser!(u8).range(1..=99))]
    realtime: Option<u8>,

    /// When the loop reads the game sockets: `batched` (unregistered from epoll, drained
    /// just before each match's tick and every --receive-interval-ms, with each datagram
    /// timed by its kernel arrival stamp: two wake-ups per tick, about a quarter less CPU
    /// under load) or `immediate` (as soon as they are readable: a wake-up per burst
    /// of datagrams; a handshake, STUN or A2S request is answered at once instead of up to
    /// --receive-interval-ms later). See BENCHMARKS.md, "Loops per core, ticks on time".
    #[arg(long, value_enum, default_value = "batched")]
    receive: ReceiveArg,

    /// When the matches of a loop tick relative to each other: `aligned` (every match on
    /// one deadline: with --receive batched the loop wakes twice per period whatever the
    /// number of matches, drains every socket, ticks every match, then sends every
    /// broadcast in large batches; the last match's snapshots leave after the others', about
    /// 3 us per client ahead of them) or `staggered` (spread evenly over the period: each
    /// match's snapshots leave right after its tick, for a wake-up and a tick spin per match
    /// per period: more CPU). Only matters with --matches > 1. See BENCHMARKS.md, "Loops
    /// per core, ticks on time".
    #[arg(long, value_enum, default_value = "aligned")]
    tick_phase: TickPhaseArg,

    /// With --receive batched: the longest a datagram (a handshake, STUN, A2S) waits in
    /// the kernel between two drains of its socket (default: half a tick period).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=1000))]
    receive_interval_ms: Option<u64>,

    /// Seconds a SIGTERM drains for: no new client is admitted, players finish, and the
    /// server stops (BYE, exit 0) once every match is empty or this has passed. A second
    /// SIGTERM, or SIGINT or SIGHUP at any time, stops at once. 0: SIGTERM stops at once.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    drain_seconds: u64,

    /// Event loops, each on its own thread with its own matches (spread evenly), sockets
    /// and timer, sharing nothing per datagram or per tick; `auto` = one per CPU this
    /// process may run on. At most one per match (--matches). Loop 0 also runs the lobby.
    #[arg(long, default_value = "1", value_parser = parse_threads)]
    threads: Threads,

    /// Pin each event loop to one CPU: loop L to the L-th of the CPUs this process may run
    /// on (see `taskset`), wrapping around.
    #[arg(long)]
    pin: bool,

    /// Server name shown to A2S server browsers.
    #[arg(long, default_value = "tickwire")]
    name: String,

    /// Map name shown to A2S server browsers.
    #[arg(long, default_value = "arena")]
    map: String,

    /// STUN answers per second per source IP (the protocol asks for at least 10).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(10..))]
    stun_limit: u32,

    /// A2S query answers per second per source IP.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    query_limit: u32,

    /// TCP address of the lobby (accounts, rooms, chat, tickets), or `off`. By default the
    /// lobby follows --bind's address on port 7778 (port 0, a free one, when --bind's port
    /// is 0): `--bind 127.0.0.1:7777` puts it on 127.0.0.1:7778.
    #[arg(long, value_parser = parse_lobby)]
    lobby: Option<LobbyAddr>,

    /// Admit a HELLO only with an unused ticket from the lobby's LOGIN_RES; the player then
    /// carries its lobby name. Needs the lobby. Not access control: a lobby login takes
    /// only a name, over plain TCP, so this admits anyone who can reach the lobby (bind
    /// the lobby where only your players can reach it). For access control use --secure;
    /// the two do not combine (secure mode drops the HELLOs that carry tickets).
    #[arg(long)]
    require_ticket: bool,

    /// Secure mode (PROTOCOL.md section 8): admit only clients holding a connect token
    /// sealed under the fleet key of --token-key, and authenticate every datagram after
    /// the handshake; plain HELLO is dropped (STUN and A2S are unchanged). Needs
    /// --token-key. Tokens come from a backend holding the same key (`tickwire token
    /// mint`, or the library's `tickwire::secure::Issuer`).
    #[arg(long)]
    secure: bool,

    /// The fleet key file of secure mode: 64 hex digits and a newline, as `tickwire token
    /// keygen FILE` writes it. Refused (exit 2) when group or others can access it
    /// (`chmod 600` it). Needs --secure: the key alone does not turn secure mode on. To
    /// rotate the key, restart the servers and issuers with the new one.
    #[arg(long, value_name = "FILE")]
    token_key: Option<PathBuf>,

    /// This server's id in its fleet, for secure mode: it admits tokens of scope 0 and of
    /// scope N. Without it (or with 0) only scope-0 tokens are admitted. Needs --secure
    /// or --redis (where it is the record's id: 1 or more, unique in the fleet).
    #[arg(long, value_name = "N")]
    server_id: Option<u64>,

    /// Publish this server in the fleet registry on Redis (docs/FLEET.md): its record
    /// (id, version, secure, state, per match the public address, players and capacity)
    /// is refreshed every second with a 5 s TTL by a side thread, never by the game loop;
    /// the game goes on while Redis is down (the side thread retries with backoff). A
    /// draining server (SIGTERM) says so; a stopped one removes its record. URL:
    /// redis://[user:password@]host[:port][/db]. Needs --server-id N.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,

    /// With --redis: the address players reach match 0 at, as IP:PORT (match m at PORT+m)
    /// or IP (each match's bound port), when it is not --bind's (NAT, a load balancer,
    /// or --bind on 0.0.0.0). HOST:PORT is resolved at start-up.
    #[arg(long, value_name = "ADDR", value_parser = parse_public)]
    public_addr: Option<PublicAddr>,

    #[command(flatten)]
    lobby_args: LobbyArgs,

    /// Interval of the stats log line in milliseconds (0 = off).
    #[arg(long, default_value_t = 5000)]
    stats_interval_ms: u64,

    /// How log lines are written on stderr: `text`, or `json` (one object per line with
    /// timestamp, level, target and message, for log collectors).
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,

    /// TCP address of the admin endpoint (off by default): a PORT (on 127.0.0.1) or
    /// IP:PORT. HTTP: GET /metrics (Prometheus text format, every loop and match), /healthz
    /// (200 while every loop ticks, 503 when one is stuck), /readyz (200 while admitting
    /// players, 503 while draining). Any other first line is the operators' line protocol:
    /// `players` lists who is connected, `kick MATCH QPORT` disconnects one. No
    /// authentication: whoever reaches it can kick, so keep it on a loopback or private
    /// address (a pod's, for Kubernetes probes). See docs/OPERATING.md.
    #[arg(long, value_name = "ADDR", value_parser = parse_admin)]
    admin: Option<SocketAddr>,

    /// Run as an Agones GameServer: the official SDK (gRPC to the sidecar on
    /// localhost:$AGONES_SDK_GRPC_PORT, 9357 by default) on a side thread. Ready once
    /// bound; Health every 2 s while every loop ticks (a stuck loop stops them); the label
    /// `players` follows the player count (and alpha player tracking where the sidecar has
    /// it); the GameServer's state is logged and shown by /readyz and /metrics (Allocated);
    /// a GameServer Shutdown drains as SIGTERM does (--drain-seconds); the server's stop
    /// calls the SDK's Shutdown. Needs a binary built with the cargo feature `agones` of
    /// tickwire-tools; without it the flag is refused. See docs/OPERATING.md, "Agones", and
    /// deploy/agones/.
    #[arg(long)]
    agones: bool,

    /// Read flags from this TOML file: flat keys named as the flags without their leading
    /// -- (`tick-hz = 30`, `lobby-max-conns = 4096`, `require-ticket = true`). Flags given
    /// on the command line override the file; an unknown key is an error.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Print the effective configuration (flags, --config file and defaults) as TOML that
    /// --config reads back, and exit without binding anything.
    #[arg(long)]
    print_config: bool,
}

impl Default for Serve {
    fn default() -> Serve {
        match Cli::parse_from(["tickwire", "serve"]).cmd {
            Some(Cmd::Serve(s)) => *s,
            _ => unreachable!("serve was given"),
        }
    }
}

/// `--public-addr`: IP:PORT, or IP alone (the bound ports).
#[derive(Debug, Clone, Copy)]
enum PublicAddr {
    /// Match m at this address's port + m.
    At(SocketAddr),
    /// Each match at this IP and its bound port.
    Ip(std::net::IpAddr),
}

fn parse_public(s: &str) -> Result<PublicAddr, String> {
    if let Ok(ip) = s.parse() {
        return Ok(PublicAddr::Ip(ip));
    }
    parse_addr(s)
        .map(PublicAddr::At)
        .map_err(|e| format!("{e}, or an IP alone"))
}

/// The public address of every match: from --public-addr, or the bound ones.
fn public_addrs(p: Option<PublicAddr>, bound: &[SocketAddr]) -> Vec<SocketAddr> {
    bound
        .iter()
        .enumerate()
        .map(|(m, b)| match p {
            Some(PublicAddr::At(a)) => SocketAddr::new(a.ip(), a.port().wrapping_add(m as u16)),
            Some(PublicAddr::Ip(ip)) => SocketAddr::new(ip, b.port()),
            None => *b,
        })
        .collect()
}

/// The flag combinations of `--redis` that cannot work.
fn check_redis_flags(s: &Serve) -> Result<(), String> {
    let Some(url) = &s.redis else {
        if s.public_addr.is_some() {
            return Err(
                "--public-addr is what the fleet registry publishes: give --redis URL too".into(),
            );
        }
        return Ok(());
    };
    tickwire_tools::fleet::check_url(url).map_err(|e| format!("--redis {e}"))?;
    if s.server_id.unwrap_or(0) == 0 {
        return Err(
            "--redis needs --server-id N (1 or more, unique in the fleet): the \
                    record's key and the scope of the tokens matchmakers mint for it"
                .into(),
        );
    }
    if s.public_addr.is_none() && s.bind.ip().is_unspecified() {
        return Err(format!(
            "--redis: --bind {} is no address a player can reach; give --public-addr \
             IP[:PORT] (what the registry publishes)",
            s.bind
        ));
    }
    Ok(())
}

/// `--lobby`: an address or `off`.
#[derive(Debug, Clone, Copy)]
struct LobbyAddr(Option<SocketAddr>);

fn parse_lobby(s: &str) -> Result<LobbyAddr, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(LobbyAddr(None));
    }
    parse_addr(s)
        .map(|a| LobbyAddr(Some(a)))
        .map_err(|e| format!("{e}, or off"))
}

/// `--tick-phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TickPhaseArg {
    /// Spread over one tick period.
    Staggered,
    /// One deadline for every match.
    Aligned,
}

/// `--receive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReceiveArg {
    /// Read a socket as soon as it is readable.
    Immediate,
    /// Drain each socket before its tick and every --receive-interval-ms.
    Batched,
}

/// `--threads`: a count, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Threads {
    /// One per CPU the process may run on.
    Auto,
    /// This many.
    Count(usize),
}

impl std::fmt::Display for Threads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Threads::Auto => f.write_str("auto"),
            Threads::Count(n) => write!(f, "{n}"),
        }
    }
}

fn parse_threads(s: &str) -> Result<Threads, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(Threads::Auto);
    }
    match s.parse::<usize>() {
        Ok(n @ 1..=1024) => Ok(Threads::Count(n)),
        Ok(_) => Err("give 1..=1024 loops, or auto (one per CPU)".into()),
        Err(e) => Err(format!("{e} (a count of loops, or auto)")),
    }
}

/// How many loops `--threads` asks for.
fn thread_count(t: Threads) -> usize {
    match t {
        Threads::Count(n) => n,
        Threads::Auto => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// `--admin`: PORT (on 127.0.0.1) or an address.
fn parse_admin(s: &str) -> Result<SocketAddr, String> {
    match s.parse::<u16>() {
        Ok(port) => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        Err(_) => parse_addr(s).map_err(|e| format!("{e}, or a PORT on 127.0.0.1")),
    }
}

/// IP:PORT, or HOST:PORT resolved now (the first address).
fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    match s.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("{s} resolves to no address")),
        Err(e) => Err(format!(
            "cannot resolve {s}: {e} (expected IP:PORT or HOST:PORT)"
        )),
    }
}

/// `--timeout-ms`: at least 1.
fn parse_timeout_ms(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("0 would drop every client at once: give at least 1 ms (default 5000)".into()),
        Ok(ms) => Ok(ms),
        Err(e) => Err(format!("{e} (milliseconds, at least 1)")),
    }
}

/// The lobby's port when --lobby is not given and --bind's port is not 0.
const LOBBY_PORT: u16 = 7778;

/// Where the lobby listens: --lobby, or --bind's address on [`LOBBY_PORT`] (port 0 with
/// --bind's port 0), or nowhere.
fn lobby_addr(s: &Serve) -> Option<SocketAddr> {
    match s.lobby {
        Some(LobbyAddr(a)) => a,
        None => {
            let port = if s.bind.port() == 0 { 0 } else { LOBBY_PORT };
            Some(SocketAddr::new(s.bind.ip(), port))
        }
    }
}

/// The flag combinations of secure mode that cannot work, refused before anything starts.
fn check_secure_flags(s: &Serve) -> Result<(), String> {
    match (s.secure, &s.token_key) {
        (true, None) => {
            return Err("--secure needs --token-key FILE, the fleet key file \
                        (`tickwire token keygen FILE` writes one)"
                .into())
        }
        (false, Some(_)) => {
            return Err("--token-key is the key of secure mode: give --secure too \
                        (the key alone does not turn secure mode on)"
                .into())
        }
        _ => {}
    }
    if !s.secure && s.server_id.is_some() && s.redis.is_none() {
        return Err(
            "--server-id is the server's id in secure mode or in the fleet registry: \
                    give --secure and --token-key, or --redis URL"
                .into(),
        );
    }
    if s.secure && s.require_ticket {
        return Err(
            "--secure and --require-ticket do not combine: secure mode drops the \
                    plain HELLOs that carry lobby tickets and admits connect tokens \
                    instead; give one of them"
                .into(),
        );
    }
    Ok(())
}

/// `--agones` in a binary built without the `agones` feature is refused before anything
/// starts.
fn check_agones_flag(s: &Serve) -> Result<(), String> {
    if s.agones && !cfg!(feature = "agones") {
        return Err(
            "--agones: this binary was built without Agones support; build it with \
                    `cargo build --release -p tickwire-tools --features agones` (needs protoc)"
                .into(),
        );
    }
    Ok(())
}

/// The fleet key of `serve --secure`, read (and its file's mode checked) before anything
/// starts; `None` without --secure.
fn read_fleet_key(s: &Serve) -> Result<Option<Key>, String> {
    match (&s.token_key, s.secure) {
        (Some(path), true) => Key::read_file(path).map(Some).map_err(|e| e.to_string()),
        _ => Ok(None),
    }
}

fn host_config(s: &Serve, secure: Option<Secure>) -> HostConfig {
    HostConfig {
        bind: s.bind,
        matches: usize::from(s.matches),
        server: Config {
            tick_hz: s.tick_hz,
            max_clients: s.max_clients,
            max_clients_per_ip: s.max_clients_per_ip,
            challenges_per_ip: s.challenges_per_ip,
            timeout: Duration::from_millis(s.timeout_ms),
            protocol_id: s.protocol_id,
            max_rewind: Duration::from_millis(s.max_rewind_ms),
            rewind_tolerance: Duration::from_millis(s.rewind_tolerance_ms),
            max_rewind_rtt: Duration::from_millis(s.max_rewind_rtt_ms),
            rewinds_per_sec: s.rewinds_per_sec,
            require_ticket: s.require_ticket,
            secure,
            ..Config::default()
        },
        socket_buffer: s.socket_buffer,
        recv_budget: s.recv_budget as usize,
        stats_interval: (s.stats_interval_ms > 0)
            .then(|| Duration::from_millis(s.stats_interval_ms)),
        handle_signals: true,
        term_drain: Duration::from_secs(s.drain_seconds),
        info: ServerInfo {
            name: s.name.clone(),
            map: s.map.clone(),
            ..ServerInfo::default()
        },
        stun_limit: s.stun_limit,
        query_limit: s.query_limit,
        lobby: lobby_addr(s).map(|a| (a, s.lobby_args.config())),
        tick_spin: Duration::from_micros(s.tick_spin_us),
        receive: match s.receive {
            ReceiveArg::Immediate => Receive::Immediate,
            ReceiveArg::Batched => Receive::Batched {
                interval: s.receive_interval_ms.map_or_else(
                    || Duration::from_nanos(500_000_000 / u64::from(s.tick_hz.max(1))),
                    Duration::from_millis,
                ),
            },
        },
        tick_phase: match s.tick_phase {
            TickPhaseArg::Staggered => TickPhase::Staggered,
            TickPhaseArg::Aligned => TickPhase::Aligned,
        },
        realtime: s.realtime,
        pin_cpu: s.pin.then(first_allowed_cpu).flatten(),
    }
}

/// The first CPU this process may run on, for --pin (`None`, with a warning, when the
/// affinity cannot be read).
fn first_allowed_cpu() -> Option<usize> {
    match tickwire::internal::allowed_cpus() {
        Ok(cpus) => cpus.first().copied(),
        Err(e) => {
            log::warn!("--pin: cannot read the CPUs this process may use ({e}); not pinned");
            None
        }
    }
}

fn serve(s: Serve, fleet_key: Option<Key>) -> Result<(), String> {
    // Every lobby connection is a descriptor: raise the soft RLIMIT_NOFILE as far as the
    // hard limit allows (capped at the kernel's usual nr_open, 2^20), before binding.
    if let Ok((soft, hard)) = tickwire_tools::common::fd_limit() {
        match tickwire_tools::common::raise_fd_limit(hard.min(1 << 20)) {
            Ok(now) if now > soft => log::info!("file descriptor limit raised {soft} -> {now}"),
            Ok(_) => {}
            Err(e) => log::warn!("cannot raise the file descriptor limit from {soft}: {e}"),
        }
    }
    let server_id = s.server_id.unwrap_or(0);
    if fleet_key.is_some() {
        log::info!(
            "secure mode on: server id {server_id} (admits tokens of scope {}), protocol id \
             {}; only connect tokens are admitted, plain HELLO is dropped",
            if server_id == 0 {
                "0 only".to_string()
            } else {
                format!("0 and {server_id}")
            },
            s.protocol_id
        );
    }
    // The lobby's TLS (--lobby-tls-cert, --lobby-tls-key) and, in secure mode, its token
    // issuer: the same fleet key and protocol id, for this server id (PROTOCOL.md 8.4).
    let issuing = fleet_key
        .as_ref()
        .map(|k| tickwire_tools::lobby_args::LobbyIssuing {
            fleet_key: k.clone(),
            server_id,
        });
    let secure_on = fleet_key.is_some();
    let secure = fleet_key.map(|k| Secure::new(k, server_id));
    let mut cfg = host_config(&s, secure);
    s.lobby_args.secure_lobby(&mut cfg, issuing)?;
    let asked = thread_count(s.threads);
    let matches = cfg.matches.max(1);
    if asked > matches {
        log::warn!(
            "--threads {} asks for {asked} loops but there are {matches} matches: running \
             {matches} (a loop serves whole matches; raise --matches to use more)",
            s.threads
        );
    }
    let mut loops =
        Loops::bind(cfg, asked, |_| Arena::default()).map_err(|e| format!("cannot start: {e}"))?;
    // The loops' probes feed the admin endpoint's /metrics, /healthz and /readyz, and the
    // Agones thread (which also wants the players).
    let monitor = (s.admin.is_some() || s.agones)
        .then(|| add_probes(&mut loops, s.agones))
        .transpose()?;
    let admin = match (s.admin, &monitor) {
        (Some(a), Some(monitor)) => {
            let admin = tickwire_tools::admin::Admin::bind(a, monitor.clone())
                .map_err(|e| format!("cannot start the admin endpoint on tcp {a}: {e}"))?;
            let at = admin.local_addr();
            if loops.loops() > 1 {
                log::info!(
                    "the admin endpoint runs on loop 0: `players` and `kick` see its {} \
                     match(es) only (the first ports); /metrics shows every loop",
                    loops.host(0).map_or(0, |h| h.udp_addrs().len())
                );
            }
            loops
                .host_mut(0)
                .expect("there is always loop 0")
                .add_adapter(Box::new(admin))
                .map_err(|e| format!("cannot start the admin endpoint on tcp {a}: {e}"))?;
            Some(at)
        }
        _ => None,
    };
    let addrs = loops.udp_addrs();
    let registry = match &s.redis {
        Some(url) => Some(start_registry(&s, url, &mut loops, &addrs, secure_on)?),
        None => None,
    };
    let mut line = format!("tickwire listening udp={}", addrs[0]);
    if let Some(l) = loops.lobby_addr() {
        line.push_str(&format!(" lobby={l}"));
    }
    if addrs.len() > 1 {
        line.push_str(&format!(" matches={}", addrs.len()));
    }
    if loops.loops() > 1 {
        line.push_str(&format!(" loops={}", loops.loops()));
    }
    if let Some(a) = admin {
        line.push_str(&format!(" admin={a}"));
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    drop(out);
    log::info!(
        "serving {} match(es) at {} Hz, up to {} clients each, on {} event loop(s)",
        addrs.len(),
        s.tick_hz,
        s.max_clients,
        loops.loops()
    );
    #[cfg(feature = "agones")]
    let agones = match (s.agones, &monitor) {
        (true, Some(monitor)) => {
            let cfg = tickwire_tools::agones::AgonesConfig {
                drain: Duration::from_secs(s.drain_seconds),
                capacity: i64::from(s.max_clients) * addrs.len() as i64,
                allocation: registry.as_ref().map(|r| r.allocation()),
            };
            Some(
                tickwire_tools::agones::Agones::start(cfg, monitor.clone(), loops.stopper())
                    .map_err(|e| format!("cannot start the Agones thread: {e}"))?,
            )
        }
        _ => None,
    };
    let ran = loops.run();
    if let Some(r) = registry {
        r.finish(Duration::from_secs(2));
    }
    // However the loops stopped (a drain that ended, a signal, a failure), Agones is told.
    #[cfg(feature = "agones")]
    if let Some(a) = &agones {
        if let Err(e) = a.shutdown(Duration::from_secs(5)) {
            log::warn!("agones: Shutdown not delivered: {e}");
        }
    }
    ran.map_err(|e| format!("event loop failed: {e}"))?;
    // A closed stdout (a pipe whose reader left) must not turn a clean stop into a panic.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "tickwire stopped {}", loops.summary());
    let _ = out.flush();
    Ok(())
}

/// A [`Monitor`](tickwire_tools::monitor::Monitor) of every loop, fed by a probe added to
/// each (loop `l`'s first match is the one after the matches of the loops before it).
fn add_probes(
    loops: &mut Loops<Arena>,
    players: bool,
) -> Result<std::sync::Arc<tickwire_tools::monitor::Monitor>, String> {
    use tickwire_tools::monitor::{Monitor, Probe};
    let monitor = Monitor::new(loops.loops(), players);
    let mut first = 0;
    for l in 0..loops.loops() {
        let host = loops.host_mut(l).expect("l < loops()");
        let matches = host.udp_addrs().len();
        host.add_adapter(Box::new(Probe::new(monitor.clone(), l, first)))
            .map_err(|e| format!("cannot start the probe of loop {l}: {e}"))?;
        first += matches;
    }
    Ok(monitor)
}

/// `--redis`: the registry's side thread, and its adapter on every loop.
fn start_registry(
    s: &Serve,
    url: &str,
    loops: &mut Loops<Arena>,
    addrs: &[SocketAddr],
    secure: bool,
) -> Result<tickwire_tools::fleet::registry::Registry, String> {
    use tickwire_tools::fleet::registry::{Identity, Registry};
    let identity = Identity {
        url: url.to_string(),
        id: s.server_id.unwrap_or(0),
        version: env!("CARGO_PKG_VERSION").to_string(),
        secure,
        mode: s.map.clone(),
        public: public_addrs(s.public_addr, addrs),
        capacity: u32::from(s.max_clients),
    };
    let registry = Registry::start(identity, loops.loops())
        .map_err(|e| format!("cannot start the registry thread: {e}"))?;
    let mut first = 0;
    for l in 0..loops.loops() {
        let host = loops.host_mut(l).expect("l < loops()");
        let n = host.udp_addrs().len();
        host.add_adapter(Box::new(registry.adapter(l, first)))
            .map_err(|e| format!("cannot add the registry to loop {l}: {e}"))?;
        first += n;
    }
    Ok(registry)
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cmd = Cli::command();
    let matches = cmd.clone().get_matches_from(&args);
    let matches = match tickwire_tools::config_file::apply(&cmd, &args, &matches, "serve") {
        Ok(m) => m,
        Err(e) => {
            eprintln!("tickwire: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let serve_args = match cli.cmd {
        Some(Cmd::Serve(s)) => *s,
        Some(Cmd::Token { cmd }) => return tickwire_tools::token_cmd::run(cmd),
        None => Serve::default(),
    };
    tickwire_tools::logging::init(serve_args.log_format);
    if let Some(file) = &serve_args.config {
        log::info!("configuration read from {}", file.display());
    }
    if let Err(e) = check_secure_flags(&serve_args).and_then(|()| check_redis_flags(&serve_args)) {
        eprintln!("tickwire: {e}");
        return ExitCode::from(2);
    }
    if serve_args.print_config {
        let sc = cmd.find_subcommand("serve").expect("serve is a subcommand");
        let sm = matches
            .subcommand_matches("serve")
            .expect("--print-config is a serve flag");
        print!("{}", tickwire_tools::config_file::to_toml(sc, sm));
        return ExitCode::SUCCESS;
    }
    // After --print-config, which starts nothing (deploy/agones/'s flags print with any
    // build).
    if let Err(e) = check_agones_flag(&serve_args) {
        eprintln!("tickwire: {e}");
        return ExitCode::from(2);
    }
    let fleet_key = match read_fleet_key(&serve_args) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("tickwire: {e}");
            return ExitCode::from(2);
        }
    };
    match serve(serve_args, fleet_key) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickwire: {e}");
            ExitCode::FAILURE
        }
    }
}
