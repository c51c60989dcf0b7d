//! Valve Source server queries (A2S) on the game port (PROTOCOL.md section 5).
//!
//! [`Query::handle`] answers `A2S_INFO`, `A2S_PLAYER` and `A2S_RULES` as described on the
//! Valve Developer Community page "Server queries", so that server browsers and query tools
//! (for example python-a2s) see a tickwire server. A2S integers are little-endian, unlike the
//! rest of the game port.
//!
//! Every query needs a challenge first: a source that sends none, or a wrong or stale one,
//! gets only `S2C_CHALLENGE` (9 bytes, never more than the request), so a spoofed source
//! cannot turn the server into an amplifier. The challenge is stateless: a keyed hash of the
//! source address and a 5-second time bucket, valid for 5 to 10 seconds, like the game
//! handshake's cookie. Answers are limited per source IP.
//!
//! A reply larger than [`MAX_SINGLE`] bytes goes out as a Source multi-packet response:
//! packets of at most [`SPLIT_SIZE`] bytes of payload, each behind a 12-byte header. The
//! server's own state comes through the allocation-free [`QueryState`] trait; replies are
//! written into a [`QueryOut`] allocated once.

use crate::limit::RateLimiter;
use crate::wire::DropReason;
use siphasher::sip::SipHasher13;
use std::hash::Hasher;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// Largest reply sent as one packet.
pub const MAX_SINGLE: usize = 1400;
/// Payload bytes per packet of a split reply (the "size" field of the split header).
pub const SPLIT_SIZE: usize = 1248;
/// The split packet header: `-2 i32`, id `i32`, total `u8`, number `u8`, size `u16`.
pub const SPLIT_HEADER: usize = 12;
/// Most packets in one split reply; a reply never exceeds `MAX_PACKETS * SPLIT_SIZE` bytes
/// (players and rules that do not fit are left out).
pub const MAX_PACKETS: usize = 32;
/// Largest reply message, before splitting.
pub const MAX_MESSAGE: usize = MAX_PACKETS * SPLIT_SIZE;
/// Answers allowed per second per source IP by default (and the burst). A full query by a
/// server browser (info, players, rules, each with its challenge) takes 6.
pub const DEFAULT_LIMIT_PER_SEC: u32 = 20;
/// Longest server name, map, folder, game, player name, rule name or value sent, in bytes;
/// longer strings are cut at a character boundary.
pub const MAX_STRING: usize = 255;
/// The A2S protocol version in `A2S_INFO` replies.
pub const PROTOCOL_VERSION: u8 = 17;
/// How long one challenge time bucket lasts, in seconds; a challenge from the current or
/// the previous bucket is accepted.
const CHALLENGE_BUCKET_SECS: u64 = 5;
/// Buckets in the per-source rate limiter.
const LIMIT_BUCKETS: usize = 4096;
/// Stride of one packet in [`QueryOut`]'s buffer.
const PACKET_STRIDE: usize = SPLIT_HEADER + SPLIT_SIZE;

/// Request and reply type bytes (after the `FF FF FF FF` header).
mod ty {
    pub const A2S_INFO: u8 = 0x54;
    pub const A2S_PLAYER: u8 = 0x55;
    pub const A2S_RULES: u8 = 0x56;
    pub const S2C_CHALLENGE: u8 = 0x41;
    pub const INFO_REPLY: u8 = 0x49;
    pub const PLAYER_REPLY: u8 = 0x44;
    pub const RULES_REPLY: u8 = 0x45;
}

/// The payload of an `A2S_INFO` request, after the type byte.
const INFO_PAYLOAD: &[u8] = b"Source Engine Query\0";
/// The header of a single-packet message.
const SINGLE: [u8; 4] = [0xFF; 4];
/// The header of a split packet (-1 - 1 = -2, little-endian).
const SPLIT: [u8; 4] = [0xFE, 0xFF, 0xFF, 0xFF];

/// What the server tells the query tools; the game server core implements it. Nothing here
/// may allocate: strings are borrowed and lists are walked with a callback.
///
/// PROTOCOL.md asks for at least the rules `tick_hz`, `max_clients`, `version` and
/// `protocol_id`; [`for_each_rule`](QueryState::for_each_rule) is where they come from.
pub trait QueryState {
    /// The server's name, as shown in server browsers.
    fn server_name(&self) -> &str;
    /// The current map.
    fn map(&self) -> &str;
    /// The game's folder name (a short id of the game).
    fn folder(&self) -> &str;
    /// The game's full name.
    fn game(&self) -> &str;
    /// Players connected now.
    fn players(&self) -> u8;
    /// Player slots.
    fn max_players(&self) -> u8;
    /// Calls `f(name, score, seconds connected)` for each connected player.
    fn for_each_player(&self, f: &mut dyn FnMut(&str, i32, f32));
    /// Calls `f(name, value)` for each rule (server variable) to publish.
    fn for_each_rule(&self, f: &mut dyn FnMut(&str, &str));
    /// The game port, sent in the `A2S_INFO` extra data when known.
    fn game_port(&self) -> Option<u16> {
        None
    }
}

/// The A2S responder: checks queries, hands out challenges, writes replies.
pub struct Query {
    limit: RateLimiter,
    secret: SipHasher13,
    /// The first `now` seen: challenge time buckets count from it.
    epoch: Option<Instant>,
    /// Id of the next split reply.
    next_id: u32,
}

/// The reply packets of one query, in a buffer allocated once by [`QueryOut::new`] and reused.
pub struct QueryOut {
    /// The whole reply, before splitting.
    msg: Box<[u8]>,
    /// The packets, each at a multiple of `PACKET_STRIDE`.
    buf: Box<[u8]>,
    lens: [usize; MAX_PACKETS],
    count: usize,
}

/// A parsed query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Info(Option<u32>),
    Player(u32),
    Rules(u32),
}

impl Query {
    /// A responder that answers each source IP at most `limit_per_sec` times a second, with
    /// a burst of as many. The challenge secret is drawn now.
    pub fn new(limit_per_sec: u32) -> Query {
        Query {
            limit: RateLimiter::new(LIMIT_BUCKETS, limit_per_sec, limit_per_sec),
            secret: SipHasher13::new_with_keys(rand::random(), rand::random()),
            epoch: None,
            next_id: rand::random(),
        }
    }

    /// Answers the query `req` (the whole datagram, `FF FF FF FF` included) from `src`: the
    /// reply packets are left in `out` (cleared first), to be sent to `src` in order; or says
    /// why the datagram is dropped, with `out` empty.
    pub fn handle(
        &mut self,
        now: Instant,
        src: SocketAddr,
        req: &[u8],
        state: &dyn QueryState,
        out: &mut QueryOut,
    ) -> Result<(), DropReason> {
        out.clear();
        let request = parse(req)?;
        if !self.limit.allow(now, src.ip()) {
            return Err(DropReason::QueryRateLimited);
        }
        let given = match request {
            Request::Info(c) => c,
            Request::Player(c) | Request::Rules(c) => Some(c),
        };
        if !given.is_some_and(|c| self.challenge_valid(now, src, c)) {
            // Unvalidated: 9 bytes, and every query is at least 9 bytes long.
            let challenge = self.challenge(now, src, 0);
            let mut w = Writer::new(&mut out.msg);
            w.bytes(&SINGLE);
            w.u8(ty::S2C_CHALLENGE);
            w.bytes(&challenge.to_le_bytes());
            let n = w.pos;
            out.split(n, 0);
            return Ok(());
        }
        let n = match request {
            Request::Info(_) => write_info(&mut out.msg, state),
            Request::Player(_) => write_players(&mut out.msg, state),
            Request::Rules(_) => write_rules(&mut out.msg, state),
        };
        let id = self.next_id & 0x7FFF_7FFF;
        self.next_id = self.next_id.wrapping_add(1);
        out.split(n, id);
        Ok(())
    }

    /// The challenge for `src` in the time bucket `back` buckets before now's.
    fn challenge(&mut self, now: Instant, src: SocketAddr, back: u64) -> u32 {
        let epoch = *self.epoch.get_or_insert(now);
        let bucket = now.saturating_duration_since(epoch).as_secs() / CHALLENGE_BUCKET_SECS;
        let mut h = self.secret;
        match src.ip().to_canonical() {
            IpAddr::V4(a) => h.write(&a.octets()),
            IpAddr::V6(a) => h.write(&a.octets()),
        }
        h.write_u16(src.port());
        h.write_u64(bucket.wrapping_sub(back));
        let c = h.finish() as u32;
        // 0 and -1 are what clients send to ask for a challenge.
        if c == 0 || c == u32::MAX {
            1
        } else {
            c
        }
    }

    fn challenge_valid(&mut self, now: Instant, src: SocketAddr, c: u32) -> bool {
        c == self.challenge(now, src, 0) || c == self.challenge(now, src, 1)
    }
}

impl Default for Query {
    fn default() -> Self {
        Query::new(DEFAULT_LIMIT_PER_SEC)
    }
}

impl QueryOut {
    /// An empty reply, with room for the largest one allocated now.
    pub fn new() -> QueryOut {
        QueryOut {
            msg: vec![0; MAX_MESSAGE].into_boxed_slice(),
            buf: vec![0; MAX_PACKETS * PACKET_STRIDE].into_boxed_slice(),
            lens: [0; MAX_PACKETS],
            count: 0,
        }
    }

    /// The reply packets, in the order to send them.
    pub fn packets(&self) -> impl Iterator<Item = &[u8]> {
        let lens = self.lens.get(..self.count).unwrap_or(&[]);
        lens.iter().enumerate().filter_map(move |(i, &len)| {
            let at = i * PACKET_STRIDE;
            self.buf.get(at..at + len)
        })
    }

    /// How many packets the reply has.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there is no reply.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Empties the reply.
    pub fn clear(&mut self) {
        self.count = 0;
    }

    /// Turns the first `n` bytes of `msg` into packets: one if it fits in [`MAX_SINGLE`],
    /// else split packets with id `id`.
    fn split(&mut self, n: usize, id: u32) {
        let msg = self.msg.get(..n).unwrap_or(&[]);
        if n <= MAX_SINGLE {
            if let Some(dst) = self.buf.get_mut(..n) {
                dst.copy_from_slice(msg);
                self.lens[0] = n;
                self.count = 1;
            }
            return;
        }
        let chunks = msg.chunks(SPLIT_SIZE);
        let total = chunks.len().min(MAX_PACKETS);
        for (i, chunk) in chunks.enumerate().take(MAX_PACKETS) {
            let at = i * PACKET_STRIDE;
            let Some(dst) = self.buf.get_mut(at..at + SPLIT_HEADER + chunk.len()) else {
                break;
            };
            dst[..4].copy_from_slice(&SPLIT);
            dst[4..8].copy_from_slice(&id.to_le_bytes());
            dst[8] = total as u8;
            dst[9] = i as u8;
            dst[10..12].copy_from_slice(&(SPLIT_SIZE as u16).to_le_bytes());
            dst[SPLIT_HEADER..].copy_from_slice(chunk);
            self.lens[i] = dst.len();
            self.count = i + 1;
        }
    }
}

impl Default for QueryOut {
    fn default() -> Self {
        QueryOut::new()
    }
}

impl core::fmt::Debug for Query {
    /// Leaves the challenge secret out.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Query")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl core::fmt::Debug for QueryOut {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("QueryOut")
            .field("packets", &self.count)
            .field("lens", &self.lens.get(..self.count))
            .finish()
    }
}

/// Parses a query; everything that is not exactly one of the three supported ones is
/// malformed.
fn parse(req: &[u8]) -> Result<Request, DropReason> {
    let bad = DropReason::QueryMalformed;
    let (Some(header), Some(&kind), Some(rest)) = (req.get(..4), req.get(4), req.get(5..)) else {
        return Err(bad);
    };
    if header != SINGLE {
        return Err(bad);
    }
    let le32 = |b: &[u8]| -> Result<u32, DropReason> {
        <[u8; 4]>::try_from(b)
            .map(u32::from_le_bytes)
            .map_err(|_| bad)
    };
    match kind {
        ty::A2S_INFO => {
            let Some(tail) = rest.strip_prefix(INFO_PAYLOAD) else {
                return Err(bad);
            };
            match tail.len() {
                0 => Ok(Request::Info(None)),
                _ => Ok(Request::Info(Some(le32(tail)?))),
            }
        }
        ty::A2S_PLAYER => Ok(Request::Player(le32(rest)?)),
        ty::A2S_RULES => Ok(Request::Rules(le32(rest)?)),
        _ => Err(bad),
    }
}

fn write_info(buf: &mut [u8], s: &dyn QueryState) -> usize {
    let mut w = Writer::new(buf);
    w.bytes(&SINGLE);
    w.u8(ty::INFO_REPLY);
    w.u8(PROTOCOL_VERSION);
    w.cstr(s.server_name());
    w.cstr(s.map());
    w.cstr(s.folder());
    w.cstr(s.game());
    w.bytes(&0u16.to_le_bytes()); // app id
    w.u8(s.players());
    w.u8(s.max_players());
    w.u8(0); // bots
    w.u8(b'd'); // dedicated
    w.u8(b'l'); // Linux
    w.u8(0); // no password
    w.u8(0); // no VAC
    w.cstr(env!("CARGO_PKG_VERSION"));
    if let Some(port) = s.game_port() {
        w.u8(0x80); // extra data: the game port
        w.bytes(&port.to_le_bytes());
    }
    w.pos
}

fn write_players(buf: &mut [u8], s: &dyn QueryState) -> usize {
    let mut w = Writer::new(buf);
    w.bytes(&SINGLE);
    w.u8(ty::PLAYER_REPLY);
    let count_at = w.pos;
    w.u8(0);
    let mut count: u8 = 0;
    s.for_each_player(&mut |name, score, secs| {
        let name = cut(name);
        // index, name and its NUL, score, duration; a player that does not fit is left out.
        if count == u8::MAX || w.room() < 1 + name.len() + 1 + 8 {
            return;
        }
        w.u8(count);
        w.cstr(name);
        w.bytes(&score.to_le_bytes());
        w.bytes(&secs.to_le_bytes());
        count += 1;
    });
    w.set(count_at, count);
    w.pos
}

fn write_rules(buf: &mut [u8], s: &dyn QueryState) -> usize {
    let mut w = Writer::new(buf);
    w.bytes(&SINGLE);
    w.u8(ty::RULES_REPLY);
    let count_at = w.pos;
    w.bytes(&[0, 0]);
    let mut count: u16 = 0;
    s.for_each_rule(&mut |name, value| {
        let (name, value) = (cut(name), cut(value));
        if count == u16::MAX || w.room() < name.len() + value.len() + 2 {
            return;
        }
        w.cstr(name);
        w.cstr(value);
        count += 1;
    });
    let [lo, hi] = count.to_le_bytes();
    w.set(count_at, lo);
    w.set(count_at + 1, hi);
    w.pos
}

/// `s` cut to at most [`MAX_STRING`] bytes, at a character boundary.
fn cut(s: &str) -> &str {
    let mut end = s.len().min(MAX_STRING);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// Writes into a fixed buffer; what does not fit is left out (callers check `room` first
/// where that matters).
struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    fn room(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn u8(&mut self, b: u8) {
        if let Some(d) = self.buf.get_mut(self.pos) {
            *d = b;
            self.pos += 1;
        }
    }

    fn bytes(&mut self, b: &[u8]) {
        if let Some(d) = self.buf.get_mut(self.pos..self.pos + b.len()) {
            d.copy_from_slice(b);
            self.pos += b.len();
        }
    }

    /// A NUL-terminated string, cut to [`MAX_STRING`] bytes; NULs inside become spaces.
    fn cstr(&mut self, s: &str) {
        let s = cut(s);
        if self.room() < s.len() + 1 {
            return;
        }
        for &b in s.as_bytes() {
            self.u8(if b == 0 { b' ' } else { b });
        }
        self.u8(0);
    }

    fn set(&mut self, at: usize, b: u8) {
        if let Some(d) = self.buf.get_mut(at) {
            *d = b;
        }
    }
}

#[cfg(test)]
mod tests {
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
}
