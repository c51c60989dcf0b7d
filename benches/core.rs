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

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = header, handle_datagram, tick
}
criterion_main!(benches);
