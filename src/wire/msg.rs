//! Payloads of the protocol messages (PROTOCOL.md sections 2 and 3).
//!
//! Each message has `parse(&[u8]) -> Result<Self, DropReason>` that checks the exact length
//! and every value, and `emit(&self, &mut [u8]) -> Result<usize, BufferTooSmall>` that
//! writes exactly `LEN` bytes at the start of the buffer (or nothing, on a short one). The
//! byte ranges are named in `field`, one module per message.

use super::header::{read_u16, read_u32, read_u64, MAX_PAYLOAD};
use super::{room, BufferTooSmall, DropReason};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Byte ranges of the message payloads (PROTOCOL.md sections 2 and 3).
mod field {
    pub(super) mod hello {
        use core::ops::Range;
        pub const PROTOCOL_ID: Range<usize> = 0..4;
        /// Reply address family: 0 (none), 4 or 6.
        pub const FAMILY: usize = 4;
        pub const PORT: Range<usize> = 5..7;
        /// The 16-byte address field; an IPv4 address fills its first 4 bytes.
        pub const ADDR: Range<usize> = 7..23;
        pub const ADDR_V4: Range<usize> = 7..11;
        /// The rest of the address field after an IPv4 address: zero.
        pub const ADDR_V4_TAIL: Range<usize> = 11..23;
        pub const TICKET: Range<usize> = 23..31;
        pub const COOKIE: Range<usize> = 31..39;
        /// The cookie received at the source address (when the reply address differs).
        pub const SOURCE_COOKIE: Range<usize> = 39..47;
        /// Zero padding to the end.
        pub const PADDING: Range<usize> = 47..48;
        pub const LEN: usize = PADDING.end;
    }

    /// TOKEN_HELLO (PROTOCOL.md section 8.2): HELLO's first 23 bytes, then the token's
    /// expiry, the cookies and its sealed part.
    pub(super) mod token_hello {
        use core::ops::Range;
        pub const EXPIRES: Range<usize> = 23..31;
        pub const COOKIE: Range<usize> = 31..39;
        pub const SOURCE_COOKIE: Range<usize> = 39..47;
        pub const SEALED: Range<usize> = 47..172;
        pub const LEN: usize = SEALED.end;
    }

    /// The plaintext of a secure ACCEPT (section 8.2).
    pub(super) mod secure_accept {
        use core::ops::Range;
        pub const TICK_HZ: Range<usize> = 0..2;
        pub const MAX_PAYLOAD: Range<usize> = 2..4;
        pub const TICK: Range<usize> = 4..8;
        pub const TIME_US: Range<usize> = 8..16;
        pub const RESERVED: Range<usize> = 16..20;
        pub const MATCH_KEY: Range<usize> = 20..52;
        pub const LEN: usize = MATCH_KEY.end;
    }

    pub(super) mod challenge {
        use core::ops::Range;
        pub const COOKIE: Range<usize> = 0..8;
        pub const LEN: usize = COOKIE.end;
    }

    pub(super) mod accept {
        use core::ops::Range;
        pub const TICK_HZ: Range<usize> = 0..2;
        pub const MAX_PAYLOAD: Range<usize> = 2..4;
        pub const TICK: Range<usize> = 4..8;
        pub const TIME_US: Range<usize> = 8..16;
        pub const LEN: usize = TIME_US.end;
    }

    pub(super) mod reject {
        pub const REASON: usize = 0;
        pub const LEN: usize = REASON + 1;
    }

    pub(super) mod snapshot {
        use core::ops::Range;
        pub const TICK: Range<usize> = 0..4;
        pub const TIME_US: Range<usize> = 4..12;
        pub const PART: usize = 12;
        pub const PARTS: usize = 13;
        /// Where the part body starts.
        pub const BODY: usize = 14;
    }
}

/// Largest snapshot part body: one datagram's payload ([`MAX_PAYLOAD`]) less the
/// snapshot prefix. The server's parts never exceed it and the client sizes its
/// reassembly buffers by it.
pub const MAX_PART_BODY: usize = MAX_PAYLOAD - SnapshotPrefix::LEN;

/// HELLO (0x01) payload, exactly 48 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// The application's protocol id.
    pub protocol_id: u32,
    /// Where the client wants answers; `None` = the datagram's source (family 0).
    pub reply: Option<SocketAddr>,
    /// Lobby ticket, 0 = none.
    pub ticket: u64,
    /// Challenge cookie, 0 in the first HELLO; then the cookie received at the reply
    /// address.
    pub cookie: u64,
    /// 0 unless the reply address is not the source; then the cookie received at the
    /// source address (PROTOCOL.md section 2).
    pub source_cookie: u64,
}

impl Hello {
    /// Payload size.
    pub const LEN: usize = field::hello::LEN;

    /// Parses and checks a HELLO payload: exact length, a known reply family, an IPv4
    /// address with zero tail bytes, a usable reply address (non-zero port, specified
    /// address), and zero padding.
    pub fn parse(d: &[u8]) -> Result<Hello, DropReason> {
        use field::hello::*;
        if d.len() != Self::LEN {
            return Err(DropReason::BadPayload);
        }
        if d[PADDING].iter().any(|&b| b != 0) {
            return Err(DropReason::BadPayload);
        }
        let reply = parse_reply(d)?;
        Ok(Hello {
            protocol_id: read_u32(&d[PROTOCOL_ID]),
            reply,
            ticket: read_u64(&d[TICKET]),
            cookie: read_u64(&d[COOKIE]),
            source_cookie: read_u64(&d[SOURCE_COOKIE]),
        })
    }

    /// Writes the 48-byte payload into `out[..48]`.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        use field::hello::*;
        let o = room(out, Self::LEN)?;
        o.fill(0);
        o[PROTOCOL_ID].copy_from_slice(&self.protocol_id.to_be_bytes());
        emit_reply(o, self.reply);
        o[TICKET].copy_from_slice(&self.ticket.to_be_bytes());
        o[COOKIE].copy_from_slice(&self.cookie.to_be_bytes());
        o[SOURCE_COOKIE].copy_from_slice(&self.source_cookie.to_be_bytes());
        Ok(Self::LEN)
    }
}

/// The reply address of a HELLO or TOKEN_HELLO (their bytes 4..23): a known family, an
/// IPv4 address with zero tail bytes, a usable address (non-zero port, specified, not
/// multicast); family 0 with every other byte zero is `None`.
fn parse_reply(d: &[u8]) -> Result<Option<SocketAddr>, DropReason> {
    use field::hello::*;
    let port = read_u16(&d[PORT]);
    let reply = match d[FAMILY] {
        0 => {
            if port != 0 || d[ADDR].iter().any(|&b| b != 0) {
                return Err(DropReason::BadPayload);
            }
            None
        }
        4 => {
            if d[ADDR_V4_TAIL].iter().any(|&b| b != 0) {
                return Err(DropReason::BadPayload);
            }
            let mut b = [0u8; 4];
            b.copy_from_slice(&d[ADDR_V4]);
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(b)), port))
        }
        6 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(&d[ADDR]);
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(b)), port))
        }
        _ => return Err(DropReason::BadPayload),
    };
    if let Some(r) = reply {
        if r.port() == 0 || r.ip().is_unspecified() || r.ip().is_multicast() {
            return Err(DropReason::BadReplyAddr);
        }
    }
    Ok(reply)
}

/// Writes a reply address into bytes 4..23 (which the caller zeroed).
fn emit_reply(o: &mut [u8], reply: Option<SocketAddr>) {
    use field::hello::*;
    match reply {
        None => {}
        Some(SocketAddr::V4(a)) => {
            o[FAMILY] = 4;
            o[PORT].copy_from_slice(&a.port().to_be_bytes());
            o[ADDR_V4].copy_from_slice(&a.ip().octets());
        }
        Some(SocketAddr::V6(a)) => {
            o[FAMILY] = 6;
            o[PORT].copy_from_slice(&a.port().to_be_bytes());
            o[ADDR].copy_from_slice(&a.ip().octets());
        }
    }
}

/// TOKEN_HELLO (0x07) payload, exactly 172 bytes (secure mode, PROTOCOL.md section 8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenHello {
    /// The application's protocol id.
    pub protocol_id: u32,
    /// Where the client wants answers; `None` = the datagram's source.
    pub reply: Option<SocketAddr>,
    /// The token's expiry (unix seconds), covered by its seal.
    pub expires: u64,
    /// As in HELLO.
    pub cookie: u64,
    /// As in HELLO.
    pub source_cookie: u64,
    /// The token's sealed part, as the issuer gave it.
    pub sealed: [u8; crate::secure::SEALED_LEN],
}

impl TokenHello {
    /// Payload size.
    pub const LEN: usize = field::token_hello::LEN;

    /// Parses a TOKEN_HELLO payload: exact length and the reply address as in HELLO.
    pub fn parse(d: &[u8]) -> Result<TokenHello, DropReason> {
        use field::token_hello::*;
        if d.len() != Self::LEN {
            return Err(DropReason::BadPayload);
        }
        let reply = parse_reply(d)?;
        let mut sealed = [0u8; crate::secure::SEALED_LEN];
        sealed.copy_from_slice(&d[SEALED]);
        Ok(TokenHello {
            protocol_id: read_u32(&d[field::hello::PROTOCOL_ID]),
            reply,
            expires: read_u64(&d[EXPIRES]),
            cookie: read_u64(&d[COOKIE]),
            source_cookie: read_u64(&d[SOURCE_COOKIE]),
            sealed,
        })
    }

    /// Writes the 172-byte payload into `out[..172]`.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        use field::token_hello::*;
        let o = room(out, Self::LEN)?;
        o.fill(0);
        o[field::hello::PROTOCOL_ID].copy_from_slice(&self.protocol_id.to_be_bytes());
        emit_reply(o, self.reply);
        o[EXPIRES].copy_from_slice(&self.expires.to_be_bytes());
        o[COOKIE].copy_from_slice(&self.cookie.to_be_bytes());
        o[SOURCE_COOKIE].copy_from_slice(&self.source_cookie.to_be_bytes());
        o[SEALED].copy_from_slice(&self.sealed);
        Ok(Self::LEN)
    }
}

/// The plaintext of a secure ACCEPT (PROTOCOL.md section 8.2), 52 bytes; sealed under
/// `Ks2c` with nonce `(1, S0)` and the header as additional data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecureAccept {
    /// Tick rate in Hz.
    pub tick_hz: u16,
    /// Largest plaintext the client may send (1171).
    pub max_payload: u16,
    /// The server's current tick.
    pub tick: u32,
    /// Server time, microseconds since the server started.
    pub time_us: u64,
    /// The match key: every snapshot part is sealed under it.
    pub match_key: crate::secure::Key,
}

impl SecureAccept {
    /// Plaintext size.
    pub const LEN: usize = field::secure_accept::LEN;

    /// Parses an opened plaintext: exact length, a non-zero tick rate, reserved zero.
    pub fn parse(d: &[u8]) -> Result<SecureAccept, DropReason> {
        use field::secure_accept::*;
        if d.len() != Self::LEN || read_u32(&d[RESERVED]) != 0 {
            return Err(DropReason::BadPayload);
        }
        let tick_hz = read_u16(&d[TICK_HZ]);
        if tick_hz == 0 {
            return Err(DropReason::BadPayload);
        }
        let mut k = [0u8; 32];
        k.copy_from_slice(&d[MATCH_KEY]);
        let match_key = crate::secure::Key::from_bytes(k);
        zeroize::Zeroize::zeroize(&mut k);
        Ok(SecureAccept {
            tick_hz,
            max_payload: read_u16(&d[MAX_PAYLOAD]),
            tick: read_u32(&d[TICK]),
            time_us: read_u64(&d[TIME_US]),
            match_key,
        })
    }

    /// Writes the 52-byte plaintext into `out[..52]`.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        use field::secure_accept::*;
        let o = room(out, Self::LEN)?;
        o[TICK_HZ].copy_from_slice(&self.tick_hz.to_be_bytes());
        o[MAX_PAYLOAD].copy_from_slice(&self.max_payload.to_be_bytes());
        o[TICK].copy_from_slice(&self.tick.to_be_bytes());
        o[TIME_US].copy_from_slice(&self.time_us.to_be_bytes());
        o[RESERVED].fill(0);
        o[MATCH_KEY].copy_from_slice(self.match_key.as_bytes());
        Ok(Self::LEN)
    }
}

/// CHALLENGE (0x02) payload: the cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    /// The cookie to echo in the next HELLO.
    pub cookie: u64,
}

impl Challenge {
    /// Payload size.
    pub const LEN: usize = field::challenge::LEN;
    /// Parses a CHALLENGE payload.
    pub fn parse(d: &[u8]) -> Result<Challenge, DropReason> {
        if d.len() != Self::LEN {
            return Err(DropReason::BadPayload);
        }
        Ok(Challenge {
            cookie: read_u64(&d[field::challenge::COOKIE]),
        })
    }
    /// Writes the payload into `out[..8]`.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let o = room(out, Self::LEN)?;
        o[field::challenge::COOKIE].copy_from_slice(&self.cookie.to_be_bytes());
        Ok(Self::LEN)
    }
}

/// ACCEPT (0x03) payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accept {
    /// Tick rate in Hz.
    pub tick_hz: u16,
    /// Largest payload the server accepts.
    pub max_payload: u16,
    /// The server's current tick.
    pub tick: u32,
    /// Server time, microseconds since the server started.
    pub time_us: u64,
}

impl Accept {
    /// Payload size.
    pub const LEN: usize = field::accept::LEN;
    /// Parses an ACCEPT payload.
    pub fn parse(d: &[u8]) -> Result<Accept, DropReason> {
        use field::accept::*;
        if d.len() != Self::LEN {
            return Err(DropReason::BadPayload);
        }
        let tick_hz = read_u16(&d[TICK_HZ]);
        if tick_hz == 0 {
            return Err(DropReason::BadPayload);
        }
        Ok(Accept {
            tick_hz,
            max_payload: read_u16(&d[MAX_PAYLOAD]),
            tick: read_u32(&d[TICK]),
            time_us: read_u64(&d[TIME_US]),
        })
    }
    /// Writes the payload into `out[..16]`.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        use field::accept::*;
        let o = room(out, Self::LEN)?;
        o[TICK_HZ].copy_from_slice(&self.tick_hz.to_be_bytes());
        o[MAX_PAYLOAD].copy_from_slice(&self.max_payload.to_be_bytes());
        o[TICK].copy_from_slice(&self.tick.to_be_bytes());
        o[TIME_US].copy_from_slice(&self.time_us.to_be_bytes());
        Ok(Self::LEN)
    }
}

/// Why the server refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// 1: every slot is taken.
    Full,
    /// 2: tickets are required and this one is missing, unknown or used.
    BadTicket,
    /// Any other value (from a newer server).
    Other(u8),
}

impl RejectReason {
    /// The reason byte.
    pub fn to_u8(self) -> u8 {
        match self {
            RejectReason::Full => 1,
            RejectReason::BadTicket => 2,
            RejectReason::Other(b) => b,
        }
    }
    /// Decodes a reason byte.
    pub fn from_u8(b: u8) -> RejectReason {
        match b {
            1 => RejectReason::Full,
            2 => RejectReason::BadTicket,
            b => RejectReason::Other(b),
        }
    }
}

/// REJECT (0x04) payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject {
    /// The reason.
    pub reason: RejectReason,
}

impl Reject {
    /// Payload size.
    pub const LEN: usize = field::reject::LEN;
    /// Parses a REJECT payload.
    pub fn parse(d: &[u8]) -> Result<Reject, DropReason> {
        if d.len() != Self::LEN {
            return Err(DropReason::BadPayload);
        }
        Ok(Reject {
            reason: RejectReason::from_u8(d[field::reject::REASON]),
        })
    }
    /// Writes the payload into `out[..1]`.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let o = room(out, Self::LEN)?;
        o[field::reject::REASON] = self.reason.to_u8();
        Ok(Self::LEN)
    }
}

/// The 14-byte prefix of a SNAPSHOT (0x06) payload; the body part follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPrefix {
    /// The tick.
    pub tick: u32,
    /// Server time of that tick, microseconds since the server started.
    pub time_us: u64,
    /// Part index, from 0.
    pub part: u8,
    /// Part count, at least 1.
    pub parts: u8,
}

impl SnapshotPrefix {
    /// Prefix size.
    pub const LEN: usize = field::snapshot::BODY;
    /// Parses the prefix of a SNAPSHOT payload and returns it with the body part.
    pub fn parse(d: &[u8]) -> Result<(SnapshotPrefix, &[u8]), DropReason> {
        use field::snapshot::*;
        if d.len() < Self::LEN {
            return Err(DropReason::BadPayload);
        }
        let p = SnapshotPrefix {
            tick: read_u32(&d[TICK]),
            time_us: read_u64(&d[TIME_US]),
            part: d[PART],
            parts: d[PARTS],
        };
        if p.parts == 0 || p.part >= p.parts {
            return Err(DropReason::BadPayload);
        }
        Ok((p, &d[BODY..]))
    }
    /// Writes the prefix into `out[..14]`.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        use field::snapshot::*;
        let o = room(out, Self::LEN)?;
        o[TICK].copy_from_slice(&self.tick.to_be_bytes());
        o[TIME_US].copy_from_slice(&self.time_us.to_be_bytes());
        o[PART] = self.part;
        o[PARTS] = self.parts;
        Ok(Self::LEN)
    }
}

#[cfg(test)]
impl Hello {
    /// A whole HELLO datagram (header and payload), reply to the source, no ticket, with
    /// this cookie: the first step of every handshake in the crate's unit tests.
    pub(crate) fn test_datagram(cookie: u64) -> Vec<u8> {
        use super::header::{flags, Header, HEADER_LEN};
        use super::Kind;
        let mut b = vec![0u8; HEADER_LEN + Hello::LEN];
        let h = Header {
            flags: flags::CONNECT,
            seq: 0,
            ack: 0,
            qport: 0,
            kind: Kind::Hello.to_u8(),
            len: Hello::LEN as u16,
        };
        let n = h.emit(&mut b).unwrap();
        let hello = Hello {
            protocol_id: 0,
            reply: None,
            ticket: 0,
            cookie,
            source_cookie: 0,
        };
        hello.emit(&mut b[n..]).unwrap();
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_hello_v4() {
        let h = Hello {
            protocol_id: 0x0102_0304,
            reply: Some("10.0.0.1:7777".parse().unwrap()),
            ticket: 0x1112_1314_1516_1718,
            cookie: 0x2122_2324_2526_2728,
            source_cookie: 0x3132_3334_3536_3738,
        };
        let mut b = [0xEEu8; 48];
        h.emit(&mut b).unwrap();
        let mut golden = [0u8; 48];
        golden[..23].copy_from_slice(&[
            1, 2, 3, 4, 4, 0x1E, 0x61, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        golden[23..31].copy_from_slice(&[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]);
        golden[31..39].copy_from_slice(&[0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28]);
        golden[39..47].copy_from_slice(&[0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38]);
        assert_eq!(b, golden);
        assert_eq!(Hello::parse(&b), Ok(h));
    }

    #[test]
    fn golden_hello_v6_and_family0() {
        let h = Hello {
            protocol_id: 0,
            reply: Some("[::1]:9".parse().unwrap()),
            ticket: 0,
            cookie: 0,
            source_cookie: 0,
        };
        let mut b = [0u8; 48];
        h.emit(&mut b).unwrap();
        assert_eq!(b[4], 6);
        assert_eq!(&b[5..7], &[0, 9]);
        assert_eq!(b[22], 1);
        assert_eq!(Hello::parse(&b), Ok(h));
        let h0 = Hello { reply: None, ..h };
        h0.emit(&mut b).unwrap();
        assert_eq!(b, [0u8; 48]);
        assert_eq!(Hello::parse(&b), Ok(h0));
    }

    #[test]
    fn hello_rejects_bad_shapes() {
        let mut b = [0u8; 48];
        assert_eq!(Hello::parse(&b[..47]), Err(DropReason::BadPayload));
        b[47] = 1; // padding
        assert_eq!(Hello::parse(&b), Err(DropReason::BadPayload));
        b[47] = 0;
        b[4] = 5; // family
        assert_eq!(Hello::parse(&b), Err(DropReason::BadPayload));
        b[4] = 4; // v4 with port 0
        b[7] = 10;
        assert_eq!(Hello::parse(&b), Err(DropReason::BadReplyAddr));
        b[6] = 1;
        b[12] = 1; // v4 tail byte
        assert_eq!(Hello::parse(&b), Err(DropReason::BadPayload));
        b[12] = 0;
        assert!(Hello::parse(&b).is_ok());
        b[4] = 0; // family 0 with an address
        assert_eq!(Hello::parse(&b), Err(DropReason::BadPayload));
    }

    #[test]
    fn golden_accept_challenge_reject_prefix() {
        let mut b = [0u8; 16];
        Accept {
            tick_hz: 60,
            max_payload: 1187,
            tick: 0x0A0B_0C0D,
            time_us: 0x0102_0304_0506_0708,
        }
        .emit(&mut b)
        .unwrap();
        assert_eq!(
            b,
            [0, 60, 0x04, 0xA3, 10, 11, 12, 13, 1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(Accept::parse(&b).unwrap().max_payload, 1187);

        let mut c = [0u8; 8];
        Challenge {
            cookie: 0xDEAD_BEEF_0000_0001,
        }
        .emit(&mut c)
        .unwrap();
        assert_eq!(c, [0xDE, 0xAD, 0xBE, 0xEF, 0, 0, 0, 1]);
        assert_eq!(Challenge::parse(&c).unwrap().cookie, 0xDEAD_BEEF_0000_0001);

        let mut r = [0u8; 1];
        Reject {
            reason: RejectReason::BadTicket,
        }
        .emit(&mut r)
        .unwrap();
        assert_eq!(r, [2]);
        assert_eq!(Reject::parse(&[1]).unwrap().reason, RejectReason::Full);
        assert!(Reject::parse(&[]).is_err());

        let mut p = [0u8; 15];
        SnapshotPrefix {
            tick: 7,
            time_us: 9,
            part: 1,
            parts: 2,
        }
        .emit(&mut p)
        .unwrap();
        assert_eq!(&p[..14], &[0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 9, 1, 2]);
        let (sp, body) = SnapshotPrefix::parse(&p).unwrap();
        assert_eq!((sp.part, sp.parts, body.len()), (1, 2, 1));
        p[12] = 2;
        assert!(SnapshotPrefix::parse(&p).is_err());
    }

    #[test]
    fn every_writer_refuses_a_short_buffer_and_writes_nothing() {
        let hello = Hello {
            protocol_id: 1,
            reply: None,
            ticket: 2,
            cookie: 3,
            source_cookie: 4,
        };
        let accept = Accept {
            tick_hz: 60,
            max_payload: 1187,
            tick: 1,
            time_us: 2,
        };
        let prefix = SnapshotPrefix {
            tick: 1,
            time_us: 2,
            part: 0,
            parts: 1,
        };
        let mut b = [0xEEu8; 64];
        let short = BufferTooSmall { needed: Hello::LEN };
        assert_eq!(hello.emit(&mut b[..47]), Err(short));
        assert_eq!(
            Challenge { cookie: 1 }
                .emit(&mut b[..7])
                .unwrap_err()
                .needed,
            8
        );
        assert_eq!(accept.emit(&mut b[..15]).unwrap_err().needed, 16);
        let reject = Reject {
            reason: RejectReason::Full,
        };
        assert_eq!(reject.emit(&mut []).unwrap_err().needed, 1);
        assert_eq!(prefix.emit(&mut b[..13]).unwrap_err().needed, 14);
        assert!(b.iter().all(|&x| x == 0xEE), "nothing written");
        assert_eq!(hello.emit(&mut b), Ok(48));
        assert_eq!(prefix.emit(&mut b), Ok(14));
    }
}
