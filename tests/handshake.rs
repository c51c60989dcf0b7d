//! PROTOCOL.md section 2: the connect handshake, with injected time.
mod common;

use common::{addr, config, RawClient, Sim};
use std::time::Duration;
use tickwire::internal::{Challenge, Reject};
use tickwire::wire::{flags, DropReason, Kind, RejectReason};
use tickwire::Config;
use tickwire::{Holder, Name, Tickets};

#[test]
fn challenge_then_accept() {
    let mut sim = Sim::new();
    sim.advance(Duration::from_millis(100));
    let src = addr(1);
    let c = RawClient::new(src);
    let hello = c.hello(0);
    sim.send(src, &hello).unwrap();
    let out = sim.drain();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dst, src);
    let p = out[0].packet();
    assert_eq!(p.kind(), Some(Kind::Challenge));
    assert_eq!(p.flags(), flags::CONNECT);
    assert!(out[0].bytes.len() <= hello.len());
    assert_eq!(sim.server.client_count(), 0, "no state before the cookie");

    let cookie = Challenge::parse(p.payload()).unwrap().cookie;
    sim.send(src, &c.hello(cookie)).unwrap();
    let out = sim.drain();
    assert_eq!(out.len(), 1);
    let p = out[0].packet();
    assert_eq!(p.kind(), Some(Kind::Accept));
    assert_eq!(p.ack(), 1);
    assert!((1..=255).contains(&p.qport()));
    let a = tickwire::internal::Accept::parse(p.payload()).unwrap();
    assert_eq!(a.tick_hz, 60);
    assert_eq!(a.max_payload, 1187);
    assert_eq!(a.time_us, 100_000);
    assert_eq!(a.tick, sim.server.newest_tick().unwrap());
    assert!(out[0].bytes.len() <= hello.len());
    assert_eq!(sim.server.client_count(), 1);
}

#[test]
fn challenge_and_accept_go_to_the_reply_address() {
    let mut sim = Sim::new();
    let src = addr(1);
    let reply = addr(2);
    let mut c = RawClient::new(src);
    c.reply = Some(reply);
    sim.send(src, &c.hello(0)).unwrap();
    let out = sim.drain();
    assert_eq!(out[0].dst, reply);
    let cookie = out[0].cookie();
    // PROTOCOL.md section 2 (corrected for issue 11): a reply address that is not the
    // source gets its CHALLENGE, and the source one of its own; HELLO carries both.
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].dst, src);
    let source_cookie = out[1].cookie();
    sim.send(src, &c.hello(cookie)).unwrap();
    assert!(
        sim.drain().iter().all(|o| o.kind() == Kind::Challenge),
        "the reply address's cookie alone admits nothing"
    );
    assert_eq!(sim.server.client_count(), 0);
    sim.send(src, &c.hello2(cookie, source_cookie)).unwrap();
    let out = sim.drain();
    assert_eq!(out[0].dst, reply);
    c.on_accept(&out[0]);
    // Snapshots go to the reply address too; datagrams are accepted from the source only.
    sim.advance(Duration::from_millis(17));
    assert!(sim.drain().iter().all(|o| o.dst == reply));
    let ka = c.keepalive();
    assert_eq!(sim.send(reply, &ka), Err(DropReason::WrongSource));
    assert_eq!(sim.send(src, &ka), Ok(()));
}

#[test]
fn stale_or_wrong_cookie_gets_a_fresh_challenge() {
    let mut sim = Sim::new();
    let src = addr(1);
    let c = RawClient::new(src);
    let cookie = sim.challenge(src, &c.hello(0));
    // Wrong cookie.
    sim.send(src, &c.hello(cookie ^ 1)).unwrap();
    let out = sim.drain();
    assert_eq!(out[0].kind(), Kind::Challenge);
    // Still valid 5 s later.
    sim.advance(Duration::from_secs(5));
    sim.drain();
    // Stale after 10 s.
    sim.advance(Duration::from_secs(5));
    sim.drain();
    sim.send(src, &c.hello(cookie)).unwrap();
    let out = sim.drain();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind(), Kind::Challenge);
    assert_eq!(sim.server.client_count(), 0);
    // A cookie from another source address does not work.
    let other = addr(9);
    let c2 = RawClient::new(other);
    let fresh = out[0].cookie();
    sim.send(other, &c2.hello(fresh)).unwrap();
    assert_eq!(sim.drain()[0].kind(), Kind::Challenge);
    assert_eq!(sim.server.client_count(), 0);
}

#[test]
fn cookie_valid_for_at_least_five_seconds() {
    let mut sim = Sim::new();
    sim.advance(Duration::from_millis(4_999));
    let src = addr(1);
    let c = RawClient::new(src);
    let cookie = sim.challenge(src, &c.hello(0));
    sim.advance(Duration::from_millis(5_000));
    sim.drain();
    sim.send(src, &c.hello(cookie)).unwrap();
    assert_eq!(sim.drain()[0].kind(), Kind::Accept);
}

#[test]
fn lost_accept_is_sent_again_and_never_takes_a_second_slot() {
    let mut sim = Sim::new();
    let src = addr(1);
    let c = RawClient::new(src);
    let cookie = sim.challenge(src, &c.hello(0));
    sim.send(src, &c.hello(cookie)).unwrap();
    let first = sim.drain().remove(0);
    // The ACCEPT is lost; the client repeats its HELLO a little later.
    sim.advance(Duration::from_millis(250));
    sim.drain();
    sim.send(src, &c.hello(cookie)).unwrap();
    let again = sim.drain();
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0].bytes, first.bytes,
        "the same ACCEPT, byte for byte"
    );
    assert_eq!(sim.server.client_count(), 1);
    assert_eq!(sim.server.stats().accept_resends, 1);
}

#[test]
fn full_server_challenges_first_then_rejects() {
    let mut sim = Sim::with(Config {
        max_clients: 2,
        ..config()
    });
    sim.connect(addr(1));
    sim.connect(addr(2));
    let src = addr(3);
    let c = RawClient::new(src);
    let hello = c.hello(0);
    sim.send(src, &hello).unwrap();
    let out = sim.drain();
    assert_eq!(
        out[0].kind(),
        Kind::Challenge,
        "a full server still challenges"
    );
    let cookie = out[0].cookie();
    sim.send(src, &c.hello(cookie)).unwrap();
    let out = sim.drain();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind(), Kind::Reject);
    assert_eq!(
        Reject::parse(out[0].packet().payload()).unwrap().reason,
        RejectReason::Full
    );
    assert!(out[0].bytes.len() <= hello.len());
    assert_eq!(sim.server.client_count(), 2);
}

#[test]
fn all_255_slots_fill_with_distinct_qports() {
    let mut sim = Sim::new();
    let mut seen = std::collections::HashSet::new();
    for i in 0..255 {
        let c = sim.connect(addr(i));
        assert!(seen.insert(c.qport), "qport {} given twice", c.qport);
    }
    assert!(!seen.contains(&0));
    assert_eq!(sim.server.client_count(), 255);
}

#[test]
fn start_sequence_numbers_are_random() {
    let mut sim = Sim::new();
    let a = sim.connect(addr(1)).s0;
    let b = sim.connect(addr(2)).s0;
    let c = sim.connect(addr(3)).s0;
    assert!(a != b && b != c && a != c);
}

#[test]
fn other_protocol_id_is_dropped_silently() {
    let mut sim = Sim::new();
    let src = addr(1);
    let c = RawClient::new(src);
    assert_eq!(
        sim.send(src, &c.hello_with(0, 0, 99)),
        Err(DropReason::ProtocolId)
    );
    assert!(sim.drain().is_empty());
}

#[test]
fn tickets_required() {
    let tickets = Tickets::new(8);
    let mut sim = Sim::with(Config {
        require_ticket: true,
        ..config()
    });
    sim.server.set_tickets(tickets.clone());
    let ticket = tickets
        .issue(Holder {
            user: 5,
            name: Name::from("alice").unwrap(),
        })
        .unwrap();
    let reject = |sim: &mut Sim, src, ticket: u64| {
        let c = RawClient::new(src);
        let cookie = sim.challenge(src, &c.hello_with(0, ticket, 0));
        sim.send(src, &c.hello_with(cookie, ticket, 0)).unwrap();
        sim.drain().remove(0)
    };
    // No ticket, or a made-up one: REJECT 2.
    for t in [0, 12345] {
        let out = reject(&mut sim, addr(1), t);
        assert_eq!(
            Reject::parse(out.packet().payload()).unwrap().reason,
            RejectReason::BadTicket
        );
    }
    // The real one admits once, with the lobby name.
    let out = reject(&mut sim, addr(2), ticket);
    assert_eq!(out.kind(), Kind::Accept);
    let names: Vec<_> = sim.server.players(sim.now).map(|p| p.name).collect();
    assert_eq!(names, vec![Some(Name::from("alice").unwrap())]);
    let out = reject(&mut sim, addr(3), ticket);
    assert_eq!(out.kind(), Kind::Reject, "a ticket works once");
    assert_eq!(sim.server.stats().rejects_ticket, 3);
}

#[test]
fn tickets_optional_still_name_the_player() {
    let tickets = Tickets::new(8);
    let mut sim = Sim::new();
    sim.server.set_tickets(tickets.clone());
    let ticket = tickets
        .issue(Holder {
            user: 1,
            name: Name::from("bob").unwrap(),
        })
        .unwrap();
    let src = addr(1);
    let c = RawClient::new(src);
    let cookie = sim.challenge(src, &c.hello_with(0, ticket, 0));
    sim.send(src, &c.hello_with(cookie, ticket, 0)).unwrap();
    assert_eq!(sim.drain()[0].kind(), Kind::Accept);
    assert_eq!(
        sim.server
            .players(sim.now)
            .next()
            .unwrap()
            .name
            .unwrap()
            .as_str(),
        "bob"
    );
    // A bogus ticket is ignored when tickets are optional.
    let src = addr(2);
    let c = RawClient::new(src);
    let cookie = sim.challenge(src, &c.hello_with(0, 777, 0));
    sim.send(src, &c.hello_with(cookie, 777, 0)).unwrap();
    assert_eq!(sim.drain()[0].kind(), Kind::Accept);
}
