//! The host's run state (drain), its extension point (adapters with their own sources,
//! wakers and deadlines), its dispatch of unknown tokens, and one seed for a whole host.
//! Loopback only; every wait is bounded.
mod common;

use common::net::{sync, NetClient, PATIENCE};
use mio::net::UnixDatagram;
use mio::{Interest, Token};
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tickwire::wire::Kind;
use tickwire::{Adapter, HostView, Registrar, RunState, Stopper};
use tickwire::{Arena, Host, HostConfig};

fn config() -> HostConfig {
    HostConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        stats_interval: None,
        ..HostConfig::default()
    }
}

/// A host running on its own thread; the thread hands the host back when `run` returns.
struct Bg {
    addr: SocketAddr,
    stopper: Stopper,
    done: mpsc::Receiver<Host<Arena>>,
}

impl Bg {
    fn start(mut host: Host<Arena>) -> Bg {
        let addr = host.udp_addrs()[0];
        let stopper = host.stopper();
        let (tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            host.run().expect("run");
            let _ = tx.send(host);
        });
        Bg {
            addr,
            stopper,
            done,
        }
    }

    /// The host, once `run` returned by itself (within `PATIENCE`).
    fn finished(&self) -> Host<Arena> {
        self.done
            .recv_timeout(PATIENCE)
            .expect("the host stopped by itself")
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        self.stopper.stop();
    }
}

/// Answers "what is your state and how many clients?" on the loop's thread.
struct Probe {
    asks: mpsc::Receiver<mpsc::Sender<(RunState, usize)>>,
}

impl Adapter<Arena> for Probe {
    fn register(&mut self, _reg: &mut Registrar<'_>) -> std::io::Result<()> {
        Ok(())
    }
    fn woken(&mut self, host: &HostView<'_, Arena>) {
        for reply in self.asks.try_iter() {
            let _ = reply.send((host.state(), host.clients()));
        }
    }
}

/// A host with a [`Probe`] as adapter 0, and the function that asks it.
fn probed(cfg: HostConfig) -> (Host<Arena>, impl Fn() -> (RunState, usize)) {
    let mut host = Host::bind(cfg, |i| Arena::new(i as u64)).expect("bind");
    let (ask, asks) = mpsc::channel();
    host.add_adapter(Box::new(Probe { asks })).unwrap();
    let waker = host.adapter_waker(0).unwrap();
    let probe = move || {
        let (tx, rx) = mpsc::channel();
        ask.send(tx).unwrap();
        waker.wake().unwrap();
        rx.recv_timeout(PATIENCE).expect("probe answered")
    };
    (host, probe)
}

/// Probes until the host is draining (the drain takes effect on the loop's next turn).
fn until_draining(probe: &impl Fn() -> (RunState, usize)) {
    let end = Instant::now() + PATIENCE;
    while !matches!(probe().0, RunState::Draining { .. }) {
        assert!(Instant::now() < end, "never started draining");
    }
}

#[test]
fn drain_admits_nobody_and_stops_when_the_last_client_leaves() {
    let (host, probe) = probed(config());
    assert_eq!(host.state(), RunState::Running);
    let bg = Bg::start(host);
    let mut playing = NetClient::new(bg.addr);
    playing.connect();
    assert_eq!(probe(), (RunState::Running, 1));
    bg.stopper.drain(Duration::from_secs(3600));
    until_draining(&probe);
    // A newcomer gets nothing: no CHALLENGE, no ACCEPT.
    let mut late = NetClient::new(bg.addr);
    late.send(&late.c.hello(0));
    sync(bg.addr);
    assert!(late.recv(Duration::from_millis(200)).is_none());
    // The connected client plays on.
    let input = playing.c.input(1, 0);
    playing.send(&input);
    assert!(playing.wait_for(Kind::Snapshot, PATIENCE).is_some());
    assert!(matches!(probe(), (RunState::Draining { .. }, 1)));
    // Its leaving empties the host, which stops.
    let bye = playing.c.bye();
    playing.send(&bye);
    let host = bg.finished();
    assert_eq!(host.state(), RunState::Stopped);
    assert_eq!(host.io_stats().refused_draining, 1);
    assert_eq!(host.merged_stats().accepts, 1);
}

#[test]
fn drain_deadline_stops_with_clients_left() {
    let (host, probe) = probed(config());
    let bg = Bg::start(host);
    let mut c = NetClient::new(bg.addr);
    c.connect();
    bg.stopper.drain(Duration::from_millis(100));
    // BYE at the deadline, as at a stop.
    assert!(c.wait_for(Kind::Bye, PATIENCE).is_some());
    let host = bg.finished();
    assert_eq!(host.state(), RunState::Stopped);
    drop(probe);
}

#[test]
fn drain_of_an_empty_host_stops_it_at_once() {
    let (host, _probe) = probed(config());
    let bg = Bg::start(host);
    bg.stopper.drain(Duration::from_secs(3600));
    assert_eq!(bg.finished().state(), RunState::Stopped);
}

#[test]
fn stop_wins_over_drain() {
    let (host, probe) = probed(config());
    let bg = Bg::start(host);
    let mut c = NetClient::new(bg.addr);
    c.connect();
    bg.stopper.drain(Duration::from_secs(3600));
    until_draining(&probe);
    bg.stopper.stop();
    assert!(c.wait_for(Kind::Bye, PATIENCE).is_some());
    assert_eq!(bg.finished().state(), RunState::Stopped);
}

/// Registers its own datagram socket and a deadline, and a socket under a token it made up
/// (not from the registrar): the host dispatches the first two to it and counts the third.
struct Custom {
    sock: Option<UnixDatagram>,
    stray: Option<UnixDatagram>,
    token: Option<Token>,
    deadline: Option<Instant>,
    seen: mpsc::Sender<String>,
}

impl Adapter<Arena> for Custom {
    fn register(&mut self, reg: &mut Registrar<'_>) -> std::io::Result<()> {
        let token = reg.token();
        let sock = self.sock.as_mut().unwrap();
        reg.registry().register(sock, token, Interest::READABLE)?;
        self.token = Some(token);
        let stray = self.stray.as_mut().unwrap();
        reg.registry()
            .register(stray, Token(usize::MAX / 2), Interest::READABLE)?;
        Ok(())
    }

    fn ready(&mut self, event: &mio::event::Event, host: &HostView<'_, Arena>) {
        assert_eq!(Some(event.token()), self.token);
        let mut buf = [0u8; 64];
        while let Ok(n) = self.sock.as_ref().unwrap().recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let unknown = host.io_stats().unknown_events;
            self.seen.send(format!("{text} unknown={unknown}")).unwrap();
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    fn handle_timeout(&mut self, now: Instant, host: &HostView<'_, Arena>) {
        assert!(self.deadline.is_some_and(|d| d <= now));
        self.deadline = None;
        self.seen
            .send(format!("timeout matches={}", host.matches()))
            .unwrap();
    }
}

#[test]
fn adapter_sources_and_deadlines_are_dispatched() {
    let (ours, theirs) = UnixDatagram::pair().unwrap();
    let (stray, stray_peer) = UnixDatagram::pair().unwrap();
    let (seen, saw) = mpsc::channel();
    let mut host = Host::bind(config(), |i| Arena::new(i as u64)).expect("bind");
    host.add_adapter(Box::new(Custom {
        sock: Some(ours),
        stray: Some(stray),
        token: None,
        deadline: Some(Instant::now() + Duration::from_millis(20)),
        seen,
    }))
    .unwrap();
    let bg = Bg::start(host);
    let next = || saw.recv_timeout(PATIENCE).expect("the adapter saw it");
    assert_eq!(next(), "timeout matches=1");
    // The stray socket becomes readable first: by the time the adapter's own datagram is
    // dispatched, the stray event has been counted.
    stray_peer.send(b"lost").unwrap();
    theirs.send(b"one").unwrap();
    assert_eq!(next(), "one unknown=1");
    theirs.send(b"two").unwrap();
    assert_eq!(next(), "two unknown=1");
    bg.stopper.stop();
    let host = bg.finished();
    assert_eq!(host.io_stats().unknown_events, 1);
}

/// The A2S challenge a host gives `sock` (the first one it ever gives: time bucket 0).
fn a2s_challenge(sock: &UdpSocket, host: SocketAddr) -> [u8; 4] {
    sock.send_to(b"\xFF\xFF\xFF\xFFTSource Engine Query\0", host)
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = sock.recv_from(&mut buf).expect("a challenge");
    assert_eq!((n, from, buf[4]), (9, host, 0x41));
    buf[5..9].try_into().unwrap()
}

#[test]
fn one_seed_reproduces_a_host() {
    let seeded = |seed| {
        let mut cfg = config();
        cfg.server.seed = Some(seed);
        Bg::start(Host::bind(cfg, |i| Arena::new(i as u64)).expect("bind"))
    };
    let (a, b, c) = (seeded(7), seeded(7), seeded(8));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(PATIENCE)).unwrap();
    let (ca, cb, cc) = (
        a2s_challenge(&sock, a.addr),
        a2s_challenge(&sock, b.addr),
        a2s_challenge(&sock, c.addr),
    );
    assert_eq!(ca, cb);
    assert_ne!(ca, cc);
}
