//! The C API called from Rust: NULL handling, errors, the sans-IO and socket-owning
//! clients against an arena host on 127.0.0.1 (plain and secure), a C game from Rust
//! callbacks, and the interpolation buffer through the C frame.

use std::ffi::{c_char, c_void, CStr};
use std::ptr::{null, null_mut};
use std::time::Duration;

use tickwire::secure::{Key, Secure};
use tickwire::{Arena, Config, Host, HostConfig};
use tickwire_ffi::*;

fn arena(key: Option<[u8; 32]>) -> (String, tickwire::Stopper, std::thread::JoinHandle<()>) {
    let cfg = HostConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        stats_interval: None,
        server: Config {
            secure: key.map(|k| Secure::new(Key::from_bytes(k), 0)),
            ..Config::default()
        },
        ..HostConfig::default()
    };
    let mut host = Host::bind(cfg, |i| Arena::new(i as u64)).expect("bind");
    let addr = format!("{}\0", host.udp_addrs()[0]);
    let stop = host.stopper();
    let t = std::thread::spawn(move || host.run().expect("host runs"));
    (addr, stop, t)
}

fn event() -> TwEvent {
    TwEvent {
        kind: 0,
        qport: 0,
        game_kind: 0,
        reason: 0,
        tick_hz: 0,
        tick: 0,
        time_us: 0,
    }
}

#[test]
fn null_pointers_are_errors_not_crashes() {
    unsafe {
        let mut e = event();
        assert_eq!(tw_client_new(null(), 0, null_mut()), TwStatus::ErrNull);
        assert_eq!(
            tw_client_handle_datagram(null_mut(), 0, null(), 0, &mut e),
            TwStatus::ErrNull
        );
        assert_eq!(
            tw_client_handle_timeout(null_mut(), 0, null_mut()),
            TwStatus::ErrNull
        );
        assert_eq!(tw_client_poll_timeout(null()), 0);
        assert_eq!(tw_client_send_input(null_mut(), 1, 0), TwStatus::ErrNull);
        assert_eq!(tw_client_stats(null(), null_mut()), TwStatus::ErrNull);
        assert_eq!(tw_conn_poll(null_mut(), 0, &mut e), TwStatus::ErrNull);
        assert!(tw_conn_client(null_mut()).is_null());
        assert_eq!(tw_host_run(null()), TwStatus::ErrNull);
        assert_eq!(tw_host_stop(null()), TwStatus::ErrNull);
        assert_eq!(
            tw_snapshot_writer_entity(null_mut(), null(), 0),
            TwStatus::ErrNull
        );
        assert_eq!(
            tw_context_send(null_mut(), 1, 0x20, null(), 0),
            TwStatus::ErrNull
        );
        tw_client_free(null_mut());
        tw_conn_free(null_mut());
        tw_host_free(null_mut());
        let mut c = null_mut();
        assert_eq!(tw_client_new(null(), 0, &mut c), TwStatus::Ok);
        // A NULL data pointer with a length.
        assert_eq!(
            tw_client_handle_datagram(c, 0, null(), 5, &mut e),
            TwStatus::ErrNull
        );
        // Junk is dropped and counted, never an error.
        let junk = [0xFFu8; 40];
        assert_eq!(
            tw_client_handle_datagram(c, 0, junk.as_ptr(), junk.len(), &mut e),
            TwStatus::Ok
        );
        assert_eq!(e.kind, TwEventKind::None as u32);
        assert_eq!(tw_client_send_input(c, 1, 0), TwStatus::ErrNotConnected);
        assert_eq!(
            tw_client_snapshot(c, null_mut(), null_mut(), null_mut()),
            TwStatus::ErrNone
        );
        let mut f = TwFrame::default();
        assert_eq!(tw_client_interpolate(c, 0, &mut f), TwStatus::ErrNone);
        // A buffer smaller than TW_MAX_DATAGRAM is refused; the first HELLO stays due.
        let mut small = [0u8; 8];
        let mut n = 99;
        assert_eq!(
            tw_client_poll_transmit(c, 0, small.as_mut_ptr(), small.len(), &mut n),
            TwStatus::ErrBufferTooSmall
        );
        let mut out = [0u8; TW_MAX_DATAGRAM];
        assert_eq!(
            tw_client_poll_transmit(c, 0, out.as_mut_ptr(), out.len(), &mut n),
            TwStatus::Ok
        );
        assert!(n > 13);
        let mut st = TwClientStats::default();
        assert_eq!(tw_client_stats(c, &mut st), TwStatus::Ok);
        assert_eq!((st.datagrams_in, st.dropped, st.datagrams_out), (1, 1, 1));
        tw_client_free(c);
        // Bad tokens and addresses.
        let short = [0u8; 10];
        assert_eq!(
            tw_client_new_secure(null(), short.as_ptr(), short.len(), 0, &mut c),
            TwStatus::ErrInvalid
        );
        assert!(c.is_null());
        let mut conn = null_mut();
        assert_eq!(
            tw_conn_connect(c"not an address".as_ptr(), null(), 100, &mut conn),
            TwStatus::ErrInvalid
        );
        let m = CStr::from_ptr(tw_status_message(TwStatus::ErrInvalid as i32));
        assert_eq!(m.to_str().unwrap(), "invalid argument");
        assert_eq!(tw_client_config_default(null_mut()), TwStatus::ErrNull);
    }
}

/// Connects over a real socket, walks, renders through the buffer; `key` for secure mode.
fn walk(key: Option<[u8; 32]>) {
    let (addr, stop, t) = arena(key);
    unsafe {
        let mut cfg: TwClientConfig = std::mem::zeroed();
        tw_client_config_default(&mut cfg);
        cfg.interp = 1;
        let mut conn = null_mut();
        let s = match key {
            None => tw_conn_connect(addr.as_ptr().cast(), &cfg, 3000, &mut conn),
            Some(k) => {
                let mut token = [0u8; TW_TOKEN_LEN];
                assert_eq!(
                    tw_token_mint(
                        k.as_ptr(),
                        0,
                        1,
                        0,
                        c"api".as_ptr(),
                        tw_unix_now(),
                        token.as_mut_ptr()
                    ),
                    TwStatus::Ok
                );
                tw_conn_connect_secure(
                    addr.as_ptr().cast(),
                    &cfg,
                    token.as_ptr(),
                    token.len(),
                    3000,
                    &mut conn,
                )
            }
        };
        assert_eq!(s, TwStatus::Ok);
        let c = tw_conn_client(conn);
        let mut qport = 0;
        let mut state = 0;
        tw_client_state(c, &mut state, &mut qport);
        assert_eq!(state, TwStateKind::Connected as u32);
        let (mut snaps, mut frames, mut blended) = (0, 0, 0);
        let end = tw_now_us() + 1_000_000;
        while tw_now_us() < end {
            assert_eq!(tw_conn_send_input(conn, 1, 1), TwStatus::Ok);
            let mut e = event();
            assert_eq!(tw_conn_poll(conn, 16, &mut e), TwStatus::Ok);
            if e.kind == TwEventKind::Snapshot as u32 {
                snaps += 1;
                let (mut data, mut len) = (null(), 0usize);
                assert_eq!(
                    tw_client_snapshot_part(c, 0, &mut data, &mut len),
                    TwStatus::Ok
                );
                let mut p = TwArenaPlayer::default();
                assert_eq!(tw_arena_player(data, len, 0, &mut p), TwStatus::Ok);
            }
            let mut f = TwFrame::default();
            if tw_client_interpolate(c, tw_now_us(), &mut f) == TwStatus::Ok {
                frames += 1;
                assert!((0.0..=1.0).contains(&f.alpha));
                if f.has_to == 1 {
                    blended += 1;
                    let (mut data, mut len) = (null(), 0usize);
                    assert_eq!(
                        tw_client_buffered_part(c, f.to_tick, 0, &mut data, &mut len),
                        TwStatus::Ok
                    );
                    assert!(len >= 1);
                }
            }
        }
        let mut st = TwClientStats::default();
        tw_client_stats(c, &mut st);
        eprintln!("snapshots {snaps} frames {frames} blended {blended} {st:?}");
        assert!(snaps > 30, "{snaps}");
        assert!(st.interp_usable > 30 && st.interp_ticks_spanned >= st.interp_usable);
        // Over loopback the delay is about a tick and a margin: both ends are there.
        assert!(st.interp_delay_us >= 16_000, "{st:?}");
        assert!(blended * 10 >= frames * 8, "{blended} of {frames}");
        tw_conn_free(conn);
    }
    stop.stop();
    t.join().unwrap();
}

#[test]
fn socket_client_walks_and_interpolates() {
    walk(None);
}

#[test]
fn secure_socket_client_walks_and_interpolates() {
    walk(Some([7; 32]));
}

/// A game from Rust callbacks, through the C table, on the host's own thread.
#[derive(Default)]
struct Counts {
    connects: u32,
    inputs: u32,
    steps: u32,
}

unsafe extern "C" fn on_connect(user: *mut c_void, _p: u8, _n: *const c_char) {
    unsafe { (*user.cast::<Counts>()).connects += 1 };
}
unsafe extern "C" fn on_input(
    user: *mut c_void,
    cx: *mut TwContext,
    player: u8,
    _k: u8,
    d: *const u8,
    len: usize,
) {
    unsafe {
        (*user.cast::<Counts>()).inputs += 1;
        // Echo it back to the player alone.
        let _ = tw_context_send(cx, player, 0x30, d, len);
        assert!(tw_context_now_us(cx) > 0);
    }
}
unsafe extern "C" fn on_step(user: *mut c_void, _t: u32) {
    unsafe { (*user.cast::<Counts>()).steps += 1 };
}
unsafe extern "C" fn on_snapshot(_user: *mut c_void, w: *mut TwSnapshotWriter) {
    let e = [1u8, 2, 3];
    unsafe {
        let _ = tw_snapshot_writer_entity(w, e.as_ptr(), e.len());
        // Larger than a part: refused, not a crash.
        let big = [0u8; 2000];
        assert_eq!(
            tw_snapshot_writer_entity(w, big.as_ptr(), big.len()),
            TwStatus::ErrTooLarge
        );
    }
}

#[test]
fn host_with_a_callback_game_and_a_sans_io_client() {
    let mut counts = Box::new(Counts::default());
    let game = TwGame {
        user: (&mut *counts as *mut Counts).cast(),
        knows_kind: None,
        check_input: None,
        connect: Some(on_connect),
        disconnect: None,
        input: Some(on_input),
        step: Some(on_step),
        snapshot: Some(on_snapshot),
    };
    unsafe {
        let mut hc: TwHostConfig = std::mem::zeroed();
        tw_host_config_default(&mut hc);
        hc.bind = c"127.0.0.1:0".as_ptr();
        let mut h = null_mut();
        assert_eq!(tw_host_new(&hc, &game, &mut h), TwStatus::Ok);
        let port = tw_host_port(h);
        assert!(port > 0);
        assert_eq!(tw_host_spawn(h), TwStatus::Ok);
        assert_eq!(tw_host_run(h), TwStatus::ErrBusy);
        // A sans-IO client driven by hand over a std socket.
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.connect(("127.0.0.1", port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let mut c = null_mut();
        assert_eq!(tw_client_new(null(), tw_now_us(), &mut c), TwStatus::Ok);
        let mut out = [0u8; TW_MAX_DATAGRAM];
        let mut inb = [0u8; 2048];
        let (mut connected, mut echoed, mut snapshot) = (false, false, false);
        let end = tw_now_us() + 5_000_000;
        while tw_now_us() < end && !(echoed && snapshot) {
            let mut n = 0;
            while tw_client_poll_transmit(c, tw_now_us(), out.as_mut_ptr(), out.len(), &mut n)
                == TwStatus::Ok
                && n > 0
            {
                sock.send(&out[..n]).unwrap();
            }
            let mut e = event();
            match sock.recv(&mut inb) {
                Ok(n) => {
                    tw_client_handle_datagram(c, tw_now_us(), inb.as_ptr(), n, &mut e);
                }
                Err(_) => {
                    tw_client_handle_timeout(c, tw_now_us(), &mut e);
                }
            }
            if e.kind == TwEventKind::Connected as u32 {
                connected = true;
                assert_eq!(
                    tw_client_send_game(c, 0x20, [9u8].as_ptr(), 1),
                    TwStatus::Ok
                );
                assert_eq!(
                    tw_client_send_game(c, 0x01, [9u8].as_ptr(), 1),
                    TwStatus::ErrNotGameKind
                );
            }
            if e.kind == TwEventKind::Game as u32 && e.game_kind == 0x30 {
                let (mut d, mut len) = (null(), 0usize);
                tw_client_game_payload(c, &mut d, &mut len);
                echoed = std::slice::from_raw_parts(d, len) == [9];
            }
            if e.kind == TwEventKind::Snapshot as u32 {
                let (mut d, mut len) = (null(), 0usize);
                tw_client_snapshot_part(c, 0, &mut d, &mut len);
                snapshot = std::slice::from_raw_parts(d, len) == [1, 1, 2, 3];
            }
        }
        assert!(
            connected && echoed && snapshot,
            "{connected} {echoed} {snapshot}"
        );
        tw_client_free(c);
        assert_eq!(tw_host_stop(h), TwStatus::Ok);
        assert_eq!(tw_host_clients(h), 0);
        tw_host_free(h);
    }
    assert_eq!((counts.connects, counts.inputs), (1, 1));
    assert!(counts.steps > 0);
}

#[test]
fn secure_host_from_c_admits_a_token_client_and_bad_configs_are_refused() {
    let key = [0x42u8; TW_KEY_LEN];
    let mut counts = Box::new(Counts::default());
    let game = TwGame {
        user: (&mut *counts as *mut Counts).cast(),
        knows_kind: None,
        check_input: None,
        connect: Some(on_connect),
        disconnect: None,
        input: Some(on_input),
        step: Some(on_step),
        snapshot: Some(on_snapshot),
    };
    unsafe {
        let mut hc: TwHostConfig = std::mem::zeroed();
        tw_host_config_default(&mut hc);
        let mut h = null_mut();
        hc.bind = c"not an address".as_ptr();
        assert_eq!(tw_host_new(&hc, &game, &mut h), TwStatus::ErrInvalid);
        hc.bind = c"127.0.0.1:0".as_ptr();
        hc.tick_hz = 0;
        assert_eq!(tw_host_new(&hc, &game, &mut h), TwStatus::ErrInvalid);
        assert!(h.is_null());
        assert_eq!(tw_host_new(&hc, null(), &mut h), TwStatus::ErrNull);
        tw_host_config_default(&mut hc);
        hc.bind = c"127.0.0.1:0".as_ptr();
        hc.secure_key = key.as_ptr();
        assert_eq!(tw_host_new(&hc, &game, &mut h), TwStatus::Ok);
        assert_eq!(tw_host_spawn(h), TwStatus::Ok);
        let addr = format!("127.0.0.1:{}\0", tw_host_port(h));
        // A plain client gets no answer from a secure host.
        let mut cfg: TwClientConfig = std::mem::zeroed();
        tw_client_config_default(&mut cfg);
        let mut conn = null_mut();
        assert_eq!(
            tw_conn_connect(addr.as_ptr().cast(), &cfg, 300, &mut conn),
            TwStatus::ErrTimedOut
        );
        assert!(conn.is_null());
        let mut token = [0u8; TW_TOKEN_LEN];
        let now = tw_unix_now();
        assert_eq!(
            tw_token_mint(key.as_ptr(), 0, 9, 0, null(), now, token.as_mut_ptr()),
            TwStatus::Ok
        );
        let s = tw_conn_connect_secure(
            addr.as_ptr().cast(),
            &cfg,
            token.as_ptr(),
            token.len(),
            3000,
            &mut conn,
        );
        assert_eq!(s, TwStatus::Ok);
        // The callback game's snapshot, opened under the match key.
        let c = tw_conn_client(conn);
        let mut seen = false;
        let end = tw_now_us() + 3_000_000;
        while !seen && tw_now_us() < end {
            let mut e = event();
            assert_eq!(tw_conn_poll(conn, 20, &mut e), TwStatus::Ok);
            if e.kind == TwEventKind::Snapshot as u32 {
                let (mut d, mut len) = (null(), 0usize);
                tw_client_snapshot_part(c, 0, &mut d, &mut len);
                seen = std::slice::from_raw_parts(d, len) == [1, 1, 2, 3];
            }
        }
        assert!(seen);
        // The same token again, from another socket: refused (no answer).
        let mut again = null_mut();
        assert_eq!(
            tw_conn_connect_secure(
                addr.as_ptr().cast(),
                &cfg,
                token.as_ptr(),
                token.len(),
                300,
                &mut again
            ),
            TwStatus::ErrTimedOut
        );
        tw_conn_free(conn);
        tw_host_free(h);
    }
    assert_eq!(counts.connects, 1);
}
