//! Connections that do not log in (issue 11 item 5): the login deadline, their share of
//! the table, and shedding the oldest of them for a newcomer, with injected time.

use super::{Message, Request, Status, H};
use crate::lobby::{CloseReason, LobbyConfig, Refusal};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

fn ip(a: u8, b: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, a, b))
}

fn login(h: &mut H, id: usize, name: &str) {
    match h.req(id, Request::Login { name }).as_slice() {
        [Message::LoginRes {
            result: Status::Ok, ..
        }] => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_connection_that_does_not_log_in_is_closed_at_the_login_deadline() {
    let cfg = LobbyConfig::default();
    assert_eq!(cfg.login_deadline, Duration::from_secs(10));
    let mut h = H::new(cfg);
    let t0 = h.now;
    let lurker = h.open();
    let (user, _) = h.login("ann");
    assert_eq!(h.core.next_timeout(), Some(t0 + Duration::from_secs(10)));
    // ECHO keeps a connection from idling, not from having to log in.
    h.now = t0 + Duration::from_secs(5);
    h.req(lurker, Request::Echo(b""));
    h.now = t0 + Duration::from_secs(10) - Duration::from_millis(1);
    h.core.handle_timeout(h.now);
    h.pump();
    assert!(h.closed.is_empty());
    h.now = t0 + Duration::from_secs(10);
    h.core.handle_timeout(h.now);
    h.pump();
    assert_eq!(h.closed, [(lurker, CloseReason::LoginDeadline)]);
    let s = h.core.stats();
    assert_eq!((s.login_deadline_cut, s.conns, s.users), (1, 1, 1));
    // The logged-in user has only its idle deadline left.
    assert_eq!(h.core.next_timeout(), Some(t0 + Duration::from_secs(300)));
    assert!(h.core.contains(user));
}

/// The attack: 64 addresses x 16 connections, each kept alive by ECHOs, no login.
/// Before, they held all 1024 slots and a newcomer was refused.
#[test]
fn one_host_cannot_fill_the_lobby() {
    let cfg = LobbyConfig::default();
    let (max, share) = (cfg.max_conns, cfg.max_unauthenticated());
    assert_eq!((max, share), (1024, 512));
    let mut h = H::new(cfg);
    let t0 = h.now;
    let mut refused = 0;
    for a in 0..64u8 {
        // The attacker's connections arrive over 6.4 s, 160 a second.
        h.now = t0 + Duration::from_millis(100) * u32::from(a);
        for b in 0..16u8 {
            match h.core.open(ip(a, b), (), h.now) {
                Ok(id) => {
                    h.req(id, Request::Echo(b"x"));
                }
                Err((_, Refusal::TooManyUnauthenticated)) => refused += 1,
                Err(other) => panic!("{other:?}"),
            }
            h.core.take_shed();
        }
        let s = h.core.stats();
        assert!(s.conns <= share, "{s:?}");
    }
    // At this pace the oldest lurker is always past 1 s: each newer one shed one.
    let s = h.core.stats();
    assert_eq!((s.accepted, refused, s.shed), (1024, 0, 512), "{s:?}");
    // A newcomer from elsewhere still gets in and logs in, pushing out the oldest lurker.
    let newcomer = h.core.open(ip(200, 1), (), h.now).expect("admitted");
    assert!(h.core.take_shed().is_some());
    login(&mut h, newcomer, "bob");
    // Ten seconds on, every lurker has met its login deadline; the user stays.
    h.now += Duration::from_secs(10);
    h.core.handle_timeout(h.now);
    h.pump();
    let s = h.core.stats();
    assert_eq!((s.conns, s.users), (1, 1), "{s:?}");
    assert!(h
        .closed
        .iter()
        .all(|&(_, why)| why == CloseReason::LoginDeadline));
}

#[test]
fn the_oldest_connection_not_logged_in_is_shed_never_a_user_nor_a_young_one() {
    let mut h = H::new(LobbyConfig {
        max_conns: 4,
        ..LobbyConfig::default()
    });
    let t0 = h.now;
    let (ann, _) = h.login("ann");
    let (bob, _) = h.login("bob");
    let c = h.core.open(ip(0, 1), (), t0).unwrap();
    h.now = t0 + Duration::from_millis(100);
    let d = h.core.open(ip(0, 2), (), h.now).unwrap();
    // Full, and both lurkers younger than 1 s: the newcomer is refused.
    h.now = t0 + Duration::from_millis(500);
    assert!(matches!(
        h.core.open(ip(0, 3), (), h.now),
        Err(((), Refusal::TooManyConns))
    ));
    // At 1 s the older lurker, c, is shed: its slot goes to the newcomer.
    h.now = t0 + Duration::from_secs(1);
    let e = h.core.open(ip(0, 3), (), h.now).expect("admitted");
    assert_eq!(h.core.take_shed(), Some(()));
    assert_eq!(e, c);
    assert_eq!(h.core.peer_ip(e), Some(ip(0, 3)));
    assert_eq!(h.core.peer_ip(d), Some(ip(0, 2)));
    assert_eq!(h.core.stats().shed, 1);
    // Once everyone has logged in, a newcomer is refused: users are never shed.
    login(&mut h, d, "cy");
    login(&mut h, e, "di");
    h.now += Duration::from_secs(5);
    assert!(matches!(
        h.core.open(ip(0, 4), (), h.now),
        Err(((), Refusal::TooManyConns))
    ));
    assert_eq!(h.core.take_shed(), None);
    for id in [ann, bob, d, e] {
        assert_eq!(
            h.req(id, Request::Echo(b"k")),
            [Message::Echo(b"k".to_vec())]
        );
    }
}

#[test]
fn connections_not_logged_in_hold_only_their_share() {
    let mut h = H::new(LobbyConfig {
        max_conns: 8,
        unauthenticated_share: 25,
        ..LobbyConfig::default()
    });
    let t0 = h.now;
    let a = h.core.open(ip(0, 1), (), t0).unwrap();
    h.core.open(ip(0, 2), (), t0).unwrap();
    // Two of eight: the share is full although the table is not.
    assert!(matches!(
        h.core.open(ip(0, 3), (), t0),
        Err(((), Refusal::TooManyUnauthenticated))
    ));
    assert_eq!(h.core.stats().refused_unauthenticated, 1);
    // Logging in leaves the share.
    login(&mut h, a, "ann");
    let c = h.core.open(ip(0, 3), (), t0).unwrap();
    assert_eq!(h.core.take_shed(), None);
    h.now = t0 + Duration::from_secs(2);
    h.core.open(ip(0, 4), (), h.now).unwrap();
    assert_eq!(h.core.take_shed(), Some(()));
    let s = h.core.stats();
    assert_eq!((s.conns, s.users, s.shed), (3, 1, 1));
    assert!(h.core.contains(c));
}
