//! The system calls mio does not wrap: `recvmmsg`, `sendmmsg` and `timerfd`. Every buffer
//! they use is allocated once, in the constructors; the calls themselves allocate nothing.
//! All `unsafe` of the crate lives here.

use core::mem::{size_of, zeroed};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

/// Size of each receive buffer: larger than any valid datagram, so an oversized one is
/// seen as such (and dropped) rather than silently truncated into a valid-looking one.
pub const RECV_BUF: usize = 2048;

fn to_sockaddr(addr: &SocketAddr, out: &mut libc::sockaddr_storage) -> libc::socklen_t {
    // SAFETY: sockaddr_storage is large and aligned enough for both address families.
    unsafe {
        match addr {
            SocketAddr::V4(a) => {
                let sin = &mut *(out as *mut _ as *mut libc::sockaddr_in);
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr = libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                };
                size_of::<libc::sockaddr_in>() as libc::socklen_t
            }
            SocketAddr::V6(a) => {
                let sin6 = &mut *(out as *mut _ as *mut libc::sockaddr_in6);
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_addr = libc::in6_addr {
                    s6_addr: a.ip().octets(),
                };
                sin6.sin6_scope_id = a.scope_id();
                size_of::<libc::sockaddr_in6>() as libc::socklen_t
            }
        }
    }
}

fn from_sockaddr(s: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    // SAFETY: the family field says which struct the kernel wrote, and len bounds it.
    unsafe {
        match s.ss_family as libc::c_int {
            libc::AF_INET if len as usize >= size_of::<libc::sockaddr_in>() => {
                let sin = &*(s as *const _ as *const libc::sockaddr_in);
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 if len as usize >= size_of::<libc::sockaddr_in6>() => {
                let sin6 = &*(s as *const _ as *const libc::sockaddr_in6);
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

/// Maps `::ffff:a.b.c.d` to `a.b.c.d`, so a dual-stack socket reports IPv4 peers as such.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port()),
            None => addr,
        },
        v4 => v4,
    }
}

/// Control-message space for one datagram: room for one `SCM_TIMESTAMPNS` (a cmsghdr
/// and a timespec, 32 bytes on 64-bit Linux) with margin, aligned for a cmsghdr.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Ctrl([u8; 64]);

/// Preallocated buffers for one `recvmmsg` call of up to `n` datagrams.
pub struct RecvBatch {
    bufs: Box<[[u8; RECV_BUF]]>,
    addrs: Box<[libc::sockaddr_storage]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
    /// Each datagram's control messages, read only with [`RecvBatch::with_timestamps`].
    ctrl: Box<[Ctrl]>,
    timestamps: bool,
    len: usize,
}

impl RecvBatch {
    /// Buffers for `n` datagrams.
    pub fn new(n: usize) -> RecvBatch {
        let n = n.max(1);
        // SAFETY: all-zero is a valid value for these plain C structs.
        let (addrs, iovs, hdrs) = unsafe {
            (
                (0..n)
                    .map(|_| zeroed())
                    .collect::<Box<[libc::sockaddr_storage]>>(),
                (0..n).map(|_| zeroed()).collect::<Box<[libc::iovec]>>(),
                (0..n).map(|_| zeroed()).collect::<Box<[libc::mmsghdr]>>(),
            )
        };
        RecvBatch {
            // Non-zero fill: every page is touched now rather than on the first floods.
            bufs: vec![[0xA5u8; RECV_BUF]; n].into_boxed_slice(),
            addrs,
            iovs,
            hdrs,
            ctrl: vec![Ctrl([0; 64]); n].into_boxed_slice(),
            timestamps: false,
            len: 0,
        }
    }

    /// The same, also reading each datagram's kernel receive timestamp (the socket must
    /// have [`enable_rx_timestamps`]): see [`RecvBatch::arrival_ns`].
    pub fn with_timestamps(n: usize) -> RecvBatch {
        RecvBatch {
            timestamps: true,
            ..RecvBatch::new(n)
        }
    }

    /// When datagram `i` of the last call reached the socket, as `CLOCK_REALTIME`
    /// nanoseconds (the clock `SO_TIMESTAMPNS` stamps with); `None` without timestamps or
    /// when the kernel gave none.
    pub fn arrival_ns(&self, i: usize) -> Option<i128> {
        if !self.timestamps || i >= self.len {
            return None;
        }
        let h = &self.hdrs[i].msg_hdr;
        // SAFETY: the kernel wrote `msg_controllen` bytes of control messages into this
        // datagram's own buffer; the CMSG macros stay within `msg_control ..
        // msg_control + msg_controllen`, and the timespec is read unaligned.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(h);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let ts: libc::timespec =
                        core::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                    return Some(ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128);
                }
                c = libc::CMSG_NXTHDR(h, c);
            }
        }
        None
    }

    /// Receives up to the batch size without blocking. `Ok(0)` never happens: an empty
    /// socket is `Err(WouldBlock)`.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let n = self.bufs.len();
        for i in 0..n {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: RECV_BUF,
            };
            let h = &mut self.hdrs[i];
            h.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &mut self.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            if self.timestamps {
                h.msg_hdr.msg_control = self.ctrl[i].0.as_mut_ptr().cast();
                h.msg_hdr.msg_controllen = size_of::<Ctrl>() as _;
            } else {
                h.msg_hdr.msg_control = core::ptr::null_mut();
                h.msg_hdr.msg_controllen = 0;
            }
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: every header points into buffers owned by self that outlive the call.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
                core::ptr::null_mut(),
            )
        };
        if r < 0 {
            self.len = 0;
            return Err(io::Error::last_os_error());
        }
        self.len = r as usize;
        Ok(self.len)
    }

    /// Datagram `i` of the last call: its source and its bytes. `None` for a source
    /// address of an unknown family. A datagram larger than the buffer is reported with
    /// `truncated = true`.
    pub fn get(&self, i: usize) -> Option<(SocketAddr, &[u8], bool)> {
        if i >= self.len {
            return None;
        }
        let h = &self.hdrs[i];
        let src = from_sockaddr(&self.addrs[i], h.msg_hdr.msg_namelen)?;
        let len = (h.msg_len as usize).min(RECV_BUF);
        let truncated = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        Some((canonical(src), &self.bufs[i][..len], truncated))
    }
}

// SAFETY: the raw pointers in a RecvBatch point only into its own boxed buffers, which move
// with it (a Box's heap memory does not move when the Box does), and are rewritten before
// every recvmmsg: a batch on another thread owns everything it points at.
unsafe impl Send for RecvBatch {}

/// Preallocated headers for `sendmmsg` of up to `n` datagrams, each sent as two pieces
/// (a head and a shared body) without copying either.
pub struct SendBatch {
    addrs: Box<[libc::sockaddr_storage]>,
    iovs: Box<[[libc::iovec; 2]]>,
    hdrs: Box<[libc::mmsghdr]>,
    len: usize,
    v6_socket: bool,
}

// SAFETY: a SendBatch's pointers are either into its own boxed headers and addresses
// (which move with it) or into the caller's buffers between `push` and `flush`, whose
// contract (see `push`) keeps them alive and unwritten until the flush, on whatever thread
// the flush runs. Outside that window the stale pointers are never read (`len` is 0).
unsafe impl Send for SendBatch {}

/// Outcome of flushing a send batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendResult {
    /// Datagrams the kernel took.
    pub sent: usize,
    /// Datagrams given up on (socket buffer full, or an error for that destination).
    pub dropped: usize,
}

impl SendBatch {
    /// Room for `n` datagrams per flush. `v6_socket` maps IPv4 destinations to
    /// `::ffff:a.b.c.d` for a dual-stack IPv6 socket.
    pub fn new(n: usize, v6_socket: bool) -> SendBatch {
        let n = n.max(1);
        // SAFETY: all-zero is a valid value for these plain C structs.
        let (addrs, iovs, hdrs) = unsafe {
            (
                (0..n)
                    .map(|_| zeroed())
                    .collect::<Box<[libc::sockaddr_storage]>>(),
                (0..n)
                    .map(|_| zeroed())
                    .collect::<Box<[[libc::iovec; 2]]>>(),
                (0..n).map(|_| zeroed()).collect::<Box<[libc::mmsghdr]>>(),
            )
        };
        SendBatch {
            addrs,
            iovs,
            hdrs,
            len: 0,
            v6_socket,
        }
    }

    /// Whether the batch is full (flush it before pushing more).
    pub fn is_full(&self) -> bool {
        self.len == self.hdrs.len()
    }

    /// Number of queued datagrams.
    #[cfg_attr(not(feature = "internal"), allow(dead_code))] // for `tickwire::internal`
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `head` followed by `body` to `dst`. Returns `false` when full.
    ///
    /// # Safety
    ///
    /// The batch keeps raw pointers to `head` and `body`: both must stay alive and
    /// unchanged (not written, not freed, not moved) until the next [`SendBatch::flush`] (or
    /// the drop of the batch) returns. This holds across threads too: a batch moved to
    /// another thread between `push` and `flush` reads the bytes from there.
    pub unsafe fn push(&mut self, dst: SocketAddr, head: &[u8], body: &[u8]) -> bool {
        if self.is_full() {
            return false;
        }
        let i = self.len;
        let dst = match (dst, self.v6_socket) {
            (SocketAddr::V4(a), true) => {
                SocketAddr::V6(SocketAddrV6::new(a.ip().to_ipv6_mapped(), a.port(), 0, 0))
            }
            (d, _) => d,
        };
        let namelen = to_sockaddr(&dst, &mut self.addrs[i]);
        self.iovs[i] = [
            libc::iovec {
                iov_base: head.as_ptr() as *mut libc::c_void,
                iov_len: head.len(),
            },
            libc::iovec {
                iov_base: body.as_ptr() as *mut libc::c_void,
                iov_len: body.len(),
            },
        ];
        let h = &mut self.hdrs[i];
        h.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
        h.msg_hdr.msg_namelen = namelen;
        h.msg_hdr.msg_iov = self.iovs[i].as_mut_ptr();
        h.msg_hdr.msg_iovlen = if body.is_empty() { 1 } else { 2 };
        h.msg_hdr.msg_control = core::ptr::null_mut();
        h.msg_hdr.msg_controllen = 0;
        h.msg_hdr.msg_flags = 0;
        h.msg_len = 0;
        self.len += 1;
        true
    }

    /// Sends everything queued with as few `sendmmsg` calls as the kernel allows. A full
    /// socket buffer drops the rest (UDP: better late than never is wrong for snapshots);
    /// an error for one destination skips that datagram only.
    pub fn flush(&mut self, fd: RawFd) -> SendResult {
        let mut res = SendResult::default();
        let mut at = 0;
        while at < self.len {
            // SAFETY: headers at..len point at buffers the caller keeps alive (see push).
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs[at..].as_mut_ptr(),
                    (self.len - at) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if r > 0 {
                at += r as usize;
                res.sent += r as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => {
                    res.dropped += self.len - at;
                    break;
                }
                _ => {
                    log::debug!("sendmmsg: {e}");
                    res.dropped += 1;
                    at += 1;
                }
            }
        }
        self.len = 0;
        res
    }
}

/// A `CLOCK_MONOTONIC` timerfd armed at absolute deadlines given as `Instant`s.
pub struct TimerFd {
    fd: OwnedFd,
    base_instant: Instant,
    base_ns: u128,
    armed: Option<Instant>,
}

fn monotonic_ns() -> u128 {
    // SAFETY: clock_gettime writes one timespec.
    let mut ts: libc::timespec = unsafe { zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

impl TimerFd {
    /// A disarmed non-blocking timer.
    pub fn new() -> io::Result<TimerFd> {
        // SAFETY: plain syscall; the fd is owned below.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // Instant is CLOCK_MONOTONIC on Linux: pair one reading of each to convert.
        let base_instant = Instant::now();
        let base_ns = monotonic_ns();
        Ok(TimerFd {
            // SAFETY: fd is a fresh descriptor we own.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            base_instant,
            base_ns,
            armed: None,
        })
    }

    /// Arms the timer to fire at `at` (at once if that has passed). Re-arming at the same
    /// instant is skipped.
    pub fn arm(&mut self, at: Instant) -> io::Result<()> {
        if self.armed == Some(at) {
            return Ok(());
        }
        let ns = match at.checked_duration_since(self.base_instant) {
            Some(d) => self.base_ns + d.as_nanos(),
            None => self
                .base_ns
                .saturating_sub(self.base_instant.duration_since(at).as_nanos()),
        }
        .max(1);
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (ns % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: valid fd and itimerspec.
        let r = unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                core::ptr::null_mut(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed = Some(at);
        Ok(())
    }

    /// Clears a pending expiry (call when the timer's readiness is reported).
    pub fn clear(&mut self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into buf; EAGAIN when nothing expired.
        let r = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
        if r == 8 {
            self.armed = None;
        }
    }
}

impl AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Asks the kernel to stamp every datagram `fd` receives with its arrival time
/// (`SO_TIMESTAMPNS`, read back by [`RecvBatch::with_timestamps`]).
pub fn enable_rx_timestamps(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads one c_int from `on`.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    match r {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// `CLOCK_REALTIME` now, in nanoseconds (the clock of the receive timestamps).
pub fn realtime_ns() -> i128 {
    // SAFETY: clock_gettime writes one timespec.
    let mut ts: libc::timespec = unsafe { zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

/// Puts the calling thread under `SCHED_FIFO` at `priority` (1..=99, clamped).
pub fn set_fifo(priority: u8) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: i32::from(priority.clamp(1, 99)),
    };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param.
    match unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Pins the calling thread to `cpu`.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "cpu {cpu} is beyond the {} CPUs Linux can name",
                libc::CPU_SETSIZE
            ),
        ));
    }
    // SAFETY: cpu_set_t is plain data; CPU_SET stays within it (checked above); pid 0 is
    // the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = zeroed();
        libc::CPU_SET(cpu, &mut set);
        match libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }
}

/// The CPUs the calling thread may run on, in ascending order.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data, filled by the kernel; CPU_ISSET reads within it.
    unsafe {
        let mut set: libc::cpu_set_t = zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_round_trip() {
        for a in ["1.2.3.4:5", "[::1]:7777", "[fe80::1%2]:9"] {
            let a: SocketAddr = a.parse().unwrap();
            let mut s = unsafe { zeroed() };
            let len = to_sockaddr(&a, &mut s);
            assert_eq!(from_sockaddr(&s, len), Some(a));
        }
        let mapped: SocketAddr = "[::ffff:1.2.3.4]:5".parse().unwrap();
        assert_eq!(canonical(mapped), "1.2.3.4:5".parse().unwrap());
    }

    #[test]
    fn batch_send_and_receive_on_loopback() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut tx = SendBatch::new(4, false);
        let body = [9u8; 3];
        let heads = [[0u8], [1], [2], [7], [8]];
        let to = b.local_addr().unwrap();
        // SAFETY: heads and body outlive the flush below.
        unsafe {
            for h in &heads[..3] {
                assert!(tx.push(to, h, &body));
            }
            assert!(tx.push(to, &heads[3], &[]));
            assert!(!tx.push(to, &heads[4], &[]));
        }
        let r = tx.flush(a.as_raw_fd());
        assert_eq!(
            r,
            SendResult {
                sent: 4,
                dropped: 0
            }
        );
        // Wait (bounded) for the first, then drain the rest in one batch.
        let mut first = [0u8; 16];
        let (n, from) = b.recv_from(&mut first).unwrap();
        assert_eq!(&first[..n], &[0, 9, 9, 9]);
        assert_eq!(from, a.local_addr().unwrap());
        let mut rx = RecvBatch::new(8);
        let mut got = vec![];
        for _ in 0..1000 {
            match rx.recv(b.as_raw_fd()) {
                Ok(n) => {
                    for i in 0..n {
                        got.push(rx.get(i).unwrap().1.to_vec());
                    }
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
            }
            if got.len() == 3 {
                break;
            }
        }
        assert_eq!(got, vec![vec![1, 9, 9, 9], vec![2, 9, 9, 9], vec![7]]);
    }
}
