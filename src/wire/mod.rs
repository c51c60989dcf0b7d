//! Wire formats of the game port: pure, no I/O, no allocation.
//!
//! [`Packet`] is a checked in-place view of the 13-byte header and [`Header`] its value;
//! the messages' payloads (HELLO, CHALLENGE, ACCEPT, REJECT, the snapshot prefix) are
//! parsed and written inside the crate, by the [`Server`](crate::Server) and the
//! [`Client`](crate::client::Client). Every failed check is a [`DropReason`], a small `Copy` reason that
//! the server counts, and [`DropCounts`] is the one table both ends count them in.
//!
//! # Layouts and writers
//!
//! Every layout names its byte ranges in a private `field` module (smoltcp's habit); no
//! accessor or writer uses a literal offset. Every writer (`Header::emit` and the
//! messages' `emit`) has one contract: it writes exactly its length at the start of the
//! buffer and returns `Ok(len)`, or writes nothing and returns [`BufferTooSmall`]. No
//! writer panics or truncates.
//!
//! # Sizes
//!
//! One chain, each derived from the one before: [`MAX_DATAGRAM`] (1200) less the header is
//! [`MAX_PAYLOAD`] (1187, ACCEPT's `max_payload`), less the snapshot prefix is
//! the largest snapshot part body (1173 bytes). The sequence window accepts seqs at most 1024
//! ahead of the newest.

pub(crate) mod demux;
mod header;
pub(crate) mod msg;
pub(crate) mod window;

pub(crate) use demux::{demux, Demux};
pub use header::{flags, Direction, Header, Packet, HEADER_LEN, MAX_PAYLOAD};
pub use msg::RejectReason;
pub(crate) use msg::{
    Accept, Challenge, Hello, Reject, SecureAccept, SnapshotPrefix, TokenHello, MAX_PART_BODY,
};
pub(crate) use window::{SeqVerdict, SeqWindow};

/// Largest datagram on the game port, header included.
pub const MAX_DATAGRAM: usize = 1200;

/// A writer was given a buffer shorter than what it writes; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferTooSmall {
    /// Bytes the writer needs.
    pub needed: usize,
}

impl core::fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "buffer too small: {} bytes needed", self.needed)
    }
}

impl std::error::Error for BufferTooSmall {}

/// The first `n` bytes of `buf`, or [`BufferTooSmall`]: how every writer starts.
#[inline]
pub(crate) fn room(buf: &mut [u8], n: usize) -> Result<&mut [u8], BufferTooSmall> {
    buf.get_mut(..n).ok_or(BufferTooSmall { needed: n })
}

/// A message kind (PROTOCOL.md section 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 0x00, both directions: nothing to say, still here.
    Keepalive,
    /// 0x01, client to server: asks to connect.
    Hello,
    /// 0x02, server to client: the cookie to send back.
    Challenge,
    /// 0x03, server to client: connected.
    Accept,
    /// 0x04, server to client: refused.
    Reject,
    /// 0x05, both directions: the connection ends.
    Bye,
    /// 0x06, server to client: a part of a world snapshot.
    Snapshot,
    /// 0x07, client to server, secure mode only: asks to connect with a connect token
    /// (PROTOCOL.md section 8.2).
    TokenHello,
    /// 0x10..=0xFF: the game's own kinds.
    Game(u8),
}

impl Kind {
    /// First kind number that belongs to the game.
    pub const FIRST_GAME: u8 = 0x10;

    /// Decodes a kind byte; `None` for the unassigned protocol kinds `0x08..=0x0F`.
    #[inline]
    pub fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            0x00 => Kind::Keepalive,
            0x01 => Kind::Hello,
            0x02 => Kind::Challenge,
            0x03 => Kind::Accept,
            0x04 => Kind::Reject,
            0x05 => Kind::Bye,
            0x06 => Kind::Snapshot,
            0x07 => Kind::TokenHello,
            0x08..=0x0F => return None,
            g => Kind::Game(g),
        })
    }

    /// The kind byte.
    #[inline]
    pub fn to_u8(self) -> u8 {
        match self {
            Kind::Keepalive => 0x00,
            Kind::Hello => 0x01,
            Kind::Challenge => 0x02,
            Kind::Accept => 0x03,
            Kind::Reject => 0x04,
            Kind::Bye => 0x05,
            Kind::Snapshot => 0x06,
            Kind::TokenHello => 0x07,
            Kind::Game(g) => g,
        }
    }

    /// Whether this kind may travel in `dir`.
    #[inline]
    pub fn allowed(self, dir: Direction) -> bool {
        match self {
            Kind::Keepalive | Kind::Bye | Kind::Game(_) => true,
            Kind::Hello | Kind::TokenHello => dir == Direction::ToServer,
            Kind::Challenge | Kind::Accept | Kind::Reject | Kind::Snapshot => {
                dir == Direction::ToClient
            }
        }
    }

    /// The flags this kind must carry, and the ones it may carry besides (ACK, where the
    /// kind has one, may be absent until something was received).
    #[inline]
    pub fn flags(self, _dir: Direction) -> (u8, u8) {
        use flags::*;
        match self {
            Kind::Keepalive | Kind::Snapshot | Kind::Game(_) => (SEQ, ACK),
            Kind::Hello | Kind::TokenHello | Kind::Challenge | Kind::Reject => (CONNECT, 0),
            Kind::Accept => (CONNECT | SEQ, ACK),
            Kind::Bye => (DISCONNECT | SEQ, 0),
        }
    }

    /// The exact flags to send with this kind: its required flags, plus ACK when `acked`
    /// and the kind has one.
    #[inline]
    pub fn send_flags(self, acked: bool) -> u8 {
        let (must, may) = self.flags(Direction::ToClient);
        if acked {
            must | may
        } else {
            must
        }
    }
}

macro_rules! drops {
    ($($(#[$doc:meta])* $name:ident = $label:literal,)*) => {
        /// Why a datagram was dropped. Every drop is counted under its reason.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason {
            $($(#[$doc])* $name,)*
        }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$name,)*];
            /// How many reasons there are.
            pub const COUNT: usize = DropReason::ALL.len();

            /// A short snake_case label, used in logs and stats.
            pub fn label(self) -> &'static str {
                match self { $(DropReason::$name => $label,)* }
            }
        }
    };
}

drops! {
    /// Shorter than the 13-byte header.
    TooShort = "too_short",
    /// Size is not exactly `13 + len`, or over 1200 bytes.
    BadLength = "bad_length",
    /// A reserved flag bit is set.
    ReservedFlag = "reserved_flag",
    /// The kind is unassigned, or a game kind the game does not know.
    UnknownKind = "unknown_kind",
    /// The kind may not travel in this direction.
    WrongDirection = "wrong_direction",
    /// The flags are not exactly the kind's.
    BadFlags = "bad_flags",
    /// The payload has the wrong shape for its kind.
    BadPayload = "bad_payload",
    /// HELLO with another application's protocol id.
    ProtocolId = "protocol_id",
    /// HELLO whose reply address cannot be used.
    BadReplyAddr = "bad_reply_addr",
    /// No connected client has this qport.
    UnknownQport = "unknown_qport",
    /// The qport's client is pinned to another source address.
    WrongSource = "wrong_source",
    /// Seq equal to the newest seen.
    Duplicate = "duplicate",
    /// Seq older than the newest seen, not seen before, within the last 64: reordered.
    Late = "late",
    /// Seq older than the newest seen, further back than the window remembers.
    Old = "old",
    /// Seq more than 1024 ahead of the newest seen.
    FarAhead = "far_ahead",
    /// Ack of a seq the server never sent.
    BadAck = "bad_ack",
    /// A connected-only kind (or HELLO) sent with the wrong qport.
    BadQport = "bad_qport",
    /// No room to queue the answer this turn.
    OutboxFull = "outbox_full",
    /// HELLO left unanswered: every CHALLENGE it called for was over the per-IP limit.
    ChallengeLimited = "challenge_limited",
    /// Looks like STUN but does not parse: too short, bad header, bad length, an attribute
    /// that overruns the message or has the wrong size.
    StunMalformed = "stun_malformed",
    /// STUN message that is not a Binding Request (another method or class).
    StunNotBinding = "stun_not_binding",
    /// STUN FINGERPRINT that does not match, or is not the last attribute.
    StunBadFingerprint = "stun_bad_fingerprint",
    /// STUN comprehension-required attribute (type below 0x8000) that we do not know.
    StunUnknownAttribute = "stun_unknown_attribute",
    /// STUN request with MESSAGE-INTEGRITY: we have no credentials to check it with.
    StunIntegrity = "stun_integrity",
    /// STUN request over the per-source answer limit.
    StunRateLimited = "stun_rate_limited",
    /// A2S query that does not parse or is not supported.
    QueryMalformed = "query_malformed",
    /// A2S query over the per-source answer limit.
    QueryRateLimited = "query_rate_limited",
    /// Secure mode: a datagram that does not open under its key, or a snapshot whose
    /// per-client tag does not match (forged, corrupt, or under another key).
    BadAuth = "bad_auth",
    /// Secure mode: a TOKEN_HELLO whose token does not open under the fleet key (another
    /// fleet, another protocol id, a changed expiry, corrupt), or holds a bad name.
    BadToken = "bad_token",
    /// Secure mode: a TOKEN_HELLO whose token expired.
    TokenExpired = "token_expired",
    /// Secure mode: a token scoped to another server id.
    TokenScope = "token_scope",
    /// Secure mode: a token that was redeemed before (one token, one connection).
    TokenReused = "token_reused",
    /// Secure mode: the memory of redeemed tokens has no room for one more; it is refused
    /// rather than admitted without being remembered.
    TokenMemoryFull = "token_memory_full",
    /// Secure mode: a TOKEN_HELLO from a source that is connected with another token.
    AlreadyConnected = "already_connected",
    /// Secure mode: a plain HELLO (only TOKEN_HELLO admits).
    SecureOnly = "secure_only",
    /// Not in secure mode: a TOKEN_HELLO.
    NotSecure = "not_secure",
}

/// Drop counters, one per [`DropReason`]: the one table the server ([`Stats`]) and the
/// client ([`ClientStats`]) keep.
///
/// The vocabulary is [`DropCounts::get`] for one reason and [`DropCounts::total`] for all of
/// them. (`Stats::dropped`/`Stats::drop_count` and `ClientStats::dropped`/`dropped_total`
/// are older names for these.)
///
/// [`Stats`]: crate::proto::Stats
/// [`ClientStats`]: crate::client::ClientStats
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropCounts([u64; DropReason::COUNT]);

impl Default for DropCounts {
    fn default() -> DropCounts {
        DropCounts::new()
    }
}

impl DropCounts {
    /// Every counter at zero.
    pub const fn new() -> DropCounts {
        DropCounts([0; DropReason::COUNT])
    }

    /// Counts one drop for `reason`.
    #[inline]
    pub fn add(&mut self, reason: DropReason) {
        self.0[reason as usize] += 1;
    }

    /// Drops for one reason.
    #[inline]
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason as usize]
    }

    /// Drops over all reasons.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds another table's counts to these.
    pub fn merge(&mut self, o: &DropCounts) {
        for (a, b) in self.0.iter_mut().zip(o.0.iter()) {
            *a += b;
        }
    }

    /// Every reason with its count, in [`DropReason::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(move |&r| (r, self.get(r)))
    }
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.label())
    }
}

/// Serial-number comparison over u32 (RFC 1982): whether `a` is newer than `b`.
#[inline]
pub fn seq_newer(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for b in 0..=255u8 {
            match Kind::from_u8(b) {
                Some(k) => assert_eq!(k.to_u8(), b),
                None => assert!((0x07..=0x0F).contains(&b)),
            }
        }
    }

    #[test]
    fn demux_by_first_bytes() {
        assert_eq!(demux(&[0xFF, 0xFF, 0xFF, 0xFF, 0x54]), Demux::Query);
        assert_eq!(demux(&[0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42]), Demux::Stun);
        assert_eq!(demux(&[1, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42]), Demux::Stun);
        assert_eq!(demux(&[2, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42]), Demux::Game);
        assert_eq!(demux(&[0xFF, 0xFF, 0xFF]), Demux::Game);
        assert_eq!(demux(&[]), Demux::Game);
    }

    #[test]
    fn serial_arithmetic_wraps() {
        assert!(seq_newer(1, 0));
        assert!(seq_newer(0, u32::MAX));
        assert!(!seq_newer(u32::MAX, 0));
        assert!(!seq_newer(5, 5));
    }

    #[test]
    fn drop_counts_get_and_total() {
        let mut d = DropCounts::new();
        d.add(DropReason::Late);
        d.add(DropReason::Late);
        d.add(DropReason::BadAck);
        assert_eq!(d.get(DropReason::Late), 2);
        assert_eq!(d.total(), 3);
        let mut e = DropCounts::default();
        e.merge(&d);
        e.merge(&d);
        assert_eq!(e.get(DropReason::BadAck), 2);
        assert_eq!(e.iter().filter(|&(_, n)| n > 0).count(), 2);
    }

    #[test]
    fn drop_labels_unique() {
        for (i, a) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*a as usize, i);
            for b in &DropReason::ALL[i + 1..] {
                assert_ne!(a.label(), b.label());
            }
        }
    }
}
