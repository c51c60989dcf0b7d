//! Golden replies, the challenge flow, splitting and drops of the A2S responder.

use super::*;
use proptest::prelude::*;
use std::time::Duration;

struct Fake {
    players: Vec<(String, i32, f32)>,
    port: Option<u16>,
}

impl Fake {
    fn new(n: usize) -> Fake {
        Fake {
            players: (0..n)
                .map(|i| (format!("p{i}"), i as i32 * 10, 1.5))
                .collect(),
            port: Some(27015),
        }
    }
}

impl QueryState for Fake {
    fn server_name(&self) -> &str {
        "tick"
    }
    fn map(&self) -> &str {
        "arena"
    }
    fn folder(&self) -> &str {
        "tw"
    }
    fn game(&self) -> &str {
        "Tickwire"
    }
    fn players(&self) -> u8 {
        self.players.len().min(255) as u8
    }
    fn max_players(&self) -> u8 {
        255
    }
    fn for_each_player(&self, f: &mut dyn FnMut(&str, i32, f32)) {
        for (n, s, d) in &self.players {
            f(n, *s, *d);
        }
    }
    fn for_each_rule(&self, f: &mut dyn FnMut(&str, &str)) {
        f("tick_hz", "60");
        f("version", "0.1.0");
    }
    fn game_port(&self) -> Option<u16> {
        self.port
    }
}

const INFO: &[u8] = b"\xFF\xFF\xFF\xFFTSource Engine Query\0";
const PLAYER_ASK: [u8; 9] = [0xFF, 0xFF, 0xFF, 0xFF, 0x55, 0xFF, 0xFF, 0xFF, 0xFF];
const RULES_ASK: [u8; 9] = [0xFF, 0xFF, 0xFF, 0xFF, 0x56, 0xFF, 0xFF, 0xFF, 0xFF];

fn src() -> SocketAddr {
    "192.0.2.1:27005".parse().unwrap()
}

fn packets(out: &QueryOut) -> Vec<Vec<u8>> {
    out.packets().map(|p| p.to_vec()).collect()
}

/// Sends `req`, expects a challenge (checking its bytes) and returns it.
fn ask(q: &mut Query, now: Instant, from: SocketAddr, req: &[u8], out: &mut QueryOut) -> u32 {
    q.handle(now, from, req, &Fake::new(3), out).unwrap();
    let p = packets(out);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].len(), 9);
    assert!(p[0].len() <= req.len());
    assert_eq!(p[0][..5], [0xFF, 0xFF, 0xFF, 0xFF, 0x41]);
    let c = u32::from_le_bytes(p[0][5..9].try_into().unwrap());
    assert_eq!(c, q.challenge(now, from, 0));
    c
}

fn with(req: &[u8], c: u32) -> Vec<u8> {
    let mut v = req.to_vec();
    if v[4] != 0x54 {
        v.truncate(5);
    }
    v.extend_from_slice(&c.to_le_bytes());
    v
}

#[test]
fn golden_info() {
    let (mut q, mut out, now) = (Query::default(), QueryOut::new(), Instant::now());
    let c = ask(&mut q, now, src(), INFO, &mut out);
    let req = with(INFO, c);
    assert_eq!(req.len(), 29);
    q.handle(now, src(), &req, &Fake::new(3), &mut out).unwrap();
    let mut want: Vec<u8> = vec![0xFF, 0xFF, 0xFF, 0xFF, 0x49, 17];
    want.extend_from_slice(b"tick\0arena\0tw\0Tickwire\0");
    want.extend_from_slice(&[0, 0, 3, 255, 0, b'd', b'l', 0, 0]);
    want.extend_from_slice(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes());
    want.extend_from_slice(&[0x80, 0x87, 0x69]); // EDF: port 27015
    assert_eq!(packets(&out), [want]);
}

#[test]
fn golden_players() {
    let (mut q, mut out, now) = (Query::default(), QueryOut::new(), Instant::now());
    let c = ask(&mut q, now, src(), &PLAYER_ASK, &mut out);
    q.handle(now, src(), &with(&PLAYER_ASK, c), &Fake::new(2), &mut out)
        .unwrap();
    #[rustfmt::skip]
    let want = vec![
        0xFF, 0xFF, 0xFF, 0xFF, 0x44, 2,
        0, b'p', b'0', 0, 0, 0, 0, 0, 0x00, 0x00, 0xC0, 0x3F, // score 0, 1.5 s
        1, b'p', b'1', 0, 10, 0, 0, 0, 0x00, 0x00, 0xC0, 0x3F, // score 10, 1.5 s
    ];
    assert_eq!(packets(&out), [want]);
}

#[test]
fn golden_rules() {
    let (mut q, mut out, now) = (Query::default(), QueryOut::new(), Instant::now());
    let c = ask(&mut q, now, src(), &RULES_ASK, &mut out);
    q.handle(now, src(), &with(&RULES_ASK, c), &Fake::new(0), &mut out)
        .unwrap();
    let mut want: Vec<u8> = vec![0xFF, 0xFF, 0xFF, 0xFF, 0x45, 2, 0];
    want.extend_from_slice(b"tick_hz\x0060\0version\x000.1.0\0");
    assert_eq!(packets(&out), [want]);
}

#[test]
fn challenge_flow() {
    let (mut q, mut out, t0) = (Query::new(1000), QueryOut::new(), Instant::now());
    let state = Fake::new(1);
    let c = ask(&mut q, t0, src(), &PLAYER_ASK, &mut out);
    assert!(c != 0 && c != u32::MAX);
    // Challenge 0 (python-a2s's first try) also asks for one.
    assert_eq!(ask(&mut q, t0, src(), &with(&PLAYER_ASK, 0), &mut out), c);
    // A wrong one gets the right one.
    assert_eq!(
        ask(&mut q, t0, src(), &with(&PLAYER_ASK, c ^ 1), &mut out),
        c
    );
    // The same challenge works for every query type.
    for req in [with(INFO, c), with(&PLAYER_ASK, c), with(&RULES_ASK, c)] {
        q.handle(t0, src(), &req, &state, &mut out).unwrap();
        assert_ne!(out.packets().next().unwrap()[4], 0x41);
    }
    // Another port or address of the same host does not share it.
    let other: SocketAddr = "192.0.2.1:27006".parse().unwrap();
    assert_ne!(ask(&mut q, t0, other, &with(&PLAYER_ASK, c), &mut out), c);
    let other: SocketAddr = "192.0.2.2:27005".parse().unwrap();
    assert_ne!(ask(&mut q, t0, other, &with(&PLAYER_ASK, c), &mut out), c);
    // Valid for at least 5 seconds, at most 10.
    let t5 = t0 + Duration::from_millis(5999);
    q.handle(t5, src(), &with(&PLAYER_ASK, c), &state, &mut out)
        .unwrap();
    assert_eq!(out.packets().next().unwrap()[4], 0x44);
    let t10 = t0 + Duration::from_secs(10);
    assert_ne!(ask(&mut q, t10, src(), &with(&PLAYER_ASK, c), &mut out), c);
}

#[test]
fn unvalidated_answers_are_never_larger_than_the_query() {
    let (mut q, mut out, now) = (Query::new(1000), QueryOut::new(), Instant::now());
    let state = Fake::new(255);
    for req in [
        INFO.to_vec(),
        with(INFO, 7),
        PLAYER_ASK.to_vec(),
        RULES_ASK.to_vec(),
    ] {
        q.handle(now, src(), &req, &state, &mut out).unwrap();
        let sent: usize = out.packets().map(<[u8]>::len).sum();
        assert!(sent <= req.len(), "{sent} > {}", req.len());
    }
}

#[test]
fn split_reply_for_many_players() {
    let (mut q, mut out, now) = (Query::default(), QueryOut::new(), Instant::now());
    let state = Fake {
        players: (0..255)
            .map(|i| (format!("player_{i:09}"), i, 60.0))
            .collect(),
        port: None,
    };
    assert_eq!(state.players[0].0.len(), 16);
    let c = ask(&mut q, now, src(), &PLAYER_ASK, &mut out);
    q.handle(now, src(), &with(&PLAYER_ASK, c), &state, &mut out)
        .unwrap();
    let p = packets(&out);
    // 6 + 255 * (1 + 17 + 8) = 6636 bytes: 5 full packets of 1248 and one of 396.
    assert_eq!(p.len(), 6);
    let id = &p[0][4..8];
    let mut whole = Vec::new();
    for (i, pkt) in p.iter().enumerate() {
        assert!(pkt.len() <= SPLIT_HEADER + SPLIT_SIZE && pkt.len() <= MAX_SINGLE);
        assert_eq!(pkt[..4], [0xFE, 0xFF, 0xFF, 0xFF]);
        assert_eq!(&pkt[4..8], id);
        assert_eq!(u32::from_le_bytes(id.try_into().unwrap()) & 0x8000_8000, 0);
        assert_eq!(pkt[8], 6);
        assert_eq!(pkt[9], i as u8);
        assert_eq!(pkt[10..12], 1248u16.to_le_bytes());
        whole.extend_from_slice(&pkt[12..]);
    }
    assert_eq!(p[5].len(), 12 + 396);
    assert_eq!(whole.len(), 6636);
    assert_eq!(whole[..6], [0xFF, 0xFF, 0xFF, 0xFF, 0x44, 255]);
    // Walk the players back.
    let mut at = 6;
    for i in 0..255i32 {
        assert_eq!(whole[at], i as u8);
        let name = format!("player_{i:09}\0");
        assert_eq!(&whole[at + 1..at + 18], name.as_bytes());
        assert_eq!(whole[at + 18..at + 22], i.to_le_bytes());
        assert_eq!(whole[at + 22..at + 26], 60f32.to_le_bytes());
        at += 26;
    }
    // A second reply has another id.
    q.handle(now, src(), &with(&PLAYER_ASK, c), &state, &mut out)
        .unwrap();
    assert_ne!(&out.packets().next().unwrap()[4..8], id);
}

#[test]
fn oversized_state_is_cut_not_overflowed() {
    struct Huge;
    impl QueryState for Huge {
        fn server_name(&self) -> &str {
            "é".repeat(1000).leak()
        }
        fn map(&self) -> &str {
            "m\0ap"
        }
        fn folder(&self) -> &str {
            ""
        }
        fn game(&self) -> &str {
            ""
        }
        fn players(&self) -> u8 {
            0
        }
        fn max_players(&self) -> u8 {
            0
        }
        fn for_each_player(&self, f: &mut dyn FnMut(&str, i32, f32)) {
            let long = "x".repeat(10_000);
            for _ in 0..1000 {
                f(&long, 1, 1.0);
            }
        }
        fn for_each_rule(&self, f: &mut dyn FnMut(&str, &str)) {
            let long = "y".repeat(300);
            for _ in 0..100_000 {
                f(&long, &long);
            }
        }
    }
    let (mut q, mut out, now) = (Query::new(1000), QueryOut::new(), Instant::now());
    let c = ask(&mut q, now, src(), &PLAYER_ASK, &mut out);
    q.handle(now, src(), &with(INFO, c), &Huge, &mut out)
        .unwrap();
    let info = out.packets().next().unwrap().to_vec();
    // 254 bytes of "é" (127 of them), NUL, then the map with its NUL made a space.
    assert_eq!(info[6 + 254], 0);
    assert_eq!(&info[6 + 255..6 + 260], b"m ap\0");
    q.handle(now, src(), &with(&PLAYER_ASK, c), &Huge, &mut out)
        .unwrap();
    assert_eq!(out.len(), MAX_PACKETS);
    let whole: Vec<u8> = out.packets().flat_map(|p| p[12..].to_vec()).collect();
    // 255 players of 1 + 256 + 8 bytes do not fit: as many as fit are counted.
    assert_eq!(usize::from(whole[5]), (MAX_MESSAGE - 6) / 265);
    q.handle(now, src(), &with(&RULES_ASK, c), &Huge, &mut out)
        .unwrap();
    let whole: Vec<u8> = out.packets().flat_map(|p| p[12..].to_vec()).collect();
    let n = u16::from_le_bytes([whole[5], whole[6]]) as usize;
    assert_eq!(n, (MAX_MESSAGE - 7) / 512);
}

#[test]
fn drop_malformed() {
    let (mut q, mut out, now) = (Query::new(1000), QueryOut::new(), Instant::now());
    let state = Fake::new(1);
    let bad: [&[u8]; 12] = [
        b"",
        b"\xFF\xFF\xFF",
        b"\xFF\xFF\xFF\xFF",
        b"\xFE\xFF\xFF\xFFU\xFF\xFF\xFF\xFF",
        b"\xFF\xFF\xFF\xFFW\xFF\xFF\xFF\xFF", // A2S_SERVERQUERY_GETCHALLENGE
        b"\xFF\xFF\xFF\xFFi",                 // A2A_PING
        b"\xFF\xFF\xFF\xFFU\xFF\xFF\xFF",     // challenge too short
        b"\xFF\xFF\xFF\xFFV\xFF\xFF\xFF\xFF\x00", // trailing byte
        b"\xFF\xFF\xFF\xFFTSource Engine Query", // no NUL
        b"\xFF\xFF\xFF\xFFTSource Engine Quer\0", // wrong text
        b"\xFF\xFF\xFF\xFFTSource Engine Query\0\x01\x02",
        b"\xFF\xFF\xFF\xFFTSource Engine Query\0\x01\x02\x03\x04\x05",
    ];
    for req in bad {
        out.lens[0] = 1;
        out.count = 1;
        assert_eq!(
            q.handle(now, src(), req, &state, &mut out),
            Err(DropReason::QueryMalformed),
            "{req:?}"
        );
        assert!(out.is_empty());
    }
}

#[test]
fn drop_rate_limited() {
    let (mut q, mut out, t0) = (Query::new(10), QueryOut::new(), Instant::now());
    let state = Fake::new(1);
    for _ in 0..10 {
        q.handle(t0, src(), &PLAYER_ASK, &state, &mut out).unwrap();
    }
    assert_eq!(
        q.handle(t0, src(), &PLAYER_ASK, &state, &mut out),
        Err(DropReason::QueryRateLimited)
    );
    assert!(out.is_empty());
    // Malformed queries do not use up answers; time refills them.
    let t1 = t0 + Duration::from_millis(100);
    assert_eq!(
        q.handle(t1, src(), b"\xFF\xFF\xFF\xFFZ", &state, &mut out),
        Err(DropReason::QueryMalformed)
    );
    assert!(q.handle(t1, src(), &PLAYER_ASK, &state, &mut out).is_ok());
}

proptest! {
    #[test]
    fn junk_never_panics(
        kind in prop_oneof![Just(0x54u8), Just(0x55), Just(0x56), any::<u8>()],
        tail in proptest::collection::vec(any::<u8>(), 0..64),
        info_prefix in any::<bool>(),
    ) {
        let mut req = vec![0xFF, 0xFF, 0xFF, 0xFF, kind];
        if info_prefix {
            req.extend_from_slice(INFO_PAYLOAD);
        }
        req.extend_from_slice(&tail);
        let (mut q, mut out) = (Query::new(1_000_000), QueryOut::new());
        let state = Fake::new(3);
        if q.handle(Instant::now(), src(), &req, &state, &mut out).is_ok() {
            // Only challenges for a random challenge value (it is almost surely wrong).
            let sent: usize = out.packets().map(<[u8]>::len).sum();
            prop_assert!(sent <= req.len());
        }
        let _ = q.handle(Instant::now(), src(), &tail, &state, &mut out);
    }
}
