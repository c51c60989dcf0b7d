//! The C API's hot path allocates nothing: after `tw_client_new` and the handshake,
//! datagrams in (in order, late, junk), transmits, timeouts, interpolation frames, stats
//! and snapshot reads through the C functions never touch the allocator (the counting
//! allocator of the library's tests).

#[path = "../../tests/common/counting.rs"]
mod counting;

use std::ptr::{null, null_mut};

use tickwire::internal::{Accept, Challenge, SnapshotPrefix};
use tickwire::wire::{flags, Header, HEADER_LEN};
use tickwire_ffi::*;

#[global_allocator]
static A: counting::Counting = counting::Counting;

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

#[test]
fn no_allocation_per_call_on_the_hot_path() {
    let mut out = [0u8; TW_MAX_DATAGRAM];
    let mut inb = [0u8; TW_MAX_DATAGRAM];
    let mut e = TwEvent {
        kind: 0,
        qport: 0,
        game_kind: 0,
        reason: 0,
        tick_hz: 0,
        tick: 0,
        time_us: 0,
    };
    let mut len = 0usize;
    let mut c = null_mut();
    unsafe {
        let mut cfg: TwClientConfig = std::mem::zeroed();
        tw_client_config_default(&mut cfg);
        cfg.interp = 1;
        cfg.interp_fixed_delay_us = 100_000;
        assert_eq!(tw_client_new(&cfg, 0, &mut c), TwStatus::Ok);
        tw_client_poll_transmit(c, 0, out.as_mut_ptr(), out.len(), &mut len);
        let mut p = [0u8; 16];
        Challenge { cookie: 5 }.emit(&mut p).unwrap();
        let n = dgram(&mut inb, flags::CONNECT, 0, 2, &p[..8]);
        tw_client_handle_datagram(c, 0, inb.as_ptr(), n, &mut e);
        tw_client_poll_transmit(c, 0, out.as_mut_ptr(), out.len(), &mut len);
        Accept {
            tick_hz: 60,
            max_payload: 1187,
            tick: 0,
            time_us: 0,
        }
        .emit(&mut p)
        .unwrap();
        let n = dgram(&mut inb, 0xB0, 1000, 3, &p);
        tw_client_handle_datagram(c, 0, inb.as_ptr(), n, &mut e);
        assert_eq!(e.kind, TwEventKind::Connected as u32);
    }

    let window = counting::Window::open();
    let mut seq = 1000u32;
    let mut snap = [0u8; 14 + 1 + 8];
    let (mut events, mut frames) = (0, 0);
    for i in 0..500u32 {
        let now = u64::from(i) * 33_333;
        // Ticks 2i + 1 then 2i on seqs n + 2 and n + 1: the second one is late.
        for (tick, back) in [(2 * i + 1, 0u32), (2 * i, 1)] {
            SnapshotPrefix {
                tick,
                time_us: u64::from(tick) * 16_667,
                part: 0,
                parts: 1,
            }
            .emit(&mut snap)
            .unwrap();
            snap[14] = 1;
            snap[15] = 9;
            let n = dgram(&mut inb, 0x30, seq + 2 - back, 6, &snap);
            unsafe { tw_client_handle_datagram(c, now, inb.as_ptr(), n, &mut e) };
            if e.kind == TwEventKind::Snapshot as u32 {
                events += 1;
            }
        }
        seq += 2;
        unsafe {
            tw_client_handle_datagram(c, now, inb.as_ptr(), 7, &mut e);
            tw_client_send_input(c, 1, 0);
            while tw_client_poll_transmit(c, now, out.as_mut_ptr(), out.len(), &mut len)
                == TwStatus::Ok
                && len > 0
            {}
            tw_client_handle_timeout(c, now, &mut e);
            let _ = tw_client_poll_timeout(c);
            let mut f = TwFrame::default();
            if tw_client_interpolate(c, now, &mut f) == TwStatus::Ok {
                frames += 1;
                let (mut d, mut l) = (null(), 0usize);
                tw_client_buffered_part(c, f.from_tick, 0, &mut d, &mut l);
                let mut pl = TwArenaPlayer::default();
                tw_arena_player(d, l, 0, &mut pl);
            }
            let (mut d, mut l) = (null(), 0usize);
            tw_client_snapshot_part(c, 0, &mut d, &mut l);
            let mut st = TwClientStats::default();
            tw_client_stats(c, &mut st);
            let _ = tw_status_message(3);
        }
    }
    let allocs = window.close();
    assert_eq!(allocs, 0, "allocations in steady state");
    assert_eq!(events, 500);
    assert!(frames > 490);
    let mut st = TwClientStats::default();
    unsafe {
        tw_client_stats(c, &mut st);
        tw_client_free(c);
    }
    assert_eq!(st.interp_late_kept, 500);
    assert_eq!(st.interp_usable, 1000);
}

/// The socket-owning client too: polling, sending inputs and interpolating against a real
/// arena host on 127.0.0.1 allocate nothing on the caller's thread (the host's thread is
/// not counted: each thread has its own count).
#[test]
fn socket_client_polls_without_allocating() {
    use tickwire::{Arena, Host, HostConfig};
    let cfg = HostConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        stats_interval: None,
        ..HostConfig::default()
    };
    let mut host = Host::bind(cfg, |i| Arena::new(i as u64)).expect("bind");
    let addr = format!("{}\0", host.udp_addrs()[0]);
    let stop = host.stopper();
    let t = std::thread::spawn(move || host.run().expect("host runs"));
    let mut conn = null_mut();
    let mut e = TwEvent {
        kind: 0,
        qport: 0,
        game_kind: 0,
        reason: 0,
        tick_hz: 0,
        tick: 0,
        time_us: 0,
    };
    unsafe {
        let mut cfg: TwClientConfig = std::mem::zeroed();
        tw_client_config_default(&mut cfg);
        cfg.interp = 1;
        assert_eq!(
            tw_conn_connect(addr.as_ptr().cast(), &cfg, 3000, &mut conn),
            TwStatus::Ok
        );
        let c = tw_conn_client(conn);
        let spin = |until: u64, e: &mut TwEvent| {
            let mut snaps = 0;
            while tw_now_us() < until {
                tw_conn_send_input(conn, 1, 0);
                tw_conn_poll(conn, 10, e);
                if e.kind == TwEventKind::Snapshot as u32 {
                    snaps += 1;
                }
                let mut f = TwFrame::default();
                tw_client_interpolate(c, tw_now_us(), &mut f);
                let mut st = TwClientStats::default();
                tw_client_stats(c, &mut st);
            }
            snaps
        };
        spin(tw_now_us() + 300_000, &mut e);
        let window = counting::Window::open();
        let snaps = spin(tw_now_us() + 700_000, &mut e);
        let allocs = window.close();
        assert_eq!(allocs, 0, "allocations while polling");
        assert!(snaps > 20, "{snaps}");
        tw_conn_free(conn);
    }
    stop.stop();
    t.join().unwrap();
}
