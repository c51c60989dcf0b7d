//! Several event loops in one process (issue 13, item 1): matches spread over the loops in
//! port order, a lobby ticket from loop 0 redeemed on loop 1's match, STUN and A2S answered
//! on every match port with the match's own player count, one stopper (or a drain) for
//! all, and one merged summary with each loop's lateness. Loopback only; every wait is
//! on an event, bounded by PATIENCE.
mod common;

use common::net::PATIENCE;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;
use tickwire::client::blocking::Connection;
use tickwire::client::lobby::LobbyClient;
use tickwire::client::{ClientConfig, Event};
use tickwire::lobby::LobbyConfig;
use tickwire::{Arena, Config, HostConfig, Loops, Stopper};

fn config(matches: usize, require_ticket: bool) -> HostConfig {
    HostConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        matches,
        server: Config {
            require_ticket,
            ..Config::default()
        },
        stats_interval: None,
        lobby: Some(("127.0.0.1:0".parse().unwrap(), LobbyConfig::default())),
        ..HostConfig::default()
    }
}

/// The thread running a group: what `run` returned, and the summary.
type Running = std::thread::JoinHandle<(std::io::Result<()>, String)>;

/// Runs `loops` on a thread; returns its handle, the match addresses, the lobby's and a
/// stopper.
fn spawn(mut loops: Loops<Arena>) -> (Running, Vec<SocketAddr>, SocketAddr, Stopper) {
    let addrs = loops.udp_addrs();
    let lobby = loops.lobby_addr().expect("a lobby");
    let stopper = loops.stopper();
    let t = std::thread::spawn(move || {
        let r = loops.run();
        (r, loops.summary())
    });
    (t, addrs, lobby, stopper)
}

/// Waits for the first snapshot of `c`.
fn first_snapshot(c: &mut Connection) {
    next_snapshot(c)
}

/// Waits for the next snapshot of `c` (a BYE or an error fails the test).
fn next_snapshot(c: &mut Connection) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while std::time::Instant::now() < deadline {
        match c.poll(Duration::from_millis(100)) {
            Ok(Some(Event::Snapshot { .. })) => return,
            Ok(Some(Event::Disconnected(reason))) => panic!("disconnected: {reason:?}"),
            Ok(_) => {}
            Err(e) => panic!("poll: {e}"),
        }
    }
    panic!("no snapshot within {PATIENCE:?}");
}

/// A2S_INFO's player count from `to`, with its challenge round trip.
fn a2s_players(to: SocketAddr) -> u8 {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    let mut req = b"\xFF\xFF\xFF\xFFTSource Engine Query\0".to_vec();
    let mut buf = [0u8; 1500];
    for _ in 0..(PATIENCE.as_millis() / 250) {
        sock.send_to(&req, to).unwrap();
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        match buf[4] {
            b'A' if n >= 9 => {
                req.truncate(25);
                req.extend_from_slice(&buf[5..9]);
            }
            b'I' => {
                // header(4) 'I' protocol, then name, map, folder, game (C strings), id u16,
                // players u8.
                let mut at = 6;
                for _ in 0..4 {
                    at += buf[at..n].iter().position(|&b| b == 0).unwrap() + 1;
                }
                return buf[at + 2];
            }
            _ => {}
        }
    }
    panic!("no A2S_INFO answer from {to}");
}

#[test]
fn matches_spread_over_loops_share_tickets_and_stop_together() {
    let loops = Loops::bind(config(4, true), 2, |i| Arena::new(i as u64)).unwrap();
    assert_eq!(loops.loops(), 2);
    assert_eq!(loops.host(0).unwrap().udp_addrs().len(), 2);
    assert_eq!(loops.host(1).unwrap().udp_addrs().len(), 2);
    let (t, addrs, lobby_addr, stopper) = spawn(loops);
    assert_eq!(addrs.len(), 4);
    for (i, a) in addrs.iter().enumerate() {
        assert_eq!(a.port(), addrs[0].port() + i as u16, "consecutive ports");
    }
    // A ticket from the lobby (loop 0) admits on match 3 (loop 1), once.
    let mut lobby = LobbyClient::connect(lobby_addr).unwrap();
    lobby.set_timeout(PATIENCE);
    let login = lobby.login("alice").unwrap();
    let cfg = ClientConfig {
        ticket: login.ticket,
        ..ClientConfig::default()
    };
    let mut far = Connection::connect(addrs[3], cfg, PATIENCE).expect("the ticket admits");
    let again = Connection::connect(addrs[1], cfg, PATIENCE).err().unwrap();
    assert_eq!(
        again.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "once only"
    );
    let bob = lobby_login(lobby_addr, "bob");
    let mut near = Connection::connect(
        addrs[0],
        ClientConfig {
            ticket: bob,
            ..ClientConfig::default()
        },
        PATIENCE,
    )
    .unwrap();
    first_snapshot(&mut far);
    first_snapshot(&mut near);
    // A2S counts the match's own players, on each loop.
    assert_eq!(a2s_players(addrs[3]), 1);
    assert_eq!(a2s_players(addrs[2]), 0);
    assert_eq!(a2s_players(addrs[0]), 1);
    // STUN on loop 1's port.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut req = [0u8; 28];
    let n = tickwire::internal::binding_request([3; 12], &mut req);
    sock.send_to(&req[..n], addrs[2]).unwrap();
    let mut buf = [0u8; 512];
    let (m, _) = sock.recv_from(&mut buf).expect("a STUN answer");
    let seen = tickwire::internal::parse_binding_response(&buf[..m], &[3; 12]);
    assert_eq!(seen, Some(sock.local_addr().unwrap()));
    // One stop for both loops: both clients hear BYE.
    stopper.stop();
    let (r, summary) = t.join().unwrap();
    r.unwrap();
    for c in [&mut far, &mut near] {
        let mut bye = false;
        for _ in 0..(PATIENCE.as_millis() / 100) {
            match c.poll(Duration::from_millis(100)) {
                Ok(Some(Event::Disconnected { .. })) => {
                    bye = true;
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        assert!(bye, "a BYE from the stopping loop");
    }
    assert!(summary.contains(" accepts=2 "), "{summary}");
    assert!(summary.contains(" loops_tick_late_us[0:"), "{summary}");
    assert!(summary.contains(" 1:"), "{summary}");
}

fn lobby_login(addr: SocketAddr, name: &str) -> u64 {
    let mut l = LobbyClient::connect(addr).unwrap();
    l.set_timeout(PATIENCE);
    let t = l.login(name).unwrap().ticket;
    // The connection stays open (a closed one revokes its ticket) for the test's life.
    std::mem::forget(l);
    t
}

#[test]
fn a_drain_ends_every_loop_once_its_matches_are_empty() {
    let loops = Loops::bind(config(3, false), 3, |i| Arena::new(i as u64)).unwrap();
    let (t, addrs, _, stopper) = spawn(loops);
    let mut c = Connection::connect(addrs[2], ClientConfig::default(), PATIENCE).unwrap();
    first_snapshot(&mut c);
    stopper.drain(PATIENCE * 10);
    // Loops 0 and 1 are empty and stop; loop 2 keeps serving its client.
    for _ in 0..10 {
        next_snapshot(&mut c);
    }
    c.close().unwrap();
    let (r, summary) = t.join().unwrap();
    r.unwrap();
    assert!(summary.contains("clients=0 "), "{summary}");
    assert!(summary.contains(" 2:"), "{summary}");
}

#[test]
fn more_loops_than_matches_is_one_loop_per_match() {
    let loops = Loops::bind(config(2, false), 8, |i| Arena::new(i as u64)).unwrap();
    assert_eq!(loops.loops(), 2);
    let one = Loops::bind(config(1, false), 1, |i| Arena::new(i as u64)).unwrap();
    assert_eq!(one.loops(), 1);
    // One loop: the summary is a plain host's, no per-loop part.
    assert!(!one.summary().contains("loops_tick_late_us"));
}
