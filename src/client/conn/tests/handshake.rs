//! Connecting, keepalive and idle timers, BYE both ways, golden bytes of the client's datagrams.

use super::*;

#[test]
fn handshake_with_challenge() {
    let (c, _f, _t) = connected(1000);
    assert_eq!(
        c.state(),
        State::Connected {
            qport: QPORT,
            s0: 1000
        }
    );
    let s = c.stats();
    assert_eq!(s.handshake, Some(ms(20)));
    assert_eq!((s.datagrams_in, s.datagrams_out), (2, 3));
    assert_eq!(s.dropped_total(), 0);
    assert_eq!(c.server_seq(), 1000);
    assert_eq!(c.next_seq(), 1002);
}

#[test]
fn hello_resend_cadence_and_connect_timeout() {
    let t0 = Instant::now();
    let mut c = Client::new(ClientConfig::default(), t0);
    assert_eq!(c.poll_timeout(), t0);
    assert!(tx(&mut c, t0).is_some());
    assert!(tx(&mut c, t0).is_none());
    assert_eq!(c.poll_timeout(), t0 + ms(250));
    assert!(tx(&mut c, t0 + ms(249)).is_none());
    assert!(tx(&mut c, t0 + ms(250)).is_some());
    assert_eq!(c.poll_timeout(), t0 + ms(500));
    // a CHALLENGE makes the cookie HELLO due at once, then every 250 ms
    c.handle_datagram(t0 + ms(300), &Fake::new(0).challenge());
    assert_eq!(c.state(), State::Challenged);
    assert_eq!(c.poll_timeout(), t0 + ms(300));
    assert!(tx(&mut c, t0 + ms(300)).is_some());
    assert_eq!(c.poll_timeout(), t0 + ms(550));
    assert_eq!(c.handle_timeout(t0 + ms(4999)), None);
    let mut t = t0 + ms(550);
    while t < t0 + ms(5000) {
        assert_eq!(drain(&mut c, t).len(), 1);
        t += ms(250);
    }
    assert_eq!(c.poll_timeout(), t0 + ms(5000));
    assert_eq!(
        c.handle_timeout(t0 + ms(5000)),
        Some(Event::Disconnected(DisconnectReason::ConnectTimeout))
    );
    assert_eq!(
        c.state(),
        State::Disconnected(DisconnectReason::ConnectTimeout)
    );
    assert!(tx(&mut c, t0 + ms(6000)).is_none());
    assert_eq!(c.poll_timeout(), t0 + ms(6000) + IDLE);
}

#[test]
fn lost_accept_then_duplicate_accept_is_ignored() {
    let t0 = Instant::now();
    let mut c = Client::new(ClientConfig::default(), t0);
    let f = Fake::new(77);
    tx(&mut c, t0).unwrap();
    c.handle_datagram(t0 + ms(5), &f.challenge());
    tx(&mut c, t0 + ms(5)).unwrap();
    // the ACCEPT is lost: the cookie HELLO goes out again 250 ms later
    let again = tx(&mut c, t0 + ms(255)).unwrap();
    assert_eq!(Hello::parse(&again[HEADER_LEN..]).unwrap().cookie, COOKIE);
    // ... and the server answers with the same ACCEPT
    assert!(matches!(
        c.handle_datagram(t0 + ms(260), &f.accept()),
        Some(Event::Connected { .. })
    ));
    // a late copy of the first ACCEPT changes nothing
    assert_eq!(c.handle_datagram(t0 + ms(261), &f.accept()), None);
    assert_eq!(
        c.state(),
        State::Connected {
            qport: QPORT,
            s0: 77
        }
    );
    let s = c.stats();
    assert_eq!(s.duplicate_accepts, 1);
    assert_eq!(s.dropped_total(), 0);
    assert_eq!(s.handshake, Some(ms(260)));
    // an ACCEPT for another slot or S0 is not a duplicate
    let mut other = Fake::new(78);
    other.qport = QPORT;
    assert_eq!(c.handle_datagram(t0 + ms(262), &other.accept()), None);
    assert_eq!(c.stats().unexpected, 1);
}

#[test]
fn reject_ends_the_handshake() {
    let t0 = Instant::now();
    let mut c = Client::new(ClientConfig::default(), t0);
    let f = Fake::new(0);
    tx(&mut c, t0).unwrap();
    // REJECT only answers a HELLO with a valid cookie: not believed before a CHALLENGE
    assert_eq!(c.handle_datagram(t0, &f.reject(RejectReason::Full)), None);
    assert_eq!(c.state(), State::Connecting);
    assert_eq!(c.stats().unexpected, 1);
    c.handle_datagram(t0, &f.challenge());
    tx(&mut c, t0).unwrap();
    assert_eq!(
        c.handle_datagram(t0 + ms(1), &f.reject(RejectReason::BadTicket)),
        Some(Event::Rejected(RejectReason::BadTicket))
    );
    assert_eq!(c.state(), State::Rejected(RejectReason::BadTicket));
    assert!(c.state().is_closed());
    assert_eq!(c.handle_datagram(t0 + ms(2), &f.accept()), None);
    assert_eq!(c.state(), State::Rejected(RejectReason::BadTicket));
    assert!(tx(&mut c, t0 + ms(1000)).is_none());
    assert_eq!(c.handle_timeout(t0 + ms(10_000)), None);
    // REJECT after ACCEPT is not believed
    let (mut c, f, t) = connected(5);
    assert_eq!(c.handle_datagram(t, &f.reject(RejectReason::Full)), None);
    assert!(c.state().is_connected());
    assert_eq!(c.stats().unexpected, 1);
}

#[test]
fn keepalive_cadence() {
    let (mut c, mut f, t) = connected(3);
    assert_eq!(c.poll_timeout(), t + ms(250));
    assert!(tx(&mut c, t + ms(249)).is_none());
    let ka = tx(&mut c, t + ms(250)).unwrap();
    assert_eq!(f.recv(&ka).kind, Kind::Keepalive.to_u8());
    assert_eq!(c.poll_timeout(), t + ms(500));
    // a game datagram resets the keepalive clock and is due at once
    let (k, p) = arena::input(-1, 0);
    c.send_game(k, &p).unwrap();
    assert_eq!(c.poll_timeout(), t + ms(250));
    assert_eq!(drain(&mut c, t + ms(400)).len(), 1);
    assert_eq!(c.poll_timeout(), t + ms(650));
    // keepalives every 250 ms for a second
    let mut n = 0;
    let mut now = t + ms(400);
    while now <= t + ms(1400) {
        n += drain(&mut c, now).len();
        now += ms(10);
    }
    assert_eq!(n, 4);
    // receiving does not delay our keepalives (the server needs our acks)
    c.handle_datagram(t + ms(1401), &f.next(Kind::Keepalive, &[]));
    assert!(c.poll_timeout() <= t + ms(1650));
}

#[test]
fn idle_timeout() {
    let (mut c, mut f, t) = connected(3);
    assert_eq!(c.handle_timeout(t + ms(4999)), None);
    c.handle_datagram(t + ms(4000), &f.next(Kind::Keepalive, &[]));
    drain(&mut c, t + ms(4000));
    assert_eq!(c.handle_timeout(t + ms(8999)), None);
    assert_eq!(c.poll_timeout(), t + ms(4250));
    // invalid datagrams do not keep the connection alive
    c.handle_datagram(t + ms(8000), &f.at(f.seq, Kind::Keepalive, &[]));
    assert_eq!(
        c.handle_timeout(t + ms(9000)),
        Some(Event::Disconnected(DisconnectReason::Timeout))
    );
    assert_eq!(c.state(), State::Disconnected(DisconnectReason::Timeout));
    assert!(tx(&mut c, t + ms(9000)).is_none(), "no BYE after a timeout");
    assert_eq!(c.send_game(0x10, &[0, 0]), Err(SendError::NotConnected));
}

#[test]
fn bye_from_the_server() {
    let (mut c, mut f, t) = connected(3);
    let (k, p) = arena::input(1, 1);
    c.send_game(k, &p).unwrap();
    assert_eq!(
        c.handle_datagram(t, &f.next(Kind::Bye, &[])),
        Some(Event::Disconnected(DisconnectReason::Bye))
    );
    assert_eq!(c.state(), State::Disconnected(DisconnectReason::Bye));
    assert!(drain(&mut c, t).is_empty(), "queued input is dropped");
    assert_eq!(c.handle_datagram(t, &f.next(Kind::Keepalive, &[])), None);
    assert_eq!(c.stats().unexpected, 1);
}

#[test]
fn bye_from_the_client() {
    let (mut c, mut f, t) = connected(3);
    c.disconnect();
    assert_eq!(c.state(), State::Disconnected(DisconnectReason::Closed));
    assert_eq!(c.poll_timeout(), t);
    let out = drain(&mut c, t + ms(1));
    assert_eq!(out.len(), 1);
    let h = f.recv(&out[0]);
    assert_eq!(
        (h.flags, h.kind, h.seq, h.qport),
        (flags::DISCONNECT | flags::SEQ, 5, 5, QPORT)
    );
    c.disconnect();
    assert!(drain(&mut c, t + ms(2)).is_empty());
    // before ACCEPT there is nothing to say goodbye to
    let mut c = Client::new(ClientConfig::default(), t);
    c.disconnect();
    assert_eq!(c.state(), State::Disconnected(DisconnectReason::Closed));
    assert!(drain(&mut c, t).is_empty());
}

// Golden bytes of every datagram the client emits.

#[test]
fn golden_hello_family0() {
    let t0 = Instant::now();
    let mut c = Client::new(ClientConfig::default(), t0);
    let d = tx(&mut c, t0).unwrap();
    let mut g = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0x30];
    g.extend([0u8; 48]);
    assert_eq!(d, g);
}

#[test]
fn golden_hello_family4_with_ticket_and_cookie() {
    let t0 = Instant::now();
    let cfg = ClientConfig {
        protocol_id: 0x0A0B_0C0D,
        reply: Some("192.0.2.7:27015".parse().unwrap()),
        ticket: 0x0102_0304_0506_0708,
        ..ClientConfig::default()
    };
    let mut c = Client::new(cfg, t0);
    let first = tx(&mut c, t0).unwrap();
    c.handle_datagram(t0, &Fake::new(0).challenge());
    let d = tx(&mut c, t0).unwrap();
    #[rustfmt::skip]
    let g: Vec<u8> = vec![
        0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0x30,
        0x0A, 0x0B, 0x0C, 0x0D, // protocol id
        4, 0x69, 0x87, 192, 0, 2, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // family, port, ip
        1, 2, 3, 4, 5, 6, 7, 8, // ticket
        0xC0, 0xFF, 0xEE, 0x00, 0x12, 0x34, 0x56, 0x78, // cookie
        0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
    ];
    assert_eq!(d, g);
    assert_eq!(&first[..HEADER_LEN + 31], &g[..HEADER_LEN + 31]);
    assert_eq!(first[HEADER_LEN + 31..], [0u8; 17]);
}

#[test]
fn golden_connected_datagrams() {
    let (mut c, mut f, t) = connected(0x0102_0300);
    // KEEPALIVE: SEQ|ACK, seq S0+2, ack S0, qport 7, kind 0, len 0
    let ka = tx(&mut c, t + ms(250)).unwrap();
    assert_eq!(ka, [0x30, 1, 2, 3, 2, 1, 2, 3, 0, 7, 0x00, 0, 0]);
    // after receiving server seq S0+1 the ack follows it
    c.handle_datagram(t + ms(251), &f.next(Kind::Keepalive, &[]));
    let (k, p) = arena::input(-1, 1);
    c.send_game(k, &p).unwrap();
    let input = tx(&mut c, t + ms(251)).unwrap();
    assert_eq!(
        input,
        [0x30, 1, 2, 3, 3, 1, 2, 3, 1, 7, 0x10, 0, 2, 0xFF, 0x01]
    );
    let (k, p) = arena::fire(0x0000_0E10, 0x0000_0000_0393_8700, 100, -50).unwrap();
    c.send_game(k, &p).unwrap();
    let fire = tx(&mut c, t + ms(252)).unwrap();
    #[rustfmt::skip]
    assert_eq!(fire, [
        0x30, 1, 2, 3, 4, 1, 2, 3, 1, 7, 0x11, 0, 16,
        0, 0, 0x0E, 0x10, 0, 0, 0, 0, 0x03, 0x93, 0x87, 0x00, 0x00, 0x64, 0xFF, 0xCE,
    ]);
    c.disconnect();
    let bye = tx(&mut c, t + ms(253)).unwrap();
    assert_eq!(bye, [0x40 | 0x20, 1, 2, 3, 5, 0, 0, 0, 0, 7, 0x05, 0, 0]);
}

/// PROTOCOL.md section 2 (issue 11): with a reply address of its own the client keeps the
/// last two distinct cookies and sends both, newest as `cookie`; without one it sends the
/// newest only. A repeated cookie changes nothing.
#[test]
fn two_cookies_with_a_reply_address_one_without() {
    let cookie_dgram = |cookie: u64| {
        let mut p = [0u8; Challenge::LEN];
        Challenge { cookie }.emit(&mut p).unwrap();
        dgram(flags::CONNECT, 0, 0, 0, Kind::Challenge.to_u8(), &p)
    };
    let hello_of = |c: &mut Client, now| {
        let h = tx(c, now).unwrap();
        let h = Hello::parse(&h[HEADER_LEN..]).unwrap();
        (h.cookie, h.source_cookie)
    };
    let t0 = Instant::now();
    let split = ClientConfig {
        reply: Some("192.0.2.7:4000".parse().unwrap()),
        ..ClientConfig::default()
    };
    for (cfg, pairs) in [
        (split, [(0, 0), (11, 0), (22, 11), (22, 11), (33, 22)]),
        (
            ClientConfig::default(),
            [(0, 0), (11, 0), (22, 0), (22, 0), (33, 0)],
        ),
    ] {
        let mut c = Client::new(cfg, t0);
        assert_eq!(hello_of(&mut c, t0), pairs[0]);
        for (i, cookie) in [11, 22, 22, 33].into_iter().enumerate() {
            c.handle_datagram(t0, &cookie_dgram(cookie));
            assert_eq!(hello_of(&mut c, t0), pairs[i + 1], "after {cookie}");
        }
    }
}
