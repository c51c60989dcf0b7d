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
//! source address and a 5-second time bucket, valid for 5 to 10 seconds, made by the same
//! stateless-cookie type as the game handshake's cookie (32 bits of it). Answers are
//! limited per source IP.
//!
//! Replies are written whole or not at all: a reply that does not fit its buffer is dropped
//! and counted ([`DropReason::OutboxFull`]), never cut.
//!
//! A reply larger than [`MAX_SINGLE`] bytes goes out as a Source multi-packet response:
//! packets of at most [`SPLIT_SIZE`] bytes of payload, each behind a 12-byte header. The
//! server's own state comes through the allocation-free [`QueryState`] trait; replies are
//! written into a [`QueryOut`] allocated once.

use crate::cookie::{Fields, Stateless};
use crate::limit::RateLimiter;
use crate::wire::DropReason;
use rand::rngs::StdRng;
use rand::Rng;
use siphasher::sip::SipHasher24;
use std::hash::Hasher;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

mod reply;

/// Largest reply sent as one packet.
pub const MAX_SINGLE: usize = 1400;
/// Payload bytes per packet of a split reply (the "size" field of the split header).
pub const SPLIT_SIZE: usize = 1248;
/// The split packet header: `-2 i32`, id `i32`, total `u8`, number `u8`, size `u16`
/// (the byte ranges are in `field`).
pub const SPLIT_HEADER: usize = field::SPLIT_PAYLOAD;
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
/// How long one challenge time bucket lasts, in microseconds; a challenge from the current
/// or the previous bucket is accepted.
const CHALLENGE_BUCKET_US: u64 = 5_000_000;
/// Entries in the per-source rate limiter (one per source; 1.5 MiB, allocated once): a
/// source's budget does not depend on the other sources (see `crate::limit`).
const LIMIT_ENTRIES: usize = 65_536;
/// Stride of one packet in [`QueryOut`]'s buffer.
const PACKET_STRIDE: usize = SPLIT_HEADER + SPLIT_SIZE;

/// Byte ranges of the split packet header (all integers little-endian).
mod field {
    use core::ops::Range;
    /// `-2` as an `i32`: [`SPLIT`](super::SPLIT).
    pub const SPLIT_MAGIC: Range<usize> = 0..4;
    /// The reply's id, the same in every packet of it.
    pub const SPLIT_ID: Range<usize> = 4..8;
    /// How many packets the reply has.
    pub const SPLIT_TOTAL: usize = 8;
    /// This packet's number, from 0.
    pub const SPLIT_NUMBER: usize = 9;
    /// Payload bytes per packet ([`SPLIT_SIZE`](super::SPLIT_SIZE)).
    pub const SPLIT_SIZE: Range<usize> = 10..12;
    /// Where the payload starts.
    pub const SPLIT_PAYLOAD: usize = 12;
}

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
    /// The challenge: a stateless cookie of the source address, 32 bits of it.
    challenge: Stateless,
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
    /// a burst of as many. The challenge secret, the limiter's key and the first split
    /// reply id are drawn now, from OS entropy.
    pub fn new(limit_per_sec: u32) -> Query {
        Query::from_rng(limit_per_sec, &mut crate::seed::rng(None))
    }

    /// Like [`Query::new`], with every random draw made from a generator seeded with `seed`
    /// (a reproducible host).
    pub fn with_seed(limit_per_sec: u32, seed: u64) -> Query {
        Query::from_rng(limit_per_sec, &mut crate::seed::rng(Some(seed)))
    }

    fn from_rng(limit_per_sec: u32, rng: &mut StdRng) -> Query {
        Query {
            limit: RateLimiter::from_rng(LIMIT_ENTRIES, limit_per_sec, limit_per_sec, rng),
            challenge: Stateless::new(rng.gen(), rng.gen(), CHALLENGE_BUCKET_US),
            epoch: None,
            next_id: rng.gen(),
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
        // A reply that does not fit is not sent at all (never cut): counted as no room.
        let short = |_| DropReason::OutboxFull;
        if !given.is_some_and(|c| self.challenge_valid(now, src, c)) {
            // Unvalidated: 9 bytes, and every query is at least 9 bytes long.
            let challenge = self.challenge(now, src, 0);
            let n = reply::write_challenge(&mut out.msg, challenge).map_err(short)?;
            out.split(n, 0);
            return Ok(());
        }
        let n = match request {
            Request::Info(_) => reply::write_info(&mut out.msg, state),
            Request::Player(_) => reply::write_players(&mut out.msg, state),
            Request::Rules(_) => reply::write_rules(&mut out.msg, state),
        }
        .map_err(short)?;
        let id = self.next_id & 0x7FFF_7FFF;
        self.next_id = self.next_id.wrapping_add(1);
        out.split(n, id);
        Ok(())
    }

    /// Microseconds since the first `now` seen: the challenge's clock.
    fn clock_us(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        u64::try_from(now.saturating_duration_since(epoch).as_micros()).unwrap_or(u64::MAX)
    }

    /// The challenge for `src` in the time bucket `back` buckets before now's.
    fn challenge(&mut self, now: Instant, src: SocketAddr, back: u64) -> u32 {
        let at = self
            .clock_us(now)
            .saturating_sub(back.saturating_mul(CHALLENGE_BUCKET_US));
        // `ChallengeFields::fold` keeps 32 bits.
        self.challenge.issue(&ChallengeFields(src), at) as u32
    }

    fn challenge_valid(&mut self, now: Instant, src: SocketAddr, c: u32) -> bool {
        let now_us = self.clock_us(now);
        self.challenge
            .check(&ChallengeFields(src), now_us, u64::from(c))
    }
}

/// What an A2S challenge binds: the source address (an IPv4-mapped one as IPv4) and port.
struct ChallengeFields(SocketAddr);

impl Fields for ChallengeFields {
    fn write(&self, h: &mut SipHasher24) {
        match self.0.ip().to_canonical() {
            IpAddr::V4(a) => h.write(&a.octets()),
            IpAddr::V6(a) => h.write(&a.octets()),
        }
        h.write_u16(self.0.port());
    }

    /// 32 bits; never 0 or -1, which are what clients send to ask for a challenge.
    fn fold(mac: u64) -> u64 {
        match mac as u32 {
            0 | u32::MAX => 1,
            c => u64::from(c),
        }
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
    #[cfg(any(test, feature = "internal"))]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there is no reply.
    #[cfg(any(test, feature = "internal"))]
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
            dst[field::SPLIT_MAGIC].copy_from_slice(&SPLIT);
            dst[field::SPLIT_ID].copy_from_slice(&id.to_le_bytes());
            dst[field::SPLIT_TOTAL] = total as u8;
            dst[field::SPLIT_NUMBER] = i as u8;
            dst[field::SPLIT_SIZE].copy_from_slice(&(SPLIT_SIZE as u16).to_le_bytes());
            dst[field::SPLIT_PAYLOAD..].copy_from_slice(chunk);
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

#[cfg(test)]
mod tests;
