//! tickwire-lobby-bench: measures the lobby of a real `tickwire serve` process.
//!
//! It starts the server itself (`--server-bin`, by default the `tickwire` next to this
//! executable) on `127.0.0.1:0` for both ports, reads the addresses from the server's first
//! stdout line, and measures, in this order:
//!
//! 1. **memory per idle connection**: the server's VmRSS before, after `--idle N`
//!    connections that are accepted (each answered one ECHO) but not logged in, and after
//!    the same N connections have logged in; the connections are then closed (or, with
//!    `--keep-idle`, stay open through the other figures);
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

use clap::Parser;
use hdrhistogram::Histogram;
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickwire::client::lobby::{LobbyClient, Message};
use tickwire::lobby::frame::{self, MAX_FRAME};
use tickwire::lobby::msg::{id, Request, Status};
use tickwire::lobby::ring::Ring;

/// Benchmark of the tickwire lobby (TCP) against a real `tickwire serve` process that it
/// starts and kills itself: memory per idle connection, ECHO round trips, and room chat
/// fan-out throughput, latency and server CPU. Linux only (reads /proc).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The tickwire server binary [default: `tickwire` in the directory of this
    /// executable].
    #[arg(long)]
    server_bin: Option<PathBuf>,

    /// Users that log in and enter one room (max 100) for the fan-out figure; 0 skips it.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u8).range(0..=100))]
    users: u8,

    /// Seconds during which every user chats as fast as the server lets it.
    #[arg(long, default_value_t = 10.0, value_parser = parse_seconds)]
    seconds: f64,

    /// ROOM_CHAT_REQs each user keeps un-answered (sent, no ROOM_CHAT_RES yet).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    window: u32,

    /// Most ROOM_CHAT_NTF bytes the bench lets be owed to any one user (chats sent, by
    /// anyone, that this user has not read yet, times the frame size). Keep it under the
    /// server's 64 KiB per-connection send buffer so that nobody is cut as a slow reader.
    #[arg(long, default_value_t = 32 * 1024, value_parser = clap::value_parser!(u64).range(256..))]
    backlog_bytes: u64,

    /// Bytes of text in each chat.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u8).range(1..))]
    chat_bytes: u8,

    /// Idle connections opened for the memory figure (first not logged in, then logged
    /// in); 0 skips it.
    #[arg(long, default_value_t = 1000)]
    idle: usize,

    /// Keep the idle connections (logged in, in no room) open through the echo and fan-out
    /// figures instead of closing them, to see what idle connections cost the busy ones.
    #[arg(long)]
    keep_idle: bool,

    /// ECHO round trips (16-byte body, one at a time on one connection); 0 skips them.
    #[arg(long, default_value_t = 10_000)]
    echo: u32,

    /// Hard limit on the whole run in seconds: past it the server is killed and the
    /// benchmark fails.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    deadline_secs: u64,

    /// RUST_LOG for the server; its stderr goes to a temporary file whose end is shown
    /// when the run fails.
    #[arg(long, default_value = "warn")]
    server_log: String,

    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    json: bool,
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
const FD_MARGIN: libc::rlim_t = 64;

type Res<T> = Result<T, String>;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(report) => {
            if args.json {
                println!("{}", report.json());
            } else {
                print!("{}", report.table());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tickwire-lobby-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Res<Report> {
    let deadline = Instant::now() + Duration::from_secs(args.deadline_secs);
    let bin = match &args.server_bin {
        Some(b) => b.clone(),
        None => default_server_bin()?,
    };
    // Every socket of the run may be open at once (the idle ones are closed before the
    // fan-out, but the server may not have seen the FINs yet).
    let conns = args.idle + usize::from(args.users) + 2;
    raise_nofile(conns as libc::rlim_t + FD_MARGIN)?;
    let pid_cell = Arc::new(AtomicI32::new(0));
    watchdog(deadline, pid_cell.clone());
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
        let (r, conns) = measure_idle(server, args.idle, deadline)?;
        report.idle = Some(r);
        if args.keep_idle {
            report.idle_kept_open = conns.len();
            idle_conns = conns;
        }
    }
    server.check_alive()?;
    if args.echo > 0 {
        report.echo = Some(measure_echo(server.lobby, args.echo, deadline)?);
    }
    server.check_alive()?;
    if args.users > 0 {
        report.fanout = Some(measure_fanout(server, args, deadline)?);
    }
    server.check_alive()?;
    drop(idle_conns);
    Ok(report)
}

// ---------------------------------------------------------------------------------------
// The server process

/// The running server; killed when dropped.
struct Server {
    child: Child,
    pid: u32,
    lobby: SocketAddr,
    log: PathBuf,
    /// Kept open so that the server's last line at exit does not meet a closed pipe.
    stdout: Option<BufReader<ChildStdout>>,
    pid_cell: Arc<AtomicI32>,
}

impl Server {
    fn start(bin: &Path, conns: usize, log_level: &str, pid_cell: &Arc<AtomicI32>) -> Res<Server> {
        let log = log_path();
        let log_file = std::fs::File::create(&log)
            .map_err(|e| format!("cannot create the server log {}: {e}", log.display()))?;
        let n = conns.to_string();
        let mut cmd = Command::new(bin);
        // Its own process group, so that the guard also stops whatever a wrapper
        // (`--server-bin script.sh`) started; and SIGKILL when this process dies without
        // running the guard (SIGINT, SIGKILL).
        cmd.process_group(0);
        // SAFETY: prctl is async-signal-safe and touches only the new process.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .args(["serve", "--bind", "127.0.0.1:0", "--lobby", "127.0.0.1:0"])
            .args(["--lobby-max-conns", &n, "--lobby-max-conns-per-ip", &n])
            .args(["--stats-interval-ms", "0"])
            .env("RUST_LOG", log_level)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| {
                let _ = std::fs::remove_file(&log);
                format!("cannot start the server {}: {e}", bin.display())
            })?;
        let pid = child.id();
        pid_cell.store(pid as i32, Ordering::SeqCst);
        let stdout = child.stdout.take().map(BufReader::new);
        // From here on the guard owns the child, so every early return kills it.
        let mut server = Server {
            child,
            pid,
            lobby: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            stdout,
            pid_cell: pid_cell.clone(),
        };
        let line = server.first_line()?;
        server.lobby = parse_listening(&line).map_err(|e| format!("{e}\n{}", server.diagnose()))?;
        Ok(server)
    }

    /// The first stdout line, within [`START_TIMEOUT`] (a helper thread reads it, so a
    /// server that prints nothing cannot hang the run).
    fn first_line(&mut self) -> Res<String> {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut reader = self
            .stdout
            .take()
            .ok_or("the server's stdout is not a pipe")?;
        std::thread::spawn(move || {
            let mut line = String::new();
            let r = reader.read_line(&mut line).map(|_| line);
            let _ = tx.send((r, reader));
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok((Ok(line), reader)) => {
                self.stdout = Some(reader);
                if line.is_empty() {
                    return Err(format!(
                        "the server closed its stdout without a listening line\n{}",
                        self.diagnose()
                    ));
                }
                Ok(line)
            }
            Ok((Err(e), _)) => Err(format!("reading the server's stdout: {e}")),
            Err(_) => Err(format!(
                "no listening line from the server within {START_TIMEOUT:?}\n{}",
                self.diagnose()
            )),
        }
    }

    /// Fails when the server has exited.
    fn check_alive(&mut self) -> Res<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(st)) => Err(format!("the server exited: {st}")),
            Err(e) => Err(format!("cannot check the server: {e}")),
        }
    }

    /// Resident set size in bytes (`VmRSS` of `/proc/PID/status`).
    fn rss(&self) -> Res<u64> {
        let path = format!("/proc/{}/status", self.pid);
        let s = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .ok_or_else(|| format!("{path}: no VmRSS line"))
    }

    /// CPU time (user + system) so far.
    fn cpu(&self) -> Res<Duration> {
        cpu_time(&format!("/proc/{}/stat", self.pid))
    }

    /// Whether the server still runs, and the end of its log, for an error message.
    fn diagnose(&mut self) -> String {
        // A server that dies resets its connections a moment before it can be reaped.
        let until = Instant::now() + Duration::from_millis(500);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        let state = match self.child.try_wait() {
            Ok(None) => "the server is still running".to_string(),
            Ok(Some(st)) => format!("the server exited: {st}"),
            Err(e) => format!("cannot check the server: {e}"),
        };
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        if tail.is_empty() {
            format!("{state}; its log ({}) is empty", self.log.display())
        } else {
            format!("{state}; the end of its log:\n{tail}")
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.pid_cell.store(0, Ordering::SeqCst);
        let group = -(self.pid as libc::pid_t);
        if let Ok(None) = self.child.try_wait() {
            // SIGTERM first: the server then closes its sockets and exits 0.
            // SAFETY: kill(2) on the process group our child leads.
            unsafe { libc::kill(group, libc::SIGTERM) };
            let until = Instant::now() + Duration::from_secs(2);
            while Instant::now() < until {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // Whatever is left: the server, or what a wrapper started in its group.
        // SAFETY: as above; ESRCH when the group is empty.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The `tickwire` binary next to this executable.
fn default_server_bin() -> Res<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let dir = exe
        .parent()
        .ok_or_else(|| format!("{} has no directory", exe.display()))?;
    let bin = dir.join("tickwire");
    if !bin.is_file() {
        return Err(format!(
            "no server binary at {} (build it, or pass --server-bin)",
            bin.display()
        ));
    }
    Ok(bin)
}

/// The lobby address from `tickwire listening udp=ADDR lobby=ADDR`.
fn parse_listening(line: &str) -> Res<SocketAddr> {
    let line = line.trim();
    if !line.starts_with("tickwire listening ") {
        return Err(format!("unexpected first line from the server: {line:?}"));
    }
    let lobby = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("lobby="))
        .ok_or_else(|| format!("no lobby= in the server's first line: {line:?}"))?;
    lobby
        .parse()
        .map_err(|e| format!("bad lobby address {lobby:?}: {e}"))
}

/// utime + stime of `/proc/.../stat`.
fn cpu_time(path: &str) -> Res<Duration> {
    let s = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    // The command name (field 2) may hold spaces; the fields after it follow the last ')'.
    let rest = s
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| format!("{path}: unexpected format"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let ticks = |i: usize| -> Res<u64> {
        f.get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{path}: no field {}", i + 3))
    };
    let total = ticks(11)? + ticks(12)?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    Ok(Duration::from_secs_f64(total as f64 / hz as f64))
}

/// Raises the soft RLIMIT_NOFILE to `need` (the server inherits it).
fn raise_nofile(need: libc::rlim_t) -> Res<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!(
            "getrlimit(NOFILE): {}",
            std::io::Error::last_os_error()
        ));
    }
    if lim.rlim_cur >= need {
        return Ok(());
    }
    if lim.rlim_max < need {
        return Err(format!(
            "the run needs {need} file descriptors but the hard limit is {} (lower --idle or \
             raise `ulimit -Hn`)",
            lim.rlim_max
        ));
    }
    lim.rlim_cur = need;
    // SAFETY: setrlimit reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(format!(
            "setrlimit(NOFILE, {need}): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Where the server's stderr goes.
fn log_path() -> PathBuf {
    std::env::temp_dir().join(format!("tickwire-lobby-bench-{}.log", std::process::id()))
}

/// Kills the server (if it runs) and exits when `deadline` passes.
fn watchdog(deadline: Instant, pid: Arc<AtomicI32>) {
    std::thread::spawn(move || {
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        let p = pid.load(Ordering::SeqCst);
        if p > 0 {
            // SAFETY: kill(2) on the server's process group; the guard clears the pid
            // before reaping.
            unsafe { libc::kill(-p, libc::SIGKILL) };
        }
        eprintln!("tickwire-lobby-bench: the overall deadline (--deadline-secs) passed; stopped");
        let log = log_path();
        if log.exists() {
            eprintln!("the server's log is kept at {}", log.display());
        }
        std::process::exit(2);
    });
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

// ---------------------------------------------------------------------------------------
// Memory per idle connection

struct IdleReport {
    conns: usize,
    rss_before: u64,
    rss_connected: u64,
    rss_logged_in: u64,
}

impl IdleReport {
    fn per_conn(&self) -> f64 {
        (self.rss_connected as f64 - self.rss_before as f64) / self.conns as f64
    }
    fn per_user(&self) -> f64 {
        (self.rss_logged_in as f64 - self.rss_before as f64) / self.conns as f64
    }
    fn per_login(&self) -> f64 {
        (self.rss_logged_in as f64 - self.rss_connected as f64) / self.conns as f64
    }
}

fn measure_idle(
    server: &mut Server,
    n: usize,
    deadline: Instant,
) -> Res<(IdleReport, Vec<LobbyClient>)> {
    // Let the server finish starting before the baseline.
    std::thread::sleep(Duration::from_millis(100));
    let rss_before = server.rss()?;
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        check_deadline(deadline, "the idle connections")?;
        let mut c = connect(server.lobby)?;
        // The answer proves the server accepted and registered the connection.
        c.echo(b"")
            .map_err(|e| format!("idle connection {i}: ECHO: {e}"))?;
        conns.push(c);
    }
    let rss_connected = server.rss()?;
    for (i, c) in conns.iter_mut().enumerate() {
        check_deadline(deadline, "the idle logins")?;
        c.login(&format!("idle{i}"))
            .map_err(|e| format!("idle connection {i}: LOGIN: {e}"))?;
    }
    let rss_logged_in = server.rss()?;
    let report = IdleReport {
        conns: n,
        rss_before,
        rss_connected,
        rss_logged_in,
    };
    Ok((report, conns))
}

// ---------------------------------------------------------------------------------------
// ECHO round trips

struct EchoReport {
    round_trips: u32,
    elapsed: Duration,
    hist: Histogram<u64>,
}

fn new_hist() -> Histogram<u64> {
    // Nanoseconds, 1 ns .. 1 h, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

fn measure_echo(addr: SocketAddr, n: u32, deadline: Instant) -> Res<EchoReport> {
    let mut c = connect(addr)?;
    let body = *b"0123456789abcdef";
    // Warm up the path (first-use page faults and the like).
    for _ in 0..100.min(n) {
        c.echo(&body).map_err(|e| format!("ECHO: {e}"))?;
    }
    let mut hist = new_hist();
    let start = Instant::now();
    for i in 0..n {
        if i % 1024 == 0 {
            check_deadline(deadline, "the ECHO round trips")?;
        }
        let t = Instant::now();
        let back = c.echo(&body).map_err(|e| format!("ECHO {i}: {e}"))?;
        let _ = hist.record(nanos(t.elapsed()));
        if back != body {
            return Err(format!("ECHO {i}: the server sent back {back:?}"));
        }
    }
    Ok(EchoReport {
        round_trips: n,
        elapsed: start.elapsed(),
        hist,
    })
}

// ---------------------------------------------------------------------------------------
// Room fan-out

struct FanoutReport {
    users: u32,
    window: u32,
    max_owed: u64,
    chat_bytes: u8,
    elapsed: Duration,
    /// ROOM_CHAT_RES ok received during the chatting.
    chats: u64,
    /// ROOM_CHAT_NTF received during the chatting.
    ntfs: u64,
    /// Both, once everything sent has been answered.
    total_chats: u64,
    total_ntfs: u64,
    /// Every accepted chat reached every member before [`DRAIN_TIMEOUT`].
    drained: bool,
    latency: Histogram<u64>,
    server_cpu: Duration,
    bench_cpu: Duration,
}

/// One user's connection during the chatting.
struct User {
    stream: MioStream,
    me: u32,
    rx: Ring,
    tx: Vec<u8>,
    tx_off: usize,
    /// Chats sent without a ROOM_CHAT_RES yet.
    unanswered: u32,
    /// Send times of chats whose own ROOM_CHAT_NTF has not come back yet, oldest first.
    in_flight: VecDeque<Instant>,
    /// ROOM_CHAT_NTFs read, from anyone.
    ntfs: u64,
}

#[derive(Default)]
struct Counts {
    chats: u64,
    ntfs: u64,
    other: u64,
}

impl User {
    /// Writes what is queued until done or `WouldBlock`.
    fn flush(&mut self, i: usize) -> Res<()> {
        while self.tx_off < self.tx.len() {
            match self.stream.write(&self.tx[self.tx_off..]) {
                Ok(0) => return Err(format!("user {i}: the server stopped taking data")),
                Ok(n) => self.tx_off += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("user {i}: write: {e}")),
            }
        }
        self.tx.clear();
        self.tx_off = 0;
        Ok(())
    }

    /// Reads until `WouldBlock`, handling every whole frame.
    fn read(
        &mut self,
        i: usize,
        scratch: &mut [u8],
        counts: &mut Counts,
        latency: &mut Histogram<u64>,
    ) -> Res<()> {
        loop {
            let space = self.rx.write_slice();
            if space.is_empty() {
                // Cannot happen: frames are consumed after every read.
                return Err(format!("user {i}: receive buffer full"));
            }
            match self.stream.read(space) {
                Ok(0) => {
                    return Err(format!(
                        "user {i}: the server closed the connection (cut as a slow reader?)"
                    ))
                }
                Ok(n) => self.rx.commit(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("user {i}: read: {e}")),
            }
            self.frames(i, scratch, counts, latency)?;
        }
    }

    fn frames(
        &mut self,
        i: usize,
        scratch: &mut [u8],
        counts: &mut Counts,
        latency: &mut Histogram<u64>,
    ) -> Res<()> {
        loop {
            let f = match frame::next(&self.rx, scratch, id::is_message) {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("user {i}: bad frame header ({})", e.label())),
            };
            let size = f.len();
            let m = Message::parse(f)
                .map_err(|e| format!("user {i}: bad frame body ({})", e.label()))?;
            self.rx.consume(size);
            match m {
                Message::RoomChatRes { result } => {
                    if result != Status::Ok {
                        return Err(format!("user {i}: ROOM_CHAT_RES {result}"));
                    }
                    if self.unanswered == 0 {
                        return Err(format!("user {i}: a ROOM_CHAT_RES nobody asked for"));
                    }
                    self.unanswered -= 1;
                    counts.chats += 1;
                }
                Message::RoomChatNtf { user, .. } => {
                    counts.ntfs += 1;
                    self.ntfs += 1;
                    if user == self.me {
                        let sent = self.in_flight.pop_front().ok_or_else(|| {
                            format!("user {i}: its own ROOM_CHAT_NTF before any chat")
                        })?;
                        let _ = latency.record(nanos(sent.elapsed()));
                    }
                }
                Message::Error { code } => {
                    return Err(format!(
                        "user {i}: the server sent ERROR {} ({})",
                        code as u8,
                        code.label()
                    ))
                }
                _ => counts.other += 1,
            }
        }
    }
}

fn measure_fanout(server: &mut Server, args: &Args, deadline: Instant) -> Res<FanoutReport> {
    let n = usize::from(args.users);
    let addr = server.lobby;

    // Setup with the blocking client: log in, one creates the room, the others enter.
    let mut clients = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    let mut room = 0;
    for i in 0..n {
        check_deadline(deadline, "the fan-out setup")?;
        let mut c = connect(addr)?;
        let login = c
            .login(&format!("bench{i}"))
            .map_err(|e| format!("user {i}: LOGIN: {e}"))?;
        if i == 0 {
            room = c
                .create_room("bench", args.users)
                .map_err(|e| format!("user 0: ROOM_CREATE: {e}"))?;
        } else {
            c.enter_room(room)
                .map_err(|e| format!("user {i}: ROOM_ENTER: {e}"))?;
        }
        ids.push(login.user);
        clients.push(c);
    }
    // One ECHO each after everyone has entered: every ROOM_USER_ENTER_NTF comes before it,
    // so after it the client's buffer holds nothing and the stream can change hands.
    let mut users = Vec::with_capacity(n);
    for (i, mut c) in clients.into_iter().enumerate() {
        c.echo(b"sync")
            .map_err(|e| format!("user {i}: ECHO: {e}"))?;
        let std = c
            .stream()
            .try_clone()
            .map_err(|e| format!("user {i}: dup: {e}"))?;
        drop(c);
        std.set_nonblocking(true)
            .map_err(|e| format!("user {i}: nonblocking: {e}"))?;
        users.push(User {
            stream: MioStream::from_std(std),
            me: ids[i],
            rx: Ring::with_capacity(64 * 1024),
            tx: Vec::with_capacity(MAX_FRAME),
            tx_off: 0,
            unanswered: 0,
            in_flight: VecDeque::new(),
            ntfs: 0,
        });
    }

    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    for (i, u) in users.iter_mut().enumerate() {
        poll.registry()
            .register(
                &mut u.stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| format!("user {i}: register: {e}"))?;
    }
    let text = "m".repeat(usize::from(args.chat_bytes));
    let mut chat = [0u8; MAX_FRAME];
    let chat_len = Request::RoomChat { msg: &text }
        .emit(&mut chat)
        .map_err(|_| "a chat does not fit a frame".to_string())?;
    let chat = &chat[..chat_len];
    // ROOM_CHAT_NTF: header, user u32, len u8, text.
    let ntf_len = (frame::HEADER_LEN + 4 + 1 + usize::from(args.chat_bytes)) as u64;
    let max_owed = (args.backlog_bytes / ntf_len).max(1);
    let mut sent: u64 = 0;
    let mut first = 0;

    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; MAX_FRAME];
    let mut counts = Counts::default();
    let mut latency = new_hist();
    let bench_cpu0 = cpu_time("/proc/self/stat")?;
    let server_cpu0 = server.cpu()?;
    let start = Instant::now();
    let stop_at = start + Duration::from_secs_f64(args.seconds);
    type Snapshot = (Instant, u64, u64, Duration, Duration);
    let mut window_end: Option<Snapshot> = None;
    let mut drained = false;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err("the overall deadline passed during the fan-out".into());
        }
        if window_end.is_none() && now >= stop_at {
            let bench_cpu = cpu_time("/proc/self/stat")?;
            let cpu = server.cpu()?;
            window_end = Some((now, counts.chats, counts.ntfs, cpu, bench_cpu));
        }
        if let Some((end, ..)) = window_end {
            if users
                .iter()
                .all(|u| u.unanswered == 0 && u.in_flight.is_empty())
                && counts.ntfs >= counts.chats * n as u64
            {
                drained = true;
                break;
            }
            if now >= end + DRAIN_TIMEOUT {
                break;
            }
        } else {
            // Chats sent that the slowest reader has not read yet.
            let owed = sent - users.iter().map(|u| u.ntfs).min().unwrap_or(0);
            let mut budget = max_owed.saturating_sub(owed);
            // Take turns at the budget: start one user further each time.
            first = (first + 1) % n;
            for j in 0..n {
                let i = (first + j) % n;
                let u = &mut users[i];
                let k = (args.window - u.unanswered).min(budget.min(u64::from(u32::MAX)) as u32);
                if k == 0 {
                    continue;
                }
                budget -= u64::from(k);
                sent += u64::from(k);
                for _ in 0..k {
                    u.tx.extend_from_slice(chat);
                    u.in_flight.push_back(now);
                }
                u.unanswered += k;
                u.flush(i)?;
            }
        }
        let wait = match window_end {
            None => stop_at.saturating_duration_since(now),
            Some(_) => Duration::from_millis(50),
        };
        match poll.poll(&mut events, Some(wait.min(Duration::from_millis(100)))) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        for ev in events.iter() {
            let i = ev.token().0;
            let Some(u) = users.get_mut(i) else { continue };
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                u.read(i, &mut scratch, &mut counts, &mut latency)?;
            }
            if ev.is_writable() {
                u.flush(i)?;
            }
        }
    }
    let (end, chats, ntfs, server_cpu1, bench_cpu1) =
        window_end.ok_or("the fan-out ended before its window")?;
    Ok(FanoutReport {
        users: u32::from(args.users),
        window: args.window,
        max_owed,
        chat_bytes: args.chat_bytes,
        elapsed: end - start,
        chats,
        ntfs,
        total_chats: counts.chats,
        total_ntfs: counts.ntfs,
        drained,
        latency,
        server_cpu: server_cpu1.saturating_sub(server_cpu0),
        bench_cpu: bench_cpu1.saturating_sub(bench_cpu0),
    })
}

// ---------------------------------------------------------------------------------------
// Report

struct Report {
    server_bin: String,
    pid: u32,
    /// Idle connections left open during the echo and fan-out figures (--keep-idle).
    idle_kept_open: usize,
    idle: Option<IdleReport>,
    echo: Option<EchoReport>,
    fanout: Option<FanoutReport>,
}

fn us(ns: f64) -> f64 {
    (ns / 1e3 * 10.0).round() / 10.0
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

impl FanoutReport {
    fn secs(&self) -> f64 {
        self.elapsed.as_secs_f64().max(1e-9)
    }
    fn server_cpu_per_ntf_us(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / (self.ntfs.max(1) as f64)
    }
}

impl Report {
    fn json(&self) -> Value {
        let idle = self.idle.as_ref().map(|r| {
            json!({
                "connections": r.conns,
                "rss_before_bytes": r.rss_before,
                "rss_connected_bytes": r.rss_connected,
                "rss_logged_in_bytes": r.rss_logged_in,
                "bytes_per_idle_connection": round1(r.per_conn()),
                "bytes_per_logged_in_user": round1(r.per_user()),
                "bytes_per_login": round1(r.per_login()),
            })
        });
        let echo = self.echo.as_ref().map(|r| {
            json!({
                "round_trips": r.round_trips,
                "seconds": r.elapsed.as_secs_f64(),
                "per_sec": round1(f64::from(r.round_trips) / r.elapsed.as_secs_f64().max(1e-9)),
                "mean_us": us(r.hist.mean()),
                "p50_us": us(r.hist.value_at_quantile(0.5) as f64),
                "p99_us": us(r.hist.value_at_quantile(0.99) as f64),
                "max_us": us(r.hist.max() as f64),
            })
        });
        let fanout = self.fanout.as_ref().map(|r| {
            json!({
                "users": r.users,
                "window": r.window,
                "max_owed_chats": r.max_owed,
                "chat_bytes": r.chat_bytes,
                "seconds": r.elapsed.as_secs_f64(),
                "chats_accepted": r.chats,
                "chats_per_sec": round1(r.chats as f64 / r.secs()),
                "notifications_delivered": r.ntfs,
                "notifications_per_sec": round1(r.ntfs as f64 / r.secs()),
                "latency_samples": r.latency.len(),
                "latency_mean_us": us(r.latency.mean()),
                "latency_p50_us": us(r.latency.value_at_quantile(0.5) as f64),
                "latency_p99_us": us(r.latency.value_at_quantile(0.99) as f64),
                "latency_max_us": us(r.latency.max() as f64),
                "server_cpu_seconds": r.server_cpu.as_secs_f64(),
                "server_cpu_percent": round1(100.0 * r.server_cpu.as_secs_f64() / r.secs()),
                "server_cpu_us_per_notification": (r.server_cpu_per_ntf_us() * 1000.0).round() / 1000.0,
                "bench_cpu_seconds": r.bench_cpu.as_secs_f64(),
                "total_chats_accepted": r.total_chats,
                "total_notifications": r.total_ntfs,
                "drained": r.drained,
            })
        });
        json!({
            "server_bin": self.server_bin,
            "server_pid": self.pid,
            "idle_kept_open": self.idle_kept_open,
            "idle": idle,
            "echo": echo,
            "fanout": fanout,
        })
    }

    fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "tickwire-lobby-bench: server {} (pid {})",
            self.server_bin, self.pid
        );
        if self.idle_kept_open > 0 {
            let _ = writeln!(
                s,
                "({} idle logged-in connections stay open during echo and fan-out)",
                self.idle_kept_open
            );
        }
        if let Some(r) = &self.idle {
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            let _ = writeln!(s, "\nmemory per idle connection (server VmRSS)");
            let _ = writeln!(s, "  {:<38} {:>10.1} MiB", "before", mib(r.rss_before));
            let _ = writeln!(
                s,
                "  {:<38} {:>10.1} MiB  {:>9.0} bytes each",
                format!("{} connected, not logged in", r.conns),
                mib(r.rss_connected),
                r.per_conn()
            );
            let _ = writeln!(
                s,
                "  {:<38} {:>10.1} MiB  {:>9.0} bytes each ({:.0} per login)",
                format!("the same {} logged in", r.conns),
                mib(r.rss_logged_in),
                r.per_user(),
                r.per_login()
            );
        }
        if let Some(r) = &self.echo {
            let _ = writeln!(
                s,
                "\necho: {} round trips of 16 bytes on one connection, one at a time",
                r.round_trips
            );
            let _ = writeln!(
                s,
                "  {:<38} {:>10.1}",
                "round trips/s",
                f64::from(r.round_trips) / r.elapsed.as_secs_f64().max(1e-9)
            );
            let _ = writeln!(
                s,
                "  {:<38} mean {:.1} us, p50 {:.1} us, p99 {:.1} us, max {:.1} us",
                "round trip",
                us(r.hist.mean()),
                us(r.hist.value_at_quantile(0.5) as f64),
                us(r.hist.value_at_quantile(0.99) as f64),
                us(r.hist.max() as f64)
            );
        }
        if let Some(r) = &self.fanout {
            let _ = writeln!(
                s,
                "\nroom fan-out: {} users in one room, {}-byte chats for {:.2} s; at most {} \
                 un-answered per user, at most {} unread by anyone",
                r.users,
                r.chat_bytes,
                r.secs(),
                r.window,
                r.max_owed
            );
            let row = |s: &mut String, k: &str, v: String| {
                let _ = writeln!(s, "  {k:<38} {v}");
            };
            row(
                &mut s,
                "chats accepted/s",
                format!("{:.0} ({} chats)", r.chats as f64 / r.secs(), r.chats),
            );
            row(
                &mut s,
                "notifications delivered/s",
                format!("{:.0} ({} ROOM_CHAT_NTF)", r.ntfs as f64 / r.secs(), r.ntfs),
            );
            row(
                &mut s,
                "chat -> own ROOM_CHAT_NTF latency",
                format!(
                    "mean {:.1} us, p50 {:.1} us, p99 {:.1} us, max {:.1} us ({} samples)",
                    us(r.latency.mean()),
                    us(r.latency.value_at_quantile(0.5) as f64),
                    us(r.latency.value_at_quantile(0.99) as f64),
                    us(r.latency.max() as f64),
                    r.latency.len()
                ),
            );
            row(
                &mut s,
                "server CPU (utime+stime)",
                format!(
                    "{:.2} s ({:.0}% of one core), {:.3} us per delivered notification",
                    r.server_cpu.as_secs_f64(),
                    100.0 * r.server_cpu.as_secs_f64() / r.secs(),
                    r.server_cpu_per_ntf_us()
                ),
            );
            row(
                &mut s,
                "bench (client) CPU",
                format!("{:.2} s", r.bench_cpu.as_secs_f64()),
            );
            row(
                &mut s,
                "every chat reached every member",
                if r.drained {
                    format!(
                        "yes ({} chats, {} notifications in all)",
                        r.total_chats, r.total_ntfs
                    )
                } else {
                    format!(
                        "NO: {} chats, {} notifications after {DRAIN_TIMEOUT:?} of draining",
                        r.total_chats, r.total_ntfs
                    )
                },
            );
        }
        s
    }
}
