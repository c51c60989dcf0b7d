//! Helpers the tools share: CPU time, the fd limit, CPU pinning, stop-on-signal flags,
//! second and millisecond flags as [`Duration`]s, histograms and their percentiles, the
//! wildcard address of a family, and reading a child process's first stdout line with a
//! timeout.

use std::io::{self, BufRead};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;

// ---------------------------------------------------------------------------------------
// CPU, file descriptors, signals

fn rusage(who: libc::c_int) -> (Duration, Duration) {
    // SAFETY: getrusage writes one rusage we own; all-zero is a valid rusage.
    let mut u: libc::rusage = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(who, &mut u) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    (tv(u.ru_utime), tv(u.ru_stime))
}

/// User and system CPU time of this process so far (`getrusage(RUSAGE_SELF)`).
pub fn cpu_time() -> (Duration, Duration) {
    rusage(libc::RUSAGE_SELF)
}

/// User and system CPU time of the calling thread so far (`getrusage(RUSAGE_THREAD)`).
pub fn thread_cpu_time() -> (Duration, Duration) {
    rusage(libc::RUSAGE_THREAD)
}

/// The soft and hard `RLIMIT_NOFILE`.
// rlim_t is u64 on 64-bit Linux but not everywhere.
#[allow(clippy::useless_conversion)]
pub fn fd_limit() -> io::Result<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((u64::from(r.rlim_cur), u64::from(r.rlim_max)))
}

/// Raises the soft `RLIMIT_NOFILE` to at least `want` (up to the hard limit; child
/// processes inherit it). Returns the soft limit now in force.
// rlim_t is u64 on 64-bit Linux but not everywhere.
#[allow(clippy::useless_conversion)]
pub fn raise_fd_limit(want: u64) -> io::Result<u64> {
    let (soft, hard) = fd_limit()?;
    if soft >= want {
        return Ok(soft);
    }
    let r = libc::rlimit {
        rlim_cur: want.min(hard) as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit reads one rlimit we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::from(r.rlim_cur))
}

/// Pins the calling thread to CPU `cpu`.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET writes within it (it ignores CPUs past
    // the set's size); sched_setaffinity reads it.
    unsafe {
        let mut set: libc::cpu_set_t = core::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A flag that SIGINT and SIGTERM set. A signal that cannot be handled is reported on
/// stderr under `tool`'s name.
pub fn stop_on_signals(tool: &str) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            eprintln!("{tool}: cannot handle signal {sig}: {e}");
        }
    }
    stop
}

// ---------------------------------------------------------------------------------------
// Durations

/// Longest duration a flag can ask for, in seconds (about 31 years): adding it to an
/// `Instant` cannot overflow.
pub const MAX_SECS: f64 = 1e9;

/// `s` seconds as a [`Duration`]: zero for zero, negative, NaN or infinite values, at most
/// [`MAX_SECS`].
pub fn secs(s: f64) -> Duration {
    if s.is_finite() && s > 0.0 {
        Duration::from_secs_f64(s.min(MAX_SECS))
    } else {
        Duration::ZERO
    }
}

/// `s` seconds, or `None` for zero, negative, NaN or infinite values ("off").
pub fn secs_or_off(s: f64) -> Option<Duration> {
    (s.is_finite() && s > 0.0).then(|| secs(s))
}

/// `v` milliseconds as a [`Duration`], as [`secs`] does.
pub fn millis(v: f64) -> Duration {
    secs(v / 1000.0)
}

/// Whole microseconds of `d`, saturating.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Whole nanoseconds of `d`, saturating.
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

// ---------------------------------------------------------------------------------------
// Histograms

/// A histogram of values `1..=max` at 3 significant digits.
///
/// # Panics
///
/// When `max < 2` (the bounds are constants in every caller).
pub fn histogram(max: u64) -> Histogram<u64> {
    Histogram::new_with_bounds(1, max, 3).expect("constant histogram bounds are valid")
}

/// The usual figures of a histogram, in its own unit (all zero when it is empty).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Quantiles {
    /// How many samples.
    pub samples: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl Quantiles {
    /// The figures of `h`.
    pub fn of(h: &Histogram<u64>) -> Quantiles {
        if h.is_empty() {
            return Quantiles::default();
        }
        Quantiles {
            samples: h.len(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Addresses and child processes

/// The wildcard address (port 0) of `a`'s family, to bind a socket that talks to `a`.
pub fn unspecified(a: &SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

/// Why [`first_line`] has no line.
#[derive(Debug)]
pub enum LineError {
    /// The stream ended before a line (the child closed its stdout, or exited).
    Closed,
    /// Reading failed.
    Read(io::Error),
    /// No line within the time allowed.
    Timeout,
}

/// The first line of `reader` (a child's stdout, where tickwire's binaries print their
/// `... listening ADDR` line), within `within`, and the reader to go on with. A helper
/// thread reads it, so a child that prints nothing cannot hang the caller; after a
/// timeout that thread keeps the reader until the stream ends.
pub fn first_line<R: BufRead + Send + 'static>(
    mut reader: R,
    within: Duration,
) -> Result<(String, R), LineError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let r = reader.read_line(&mut line).map(|_| line);
        let _ = tx.send((r, reader));
    });
    match rx.recv_timeout(within) {
        Ok((Ok(line), _)) if line.is_empty() => Err(LineError::Closed),
        Ok((Ok(line), reader)) => Ok((line, reader)),
        Ok((Err(e), _)) => Err(LineError::Read(e)),
        Err(_) => Err(LineError::Timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    #[test]
    fn durations_saturate() {
        assert_eq!(secs(1.5), Duration::from_millis(1500));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(secs(bad), Duration::ZERO, "{bad}");
            assert_eq!(secs_or_off(bad), None, "{bad}");
        }
        assert_eq!(secs(1e300), Duration::from_secs(1_000_000_000));
        assert_eq!(secs_or_off(2.0), Some(Duration::from_secs(2)));
        assert_eq!(millis(250.0), Duration::from_millis(250));
        assert_eq!(micros(Duration::MAX), u64::MAX);
        assert_eq!(nanos(Duration::from_micros(3)), 3000);
    }

    #[test]
    fn quantiles_of_a_histogram() {
        assert_eq!(Quantiles::of(&histogram(1000)), Quantiles::default());
        let mut h = histogram(1000);
        for v in 1..=100 {
            h.record(v).unwrap();
        }
        let q = Quantiles::of(&h);
        assert_eq!((q.samples, q.p50, q.p99, q.max), (100, 50, 99, 100));
        assert!((q.mean - 50.5).abs() < 0.01);
    }

    #[test]
    fn fd_limit_can_be_raised_to_itself() {
        let (soft, hard) = fd_limit().unwrap();
        assert!(soft <= hard);
        assert_eq!(raise_fd_limit(soft).unwrap(), soft);
        assert!(raise_fd_limit(soft + 1).unwrap() >= soft.min(hard));
    }

    #[test]
    fn cpu_time_moves() {
        let (u0, s0) = cpu_time();
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed() < Duration::from_millis(30) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        let (u1, s1) = cpu_time();
        assert!(u1 + s1 > u0 + s0, "{x}");
        let (tu, ts) = thread_cpu_time();
        assert!(tu + ts > Duration::ZERO);
    }

    #[test]
    fn first_line_and_its_errors() {
        let (line, mut rest) =
            first_line(BufReader::new(&b"one\ntwo\n"[..]), Duration::from_secs(5)).unwrap();
        assert_eq!(line, "one\n");
        let mut two = String::new();
        rest.read_line(&mut two).unwrap();
        assert_eq!(two, "two\n");
        assert!(matches!(
            first_line(BufReader::new(&b""[..]), Duration::from_secs(5)),
            Err(LineError::Closed)
        ));
        // A pipe nobody writes to.
        let mut fds = [0; 2];
        // SAFETY: pipe(2) fills two fds we then own.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both are open and owned by nobody else.
        let (r, w) = unsafe {
            use std::os::fd::FromRawFd;
            (
                std::fs::File::from_raw_fd(fds[0]),
                std::fs::File::from_raw_fd(fds[1]),
            )
        };
        assert!(matches!(
            first_line(BufReader::new(r), Duration::from_millis(50)),
            Err(LineError::Timeout)
        ));
        drop(w);
    }
}
