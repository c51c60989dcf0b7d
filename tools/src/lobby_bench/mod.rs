//! The lobby benchmark (`tickwire-lobby-bench`): measures the lobby of a real `tickwire serve` process.
//!
//! It starts the server itself (`--server-bin`, by default the `tickwire` next to this
//! executable) on `127.0.0.1:0` for both ports, reads the addresses from the server's first
//! stdout line, and measures, in this order:
//!
//! 1. **memory per idle connection**: the server's VmRSS before, after `--idle N`
//!    connections that are accepted (each answered one ECHO) but not logged in, after
//!    the same N connections have logged in, and after they entered rooms of 100; the
//!    connections are then closed (or, with `--keep-idle`, stay open through the other
//!    figures);
//! 2. **echo round trips**: `--echo N` ECHOs of 16 bytes on one connection, one at a time;
//! 3. **room fan-out**: `--users` users log in and enter one room, then for `--seconds`
//!    each user keeps `--window` ROOM_CHAT_REQs un-answered (sends a new one as each
//!    ROOM_CHAT_RES comes back) while reading everything it is sent, and no user is owed
//!    more than `--backlog-bytes` of notifications it has not read (every chat goes to every
//!    member, so a user is owed `chats sent - notifications it read`). One thread drives
//!    all users over non-blocking sockets (mio). It reports chats accepted per second,
//!    ROOM_CHAT_NTFs delivered per second (each chat reaches every member, sender
//!    included), the latency from sending a chat to its sender receiving its own
//!    ROOM_CHAT_NTF, and the server's CPU time (utime + stime from `/proc/PID/stat`).
//!
//! The server is killed at the end, on error and on panic (a guard), and by a watchdog
//! when `--deadline-secs` passes. Linux only (`/proc`).
//!
//! The parts: [`server`] (the child process and its guard), `idle` and `echo` (the first
//! two figures), `fanout` (the third) and [`report`] (the table and the JSON).

mod echo;
mod fanout;
mod idle;
pub mod report;
pub mod server;

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicI32;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickwire::client::lobby::LobbyClient;

use report::Report;
use server::Server;

/// Benchmark of the tickwire lobby (TCP) against a real `tickwire serve` process that it
/// starts and kills itself: memory per idle connection, ECHO round trips, and room chat
/// fan-out throughput, latency and server CPU. Linux only (reads /proc).
#[derive(Debug, Parser)]
#[command(version)]
pub struct Args {
    /// The tickwire server binary [default: `tickwire` in the directory of this
    /// executable].
    #[arg(long)]
    pub server_bin: Option<PathBuf>,

    /// Users that log in and enter one room (max 100) for the fan-out figure; 0 skips it.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub users: u8,

    /// Seconds during which every user chats as fast as the server lets it.
    #[arg(long, default_value_t = 10.0, value_parser = parse_seconds)]
    pub seconds: f64,

    /// ROOM_CHAT_REQs each user keeps un-answered (sent, no ROOM_CHAT_RES yet).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub window: u32,

    /// Most ROOM_CHAT_NTF bytes the bench lets be owed to any one user (chats sent, by
    /// anyone, that this user has not read yet, times the frame size). Keep it under the
    /// server's 64 KiB per-connection send buffer so that nobody is cut as a slow reader.
    #[arg(long, default_value_t = 32 * 1024, value_parser = clap::value_parser!(u64).range(256..))]
    pub backlog_bytes: u64,

    /// Chat in MessagePack bodies (frame type 1): the server then answers and notifies
    /// every user in MessagePack.
    #[arg(long)]
    pub msgpack: bool,

    /// Bytes of text in each chat.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u8).range(1..))]
    pub chat_bytes: u8,

    /// Idle connections opened for the memory figure (first not logged in, then logged
    /// in, then in rooms of 100); 0 skips it.
    #[arg(long, default_value_t = 1000)]
    pub idle: usize,

    /// Keep the idle connections (logged in, in rooms of their own) open through the echo and fan-out
    /// figures instead of closing them, to see what idle connections cost the busy ones.
    #[arg(long)]
    pub keep_idle: bool,

    /// ECHO round trips (16-byte body, one at a time on one connection); 0 skips them.
    #[arg(long, default_value_t = 10_000)]
    pub echo: u32,

    /// Hard limit on the whole run in seconds: past it the server is killed and the
    /// benchmark fails.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub deadline_secs: u64,

    /// RUST_LOG for the server; its stderr goes to a temporary file whose end is shown
    /// when the run fails.
    #[arg(long, default_value = "warn")]
    pub server_log: String,

    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 3600.0 => Ok(v),
        Ok(_) => Err("must be in (0, 3600]".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// How long one request of the setup phases (login, enter, ECHO) may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long, after the chatting stops, the answers still in flight may take to arrive.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// File descriptors kept free beyond the sockets the run opens.
const FD_MARGIN: u64 = 64;

/// Every failure of the benchmark is a message for its user.
pub type Res<T> = Result<T, String>;

/// Starts the server, measures what `args` asks for, and stops the server.
pub fn run(args: &Args) -> Res<Report> {
    let deadline = Instant::now() + Duration::from_secs(args.deadline_secs);
    let bin = match &args.server_bin {
        Some(b) => b.clone(),
        None => server::default_server_bin()?,
    };
    // Every socket of the run may be open at once (the idle ones are closed before the
    // fan-out, but the server may not have seen the FINs yet).
    let conns = args.idle + usize::from(args.users) + 2;
    server::raise_nofile(conns as u64 + FD_MARGIN)?;
    let pid_cell = Arc::new(AtomicI32::new(0));
    server::watchdog(deadline, pid_cell.clone());
    let mut server = Server::start(&bin, conns, &args.server_log, &pid_cell)?;
    let result = measure(args, &mut server, deadline);
    match result {
        Ok(mut r) => {
            r.server_bin = bin.display().to_string();
            Ok(r)
        }
        Err(e) => Err(format!("{e}\n{}", server.diagnose())),
    }
}

fn measure(args: &Args, server: &mut Server, deadline: Instant) -> Res<Report> {
    // With --keep-idle, the idle connections stay open until the end.
    let mut idle_conns = Vec::new();
    let mut report = Report {
        server_bin: String::new(),
        pid: server.pid,
        idle_kept_open: 0,
        idle: None,
        echo: None,
        fanout: None,
    };
    if args.idle > 0 {
        let (r, conns) = idle::measure_idle(server, args.idle, deadline)?;
        report.idle = Some(r);
        if args.keep_idle {
            report.idle_kept_open = conns.len();
            idle_conns = conns;
        }
    }
    server.check_alive()?;
    if args.echo > 0 {
        report.echo = Some(echo::measure_echo(server.lobby, args.echo, deadline)?);
    }
    server.check_alive()?;
    if args.users > 0 {
        report.fanout = Some(fanout::measure_fanout(server, args, deadline)?);
    }
    server.check_alive()?;
    drop(idle_conns);
    Ok(report)
}

fn check_deadline(deadline: Instant, what: &str) -> Res<()> {
    if Instant::now() >= deadline {
        return Err(format!("the overall deadline passed during {what}"));
    }
    Ok(())
}

fn connect(addr: SocketAddr) -> Res<LobbyClient> {
    let mut c = LobbyClient::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    c.set_timeout(SETUP_TIMEOUT);
    Ok(c)
}
