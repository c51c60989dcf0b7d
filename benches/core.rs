//! Microbenchmarks of the sans-IO core with injected time: header parse and dispatch,
//! `Server::handle_datagram` on a warm 255-client server (accept path and the named drop
//! paths), and one tick's serialize + queue for 255 clients.
//!
//! `cargo bench --bench core`; the core never reads the clock, every `Instant` is ours.

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use common::{addr, RawClient, Sim};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::net::SocketAddr;
use std::time::Duration;
use tickwire::client::{Client, ClientConfig};
use tickwire::internal::demux;
use tickwire::wire::{Direction, Kind, Packet};
use tickwire::Config;

/// A warm server: 255 connected clients, a few ticks run, clients that never time out
/// (so a long benchmark's advancing clock cannot drop them).
fn warm() -> (Sim, Vec<RawClient>) {
    let mut sim = Sim::with(Config {
        seed: Some(7),
        timeout: Duration::from_secs(1 << 30),
        ..Config::default()
    });
    let clients: Vec<RawClient> = (0..255).map(|i| sim.connect(addr(i))).collect();
    sim.advance(Duration::from_millis(100));
    sim.drain();
    (sim, clients)
}

/// Unix seconds of the secure benches' clock.
const T0_UNIX: u64 = 1_900_000_000;

/// A warm secure server (PROTOCOL.md section 8): 255 library clients connected with
/// connect tokens, a few ticks run; the clients are kept to seal their datagrams.
fn warm_secure() -> (Sim, Vec<(SocketAddr, Client)>) {
    use tickwire::secure::{Issuer, Key, Secure, UnixClock};
    use tickwire::wire::MAX_DATAGRAM;
    let now = std::time::Instant::now();
    let fleet = Key::from_bytes([5; 32]);
    let cfg = Config {
        seed: Some(7),
        timeout: Duration::from_secs(1 << 30),
        secure: Some(Secure::new(fleet.clone(), 0).with_clock(UnixClock::fixed(now, T0_UNIX))),
        ..Config::default()
    };
    let mut sim = Sim {
        server: tickwire::Server::new(cfg, tickwire::Arena::new(3), now),
        now,
    };
    let issuer = Issuer::new(fleet, 0);
    let mut clients: Vec<(SocketAddr, Client)> = (0..255)
        .map(|i| {
            let cfg = ClientConfig {
                timeout: Duration::from_secs(1 << 30),
                ..ClientConfig::default()
            };
            let t = issuer.mint(i as u64, 0, "", T0_UNIX);
            (addr(i), Client::with_token(cfg, t, now))
        })
        .collect();
    let mut buf = [0u8; MAX_DATAGRAM];
    for _ in 0..6 {
        for (src, c) in clients.iter_mut() {
            while let Some(n) = c.poll_transmit(sim.now, &mut buf) {
                let _ = sim.server.handle_datagram(sim.now, *src, &buf[..n]);
            }
        }
        for t in sim.server.transmits().to_vec() {
            let n = sim.server.write_transmit(&t, &mut buf).unwrap();
            if let Some((_, c)) = clients.iter_mut().find(|(a, _)| *a == t.dst) {
                c.handle_datagram(sim.now, &buf[..n]);
            }
        }
        sim.server.sent(usize::MAX);
        sim.now += Duration::from_millis(17);
        sim.server.handle_timeout(sim.now);
    }
    sim.server.sent(usize::MAX);
    assert_eq!(sim.server.client_count(), 255);
    (sim, clients)
}

/// One client's datagram buffer whose seq field we rewrite in place.
struct Rolling {
    src: SocketAddr,
    seq: u32,
    input: Vec<u8>,
    keepalive: Vec<u8>,
}

fn rolling(clients: &mut [RawClient]) -> Vec<Rolling> {
    clients
        .iter_mut()
        .map(|c| {
            let input = c.input(1, 0);
            let keepalive = c.keepalive();
            Rolling {
                src: c.src,
                seq: c.seq,
                input,
                keepalive,
            }
        })
        .collect()
}

fn header(c: &mut Criterion) {
    let mut rc = RawClient::new(addr(0));
    rc.qport = 9;
    rc.newest = Some(5);
    let input = rc.input(1, -1);
    let mut g = c.benchmark_group("header");
    g.throughput(Throughput::Elements(1));
    g.bench_function("new_checked_input", |b| {
        b.iter(|| {
            let p = Packet::new_checked(black_box(&input[..]), Direction::ToServer, |k| {
                k == 0x10 || k == 0x11
            });
            black_box(p.is_ok())
        })
    });
    g.bench_function("demux_check_kind", |b| {
        b.iter(|| {
            let d = black_box(&input[..]);
            let _ = black_box(demux(d));
            let p = Packet::new_checked(d, Direction::ToServer, |k| k == 0x10 || k == 0x11);
            black_box(p.ok().and_then(|p| p.kind()).map(Kind::to_u8))
        })
    });
    g.finish();
}

fn handle_datagram(c: &mut Criterion) {
    let mut g = c.benchmark_group("handle_datagram_255");
    g.throughput(Throughput::Elements(1));

    // Accept path: every datagram carries the next seq of its client (INPUT and KEEPALIVE
    // alternating, clients in rotation); the seq is written into a prebuilt buffer.
    {
        let (mut sim, mut clients) = warm();
        let mut roll = rolling(&mut clients);
        let now = sim.now;
        let mut k = 0usize;
        g.bench_function("accept_input_keepalive", |b| {
            b.iter(|| {
                k = k.wrapping_add(1);
                let r = &mut roll[k % 255];
                r.seq = r.seq.wrapping_add(1);
                let buf = if k & 256 == 0 {
                    &mut r.input
                } else {
                    &mut r.keepalive
                };
                buf[1..5].copy_from_slice(&r.seq.to_be_bytes());
                black_box(sim.server.handle_datagram(now, r.src, buf))
            })
        });
        assert_eq!(sim.server.client_count(), 255);
        assert_eq!(sim.server.stats().dropped(), 0, "accept path must not drop");
    }

    // The accept path in secure mode: INPUTs and KEEPALIVEs sealed by the library clients
    // (outside the timed part, in chunks), opened by the server. Same rotation.
    {
        let (mut sim, mut clients) = warm_secure();
        let now = sim.now;
        g.bench_function("secure_accept_input_keepalive", |b| {
            b.iter_custom(|iters| {
                let mut left = iters;
                let mut total = Duration::ZERO;
                let mut chunk: Vec<(SocketAddr, [u8; 64], usize)> = Vec::with_capacity(8192);
                let mut k = 0usize;
                while left > 0 {
                    chunk.clear();
                    while (chunk.len() as u64) < left.min(8192) {
                        k = k.wrapping_add(1);
                        let (src, c) = &mut clients[k % 255];
                        if k & 256 == 0 {
                            let _ = c.send_game(0x10, &[1, 0]);
                        } else {
                            // A KEEPALIVE: due whenever the keepalive interval passed.
                            let _ = c.handle_timeout(now);
                        }
                        let mut b = [0u8; 64];
                        let at = now + Duration::from_secs(k as u64);
                        if let Some(n) = c.poll_transmit(at, &mut b) {
                            chunk.push((*src, b, n));
                        }
                    }
                    let t = std::time::Instant::now();
                    for (src, b, n) in &chunk {
                        black_box(sim.server.handle_datagram(now, *src, &b[..*n])).ok();
                    }
                    total += t.elapsed();
                    left -= chunk.len() as u64;
                }
                total
            })
        });
        assert_eq!(sim.server.client_count(), 255);
        assert_eq!(sim.server.stats().dropped(), 0, "accept path must not drop");
    }

    // DropReason path: the same datagram again (seq == newest): `duplicate`.
    {
        let (mut sim, mut clients) = warm();
        let roll = rolling(&mut clients);
        for r in &roll {
            sim.server
                .handle_datagram(sim.now, r.src, &r.input)
                .unwrap();
        }
        let now = sim.now;
        let mut k = 0usize;
        g.bench_function("drop_duplicate", |b| {
            b.iter(|| {
                k = k.wrapping_add(1);
                let r = &roll[k % 255];
                black_box(sim.server.handle_datagram(now, r.src, &r.input))
            })
        });
    }

    // DropReason path: a valid header for a held qport from another address: `wrong_source`
    // (with all 255 qports held, no qport is unknown).
    {
        let (mut sim, _clients) = warm();
        let mut stranger = RawClient::new(addr(9999));
        stranger.qport = 1;
        stranger.newest = Some(1);
        let d = stranger.keepalive();
        let now = sim.now;
        g.bench_function("drop_wrong_source", |b| {
            b.iter(|| black_box(sim.server.handle_datagram(now, stranger.src, &d)))
        });
    }
    g.finish();
}

fn tick(c: &mut Criterion) {
    let mut g = c.benchmark_group("tick_255");
    g.throughput(Throughput::Elements(255));
    let (mut sim, _clients) = warm();
    g.bench_function("serialize_queue_walk_clear", |b| {
        b.iter(|| {
            let at = sim.server.poll_timeout();
            sim.server.handle_timeout(at);
            let mut bytes = 0usize;
            for t in sim.server.transmits() {
                bytes += t.head().len() + sim.server.body(t).len();
                black_box(t.dst);
            }
            sim.server.sent(usize::MAX);
            black_box(bytes)
        })
    });
    // Secure mode: each part sealed once, and a 16-byte tag per client and part.
    let (mut ssim, _sclients) = warm_secure();
    g.bench_function("secure_serialize_seal_tag_walk_clear", |b| {
        b.iter(|| {
            let at = ssim.server.poll_timeout();
            ssim.server.handle_timeout(at);
            let mut bytes = 0usize;
            for t in ssim.server.transmits() {
                bytes += t.head().len() + ssim.server.body(t).len();
                black_box(t.dst);
            }
            ssim.server.sent(usize::MAX);
            black_box(bytes)
        })
    });
    // The same, with a fresh server per batch, to show the cost does not drift.
    g.bench_function("serialize_queue_walk_clear_fresh", |b| {
        b.iter_batched_ref(
            warm,
            |(sim, _)| {
                let at = sim.server.poll_timeout();
                sim.server.handle_timeout(at);
                let n = sim.server.transmits().len();
                sim.server.sent(n);
                black_box(n)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// The primitives secure mode spends per datagram, from the crates it uses: what a snapshot
/// tag (one keyed BLAKE3 of 59 bytes), a part's seal (1141 bytes) and hash, and an INPUT's
/// open (2 bytes and the tag) cost here.
fn primitives(c: &mut Criterion) {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
    let mut g = c.benchmark_group("secure_primitives");
    let key = [7u8; 32];
    let m = [1u8; 59];
    g.bench_function("mac_keyed_blake3_59", |b| {
        b.iter(|| black_box(blake3::keyed_hash(&key, black_box(&m))))
    });
    let mut part = vec![3u8; 1141];
    g.bench_function("seal_chacha20poly1305_1141", |b| {
        b.iter(|| {
            let k = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key).unwrap());
            black_box(k.seal_in_place_separate_tag(
                Nonce::assume_unique_for_key([0; 12]),
                Aad::from(&m[..14]),
                &mut part,
            ))
        })
    });
    g.bench_function("hash_blake3_1157", |b| {
        let c = vec![9u8; 1157];
        b.iter(|| black_box(blake3::hash(black_box(&c))))
    });
    let k = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key).unwrap());
    let mut input = [1u8, 0];
    let tag = k
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::from(&m[..13]),
            &mut input,
        )
        .unwrap();
    let mut sealed = input.to_vec();
    sealed.extend_from_slice(tag.as_ref());
    g.bench_function("open_chacha20poly1305_2", |b| {
        b.iter(|| {
            let mut d = [0u8; 18];
            d.copy_from_slice(&sealed);
            let k = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key).unwrap());
            black_box(
                k.open_in_place(
                    Nonce::assume_unique_for_key([0; 12]),
                    Aad::from(&m[..13]),
                    &mut d,
                )
                .is_ok(),
            )
        })
    });
    let k2 = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key).unwrap());
    g.bench_function("open_chacha20poly1305_2_prebuilt_key", |b| {
        b.iter(|| {
            let mut d = [0u8; 18];
            d.copy_from_slice(&sealed);
            black_box(
                k2.open_in_place(
                    Nonce::assume_unique_for_key([0; 12]),
                    Aad::from(&m[..13]),
                    &mut d,
                )
                .is_ok(),
            )
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = header, handle_datagram, tick, primitives
}
criterion_main!(benches);
