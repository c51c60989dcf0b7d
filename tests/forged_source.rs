//! Issue 11, item 1 (PROTOCOL.md section 2 as corrected): a HELLO whose reply address is
//! not its source must prove both addresses, and CHALLENGEs to one IP are limited. Sans-IO
//! core, injected time.
mod common;

use common::{addr, Out, RawClient, Sim};
use std::net::SocketAddr;
use std::time::Duration;
use tickwire::client::{Client, ClientConfig, Event};
use tickwire::wire::{DropReason, Kind, MAX_DATAGRAM};

/// Sends `bytes` from `src` and returns what the server answered, checking that no answer
/// (nor all of them together) is larger than the datagram that caused it: every address
/// here is unproven.
fn send(sim: &mut Sim, src: SocketAddr, bytes: &[u8]) -> (Result<(), DropReason>, Vec<Out>) {
    let r = sim.send(src, bytes);
    let out = sim.drain();
    let total: usize = out.iter().map(|o| o.bytes.len()).sum();
    assert!(
        total <= bytes.len(),
        "{total} bytes answered {} from an unproven address",
        bytes.len()
    );
    (r, out)
}

/// A HELLO forged from the victim's address with the reply address pointed at the
/// attacker: the attacker gets the reply address's cookie, never the source's, so no
/// combination it can send takes a slot; and while it keeps forging, the victim connects.
#[test]
fn hello_forged_from_a_victim_never_takes_a_slot_nor_locks_it_out() {
    let mut sim = Sim::new();
    let victim = addr(1);
    let attacker = addr(2);
    let mut forged = RawClient::new(victim);
    forged.reply = Some(attacker);
    let (_, out) = send(&mut sim, victim, &forged.hello(0));
    let at_attacker: Vec<_> = out.iter().filter(|o| o.dst == attacker).collect();
    assert_eq!(at_attacker.len(), 1);
    let cookie = at_attacker[0].cookie();
    // What the victim was sent is for the victim only (the attacker cannot read it).
    assert!(out.iter().all(|o| o.dst == attacker || o.dst == victim));
    for (a, b) in [
        (cookie, 0),
        (0, cookie),
        (cookie, cookie),
        (cookie, cookie ^ 1),
        (cookie.wrapping_add(1), cookie),
    ] {
        let (_, out) = send(&mut sim, victim, &forged.hello2(a, b));
        assert!(out.iter().all(|o| o.kind() == Kind::Challenge), "{out:?}");
        assert_eq!(sim.server.client_count(), 0, "a forged source took a slot");
    }

    // The attacker keeps forging (10 HELLOs every 10 ms, each with its fresh reply cookie)
    // while the victim, a real client, connects from its own address.
    let mut client = Client::new(ClientConfig::default(), sim.now);
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut connected = false;
    let mut cookie = cookie;
    for _ in 0..300 {
        for _ in 0..10 {
            let (_, out) = send(&mut sim, victim, &forged.hello2(cookie, cookie));
            for o in out {
                if o.dst == attacker {
                    cookie = o.cookie();
                } else if let Some(Event::Connected { .. }) =
                    client.handle_datagram(sim.now, &o.bytes)
                {
                    connected = true;
                }
            }
        }
        while let Some(n) = client.poll_transmit(sim.now, &mut buf) {
            let (_, out) = send(&mut sim, victim, &buf[..n]);
            for o in out {
                assert_eq!(o.dst, victim, "an answer to the victim's own HELLO");
                if let Some(Event::Connected { .. }) = client.handle_datagram(sim.now, &o.bytes) {
                    connected = true;
                }
            }
        }
        if connected {
            break;
        }
        sim.advance(Duration::from_millis(10));
        let _ = client.handle_timeout(sim.now);
    }
    assert!(connected, "the victim could not connect: {:?}", client);
    assert_eq!(sim.server.client_count(), 1);
    let p = sim.server.players(sim.now).next().unwrap();
    assert_eq!(p.addr, victim);
    assert_eq!(sim.server.stats().accepts, 1, "only the victim's own HELLO");
}

/// Forged sources by the thousand with one reply address: the attacker holds every cookie
/// the reply address is sent and still takes no slot.
#[test]
fn forged_source_flood_with_one_reply_address_takes_no_slot() {
    let mut sim = Sim::new();
    let attacker = addr(2);
    for i in 0..5_000u32 {
        let src = addr(1_000 + i);
        let mut c = RawClient::new(src);
        c.reply = Some(attacker);
        let (_, out) = send(&mut sim, src, &c.hello(0));
        let Some(cookie) = out.iter().find(|o| o.dst == attacker).map(|o| o.cookie()) else {
            // The attacker's IP is over its CHALLENGE limit: it learns nothing.
            sim.advance(Duration::from_millis(100));
            continue;
        };
        for (a, b) in [(cookie, 0), (cookie, cookie), (0, cookie)] {
            let _ = send(&mut sim, src, &c.hello2(a, b));
        }
        assert_eq!(sim.server.client_count(), 0, "source {src} took a slot");
        if i % 50 == 0 {
            sim.advance(Duration::from_millis(100));
        }
    }
    assert_eq!(sim.server.stats().accepts, 0);
}

/// At most 10 CHALLENGEs a second, bursts of 20, go to one IP (many ports of one host).
#[test]
fn challenges_to_one_ip_are_limited_to_the_burst_and_the_rate() {
    let mut sim = Sim::new();
    let ip_port = |port: u16| SocketAddr::from(([10, 9, 8, 7], port));
    let mut challenged = 0;
    let mut limited = 0;
    let mut port = 1000;
    let mut round = |sim: &mut Sim, n: usize| {
        let mut got = 0;
        for _ in 0..n {
            port += 1;
            let c = RawClient::new(ip_port(port));
            let (r, out) = send(sim, c.src, &c.hello(0));
            match r {
                Ok(()) => got += out.len(),
                Err(DropReason::ChallengeLimited) => {
                    assert!(out.is_empty());
                    limited += 1
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        got
    };
    challenged += round(&mut sim, 100);
    assert_eq!(challenged, 20, "the burst");
    sim.advance(Duration::from_secs(1));
    assert_eq!(round(&mut sim, 100), 10, "one second's worth");
    sim.advance(Duration::from_millis(450));
    assert_eq!(round(&mut sim, 100), 4);
    sim.advance(Duration::from_secs(60));
    assert_eq!(round(&mut sim, 100), 20, "never more than the burst");
    assert_eq!(limited, 400 - 54);
    let st = sim.server.stats();
    assert_eq!(st.drops.get(DropReason::ChallengeLimited), 400 - 54);
    assert_eq!(st.challenges_limited, 400 - 54);
    // Another IP has a budget of its own.
    let c = RawClient::new(addr(3));
    assert_eq!(send(&mut sim, c.src, &c.hello(0)).1.len(), 1);
}

/// CHALLENGEs to a source that is not the reply address (what forged HELLOs cause) may use
/// only half of that IP's burst: the rest stays for the HELLOs the host sends itself.
#[test]
fn forged_split_hellos_leave_the_victim_s_own_challenges() {
    let mut sim = Sim::new();
    let victim = addr(1);
    let mut to_victim = 0;
    for i in 0..1000u32 {
        let mut c = RawClient::new(victim);
        c.reply = Some(addr(100 + i)); // a reply IP of its own each time: never limited
        let (_, out) = send(&mut sim, victim, &c.hello(0));
        to_victim += out.iter().filter(|o| o.dst == victim).count();
    }
    assert_eq!(to_victim, 10, "half the burst");
    let c = RawClient::new(victim);
    for _ in 0..10 {
        let (r, out) = send(&mut sim, victim, &c.hello(0));
        assert_eq!((r, out.len()), (Ok(()), 1));
    }
    assert_eq!(
        sim.send(victim, &c.hello(0)),
        Err(DropReason::ChallengeLimited)
    );
}

/// A genuine client whose reply address is not its source (it receives at both) connects
/// with the client library: it sends the two cookies it was given, whichever came first.
#[test]
fn genuine_client_with_a_reply_address_elsewhere_connects() {
    for reply_first in [true, false] {
        let mut sim = Sim::new();
        let src = addr(1);
        let reply = addr(2);
        let cfg = ClientConfig {
            reply: Some(reply),
            ..ClientConfig::default()
        };
        let mut client = Client::new(cfg, sim.now);
        let mut buf = [0u8; MAX_DATAGRAM];
        let mut connected = None;
        for _ in 0..20 {
            while let Some(n) = client.poll_transmit(sim.now, &mut buf) {
                let (_, mut out) = send(&mut sim, src, &buf[..n]);
                if !reply_first {
                    out.reverse();
                }
                for o in out {
                    assert!(o.dst == src || o.dst == reply);
                    if let Some(e @ Event::Connected { .. }) =
                        client.handle_datagram(sim.now, &o.bytes)
                    {
                        assert_eq!(o.dst, reply, "ACCEPT goes to the reply address");
                        connected = Some(e);
                    }
                }
            }
            if connected.is_some() {
                break;
            }
            sim.advance(Duration::from_millis(250));
        }
        assert!(
            connected.is_some(),
            "reply first: {reply_first}: {client:?}"
        );
        assert_eq!(sim.server.client_count(), 1);
        let p = sim.server.players(sim.now).next().unwrap();
        assert_eq!(p.addr, src, "the slot is pinned to the source");
        sim.advance(Duration::from_millis(17));
        assert!(sim.drain().iter().all(|o| o.dst == reply));
    }
}

/// The attack of issue 11 on real sockets: one attacker socket as the reply address of
/// HELLOs from 200 other sources (sockets across 127.0.2.0/24 that the attacker never
/// reads, as it could not read a forged source). Before the fix each source took a slot;
/// now none does, the attacker's IP gets no more CHALLENGEs than its limit, and nothing it
/// is sent is larger than a HELLO.
#[test]
fn forged_sources_take_no_slot_on_real_sockets() {
    use common::net::{start, sync};
    use std::net::{Ipv4Addr, UdpSocket};
    use tickwire::HostConfig;
    let host = start(HostConfig::default());
    let server = host.addrs[0];
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    attacker
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let reply = attacker.local_addr().unwrap();
    let sources: Vec<UdpSocket> = (0..200u8)
        .map(|i| UdpSocket::bind((Ipv4Addr::new(127, 0, 2, i.max(1)), 0)).unwrap())
        .collect();
    let mut buf = [0u8; 2048];
    let (mut challenges, mut accepts, mut too_big) = (0, 0, 0);
    for s in &sources {
        let mut c = RawClient::new(s.local_addr().unwrap());
        c.reply = Some(reply);
        let hello = c.hello(0);
        s.send_to(&hello, server).unwrap();
        // Whatever reached the attacker: replay each cookie in every position.
        while let Ok((n, _)) = attacker.recv_from(&mut buf) {
            too_big += usize::from(n > hello.len());
            match buf[10] {
                k if k == Kind::Challenge.to_u8() => {
                    challenges += 1;
                    let cookie = u64::from_be_bytes(buf[13..21].try_into().unwrap());
                    for (a, b) in [(cookie, 0), (cookie, cookie), (0, cookie)] {
                        s.send_to(&c.hello2(a, b), server).unwrap();
                    }
                }
                k if k == Kind::Accept.to_u8() => accepts += 1,
                _ => {}
            }
        }
    }
    sync(server);
    while let Ok((n, _)) = attacker.recv_from(&mut buf) {
        too_big += usize::from(n > 61);
        accepts += usize::from(buf[10] == Kind::Accept.to_u8());
    }
    let summary = host.stop();
    assert_eq!(accepts, 0, "{summary}");
    assert!(summary.contains("accepts=0 "), "{summary}");
    assert!(summary.contains("clients=0 "), "{summary}");
    assert!(challenges > 0, "the attacker was answered at all");
    // 20 at once, then 10 a second, however long the run took (bounded generously).
    assert!(challenges <= 20 + 10 * 60, "{challenges}");
    assert_eq!(too_big, 0);
}
