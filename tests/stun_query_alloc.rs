//! `Stun::handle`, `Stun::handle_classic` and `Query::handle` allocate nothing per
//! request, counted exactly by a global allocator that counts the allocations of the
//! threads that ask for it.

#[path = "common/counting.rs"]
mod counting;

use counting::counted;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tickwire::internal::{binding_request, parse_binding_response, Stun};
use tickwire::internal::{Query, QueryOut, QueryState};

#[global_allocator]
static A: counting::Counting = counting::Counting;

struct Many(Vec<String>);

impl QueryState for Many {
    fn server_name(&self) -> &str {
        "alloc test"
    }
    fn map(&self) -> &str {
        "arena"
    }
    fn folder(&self) -> &str {
        "tickwire"
    }
    fn game(&self) -> &str {
        "Tickwire Arena"
    }
    fn players(&self) -> u8 {
        255
    }
    fn max_players(&self) -> u8 {
        255
    }
    fn for_each_player(&self, f: &mut dyn FnMut(&str, i32, f32)) {
        for (i, n) in self.0.iter().enumerate() {
            f(n, i as i32, 1.0);
        }
    }
    fn for_each_rule(&self, f: &mut dyn FnMut(&str, &str)) {
        for n in &self.0 {
            f(n, n);
        }
    }
}

#[test]
fn stun_and_query_allocate_nothing_per_request() {
    let t0 = Instant::now();
    let v4: SocketAddr = "192.0.2.1:40000".parse().unwrap();
    let v6: SocketAddr = "[2001:db8::1]:40000".parse().unwrap();
    let mut stun = Stun::new(1_000_000);
    let mut query = Query::new(1_000_000);
    let mut out = QueryOut::new();
    let state = Many((0..255).map(|i| format!("player_{i:09}")).collect());
    let mut buf = [0u8; 1200];
    let mut req = [0u8; 64];
    let n = binding_request([7; 12], &mut req);
    let stun_req = &req[..n];
    // An RFC 3489 request: no magic cookie, a 128-bit transaction id.
    let mut classic = [0u8; 20];
    classic[1] = 0x01;
    classic[4..].copy_from_slice(&[9; 16]);
    let info = b"\xFF\xFF\xFF\xFFTSource Engine Query\0";
    let ask = [0xFF, 0xFF, 0xFF, 0xFF, 0x55, 0xFF, 0xFF, 0xFF, 0xFF];

    // A challenge to use while counting.
    query.handle(t0, v4, &ask, &state, &mut out).unwrap();
    let c: [u8; 4] = out.packets().next().unwrap()[5..9].try_into().unwrap();
    let with_c = |kind: u8| {
        let mut r = vec![0xFF, 0xFF, 0xFF, 0xFF, kind];
        if kind == 0x54 {
            r.extend_from_slice(b"Source Engine Query\0");
        }
        r.extend_from_slice(&c);
        r
    };
    let (info_c, player_c, rules_c) = (with_c(0x54), with_c(0x55), with_c(0x56));

    let ((), allocs) = counted(|| {
        for i in 0..200u64 {
            let now = t0 + Duration::from_millis(i);
            for src in [v4, v6] {
                let m = stun.handle(now, src, stun_req, &mut buf).unwrap();
                assert_eq!(parse_binding_response(&buf[..m], &[7; 12]), Some(src));
                assert!(stun.handle(now, src, &buf[..m], &mut buf.clone()).is_err());
            }
            let _ = stun.handle(now, v4, &[0u8; 40], &mut buf);
            for (src, len) in [(v4, 32), (v6, 44)] {
                assert_eq!(stun.handle_classic(now, src, &classic, &mut buf), Ok(len));
            }
            let _ = stun.handle_classic(now, v4, &[0u8; 40], &mut buf);
            query.handle(now, v6, info, &state, &mut out).unwrap();
            for r in [&info_c, &player_c, &rules_c] {
                query.handle(now, v4, r, &state, &mut out).unwrap();
                assert!(out.packets().count() >= 1);
            }
            let _ = query.handle(now, v4, b"\xFF\xFF\xFF\xFFZ", &state, &mut out);
        }
    });
    assert_eq!(allocs, 0, "allocations while answering");
}
