//! TOKEN_REQ in the sans-IO core (PROTOCOL.md section 8.4): only a logged-in user of a TLS
//! connection of a lobby with an issuer gets a token; the scope rule; the injected unix
//! clock.

use super::{H, IP};
use crate::lobby::msg::{Message, Request, Status};
use crate::lobby::LobbyConfig;
use crate::secure::{Issuer, Key, UnixClock};

const PROTOCOL: u32 = 0x7457_0001;
const UNIX: u64 = 1_800_000_000;

fn fleet() -> Key {
    Key::from_bytes([9; 32])
}

/// A lobby with an issuer for server `server_id`, on a fixed unix clock.
fn lobby(server_id: u64) -> H {
    let mut h = H::new(LobbyConfig {
        issuer: Some(Issuer::new(fleet(), PROTOCOL)),
        server_id,
        ..LobbyConfig::default()
    });
    h.core.set_unix_clock(UnixClock::fixed(h.now, UNIX));
    h
}

/// A TLS connection logged in as `name`.
fn tls_user(h: &mut H, name: &str) -> (usize, u32) {
    let id = h.core.open_tls(IP, (), h.now).unwrap();
    match h.req(id, Request::Login { name }).as_slice() {
        [Message::LoginRes {
            result: Status::Ok,
            user,
            ..
        }] => (id, *user),
        other => panic!("{other:?}"),
    }
}

fn refused(m: &[Message]) -> Status {
    match m {
        [Message::TokenRes {
            result,
            token: None,
        }] => *result,
        other => panic!("expected a refused TOKEN_RES with a zero token, got {other:?}"),
    }
}

#[test]
fn a_tls_user_gets_a_token_for_the_configured_server() {
    let mut h = lobby(7);
    let (id, user) = tls_user(&mut h, "ann");
    // Ten seconds later on the injected clock.
    h.now += std::time::Duration::from_secs(10);
    for scope in [0, 7] {
        let m = h.req(id, Request::TokenReq { scope });
        let [Message::TokenRes {
            result: Status::Ok,
            token: Some(t),
        }] = m.as_slice()
        else {
            panic!("{m:?}");
        };
        assert_eq!(t.client_id, u64::from(user));
        assert_eq!(t.expires, UNIX + 10 + 30);
        let c = Issuer::new(fleet(), PROTOCOL).open(t).expect("opens");
        assert_eq!((c.client_id, c.scope), (u64::from(user), 7));
        assert_eq!(c.name.as_deref(), Some("ann"));
        assert_eq!(
            (c.c2s.clone(), c.s2c.clone()),
            (t.c2s.clone(), t.s2c.clone())
        );
    }
    assert_eq!(h.core.stats().tokens_issued, 2);
    // Another server's scope is not this lobby's to grant.
    assert_eq!(
        refused(&h.req(id, Request::TokenReq { scope: 8 })),
        Status::BadRequest
    );
    // A different fleet key does not open it.
    let m = h.req(id, Request::TokenReq { scope: 0 });
    let [Message::TokenRes { token: Some(t), .. }] = m.as_slice() else {
        panic!("{m:?}");
    };
    assert!(Issuer::new(Key::from_bytes([1; 32]), PROTOCOL)
        .open(t)
        .is_err());
    assert!(Issuer::new(fleet(), PROTOCOL + 1).open(t).is_err());
}

#[test]
fn a_lobby_without_a_server_id_issues_scope_zero_only() {
    let mut h = lobby(0);
    let (id, _) = tls_user(&mut h, "bo");
    let m = h.req(id, Request::TokenReq { scope: 0 });
    let [Message::TokenRes {
        result: Status::Ok,
        token: Some(t),
    }] = m.as_slice()
    else {
        panic!("{m:?}");
    };
    assert_eq!(Issuer::new(fleet(), PROTOCOL).open(t).unwrap().scope, 0);
    assert_eq!(
        refused(&h.req(id, Request::TokenReq { scope: 3 })),
        Status::BadRequest
    );
}

#[test]
fn plain_tcp_no_issuer_and_no_login_are_refused_with_a_zero_token() {
    // Plain TCP, issuer present: 10.
    let mut h = lobby(7);
    let (plain, _) = h.login("cy");
    assert_eq!(
        refused(&h.req(plain, Request::TokenReq { scope: 0 })),
        Status::BadRequest
    );
    // TLS, not logged in: 3.
    let anon = h.core.open_tls(IP, (), h.now).unwrap();
    assert_eq!(
        refused(&h.req(anon, Request::TokenReq { scope: 0 })),
        Status::NotLoggedIn
    );
    assert_eq!(h.core.stats().tokens_issued, 0);
    // TLS, logged in, no issuer: 10.
    let mut h = H::new(LobbyConfig::default());
    let (id, _) = tls_user(&mut h, "di");
    assert_eq!(
        refused(&h.req(id, Request::TokenReq { scope: 0 })),
        Status::BadRequest
    );
}

#[test]
fn token_requests_spend_the_user_budget() {
    let mut h = lobby(0);
    h.core = crate::lobby::LobbyCore::new(
        LobbyConfig {
            issuer: Some(Issuer::new(fleet(), PROTOCOL)),
            user_msgs_per_sec: 1,
            user_msg_burst: 2,
            ..LobbyConfig::default()
        },
        h.tickets.clone(),
    );
    let (id, _) = tls_user(&mut h, "ed");
    let results: Vec<Status> = (0..4)
        .map(|_| {
            h.req(id, Request::TokenReq { scope: 0 })[0]
                .result()
                .unwrap()
        })
        .collect();
    assert_eq!(
        results,
        [
            Status::Ok,
            Status::Ok,
            Status::BadRequest,
            Status::BadRequest
        ]
    );
}
