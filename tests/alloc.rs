//! Zero heap allocations per datagram and per tick once warm, counted exactly by a global
//! allocator that counts the allocations of the threads that ask for it, each thread into
//! its own count (the two tests run in parallel: neither sees the other's allocations).
mod common;

#[path = "common/counting.rs"]
mod counting;

use common::net::{start_with, NetClient, PATIENCE};
use common::{addr, Sim};
use counting::{count_into, counted, Tally};
use std::time::{Duration, Instant};
use tickwire::game::arena::Fire;
use tickwire::wire::Kind;
use tickwire::Arena;
use tickwire::HostConfig;

#[global_allocator]
static A: counting::Counting = counting::Counting;

/// The host thread's allocations, from the moment it starts serving.
static HOST: Tally = Tally::new();

#[test]
fn core_allocates_nothing_per_datagram_or_tick() {
    let mut sim = Sim::new();
    let mut clients: Vec<_> = (0..255).map(|i| sim.connect(addr(i))).collect();
    sim.advance(Duration::from_millis(100));
    sim.drain();
    // Prepare every datagram before counting.
    let mut batches = vec![];
    for round in 0..20 {
        let mut b = vec![];
        for c in clients.iter_mut() {
            b.push((c.src, c.input((round % 3) as i8 - 1, 1)));
            b.push((c.src, c.keepalive()));
            let fire = Fire {
                tick: sim.server.newest_tick().unwrap(),
                time_us: 1,
                aim_x: 1,
                aim_y: 0,
            };
            b.push((c.src, c.datagram(Arena::FIRE, &fire.encode())));
            b.push((c.src, vec![0xAB; 7]));
        }
        b.push((addr(999), clients[0].hello(0)));
        batches.push(b);
    }
    let mut sent = 0;
    for b in &batches {
        let (n, allocs) = counted(|| {
            for (src, d) in b {
                let _ = sim.server.handle_datagram(sim.now, *src, d);
            }
            sim.now += Duration::from_nanos(16_666_667);
            let ticks = sim.server.handle_timeout(sim.now);
            let n = sim.server.transmits().len();
            sim.server.sent(n);
            assert_eq!(ticks, 1);
            n
        });
        assert_eq!(
            allocs,
            0,
            "allocations in a warm tick with {} datagrams",
            b.len()
        );
        sent += n;
    }
    assert!(sent >= 20 * 255 * 2);
    assert_eq!(sim.server.client_count(), 255);
}

/// A datagram to one player (`Server::send`, the path of `Context::send` too) allocates
/// nothing either, to every client in a tick (issue 17, item 7).
#[test]
fn sending_to_one_player_allocates_nothing() {
    let mut sim = Sim::new();
    let clients: Vec<_> = (0..255).map(|i| sim.connect(addr(i))).collect();
    sim.advance(Duration::from_millis(100));
    sim.drain();
    for round in 0..20u8 {
        let ((), allocs) = counted(|| {
            for c in &clients {
                sim.server
                    .send(sim.now, c.qport, 0x40, &[round; 16])
                    .unwrap();
            }
            sim.now += Duration::from_nanos(16_666_667);
            sim.server.handle_timeout(sim.now);
            let n = sim.server.transmits().len();
            sim.server.sent(n);
        });
        assert_eq!(allocs, 0, "allocations sending to 255 players");
    }
    assert_eq!(sim.server.stats().game_sent, 20 * 255);
}

/// Secure mode (PROTOCOL.md section 8): a warm tick with 255 library clients, each
/// sealing an INPUT and a KEEPALIVE, the server opening them, sealing every snapshot part
/// once and tagging it per client, and every client checking and opening what it gets,
/// plus forgeries that fail to open: nothing allocates, on either end.
#[test]
fn secure_mode_allocates_nothing_per_datagram_or_tick() {
    use tickwire::client::{Client, ClientConfig, Event, State};
    use tickwire::secure::{Issuer, Key, Secure, UnixClock};
    use tickwire::wire::MAX_DATAGRAM;
    let now = Instant::now();
    let fleet = Key::from_bytes([9; 32]);
    let cfg = tickwire::Config {
        seed: Some(7),
        secure: Some(Secure::new(fleet.clone(), 0).with_clock(UnixClock::fixed(now, 1_000))),
        ..tickwire::Config::default()
    };
    let mut sim = Sim {
        server: tickwire::Server::new(cfg, Arena::new(3), now),
        now,
    };
    let issuer = Issuer::new(fleet, 0);
    let mut clients: Vec<(std::net::SocketAddr, Client)> = (0..255)
        .map(|i| {
            let t = issuer.mint(i as u64, 0, "", 1_000);
            (addr(i), Client::with_token(ClientConfig::default(), t, now))
        })
        .collect();
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut round = |sim: &mut Sim, clients: &mut Vec<(std::net::SocketAddr, Client)>| {
        let mut snapshots = 0;
        for (src, c) in clients.iter_mut() {
            if c.state().is_connected() {
                let _ = c.send_game(Arena::INPUT, &[1, 0]);
            }
            while let Some(n) = c.poll_transmit(sim.now, &mut buf) {
                let _ = sim.server.handle_datagram(sim.now, *src, &buf[..n]);
                // A forgery from the same source: the next seq (in the window), the
                // payload not sealed under the key. It fails to open, and moves nothing.
                if n > 13 + 16 {
                    buf[4] = buf[4].wrapping_add(1);
                    buf[14] ^= 0x80;
                    let _ = sim.server.handle_datagram(sim.now, *src, &buf[..n]);
                }
            }
        }
        sim.now += Duration::from_nanos(16_666_667);
        sim.server.handle_timeout(sim.now);
        let n = sim.server.transmits().len();
        for i in 0..n {
            let t = sim.server.transmits()[i];
            let len = sim.server.write_transmit(&t, &mut buf).unwrap();
            let j = clients.iter().position(|(a, _)| *a == t.dst).unwrap();
            if let Some(Event::Snapshot { .. }) = clients[j].1.handle_datagram(sim.now, &buf[..len])
            {
                snapshots += 1;
            }
        }
        sim.server.sent(n);
        snapshots
    };
    for _ in 0..10 {
        round(&mut sim, &mut clients);
    }
    assert_eq!(sim.server.client_count(), 255);
    assert!(clients
        .iter()
        .all(|(_, c)| matches!(c.state(), State::Connected { .. })));
    for _ in 0..20 {
        let (snapshots, allocs) = counted(|| round(&mut sim, &mut clients));
        assert_eq!(allocs, 0, "allocations in a warm secure tick");
        assert_eq!(snapshots, 255);
    }
    let drops = &sim.server.stats().drops;
    assert!(drops.get(tickwire::wire::DropReason::BadAuth) >= 20 * 255);
}

#[test]
fn host_thread_allocates_nothing_in_steady_state_with_immediate_receive() {
    let cfg = HostConfig {
        receive: tickwire::Receive::Immediate,
        ..HostConfig::default()
    };
    host_steady_state(cfg, &HOST);
}

/// The host thread as configured by default (issue 13): batched receive, drains timed by
/// the kernel's arrival stamps (read from the control messages into preallocated
/// buffers), two matches on one deadline, broadcast in large chunks.
static HOST_BATCHED: Tally = Tally::new();

#[test]
fn host_thread_allocates_nothing_in_steady_state_by_default() {
    let cfg = HostConfig {
        matches: 2,
        ..HostConfig::default()
    };
    assert_eq!(cfg.tick_phase, tickwire::TickPhase::Aligned);
    assert!(matches!(cfg.receive, tickwire::Receive::Batched { .. }));
    host_steady_state(cfg, &HOST_BATCHED);
}

fn host_steady_state(cfg: HostConfig, tally: &'static Tally) {
    let on_thread: fn() = if std::ptr::eq(tally, &HOST) {
        || count_into(&HOST)
    } else {
        || count_into(&HOST_BATCHED)
    };
    let host = start_with(cfg, |_| tickwire::Arena::new(1), on_thread);
    let server = host.addrs[0];
    let mut cs: Vec<_> = (0..8)
        .map(|i| NetClient::new(host.addrs[i % host.addrs.len()]))
        .collect();
    for c in &mut cs {
        c.connect();
    }
    // Warm up: traffic of every kind for a while.
    // STUN and A2S from another socket, answered on the same loop.
    let side = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut stun = [0u8; 28];
    let n = tickwire::internal::binding_request([7; 12], &mut stun);
    let mut info = b"\xFF\xFF\xFF\xFFTSource Engine Query\0".to_vec();
    info.extend_from_slice(&[0xFF; 4]);
    let play = |cs: &mut Vec<NetClient>, rounds: usize| {
        for r in 0..rounds {
            side.send_to(&stun[..n], server).unwrap();
            side.send_to(&info, server).unwrap();
            for c in cs.iter_mut() {
                let i = c.c.input((r % 3) as i8 - 1, 0);
                c.send(&i);
                c.send(&[1, 2, 3]);
                let _ = c.wait_for(Kind::Snapshot, PATIENCE).expect("snapshots");
            }
        }
    };
    play(&mut cs, 20);
    let before = tally.get();
    let t = Instant::now();
    play(&mut cs, 60);
    let after = tally.get();
    assert!(t.elapsed() > Duration::from_millis(100));
    assert_eq!(after - before, 0, "host thread allocated while serving");
    host.stop();
}

/// The host thread in secure mode: sealed datagrams opened, each tick's parts sealed once
/// and tagged per client, from eight blocking clients with tokens. Nothing allocates once
/// warm (the allocations at admission, a token's keys in the slot, come before).
static SECURE_HOST: Tally = Tally::new();

#[test]
fn secure_host_thread_allocates_nothing_in_steady_state() {
    use tickwire::client::blocking::Connection;
    use tickwire::client::{ClientConfig, Event};
    use tickwire::secure::{Issuer, Key, Secure};
    let fleet = Key::generate();
    let host = start_with(
        HostConfig {
            server: tickwire::Config {
                secure: Some(Secure::new(fleet.clone(), 0)),
                ..tickwire::Config::default()
            },
            ..HostConfig::default()
        },
        |_| tickwire::Arena::new(1),
        || count_into(&SECURE_HOST),
    );
    let issuer = Issuer::new(fleet, 0);
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut cs: Vec<Connection> = (0..8)
        .map(|i| {
            let t = issuer.mint(i, 0, "", unix);
            Connection::connect_with_token(host.addrs[0], ClientConfig::default(), t, PATIENCE)
                .expect("secure connect")
        })
        .collect();
    let play = |cs: &mut Vec<Connection>, rounds: usize| {
        for r in 0..rounds {
            for c in cs.iter_mut() {
                c.send_input((r % 3) as i8 - 1, 0).unwrap();
                let end = Instant::now() + PATIENCE;
                loop {
                    match c.poll(Duration::from_millis(50)).unwrap() {
                        Some(Event::Snapshot { .. }) => break,
                        _ if Instant::now() > end => panic!("no snapshot"),
                        _ => {}
                    }
                }
            }
        }
    };
    play(&mut cs, 20);
    let before = SECURE_HOST.get();
    play(&mut cs, 40);
    let after = SECURE_HOST.get();
    assert_eq!(
        after - before,
        0,
        "secure host thread allocated while serving"
    );
    for c in cs {
        assert_eq!(c.stats().drops.total(), 0);
        c.close().unwrap();
    }
    host.stop();
}

/// The harness itself: a counted window sees exactly this thread's allocations, however
/// much another counted thread allocates meanwhile (the two tests above run in parallel).
#[test]
fn the_count_is_exact_and_only_this_threads() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static OTHER: Tally = Tally::new();
    static STOP: AtomicBool = AtomicBool::new(false);
    let other = std::thread::spawn(|| {
        count_into(&OTHER);
        while !STOP.load(Ordering::Relaxed) {
            std::hint::black_box(vec![0u8; 64]);
        }
    });
    while OTHER.get() == 0 {
        std::thread::yield_now();
    }
    // Until the other thread has allocated a good deal meanwhile (at most 10 s).
    let (from, end) = (OTHER.get(), Instant::now() + Duration::from_secs(10));
    while OTHER.get() - from < 10_000 && Instant::now() < end {
        let ((), n) = counted(|| {
            let mut v: Vec<u8> = Vec::with_capacity(1);
            v.extend_from_slice(&[1; 100]); // a realloc
            std::hint::black_box(v);
        });
        assert_eq!(
            n, 2,
            "one alloc and one realloc, nothing from the other thread"
        );
        assert_eq!(counted(|| std::hint::black_box(1 + 1)).1, 0);
    }
    let during = OTHER.get() - from;
    STOP.store(true, Ordering::Relaxed);
    other.join().unwrap();
    assert!(
        during >= 10_000,
        "the other thread allocated meanwhile: {during}"
    );
}
