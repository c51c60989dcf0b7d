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
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(UdpSocket::from_std(s.into()))
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

    #[test]
    fn consecutive_ports_from_zero() {
        let v = bind_consecutive("127.0.0.1:0".parse().unwrap(), 3, 1 << 16).unwrap();
        let ports: Vec<u16> = v.iter().map(|s| s.local_addr().unwrap().port()).collect();
        assert_eq!(ports[1], ports[0] + 1);
        assert_eq!(ports[2], ports[0] + 2);
    }
}
