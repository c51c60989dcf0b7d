//! Per-datagram cost of the Rust client against the C API over it (issue 16: "the C API
//! adds no measurable cost per datagram"): the same connected client, fed the same
//! one-part arena snapshot datagrams, once through `Client::handle_datagram` and once
//! through `tw_client_handle_datagram` (status, NULL checks, `catch_unwind`, the clock
//! mapping, the event copy). Plus one transmit each way (`poll_transmit`).
//!
//! `cargo bench -p tickwire-ffi --bench per_datagram`. Not run by the test suite.

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tickwire::client::{Client, ClientConfig};
use tickwire::internal::{Accept, Challenge, SnapshotPrefix};
use tickwire::wire::{flags, Header, HEADER_LEN, MAX_DATAGRAM};
use tickwire_ffi::*;

fn dgram(buf: &mut [u8], f: u8, seq: u32, kind: u8, payload: &[u8]) -> usize {
    Header {
        flags: f,
        seq,
        ack: 0,
        qport: 9,
        kind,
        len: payload.len() as u16,
    }
    .emit(buf)
    .unwrap();
    buf[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
    HEADER_LEN + payload.len()
}

/// CHALLENGE and ACCEPT (S0 = 1000) for any client.
fn handshake() -> (Vec<u8>, Vec<u8>) {
    let mut b = [0u8; 64];
    let mut p = [0u8; 16];
    Challenge { cookie: 5 }.emit(&mut p).unwrap();
    let n = dgram(&mut b, flags::CONNECT, 0, 2, &p[..8]);
    let ch = b[..n].to_vec();
    Accept {
        tick_hz: 60,
        max_payload: 1187,
        tick: 0,
        time_us: 0,
    }
    .emit(&mut p)
    .unwrap();
    let n = dgram(&mut b, 0xB0, 1000, 3, &p);
    (ch, b[..n].to_vec())
}

/// A snapshot datagram for `tick` (seq 1000 + tick) with 16 arena players.
fn snapshot(buf: &mut [u8], tick: u32) -> usize {
    let mut body = [0u8; 14 + 1 + 16 * 8];
    SnapshotPrefix {
        tick,
        time_us: u64::from(tick) * 16_667,
        part: 0,
        parts: 1,
    }
    .emit(&mut body)
    .unwrap();
    body[14] = 16;
    dgram(buf, 0x30, 1000u32.wrapping_add(tick), 6, &body)
}

fn bench(c: &mut Criterion) {
    let (ch, acc) = handshake();
    let mut out = [0u8; MAX_DATAGRAM];
    let mut inb = [0u8; MAX_DATAGRAM];

    let t0 = Instant::now();
    let mut rust = Client::new(ClientConfig::default(), t0);
    rust.poll_transmit(t0, &mut out);
    rust.handle_datagram(t0, &ch);
    rust.poll_transmit(t0, &mut out);
    rust.handle_datagram(t0, &acc);
    assert!(rust.state().is_connected());
    let mut tick = 1u32;
    c.bench_function("rust client handle_datagram (snapshot)", |b| {
        b.iter(|| {
            let n = snapshot(&mut inb, tick);
            let now = t0 + Duration::from_micros(u64::from(tick) * 16_667);
            tick = tick.wrapping_add(1);
            black_box(rust.handle_datagram(now, &inb[..n]))
        })
    });

    let mut cc: *mut TwClient = std::ptr::null_mut();
    let mut ev = TwEvent {
        kind: 0,
        qport: 0,
        game_kind: 0,
        reason: 0,
        tick_hz: 0,
        tick: 0,
        time_us: 0,
    };
    let mut len = 0usize;
    unsafe {
        assert_eq!(tw_client_new(std::ptr::null(), 0, &mut cc), TwStatus::Ok);
        tw_client_poll_transmit(cc, 0, out.as_mut_ptr(), out.len(), &mut len);
        tw_client_handle_datagram(cc, 0, ch.as_ptr(), ch.len(), &mut ev);
        tw_client_poll_transmit(cc, 0, out.as_mut_ptr(), out.len(), &mut len);
        tw_client_handle_datagram(cc, 0, acc.as_ptr(), acc.len(), &mut ev);
        assert_eq!(ev.kind, TwEventKind::Connected as u32);
    }
    let mut tick = 1u32;
    c.bench_function("C API tw_client_handle_datagram (snapshot)", |b| {
        b.iter(|| {
            let n = snapshot(&mut inb, tick);
            let now = u64::from(tick) * 16_667;
            tick = tick.wrapping_add(1);
            unsafe { tw_client_handle_datagram(cc, now, inb.as_ptr(), n, &mut ev) };
            black_box(ev.kind)
        })
    });

    let mut k = 0u64;
    c.bench_function("rust client send_game + poll_transmit", |b| {
        b.iter(|| {
            k += 1;
            let now = t0 + Duration::from_micros(k);
            let _ = rust.send_game(0x10, &[1, 0]);
            black_box(rust.poll_transmit(now, &mut out))
        })
    });
    let mut k = 0u64;
    c.bench_function(
        "C API tw_client_send_input + tw_client_poll_transmit",
        |b| {
            b.iter(|| {
                k += 1;
                unsafe {
                    tw_client_send_input(cc, 1, 0);
                    tw_client_poll_transmit(cc, k, out.as_mut_ptr(), out.len(), &mut len);
                }
                black_box(len)
            })
        },
    );
    unsafe { tw_client_free(cc) };
}

criterion_group!(benches, bench);
criterion_main!(benches);
