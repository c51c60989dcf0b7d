//! The server process: started in its own process group, killed by a guard, by
//! `PR_SET_PDEATHSIG` and by a watchdog; its memory and CPU read from `/proc`.

use std::io::BufReader;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Res, START_TIMEOUT};
use crate::common::{fd_limit, first_line, raise_fd_limit, LineError};

/// The running server; killed when dropped.
pub struct Server {
    child: Child,
    /// Its process id.
    pub pid: u32,
    /// Its lobby address, from its listening line.
    pub lobby: SocketAddr,
    log: PathBuf,
    /// Kept open so that the server's last line at exit does not meet a closed pipe.
    stdout: Option<BufReader<ChildStdout>>,
    pid_cell: Arc<AtomicI32>,
}

impl Server {
    /// Starts `bin serve` on loopback with room for `conns` lobby connections.
    pub fn start(
        bin: &Path,
        conns: usize,
        log_level: &str,
        pid_cell: &Arc<AtomicI32>,
    ) -> Res<Server> {
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
            // The idle connections enter rooms of 100: room for all of them.
            .args(["--lobby-max-rooms", &n])
            // The bench measures capacity: no per-user chat rate limit, and its idle
            // connections (not logged in) may fill the table and stay past 10 s.
            .args([
                "--lobby-user-rate",
                "0",
                "--lobby-unauthenticated-share",
                "100",
            ])
            .args(["--lobby-login-deadline-ms", "86400000"])
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
        let reader = self
            .stdout
            .take()
            .ok_or("the server's stdout is not a pipe")?;
        match first_line(reader, START_TIMEOUT) {
            Ok((line, reader)) => {
                self.stdout = Some(reader);
                Ok(line)
            }
            Err(LineError::Closed) => Err(format!(
                "the server closed its stdout without a listening line\n{}",
                self.diagnose()
            )),
            Err(LineError::Read(e)) => Err(format!("reading the server's stdout: {e}")),
            Err(LineError::Timeout) => Err(format!(
                "no listening line from the server within {START_TIMEOUT:?}\n{}",
                self.diagnose()
            )),
        }
    }

    /// Fails when the server has exited.
    pub fn check_alive(&mut self) -> Res<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(st)) => Err(format!("the server exited: {st}")),
            Err(e) => Err(format!("cannot check the server: {e}")),
        }
    }

    /// Resident set size in bytes (`VmRSS` of `/proc/PID/status`).
    pub fn rss(&self) -> Res<u64> {
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
    pub fn cpu(&self) -> Res<Duration> {
        proc_cpu_time(&format!("/proc/{}/stat", self.pid))
    }

    /// Whether the server still runs, and the end of its log, for an error message.
    pub fn diagnose(&mut self) -> String {
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
pub(super) fn default_server_bin() -> Res<PathBuf> {
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

/// utime + stime of `/proc/.../stat` (another process's CPU time).
fn proc_cpu_time(path: &str) -> Res<Duration> {
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
pub(super) fn raise_nofile(need: u64) -> Res<()> {
    let (_, hard) = fd_limit().map_err(|e| format!("getrlimit(NOFILE): {e}"))?;
    if hard < need {
        return Err(format!(
            "the run needs {need} file descriptors but the hard limit is {hard} (lower --idle or \
             raise `ulimit -Hn`)"
        ));
    }
    raise_fd_limit(need).map_err(|e| format!("setrlimit(NOFILE, {need}): {e}"))?;
    Ok(())
}

/// Where the server's stderr goes.
fn log_path() -> PathBuf {
    std::env::temp_dir().join(format!("tickwire-lobby-bench-{}.log", std::process::id()))
}

/// Kills the server (if it runs) and exits when `deadline` passes.
pub(super) fn watchdog(deadline: Instant, pid: Arc<AtomicI32>) {
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
