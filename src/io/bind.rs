//! Socket setup: the matches' UDP sockets (socket2 stays private to this file).

use mio::net::UdpSocket;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;

/// A non-blocking UDP socket bound to `addr` with `buffer` bytes of kernel send and receive
/// buffer asked for (a refusal is logged, not fatal). An IPv6 address is dual-stack where
/// the system allows it.
pub(super) fn bind_udp(addr: SocketAddr, buffer: usize) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // Dual-stack where the address allows it; IPv4 peers show up as ::ffff:a.b.c.d
        // and are mapped back by the receive path.
        if let Err(e) = s.set_only_v6(false) {
            log::debug!("{addr}: cannot turn IPV6_V6ONLY off: {e}");
        }
    }
    if let Err(e) = s.set_recv_buffer_size(buffer) {
        log::warn!("cannot set receive buffer to {buffer}: {e}");
    }
    if let Err(e) = s.set_send_buffer_size(buffer) {
        log::warn!("cannot set send buffer to {buffer}: {e}");
    }
    never_fragment(&s, addr);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(UdpSocket::from_std(s.into()))
}

/// Sets Don't Fragment on every datagram, ignoring the path MTU (`IP_PMTUDISC_PROBE`, and
/// `IPV6_PMTUDISC_PROBE` on an IPv6 socket).
///
/// Our datagrams are at most 1200 bytes by the protocol (PROTOCOL.md section 2), so they are
/// never fragmented where the path is sane, and a fragmented game datagram is worse than a
/// lost one. With DF set the kernel gives every datagram IP id 0 (RFC 6864, atomic
/// datagrams) instead of drawing one from its shared `ip_idents` table per datagram:
/// `__ip_select_ident` was 8% of the server's CPU in a 1000-client broadcast (BENCHMARKS.md).
/// PROBE rather than DO: a cached path MTU (which a spoofed ICMP "fragmentation needed" can
/// lower) never turns sends into EMSGSIZE. A refusal is logged, not fatal.
fn never_fragment(s: &Socket, addr: SocketAddr) {
    use std::os::fd::AsRawFd;
    let set = |level, name, value: libc::c_int| {
        // SAFETY: setsockopt on a socket we own, with a c_int option value of its size.
        let r = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                level,
                name,
                (&value as *const libc::c_int).cast(),
                core::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    // IPv4, and the IPv4-mapped traffic of a dual-stack IPv6 socket.
    if let Err(e) = set(
        libc::IPPROTO_IP,
        libc::IP_MTU_DISCOVER,
        libc::IP_PMTUDISC_PROBE,
    ) {
        if addr.is_ipv4() {
            log::warn!("{addr}: cannot set IP_MTU_DISCOVER (datagrams may be fragmented): {e}");
        }
    }
    if addr.is_ipv6() {
        if let Err(e) = set(
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_PROBE,
        ) {
            log::warn!("{addr}: cannot set IPV6_MTU_DISCOVER: {e}");
        }
    }
}

/// Binds `n` sockets on consecutive ports from `first`; with port 0, finds a free run.
pub(super) fn bind_consecutive(
    first: SocketAddr,
    n: usize,
    buffer: usize,
) -> io::Result<Vec<UdpSocket>> {
    if first.port() != 0 || n == 1 {
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            let port = u16::try_from(usize::from(first.port()) + i).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "match ports run past 65535")
            })?;
            v.push(bind_udp(SocketAddr::new(first.ip(), port), buffer)?);
        }
        return Ok(v);
    }
    let mut last_err = None;
    for _ in 0..32 {
        let s0 = bind_udp(first, buffer)?;
        let base = s0.local_addr()?.port();
        let mut v = vec![s0];
        for i in 1..n {
            let port = usize::from(base) + i;
            let Ok(port) = u16::try_from(port) else { break };
            match bind_udp(SocketAddr::new(first.ip(), port), buffer) {
                Ok(s) => v.push(s),
                Err(e) => {
                    last_err = Some(e);
                    break;
                }
            }
        }
        if v.len() == n {
            return Ok(v);
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no free run of consecutive ports")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sockopt(s: &UdpSocket, level: libc::c_int, name: libc::c_int) -> libc::c_int {
        use std::os::fd::AsRawFd;
        let mut v: libc::c_int = -1;
        let mut len = core::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt into a c_int of the length given.
        let r = unsafe {
            libc::getsockopt(
                s.as_raw_fd(),
                level,
                name,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(r, 0, "{}", io::Error::last_os_error());
        v
    }

    #[test]
    fn game_sockets_never_fragment() {
        let v4 = bind_udp("127.0.0.1:0".parse().unwrap(), 1 << 16).unwrap();
        assert_eq!(
            sockopt(&v4, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER),
            libc::IP_PMTUDISC_PROBE
        );
        // ::1 may be missing (a container without IPv6): then there is nothing to check.
        if let Ok(v6) = bind_udp("[::1]:0".parse().unwrap(), 1 << 16) {
            assert_eq!(
                sockopt(&v6, libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER),
                libc::IPV6_PMTUDISC_PROBE
            );
        }
    }

    #[test]
    fn consecutive_ports_from_zero() {
        let v = bind_consecutive("127.0.0.1:0".parse().unwrap(), 3, 1 << 16).unwrap();
        let ports: Vec<u16> = v.iter().map(|s| s.local_addr().unwrap().port()).collect();
        assert_eq!(ports[1], ports[0] + 1);
        assert_eq!(ports[2], ports[0] + 2);
    }
}
