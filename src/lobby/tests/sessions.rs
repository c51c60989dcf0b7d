//! SESSION_LOGIN_REQ in the sans-IO core: a matchmaker's session (docs/FLEET.md), checked
//! offline with the fleet key, logs in under its name over TLS; refused over plain TCP,
//! without a checker, when forged, from another fleet or expired; the name rules of
//! LOGIN_REQ still hold.

use super::{H, IP};
use crate::lobby::msg::{Message, Request, Status};
use crate::lobby::LobbyConfig;
use crate::secure::{Issuer, Key, Sessions, UnixClock};

const UNIX: u64 = 1_800_000_000;

fn fleet() -> Key {
    Key::from_bytes([9; 32])
}

fn lobby(sessions: Option<Sessions>) -> H {
    let mut h = H::new(LobbyConfig {
        issuer: Some(Issuer::new(fleet(), 0)),
        server_id: 7,
        sessions,
        ..LobbyConfig::default()
    });
    h.core.set_unix_clock(UnixClock::fixed(h.now, UNIX));
    h
}

/// The result of a SESSION_LOGIN_REQ on connection `id`, and the user id when ok.
fn session_login(h: &mut H, id: usize, session: &str) -> (Status, u32) {
    match h.req(id, Request::SessionLogin { session }).as_slice() {
        [Message::SessionLoginRes {
            result,
            user,
            ticket,
        }] => {
            assert_eq!(*result == Status::Ok, *ticket != 0, "a ticket only when ok");
            (*result, *user)
        }
        other => panic!("expected one SESSION_LOGIN_RES, got {other:?}"),
    }
}

#[test]
fn a_session_logs_in_under_its_name_over_tls() {
    let mut h = lobby(Some(Sessions::new(&fleet())));
    let s = Sessions::new(&fleet()).mint("ann", UNIX + 60);
    let id = h.core.open_tls(IP, (), h.now).unwrap();
    let (result, user) = session_login(&mut h, id, &s);
    assert_eq!(result, Status::Ok);
    assert!(user > 0);
    // Logged in as "ann": the token it asks for carries that name.
    let m = h.req(id, Request::TokenReq { scope: 0 });
    let [Message::TokenRes {
        result: Status::Ok,
        token: Some(t),
    }] = m.as_slice()
    else {
        panic!("{m:?}");
    };
    let c = Issuer::new(fleet(), 0).open(t).unwrap();
    assert_eq!(c.name.as_deref(), Some("ann"));
    // Once is enough; the name is then taken, as for LOGIN_REQ.
    assert_eq!(session_login(&mut h, id, &s).0, Status::AlreadyLoggedIn);
    let other = h.core.open_tls(IP, (), h.now).unwrap();
    assert_eq!(session_login(&mut h, other, &s).0, Status::NameTaken);
    // A session's name the lobby's rules refuse (over 16 bytes) is a bad name.
    let long = Sessions::new(&fleet()).mint("a-name-of-twenty-bytes", UNIX + 60);
    assert_eq!(session_login(&mut h, other, &long).0, Status::BadName);
}

#[test]
fn bad_sessions_and_plain_tcp_are_refused() {
    let mut h = lobby(Some(Sessions::new(&fleet())));
    let id = h.core.open_tls(IP, (), h.now).unwrap();
    let good = Sessions::new(&fleet());
    for bad in [
        good.mint("bo", UNIX), // expired (now = UNIX)
        Sessions::new(&Key::from_bytes([1; 32])).mint("bo", UNIX + 60), // another fleet
        good.mint("bo", UNIX + 60).replacen(".626f.", ".6278.", 1), // renamed: forged
        "v1.garbage".to_string(),
    ] {
        assert_eq!(
            session_login(&mut h, id, &bad).0,
            Status::BadSession,
            "{bad}"
        );
    }
    // Over plain TCP a session would cross the network in the clear: 10.
    let plain = h.open();
    assert_eq!(
        session_login(&mut h, plain, &good.mint("bo", UNIX + 60)).0,
        Status::BadRequest
    );
    // A lobby without the fleet key cannot check one: 10.
    let mut h = lobby(None);
    let id = h.core.open_tls(IP, (), h.now).unwrap();
    assert_eq!(
        session_login(&mut h, id, &good.mint("bo", UNIX + 60)).0,
        Status::BadRequest
    );
}
