//! The client allocates nothing per datagram: after `Client::new` and the handshake,
//! receiving snapshots (one and two parts), game datagrams and junk, sending inputs and
//! keepalives, and reading stats and snapshot parts never touch the allocator; nor, with
//! an interpolation buffer (plain and secure), do late snapshots and `interpolate`.
//!
//! A counting global allocator, counting this thread only (each thread has its own count), so
//! parallel tests do not interfere.

#[path = "common/counting.rs"]
mod counting;

use std::time::{Duration, Instant};
use tickwire::client::{arena, Client, ClientConfig, Event};
use tickwire::internal::{Accept, Challenge, SnapshotPrefix};
use tickwire::wire::{flags, Header, HEADER_LEN, MAX_DATAGRAM};

#[global_allocator]
static A: counting::Counting = counting::Counting;

/// Writes a server datagram into `buf` and returns its length.
fn dgram(buf: &mut [u8], f: u8, seq: u32, ack: u32, kind: u8, payload: &[u8]) -> usize {
    Header {
        flags: f,
        seq,
        ack,
        qport: 9,
        kind,
        len: payload.len() as u16,
    }
    .emit(buf)
    .unwrap();
    buf[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
    HEADER_LEN + payload.len()
}

#[test]
fn no_allocation_per_datagram() {
    let t0 = Instant::now();
    let mut c = Client::new(ClientConfig::default(), t0);
    let mut out = [0u8; MAX_DATAGRAM];
    let mut inb = [0u8; MAX_DATAGRAM];
    c.poll_transmit(t0, &mut out).unwrap();
    let mut p = [0u8; 16];
    Challenge { cookie: 5 }.emit(&mut p).unwrap();
    let n = dgram(&mut inb, flags::CONNECT, 0, 0, 2, &p[..8]);
    c.handle_datagram(t0, &inb[..n]);
    c.poll_transmit(t0, &mut out).unwrap();
    Accept {
        tick_hz: 60,
        max_payload: 1187,
        tick: 0,
        time_us: 0,
    }
    .emit(&mut p)
    .unwrap();
    let s0 = u32::MAX - 500;
    let n = dgram(&mut inb, 0xB0, s0, 1, 3, &p);
    assert!(matches!(
        c.handle_datagram(t0, &inb[..n]),
        Some(Event::Connected { .. })
    ));

    let window = counting::Window::open();
    let mut seq = s0;
    let mut snap = [0u8; 14 + 1000];
    let mut events = 0;
    let mut ack = s0;
    for i in 0..1000u32 {
        let now = t0 + Duration::from_millis(u64::from(i) * 16);
        let parts = if i % 2 == 0 { 1 } else { 2 };
        for part in (0..parts).rev() {
            SnapshotPrefix {
                tick: i,
                time_us: u64::from(i),
                part,
                parts,
            }
            .emit(&mut snap)
            .unwrap();
            seq = seq.wrapping_add(1);
            let n = dgram(&mut inb, 0x30, seq, ack, 6, &snap);
            if c.handle_datagram(now, &inb[..n]).is_some() {
                events += 1;
            }
        }
        seq = seq.wrapping_add(1);
        let n = dgram(&mut inb, 0x30, seq, ack, 0x42, &[1, 2, 3]);
        assert!(c.handle_datagram(now, &inb[..n]).is_some());
        // junk and a replay
        c.handle_datagram(now, &inb[..n - 1]);
        c.handle_datagram(now, &inb[..n]);
        let (k, pl) = arena::input(1, 0);
        c.send_game(k, &pl).unwrap();
        while c.poll_transmit(now, &mut out).is_some() {}
        ack = c.next_seq().wrapping_sub(1);
        let _ = c.handle_timeout(now);
        let _ = c.poll_timeout();
        let _ = arena::players_in(c.snapshot_parts()).count();
        let _ = c.stats();
    }
    let allocs = window.close();
    assert_eq!(allocs, 0, "allocations in steady state");
    assert_eq!(events, 1000);
    assert_eq!(c.stats().snapshots, 1000);
    assert_eq!(c.stats().dropped_total(), 2000);
    assert_eq!(c.stats().rtt.samples, 999);
    assert!(c.state().is_connected());
}

/// The interpolation buffer allocates nothing either: snapshots in order and late ones
/// (every other tick arrives after the next), read back with `interpolate` every time.
#[test]
fn no_allocation_with_interpolation() {
    use tickwire::client::InterpConfig;
    let t0 = Instant::now();
    let mut c = Client::new(ClientConfig::default(), t0).with_interpolation(InterpConfig {
        fixed_delay: Some(Duration::from_millis(100)),
        ..InterpConfig::default()
    });
    let mut out = [0u8; MAX_DATAGRAM];
    let mut inb = [0u8; MAX_DATAGRAM];
    c.poll_transmit(t0, &mut out).unwrap();
    let mut p = [0u8; 16];
    Challenge { cookie: 5 }.emit(&mut p).unwrap();
    let n = dgram(&mut inb, flags::CONNECT, 0, 0, 2, &p[..8]);
    c.handle_datagram(t0, &inb[..n]);
    c.poll_transmit(t0, &mut out).unwrap();
    Accept {
        tick_hz: 60,
        max_payload: 1187,
        tick: 0,
        time_us: 0,
    }
    .emit(&mut p)
    .unwrap();
    let s0 = u32::MAX - 500;
    let n = dgram(&mut inb, 0xB0, s0, 1, 3, &p);
    c.handle_datagram(t0, &inb[..n]);
    assert!(c.state().is_connected());

    let window = counting::Window::open();
    let mut seq = s0;
    let mut snap = [0u8; 14 + 300];
    let mut blended = 0;
    for i in 0..1000u32 {
        let now = t0 + Duration::from_micros(u64::from(i) * 33_333);
        // Ticks 2i + 1 then 2i, on seqs n + 1 and n: the second one is late.
        for (tick, back) in [(2 * i + 1, 0), (2 * i, 1)] {
            SnapshotPrefix {
                tick,
                time_us: u64::from(tick) * 16_667,
                part: 0,
                parts: 1,
            }
            .emit(&mut snap)
            .unwrap();
            let n = dgram(&mut inb, 0x30, seq.wrapping_add(2 - back), s0, 6, &snap);
            c.handle_datagram(now, &inb[..n]);
        }
        seq = seq.wrapping_add(2);
        while c.poll_transmit(now, &mut out).is_some() {}
        if let Some(f) = c.interpolate(now) {
            let _ = f.from.parts().count();
            if f.to.is_some() {
                blended += 1;
            }
        }
        let _ = c.interp_stats();
        let _ = c.buffered_ticks().count();
        let _ = arena::players_in(c.snapshot_parts()).count();
    }
    let allocs = window.close();
    assert_eq!(allocs, 0, "allocations in steady state");
    let s = c.interp_stats().unwrap();
    assert_eq!(s.late_kept, 1000);
    assert_eq!(s.complete, 2000);
    assert_eq!((s.ticks_spanned, s.usable, s.too_late), (2000, 2000, 0));
    // The newest-only path saw every other tick (the late ones are dropped there).
    assert_eq!(c.stats().snapshots, 1000);
    assert_eq!(c.stats().late, 1000);
    assert!(blended > 990, "{blended}");
}

/// Secure mode: snapshots sealed by a real secure server, every other one delivered after
/// the next (late), opened and kept by the interpolation buffer: no allocation on either
/// end in steady state.
#[test]
fn no_allocation_with_interpolation_in_secure_mode() {
    use std::net::SocketAddr;
    use tickwire::client::InterpConfig;
    use tickwire::secure::{Issuer, Key, Secure, UnixClock};
    use tickwire::{Arena, Config, Server};
    const N: usize = 4;
    let t0 = Instant::now();
    let fleet = Key::from_bytes([3; 32]);
    let mut server = Server::new(
        Config {
            seed: Some(1),
            secure: Some(Secure::new(fleet.clone(), 0).with_clock(UnixClock::fixed(t0, 1_000))),
            ..Config::default()
        },
        Arena::new(1),
        t0,
    );
    let issuer = Issuer::new(fleet, 0);
    let addrs: Vec<SocketAddr> = (0..N)
        .map(|i| SocketAddr::from(([10, 0, 0, i as u8 + 1], 5000)))
        .collect();
    let interp = InterpConfig {
        fixed_delay: Some(Duration::from_millis(100)),
        ..InterpConfig::default()
    };
    let mut clients: Vec<Client> = (0..N)
        .map(|i| {
            let t = issuer.mint(i as u64, 0, "", 1_000);
            Client::with_token(ClientConfig::default(), t, t0).with_interpolation(interp)
        })
        .collect();
    let mut held = vec![([0u8; MAX_DATAGRAM], 0usize); N];
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut now = t0;
    let mut round = |k: u32, now: &mut Instant, clients: &mut [Client]| {
        let mut frames = 0;
        for (j, c) in clients.iter_mut().enumerate() {
            if c.state().is_connected() {
                let (kind, pl) = arena::input(1, 0);
                let _ = c.send_game(kind, &pl);
            }
            while let Some(n) = c.poll_transmit(*now, &mut buf) {
                let _ = server.handle_datagram(*now, addrs[j], &buf[..n]);
            }
        }
        *now += Duration::from_nanos(16_666_667);
        server.handle_timeout(*now);
        let n = server.transmits().len();
        for i in 0..n {
            let t = server.transmits()[i];
            let len = server.write_transmit(&t, &mut buf).unwrap();
            let j = addrs.iter().position(|a| *a == t.dst).unwrap();
            let c = &mut clients[j];
            if buf[10] == 6 && c.state().is_connected() && k % 2 == 1 {
                // Held back: it arrives after the next tick's snapshot.
                held[j].0[..len].copy_from_slice(&buf[..len]);
                held[j].1 = len;
                continue;
            }
            c.handle_datagram(*now, &buf[..len]);
            if held[j].1 > 0 {
                let (h, hl) = &mut held[j];
                c.handle_datagram(*now, &h[..*hl]);
                *hl = 0;
            }
        }
        server.sent(n);
        for c in clients.iter_mut() {
            if c.interpolate(*now).is_some_and(|f| f.to.is_some()) {
                frames += 1;
            }
        }
        frames
    };
    for k in 0..20 {
        round(k, &mut now, &mut clients);
    }
    assert!(clients.iter().all(|c| c.state().is_connected()));
    let window = counting::Window::open();
    let mut frames = 0;
    for k in 20..120 {
        frames += round(k, &mut now, &mut clients);
    }
    let allocs = window.close();
    assert_eq!(allocs, 0, "allocations in steady state, secure mode");
    assert!(frames > 90 * N, "{frames}");
    for c in &clients {
        let s = c.interp_stats().unwrap();
        assert!(s.late_kept >= 45, "{s:?}");
        assert_eq!(s.too_late, 0);
        assert_eq!(c.stats().drops.get(tickwire::wire::DropReason::BadAuth), 0);
    }
}
