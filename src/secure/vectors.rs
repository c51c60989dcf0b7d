//! Golden vectors of secure mode (docs/PROTOCOL.md section 8.9): the library's bytes for a
//! fixed fleet key, connection keys, nonce and fields, against the bytes that
//! `tools/secure_vectors.py` (an implementation in Python written from the protocol
//! document alone) computed, first from the primitives composed as the document says,
//! then through the real emitters: the client library and an in-memory secure server. The
//! same values are in the document, and a test checks that it still says so;
//! `tests/secure_vectors_python.rs` runs the Python script.

use super::*;
use crate::wire::{Accept, Header, SnapshotPrefix, HEADER_LEN};

/// The inputs of section 8.9.
const KF: [u8; 32] = seq_bytes(0x00);
const KC2S: [u8; 32] = seq_bytes(0x20);
const KS2C: [u8; 32] = seq_bytes(0x40);
const KM: [u8; 32] = seq_bytes(0x60);
const TOKEN_NONCE: [u8; 12] = [
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
];
const CLIENT_ID: u64 = 0x0102_0304_0506_0708;
const SCOPE: u64 = 7;
const NAME: &str = "ann";
const EXPIRES: u64 = 1_800_000_030;
const PROTOCOL_ID: u32 = 0x00C0_FFEE;
const S0: u32 = 0x89AB_CDEF;
const QPORT: u8 = 17;
const TICK: u32 = 345;
const SERVER_TIME: u64 = 5_750_000;
const SNAPSHOT_TIME: u64 = 5_749_512;
const COOKIE: u64 = 0x1122_3344_5566_7788;
/// One arena player: count 1, qport 17, x 512, y 300, hp 100, score 3.
const BODY: [u8; 9] = [0x01, 0x11, 0x02, 0x00, 0x01, 0x2c, 0x64, 0x00, 0x03];

/// `start, start + 1, ..., start + 31`.
const fn seq_bytes(start: u8) -> [u8; 32] {
    let mut k = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        k[i] = start + i as u8;
        i += 1;
    }
    k
}

/// The expected bytes, as `tools/secure_vectors.py vectors` printed them.
mod golden {
    pub const TOKEN: &str = concat!(
        "0102030405060708000000006b49d21e202122232425262728292a2b2c2d2e2f",
        "303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f",
        "505152535455565758595a5b5c5d5e5fa0a1a2a3a4a5a6a7a8a9aaab0da97b5b",
        "48e0c5a5a00ff314fcfafdfcbd7ff19c674f46849cf1f19a5d4fed235cb124b9",
        "9afcc9bdfef5cf86216c46790a85087b4d492dc66f1d410b0067eb87e1aa351d",
        "6cbcc4a77aa988d251edf72103f8618d1cbc96a07b284a808ecca0bb9c5d67e6",
        "732f970c6cf9f72842e1c02ceb",
    );
    pub const TOKEN_HELLO: &str = concat!(
        "800000000000000000000700ac00c0ffee000000000000000000000000000000",
        "00000000000000006b49d21e11223344556677880000000000000000a0a1a2a3",
        "a4a5a6a7a8a9aaab0da97b5b48e0c5a5a00ff314fcfafdfcbd7ff19c674f4684",
        "9cf1f19a5d4fed235cb124b99afcc9bdfef5cf86216c46790a85087b4d492dc6",
        "6f1d410b0067eb87e1aa351d6cbcc4a77aa988d251edf72103f8618d1cbc96a0",
        "7b284a808ecca0bb9c5d67e6732f970c6cf9f72842e1c02ceb",
    );
    pub const NONCE_ACCEPT: &str = "010000000000000089abcdef";
    pub const NONCE_KEEPALIVE: &str = "000000000000000089abcdf0";
    pub const NONCE_REJECT: &str = "030000000000000000000000";
    pub const NONCE_SNAP_P3_T345: &str = "020300000000000000000159";
    pub const ACCEPT_PLAIN: &str = concat!(
        "003c049300000159000000000057bcf000000000606162636465666768696a6b",
        "6c6d6e6f707172737475767778797a7b7c7d7e7f",
    );
    pub const ACCEPT_HEADER: &str = "b089abcdef0000000111030044";
    pub const ACCEPT_PAYLOAD: &str = concat!(
        "d418ef997f62424a1e25af57ff747c3adf67809a8f0b7ababc7791007df661ce",
        "44934b645084fa51c1c49ea341299149c250ae2d279a19444ef3fdfbcbbab377",
        "6a1f7429",
    );
    pub const REJECT: &str = "8000000000000000000004001194d0eb5580ed43a31af1fa908b752ff9b6";
    pub const KEEPALIVE: &str = "3089abcdf089abcdef11000010dfe784c5834e7816ec9e5e526b64c27d";
    pub const INPUT: &str = "3089abcdf189abcdf0111000125a4d1b3bdc4ad412b2bb1eb0068da7de626a";
    pub const KMAC: &str = "d7a3a5a9e30f88a56e70b6dcd5d7a6ed4e4553091e80aac8b4a807c05e0e6eb7";
    pub const SNAPSHOT_C: &str = "8dab9b9e419fd4b6ea11878a0abe99e471b26762150075b6a1";
    pub const SNAPSHOT_HC: &str =
        "d4949334044ec4b06f5af71d1ace36ec384fd8bf14ed5db6373cea5a17db2002";
    pub const SNAPSHOT_T: &str = "cd1a0a5b76d00ee35390d109b4293ce9";
    pub const SNAPSHOT: &str = concat!(
        "3089abcdf089abcdf01106003700000159000000000057bb080001cd1a0a5b76",
        "d00ee35390d109b4293ce98dab9b9e419fd4b6ea11878a0abe99e471b2676215",
        "0075b6a1",
    );
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn header(flags: u8, seq: u32, ack: u32, qport: u8, kind: u8, len: usize) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    let header = Header {
        flags,
        seq,
        ack,
        qport,
        kind,
        len: len as u16,
    };
    assert_eq!(header.emit(&mut h), Ok(HEADER_LEN));
    h
}

/// `AEAD(key, nonce, aad, plain)` as the library seals: ciphertext then tag.
fn seal(key: &Key, nonce: [u8; NONCE_LEN], aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let mut out = plain.to_vec();
    let tag = key.seal(nonce, aad, &mut out);
    out.extend_from_slice(&tag);
    out
}

fn vector_token() -> ConnectToken {
    Issuer::new(Key::from_bytes(KF), PROTOCOL_ID).mint_with(
        (CLIENT_ID, SCOPE, NAME, EXPIRES),
        Key::from_bytes(KC2S),
        Key::from_bytes(KS2C),
        TOKEN_NONCE,
    )
}

#[test]
fn token_bytes() {
    let token = vector_token();
    assert_eq!(token.to_bytes().to_vec(), unhex(golden::TOKEN));
    let parsed = ConnectToken::parse(&unhex(golden::TOKEN)).expect("205 bytes");
    assert_eq!(parsed, token);
    assert_eq!(parsed.nonce(), TOKEN_NONCE);
    let c = Issuer::new(Key::from_bytes(KF), PROTOCOL_ID)
        .open(&parsed)
        .expect("the vector token opens");
    assert_eq!(
        (c.client_id, c.scope, c.expires),
        (CLIENT_ID, SCOPE, EXPIRES)
    );
    assert_eq!(c.name.as_ref().map(|n| n.as_str()), Some(NAME));
    assert_eq!((c.c2s.as_bytes(), c.s2c.as_bytes()), (&KC2S, &KS2C));
    // The server's path: only `expires` and `sealed`, as TOKEN_HELLO carries them.
    let hello = unhex(golden::TOKEN_HELLO);
    let mut sealed = [0u8; SEALED_LEN];
    sealed.copy_from_slice(&hello[HEADER_LEN + 47..]);
    let expires = u64::from_be_bytes(hello[HEADER_LEN + 23..HEADER_LEN + 31].try_into().unwrap());
    let c = token::open_sealed(&Key::from_bytes(KF), PROTOCOL_ID, expires, &sealed)
        .expect("TOKEN_HELLO's sealed part opens");
    assert_eq!(c.client_id, CLIENT_ID);
}

#[test]
fn token_hello_layout() {
    let token = vector_token().to_bytes();
    let mut d = header(0x80, 0, 0, 0, 0x07, 172).to_vec();
    d.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
    d.extend_from_slice(&[0; 1 + 2 + 16]); // reply family 0, port and ip zero
    d.extend_from_slice(&token[8..16]); // expires
    d.extend_from_slice(&COOKIE.to_be_bytes());
    d.extend_from_slice(&0u64.to_be_bytes());
    d.extend_from_slice(&token[80..]);
    assert_eq!(d.len(), 185);
    assert_eq!(d, unhex(golden::TOKEN_HELLO));
}

#[test]
fn nonce_layouts() {
    assert_eq!(
        nonce_seq(Dir::ToClient, S0).to_vec(),
        unhex(golden::NONCE_ACCEPT)
    );
    assert_eq!(
        nonce_seq(Dir::ToServer, S0.wrapping_add(1)).to_vec(),
        unhex(golden::NONCE_KEEPALIVE)
    );
    assert_eq!(NONCE_REJECT.to_vec(), unhex(golden::NONCE_REJECT));
    assert_eq!(
        nonce_snapshot(3, TICK).to_vec(),
        unhex(golden::NONCE_SNAP_P3_T345)
    );
}

#[test]
fn accept_and_reject() {
    let ks2c = Key::from_bytes(KS2C);
    let mut plain = [0u8; 52];
    let accept = Accept {
        tick_hz: 60,
        max_payload: 1171,
        tick: TICK,
        time_us: SERVER_TIME,
    };
    assert_eq!(accept.emit(&mut plain), Ok(Accept::LEN));
    // reserved u32 = 0 at 16, then Km.
    plain[20..].copy_from_slice(&KM);
    assert_eq!(plain.to_vec(), unhex(golden::ACCEPT_PLAIN));
    let head = header(0xB0, S0, 1, QPORT, 0x03, 52 + TAG_LEN);
    assert_eq!(head.to_vec(), unhex(golden::ACCEPT_HEADER));
    let payload = seal(&ks2c, nonce_seq(Dir::ToClient, S0), &head, &plain);
    assert_eq!(payload, unhex(golden::ACCEPT_PAYLOAD));
    // The client opens it, and nothing else opens.
    let mut p = payload.clone();
    assert_eq!(
        ks2c.open(nonce_seq(Dir::ToClient, S0), &head, &mut p),
        Some(52)
    );
    assert_eq!(&p[..52], &plain[..]);
    let mut p = payload.clone();
    assert_eq!(
        ks2c.open(nonce_seq(Dir::ToClient, S0 + 1), &head, &mut p),
        None
    );

    let head = header(0x80, 0, 0, 0, 0x04, 1 + TAG_LEN);
    let mut d = head.to_vec();
    d.extend_from_slice(&seal(&ks2c, NONCE_REJECT, &head, &[1]));
    assert_eq!(d, unhex(golden::REJECT));
}

#[test]
fn connected_datagrams() {
    let kc2s = Key::from_bytes(KC2S);
    let sealed = |seq: u32, ack: u32, kind: u8, plain: &[u8]| {
        let head = header(0x30, seq, ack, QPORT, kind, plain.len() + TAG_LEN);
        let mut d = head.to_vec();
        d.extend_from_slice(&seal(&kc2s, nonce_seq(Dir::ToServer, seq), &head, plain));
        d
    };
    assert_eq!(sealed(S0 + 1, S0, 0x00, &[]), unhex(golden::KEEPALIVE));
    assert_eq!(
        sealed(S0 + 2, S0 + 1, 0x10, &[1, 0xFF]),
        unhex(golden::INPUT)
    );
}

#[test]
fn snapshot_part() {
    let kmac = Key::from_bytes(KS2C).snapshot_mac_key();
    assert_eq!(kmac.as_bytes().to_vec(), unhex(golden::KMAC));
    let mut prefix = [0u8; SnapshotPrefix::LEN];
    let p = SnapshotPrefix {
        tick: TICK,
        time_us: SNAPSHOT_TIME,
        part: 0,
        parts: 1,
    };
    assert_eq!(p.emit(&mut prefix), Ok(14));
    let c = seal(
        &Key::from_bytes(KM),
        nonce_snapshot(0, TICK),
        &prefix,
        &BODY,
    );
    assert_eq!(c, unhex(golden::SNAPSHOT_C));
    let hc = *blake3::hash(&c).as_bytes();
    assert_eq!(hc.to_vec(), unhex(golden::SNAPSHOT_HC));
    let head = header(0x30, S0 + 1, S0 + 1, QPORT, 0x06, 14 + 16 + c.len());
    let mut head_prefix = head.to_vec();
    head_prefix.extend_from_slice(&prefix);
    let t = snapshot_tag(&kmac, &head_prefix, &hc);
    assert_eq!(t.to_vec(), unhex(golden::SNAPSHOT_T));
    let mut d = head_prefix.clone();
    d.extend_from_slice(&t);
    d.extend_from_slice(&c);
    assert_eq!(d, unhex(golden::SNAPSHOT));
    // T is MAC(Kmac, header || prefix || H(C)), computed the long way.
    let mut m = head_prefix.clone();
    m.extend_from_slice(&hc);
    assert_eq!(kmac.mac(&m), t);
    // A flipped bit of C changes H(C), so T no longer matches.
    let mut c2 = c.clone();
    c2[0] ^= 1;
    assert_ne!(
        snapshot_tag(&kmac, &head_prefix, blake3::hash(&c2).as_bytes()),
        t
    );
}

/// The vector block of docs/PROTOCOL.md section 8.9, as `name -> hex` (continuation lines
/// joined); integers and the name are left as their text.
fn doc_vectors() -> Vec<(String, String)> {
    let doc = include_str!("../../docs/PROTOCOL.md");
    let start = doc.find("### 8.9").expect("section 8.9");
    let block = &doc[start..];
    let block = &block[block.find("```text\n").expect("vector block") + 8..];
    let block = &block[..block.find("```").expect("end of the vector block")];
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line.starts_with(' ') {
            out.last_mut().expect("a continuation follows a value").1 += line.trim();
        } else {
            let (name, value) = line.split_once(" = ").expect("name = value");
            out.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    out
}

#[test]
fn the_document_holds_these_vectors() {
    let doc = doc_vectors();
    let get = |name: &str| {
        doc.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("docs/PROTOCOL.md 8.9 has no {name}"))
    };
    for (name, value) in [
        ("token", golden::TOKEN),
        ("token_hello", golden::TOKEN_HELLO),
        ("nonce_accept", golden::NONCE_ACCEPT),
        ("nonce_keepalive", golden::NONCE_KEEPALIVE),
        ("nonce_reject", golden::NONCE_REJECT),
        ("nonce_snap_p3_t345", golden::NONCE_SNAP_P3_T345),
        ("accept_plain", golden::ACCEPT_PLAIN),
        ("accept_header", golden::ACCEPT_HEADER),
        ("accept_payload", golden::ACCEPT_PAYLOAD),
        ("reject", golden::REJECT),
        ("keepalive", golden::KEEPALIVE),
        ("input", golden::INPUT),
        ("kmac", golden::KMAC),
        ("snapshot_c", golden::SNAPSHOT_C),
        ("snapshot_hc", golden::SNAPSHOT_HC),
        ("snapshot_t", golden::SNAPSHOT_T),
        ("snapshot", golden::SNAPSHOT),
    ] {
        assert_eq!(get(name), value, "{name}");
    }
    let key = |k: &[u8; 32]| Key::from_bytes(*k).to_hex();
    assert_eq!(get("kf"), key(&KF));
    assert_eq!(get("kc2s"), key(&KC2S));
    assert_eq!(get("ks2c"), key(&KS2C));
    assert_eq!(get("km"), key(&KM));
    assert_eq!(unhex(&get("token_nonce")), TOKEN_NONCE);
    assert_eq!(get("client_id"), CLIENT_ID.to_string());
    assert_eq!(get("scope"), SCOPE.to_string());
    assert_eq!(get("expires"), EXPIRES.to_string());
    assert_eq!(get("protocol_id"), PROTOCOL_ID.to_string());
    assert_eq!(get("s0"), S0.to_string());
    assert_eq!(get("name"), NAME);
    assert_eq!(unhex(&get("snapshot_body")), BODY);
}

/// A game whose every snapshot is the vectors' body: one arena player (qport 17, x 512,
/// y 300, hp 100, score 3); the writer puts the count byte in front.
struct OnePlayer;

impl crate::proto::Game for OnePlayer {
    fn step(&mut self, _tick: u32) {}
    fn snapshot(&self, w: &mut crate::proto::SnapshotWriter<'_>) {
        let _ = w.entity(&BODY[1..]);
    }
}

/// A secure server in memory: the vectors' fleet key, protocol id and server id (the
/// token's scope), `S0` and match key forced, a unix clock before the token expires.
struct Bench {
    server: crate::Server<OnePlayer>,
    now: std::time::Instant,
}

impl Bench {
    fn new() -> Bench {
        let now = std::time::Instant::now();
        let secure =
            Secure::new(Key::from_bytes(KF), SCOPE).with_clock(UnixClock::fixed(now, EXPIRES - 30));
        let cfg = crate::Config {
            seed: Some(7),
            protocol_id: PROTOCOL_ID,
            secure: Some(secure),
            ..crate::Config::default()
        };
        let mut server = crate::Server::new(cfg, OnePlayer, now);
        server.force_next_start_seq(S0);
        server.force_match_key(Key::from_bytes(KM));
        Bench { server, now }
    }

    /// Runs every tick up to and including tick `n`, each at its deadline.
    fn run_to_tick(&mut self, n: u64) {
        let target = self.server.tick_deadline(n);
        while self.server.poll_timeout() <= target {
            self.now = self.server.poll_timeout().max(self.now);
            self.server.handle_timeout(self.now);
        }
        self.now = target;
    }

    fn send(&mut self, d: &[u8]) {
        let src = "192.0.2.1:5000".parse().expect("address");
        assert_eq!(self.server.handle_datagram(self.now, src, d), Ok(()));
    }

    /// Every datagram the server queued, assembled.
    fn drain(&mut self) -> Vec<Vec<u8>> {
        let out = self
            .server
            .transmits()
            .iter()
            .map(|t| {
                let mut b = vec![0u8; crate::wire::MAX_DATAGRAM];
                let n = self.server.write_transmit(t, &mut b).expect("room");
                b.truncate(n);
                b
            })
            .collect();
        self.server.sent(usize::MAX);
        out
    }
}

/// The vectors through the server's real emitters: the golden TOKEN_HELLO (its cookie is
/// wrong, so it gets a CHALLENGE), again with the cookie, then ACCEPT at tick 345 and
/// 5.75 s, whose plaintext is the golden one and whose bytes are the golden composition
/// with the qport the server drew (the golden ACCEPT is that composition for qport 17);
/// then a sealed KEEPALIVE, and the next tick's SNAPSHOT of the golden body under `Km`,
/// tagged under the golden `Kmac`.
#[test]
fn the_servers_emitters_make_the_vectors() {
    let mut b = Bench::new();
    b.run_to_tick(u64::from(TICK));
    assert_eq!(b.server.newest_tick(), Some(TICK));
    assert_eq!(b.server.time_us(b.now), SERVER_TIME);
    b.drain();

    let mut hello = unhex(golden::TOKEN_HELLO);
    b.send(&hello);
    let out = b.drain();
    assert_eq!(out.len(), 1, "one CHALLENGE");
    assert_eq!((out[0][10], out[0].len()), (0x02, HEADER_LEN + 8));
    hello[HEADER_LEN + 31..HEADER_LEN + 39].copy_from_slice(&out[0][HEADER_LEN..]);
    b.send(&hello);
    let out = b.drain();
    assert_eq!(out.len(), 1, "one ACCEPT");
    let accept = &out[0];
    let q = accept[9];
    let mut want_head = unhex(golden::ACCEPT_HEADER);
    want_head[9] = q;
    assert_eq!(&accept[..HEADER_LEN], &want_head[..]);
    let ks2c = Key::from_bytes(KS2C);
    let want = seal(
        &ks2c,
        nonce_seq(Dir::ToClient, S0),
        &want_head,
        &unhex(golden::ACCEPT_PLAIN),
    );
    assert_eq!(&accept[HEADER_LEN..], &want[..]);
    let mut p = accept[HEADER_LEN..].to_vec();
    let n = ks2c.open(nonce_seq(Dir::ToClient, S0), &want_head, &mut p);
    assert_eq!(n, Some(52));
    assert_eq!(&p[..52], &unhex(golden::ACCEPT_PLAIN)[..]);
    // A repeated TOKEN_HELLO gets the same bytes.
    b.send(&hello);
    assert_eq!(b.drain(), vec![accept.clone()]);

    // KEEPALIVE seq S0+1 ack S0, composed as the golden one (for the drawn qport): the
    // server opens it.
    let head = header(0x30, S0 + 1, S0, q, 0x00, TAG_LEN);
    let mut ka = head.to_vec();
    ka.extend_from_slice(&seal(
        &Key::from_bytes(KC2S),
        nonce_seq(Dir::ToServer, S0 + 1),
        &head,
        &[],
    ));
    b.send(&ka);
    assert_eq!(
        b.server.stats().drops.get(crate::wire::DropReason::BadAuth),
        0
    );

    b.run_to_tick(u64::from(TICK) + 1);
    let out = b.drain();
    assert_eq!(out.len(), 1, "one SNAPSHOT");
    let snap = &out[0];
    let (head, payload) = snap.split_at(HEADER_LEN);
    let c_len = BODY.len() + TAG_LEN;
    assert_eq!(
        head,
        &header(0x30, S0 + 1, S0 + 1, q, 0x06, 14 + 16 + c_len)[..]
    );
    let (prefix, rest) = payload.split_at(14);
    assert_eq!(&prefix[..4], &(TICK + 1).to_be_bytes());
    assert_eq!(&prefix[12..], &[0, 1]);
    let (t, c) = rest.split_at(TAG_LEN);
    let want_c = seal(
        &Key::from_bytes(KM),
        nonce_snapshot(0, TICK + 1),
        prefix,
        &BODY,
    );
    assert_eq!(c, &want_c[..]);
    let kmac = Key::from_bytes(unhex(golden::KMAC).try_into().expect("32 bytes"));
    let mut head_prefix = head.to_vec();
    head_prefix.extend_from_slice(prefix);
    let want_t = snapshot_tag(&kmac, &head_prefix, blake3::hash(c).as_bytes());
    assert_eq!(t, &want_t[..]);
}

/// The vectors through the client library's real emitters and openers: from the vector
/// token it sends the golden TOKEN_HELLO (cookie 0 first, then the CHALLENGE's), takes the
/// golden ACCEPT, answers with the golden KEEPALIVE, takes the golden SNAPSHOT, and sends
/// the golden INPUT.
#[test]
fn the_clients_emitters_make_the_vectors() {
    use crate::client::{Client, ClientConfig, Event};
    let mut now = std::time::Instant::now();
    let cfg = ClientConfig {
        protocol_id: PROTOCOL_ID,
        ..ClientConfig::default()
    };
    let mut c = Client::with_token(cfg, vector_token(), now);
    let mut buf = [0u8; crate::wire::MAX_DATAGRAM];
    let mut want = unhex(golden::TOKEN_HELLO);
    want[HEADER_LEN + 31..HEADER_LEN + 39].fill(0);
    let n = c.poll_transmit(now, &mut buf).expect("a TOKEN_HELLO");
    assert_eq!(&buf[..n], &want[..], "the first TOKEN_HELLO, cookie 0");
    assert_eq!(c.poll_transmit(now, &mut buf), None);

    let mut challenge = header(0x80, 0, 0, 0, 0x02, 8).to_vec();
    challenge.extend_from_slice(&COOKIE.to_be_bytes());
    assert_eq!(c.handle_datagram(now, &challenge), None);
    let mut sent = None;
    for _ in 0..4 {
        if let Some(n) = c.poll_transmit(now, &mut buf) {
            sent = Some(buf[..n].to_vec());
            break;
        }
        now = c.poll_timeout().max(now);
        assert_eq!(c.handle_timeout(now), None);
    }
    assert_eq!(sent, Some(unhex(golden::TOKEN_HELLO)), "with the cookie");

    let mut accept = unhex(golden::ACCEPT_HEADER);
    accept.extend_from_slice(&unhex(golden::ACCEPT_PAYLOAD));
    assert_eq!(
        c.handle_datagram(now, &accept),
        Some(Event::Connected {
            qport: QPORT,
            tick_hz: 60,
            tick: TICK,
            server_time_us: SERVER_TIME,
        })
    );
    let n = c
        .poll_transmit(now, &mut buf)
        .expect("the first KEEPALIVE, at once");
    assert_eq!(&buf[..n], &unhex(golden::KEEPALIVE)[..]);

    assert_eq!(
        c.handle_datagram(now, &unhex(golden::SNAPSHOT)),
        Some(Event::Snapshot {
            tick: TICK,
            time_us: SNAPSHOT_TIME,
        })
    );
    assert_eq!(c.snapshot_parts().collect::<Vec<_>>(), vec![&BODY[..]]);

    c.send_game(0x10, &[1, 0xFF]).expect("queued");
    let n = c.poll_transmit(now, &mut buf).expect("the INPUT");
    assert_eq!(&buf[..n], &unhex(golden::INPUT)[..]);
}
