//! Real-socket helpers: a host in a thread, a blocking raw client. Loopback only, bounded.
#![allow(dead_code)]

use super::{Out, RawClient};
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tickwire::internal::Challenge;
use tickwire::wire::Kind;
use tickwire::{Arena, Game, Host, HostConfig, Stopper};

/// Generous bound for anything that should happen "soon" on a loaded CI machine.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub struct Running {
    pub addrs: Vec<SocketAddr>,
    pub lobby: Option<SocketAddr>,
    pub stopper: Stopper,
    pub thread: Option<JoinHandle<String>>,
}

impl Running {
    /// Stops the host and returns its summary line.
    pub fn stop(mut self) -> String {
        self.stopper.stop();
        self.thread
            .take()
            .unwrap()
            .join()
            .expect("host thread panicked")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stopper.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts an arena host on 127.0.0.1 port 0 in its own thread.
pub fn start(cfg: HostConfig) -> Running {
    start_with(cfg, |i| Arena::new(i as u64), || {})
}

/// Starts a host of any game on 127.0.0.1 port 0 in its own thread; `on_thread` runs on
/// that thread just before the loop (to count its allocations, say).
pub fn start_with<G: Game + 'static>(
    mut cfg: HostConfig,
    make_game: impl FnMut(usize) -> G + Send + 'static,
    on_thread: fn(),
) -> Running {
    cfg.bind = "127.0.0.1:0".parse().unwrap();
    cfg.stats_interval = None;
    if let Some((a, _)) = cfg.lobby.as_mut() {
        *a = "127.0.0.1:0".parse().unwrap();
    }
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut host = Host::bind(cfg, make_game).expect("bind");
        tx.send((host.udp_addrs(), host.lobby_addr(), host.stopper()))
            .unwrap();
        on_thread();
        host.run().expect("run");
        host.summary()
    });
    let (addrs, lobby, stopper) = rx.recv_timeout(PATIENCE).expect("host started");
    Running {
        addrs,
        lobby,
        stopper,
        thread: Some(thread),
    }
}

/// A raw client on its own socket.
pub struct NetClient {
    pub sock: UdpSocket,
    pub server: SocketAddr,
    pub c: RawClient,
}

impl NetClient {
    pub fn new(server: SocketAddr) -> NetClient {
        NetClient::new_at(server, std::net::Ipv4Addr::LOCALHOST)
    }

    /// A client bound to loopback address `ip` (any of 127.0.0.0/8 on Linux): a host of its
    /// own as far as the server's per-IP limits go.
    pub fn new_at(server: SocketAddr, ip: std::net::Ipv4Addr) -> NetClient {
        let sock = UdpSocket::bind((ip, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let c = RawClient::new(sock.local_addr().unwrap());
        NetClient { sock, server, c }
    }

    pub fn send(&self, b: &[u8]) {
        self.sock.send_to(b, self.server).unwrap();
    }

    /// Receives one datagram within `limit`, or None.
    pub fn recv(&mut self, limit: Duration) -> Option<Out> {
        let end = Instant::now() + limit;
        let mut buf = [0u8; 2048];
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.sock.set_read_timeout(Some(left)).unwrap();
            if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                assert_eq!(from, self.server);
                let o = Out {
                    dst: self.c.src,
                    bytes: buf[..n].to_vec(),
                };
                self.c.saw(&o);
                return Some(o);
            }
        }
    }

    /// Waits for a datagram of `kind`, skipping others.
    pub fn wait_for(&mut self, kind: Kind, limit: Duration) -> Option<Out> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(o) = self.recv(end - Instant::now()) {
                if o.kind() == kind {
                    return Some(o);
                }
            }
        }
        None
    }

    /// Handshake, retrying HELLO as a real client would.
    pub fn connect(&mut self) {
        let end = Instant::now() + PATIENCE;
        let mut cookie = 0;
        while Instant::now() < end {
            self.send(&self.c.hello(cookie));
            while let Some(o) = self.recv(Duration::from_millis(250)) {
                match o.kind() {
                    Kind::Challenge => {
                        cookie = Challenge::parse(o.packet().payload()).unwrap().cookie;
                        break;
                    }
                    Kind::Accept => {
                        self.c.on_accept(&o);
                        return;
                    }
                    _ => {}
                }
            }
        }
        panic!("handshake did not complete");
    }
}

/// A barrier: returns once the host has handled every datagram sent to `server` before the
/// call (a host reads one socket in order, and a STUN request sent now is answered after
/// them). Loopback delivery is synchronous, so "sent" means "queued at the server".
pub fn sync(server: SocketAddr) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    tickwire::client::blocking::stun_discover(&sock, server, PATIENCE).expect("host answers");
}

/// `rounds` rounds in which every client sends an INPUT (walking in x by `r % 3 - 1`, and
/// `dy` in y) and waits for a snapshot (bounded by [`PATIENCE`]).
pub fn play_inputs(cs: &mut [NetClient], rounds: usize, dy: i8) {
    for r in 0..rounds {
        for c in cs.iter_mut() {
            let i = c.c.input((r % 3) as i8 - 1, dy);
            c.send(&i);
            assert!(
                c.wait_for(Kind::Snapshot, PATIENCE).is_some(),
                "snapshot {r} within {PATIENCE:?}"
            );
        }
    }
}
