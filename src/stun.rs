//! STUN Binding (RFC 5389) on the game port (PROTOCOL.md section 6).
//!
//! The server side, [`Stun::handle`], answers a Binding Request with a Binding Success
//! Response carrying XOR-MAPPED-ADDRESS, and FINGERPRINT when the request had one. Everything
//! else that looks like STUN is dropped with a named reason: no error responses are sent, so
//! a spoofed source cannot get more than a small, rate-limited answer. No SOFTWARE attribute
//! is sent, for the same reason: an answer to the smallest request (20 bytes) is 32 bytes for
//! IPv4 and 44 for IPv6, 8 more with FINGERPRINT.
//!
//! The client side, [`binding_request`] and [`parse_binding_response`], is what the client
//! library uses to learn its public address from the server it is about to join.
//!
//! Parsing reads through checked slices only (`get`), never indexes, and allocates nothing.

use crate::limit::RateLimiter;
use crate::wire::DropReason;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

/// The fixed STUN magic cookie (RFC 5389 section 6).
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Size of the STUN header.
pub const HEADER_LEN: usize = 20;
/// Answers allowed per second per source IP by default (and the burst).
pub const DEFAULT_LIMIT_PER_SEC: u32 = 20;
/// Size of a [`binding_request`]: the header and a FINGERPRINT.
pub const BINDING_REQUEST_LEN: usize = HEADER_LEN + 8;
/// Largest answer [`Stun::handle`] writes (IPv6 with FINGERPRINT).
pub const MAX_RESPONSE_LEN: usize = HEADER_LEN + 24 + 8;
/// Buckets in the per-source rate limiter.
const LIMIT_BUCKETS: usize = 4096;

/// STUN message types (method and class combined) and attribute types.
mod ty {
    pub const BINDING_REQUEST: u16 = 0x0001;
    pub const BINDING_SUCCESS: u16 = 0x0101;
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    pub const USERNAME: u16 = 0x0006;
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    pub const ERROR_CODE: u16 = 0x0009;
    pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
    pub const REALM: u16 = 0x0014;
    pub const NONCE: u16 = 0x0015;
    pub const MESSAGE_INTEGRITY_SHA256: u16 = 0x001C;
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    pub const FINGERPRINT: u16 = 0x8028;
}

/// XORed into the CRC-32 of FINGERPRINT ("STUN").
const FINGERPRINT_XOR: u32 = 0x5354_554E;

/// The STUN Binding server: checks requests and writes answers, with a per-source limit.
#[derive(Debug)]
pub struct Stun {
    limit: RateLimiter,
}

impl Stun {
    /// A server that answers each source IP at most `limit_per_sec` times a second, with a
    /// burst of as many (PROTOCOL.md asks for at least 10; [`DEFAULT_LIMIT_PER_SEC`] is 20).
    pub fn new(limit_per_sec: u32) -> Stun {
        Stun {
            limit: RateLimiter::new(LIMIT_BUCKETS, limit_per_sec, limit_per_sec),
        }
    }

    /// Checks the datagram `req` from `src` and writes a Binding Success Response into
    /// `out`, returning its length; or says why the datagram is dropped.
    ///
    /// `out` needs [`MAX_RESPONSE_LEN`] bytes (the caller's 1200-byte buffers are plenty); a
    /// shorter one gives [`DropReason::OutboxFull`]. The limit is only charged for valid requests,
    /// so junk cannot use up a source's answers.
    pub fn handle(
        &mut self,
        now: Instant,
        src: SocketAddr,
        req: &[u8],
        out: &mut [u8],
    ) -> Result<usize, DropReason> {
        let (txn, fingerprint) = check_request(req)?;
        if !self.limit.allow(now, src.ip()) {
            return Err(DropReason::StunRateLimited);
        }
        write_response(src, txn, fingerprint, out).ok_or(DropReason::OutboxFull)
    }
}

impl Default for Stun {
    fn default() -> Self {
        Stun::new(DEFAULT_LIMIT_PER_SEC)
    }
}

/// Writes a Binding Request with transaction id `txn` and a FINGERPRINT into `out`, and
/// returns its length ([`BINDING_REQUEST_LEN`]), or 0 if `out` is shorter than that.
pub fn binding_request(txn: [u8; 12], out: &mut [u8]) -> usize {
    let Some(buf) = out.get_mut(..BINDING_REQUEST_LEN) else {
        return 0;
    };
    write_header(buf, ty::BINDING_REQUEST, 8, &txn);
    finish_with_fingerprint(buf, HEADER_LEN);
    BINDING_REQUEST_LEN
}

/// Reads a Binding Success Response to the request with transaction id `txn`: the mapped
/// address from XOR-MAPPED-ADDRESS, or from MAPPED-ADDRESS when there is no XOR-MAPPED-ADDRESS
/// (old servers). `None` for anything else: another transaction, another class or method, a
/// bad length or attribute, a FINGERPRINT that is wrong or not last.
pub fn parse_binding_response(resp: &[u8], txn: &[u8; 12]) -> Option<SocketAddr> {
    let header = check_header(resp).ok()?;
    if header.ty != ty::BINDING_SUCCESS || header.txn != txn {
        return None;
    }
    let mut xor_mapped = None;
    let mut mapped = None;
    for attr in Attrs::new(resp) {
        let attr = attr.ok()?;
        match attr.ty {
            ty::XOR_MAPPED_ADDRESS if xor_mapped.is_none() => {
                xor_mapped = Some(read_address(attr.value, Some(txn))?);
            }
            ty::MAPPED_ADDRESS if mapped.is_none() => {
                mapped = Some(read_address(attr.value, None)?);
            }
            _ => {}
        }
    }
    xor_mapped.or(mapped)
}

/// A checked header.
struct Header<'a> {
    ty: u16,
    txn: &'a [u8; 12],
}

fn check_header(m: &[u8]) -> Result<Header<'_>, DropReason> {
    let (Some(ty), Some(len), Some(cookie), Some(txn)) = (
        be16(m, 0),
        be16(m, 2),
        be32(m, 4),
        m.get(8..HEADER_LEN)
            .and_then(|t| <&[u8; 12]>::try_from(t).ok()),
    ) else {
        return Err(DropReason::StunMalformed);
    };
    // The top two bits of the type are zero; the length counts the attributes, a multiple
    // of 4 that fills the datagram exactly.
    if ty & 0xC000 != 0
        || cookie != MAGIC_COOKIE
        || len % 4 != 0
        || usize::from(len) + HEADER_LEN != m.len()
    {
        return Err(DropReason::StunMalformed);
    }
    Ok(Header { ty, txn })
}

/// Checks a Binding Request; returns its transaction id and whether it had a FINGERPRINT.
fn check_request(req: &[u8]) -> Result<(&[u8; 12], bool), DropReason> {
    let header = check_header(req)?;
    if header.ty != ty::BINDING_REQUEST {
        return Err(DropReason::StunNotBinding);
    }
    let mut fingerprint = false;
    for attr in Attrs::new(req) {
        let attr = attr?;
        match attr.ty {
            ty::MESSAGE_INTEGRITY | ty::MESSAGE_INTEGRITY_SHA256 => {
                return Err(DropReason::StunIntegrity)
            }
            // Known, and harmless to ignore without credentials.
            ty::MAPPED_ADDRESS
            | ty::USERNAME
            | ty::ERROR_CODE
            | ty::UNKNOWN_ATTRIBUTES
            | ty::REALM
            | ty::NONCE
            | ty::XOR_MAPPED_ADDRESS => {}
            t if t < 0x8000 => return Err(DropReason::StunUnknownAttribute),
            ty::FINGERPRINT => fingerprint = true,
            // Comprehension-optional: ignored (RFC 5389 section 15).
            _ => {}
        }
    }
    Ok((header.txn, fingerprint))
}

/// One attribute: its type and its value (without padding).
struct Attr<'a> {
    ty: u16,
    value: &'a [u8],
}

/// Walks the attributes of a message whose header was checked, and checks the framing and
/// the FINGERPRINT on the way: an error ends the walk.
struct Attrs<'a> {
    msg: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Attrs<'a> {
    fn new(msg: &'a [u8]) -> Self {
        Attrs {
            msg,
            pos: HEADER_LEN,
            done: false,
        }
    }

    fn step(&mut self) -> Result<Attr<'a>, DropReason> {
        let at = self.pos;
        let (Some(ty), Some(len)) = (be16(self.msg, at), be16(self.msg, at + 2)) else {
            return Err(DropReason::StunMalformed);
        };
        let len = usize::from(len);
        let end = at + 4 + len.div_ceil(4) * 4;
        let Some(value) = self.msg.get(at + 4..at + 4 + len) else {
            return Err(DropReason::StunMalformed);
        };
        if end > self.msg.len() {
            return Err(DropReason::StunMalformed);
        }
        if ty == ty::FINGERPRINT {
            // The last attribute, 4 bytes, CRC-32 of everything before it XOR "STUN".
            if end != self.msg.len() {
                return Err(DropReason::StunBadFingerprint);
            }
            let (Some(got), Some(before)) = (be32(value, 0), self.msg.get(..at)) else {
                return Err(DropReason::StunMalformed);
            };
            if len != 4 {
                return Err(DropReason::StunMalformed);
            }
            if crc32fast::hash(before) ^ FINGERPRINT_XOR != got {
                return Err(DropReason::StunBadFingerprint);
            }
        }
        self.pos = end;
        Ok(Attr { ty, value })
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, DropReason>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.msg.len() {
            return None;
        }
        let r = self.step();
        self.done = r.is_err();
        Some(r)
    }
}

/// Reads a (XOR-)MAPPED-ADDRESS value; `txn` is given for the XOR form.
fn read_address(v: &[u8], txn: Option<&[u8; 12]>) -> Option<SocketAddr> {
    let (family, port) = (*v.get(1)?, be16(v, 2)?);
    let mut key = [0u8; 16];
    if let Some(txn) = txn {
        key[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        key[4..].copy_from_slice(txn);
    }
    let port = port ^ u16::from_be_bytes([key[0], key[1]]);
    let ip = match (family, v.len()) {
        (0x01, 8) => {
            let mut a = [0u8; 4];
            for ((a, b), k) in a.iter_mut().zip(v.get(4..8)?).zip(key) {
                *a = b ^ k;
            }
            IpAddr::V4(Ipv4Addr::from(a))
        }
        (0x02, 20) => {
            let mut a = [0u8; 16];
            for ((a, b), k) in a.iter_mut().zip(v.get(4..20)?).zip(key) {
                *a = b ^ k;
            }
            IpAddr::V6(Ipv6Addr::from(a))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Writes the response for `src` into `out`; `None` if `out` is too short.
fn write_response(
    src: SocketAddr,
    txn: &[u8; 12],
    fingerprint: bool,
    out: &mut [u8],
) -> Option<usize> {
    let mut key = [0u8; 16];
    key[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    key[4..].copy_from_slice(txn);
    // An IPv4-mapped IPv6 source (a dual-stack socket) is an IPv4 client.
    let (family, addr, addr_len): (u8, [u8; 16], usize) = match src.ip().to_canonical() {
        IpAddr::V4(a) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&a.octets());
            (0x01, b, 4)
        }
        IpAddr::V6(a) => (0x02, a.octets(), 16),
    };
    let xma_len = 4 + addr_len;
    let attrs_len = 4 + xma_len + if fingerprint { 8 } else { 0 };
    let total = HEADER_LEN + attrs_len;
    let buf = out.get_mut(..total)?;
    write_header(buf, ty::BINDING_SUCCESS, attrs_len as u16, txn);
    let xma = buf.get_mut(HEADER_LEN..HEADER_LEN + 4 + xma_len)?;
    xma[..2].copy_from_slice(&ty::XOR_MAPPED_ADDRESS.to_be_bytes());
    xma[2..4].copy_from_slice(&(xma_len as u16).to_be_bytes());
    xma[4] = 0;
    xma[5] = family;
    let port = src.port() ^ (MAGIC_COOKIE >> 16) as u16;
    xma[6..8].copy_from_slice(&port.to_be_bytes());
    for ((o, a), k) in xma[8..].iter_mut().zip(&addr[..addr_len]).zip(key) {
        *o = a ^ k;
    }
    if fingerprint {
        finish_with_fingerprint(buf, HEADER_LEN + 4 + xma_len);
    }
    Some(total)
}

/// Writes the 20-byte header into `buf` (at least 20 bytes long).
fn write_header(buf: &mut [u8], ty: u16, len: u16, txn: &[u8; 12]) {
    buf[..2].copy_from_slice(&ty.to_be_bytes());
    buf[2..4].copy_from_slice(&len.to_be_bytes());
    buf[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    buf[8..20].copy_from_slice(txn);
}

/// Writes FINGERPRINT at `at`, the last 8 bytes of `buf`, whose header length already
/// counts it.
fn finish_with_fingerprint(buf: &mut [u8], at: usize) {
    let crc = crc32fast::hash(&buf[..at]) ^ FINGERPRINT_XOR;
    buf[at..at + 2].copy_from_slice(&ty::FINGERPRINT.to_be_bytes());
    buf[at + 2..at + 4].copy_from_slice(&4u16.to_be_bytes());
    buf[at + 4..at + 8].copy_from_slice(&crc.to_be_bytes());
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    /// The transaction id of the RFC 5769 test vectors.
    const TXN: [u8; 12] = [
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    ];

    /// `binding_request(TXN)`: the header and a FINGERPRINT.
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x00, 0x08, // Binding Request, 8 bytes of attributes
        0x21, 0x12, 0xa4, 0x42, // magic cookie
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, // txn
        0x80, 0x28, 0x00, 0x04, // FINGERPRINT
        0xfd, 0xf6, 0xae, 0x02,
    ];

    /// Our answer to `REQUEST` from 192.0.2.1:32853: XOR-MAPPED-ADDRESS as in RFC 5769
    /// section 2.2, then FINGERPRINT.
    const RESPONSE_V4: [u8; 40] = [
        0x01, 0x01, 0x00, 0x14, // Binding Success Response, 20 bytes of attributes
        0x21, 0x12, 0xa4, 0x42, // magic cookie
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, // txn
        0x00, 0x20, 0x00, 0x08, // XOR-MAPPED-ADDRESS
        0x00, 0x01, 0xa1, 0x47, // IPv4, port 32853 ^ 0x2112
        0xe1, 0x12, 0xa6, 0x43, // 192.0.2.1 ^ magic
        0x80, 0x28, 0x00, 0x04, // FINGERPRINT
        0x7d, 0x28, 0x1f, 0x59,
    ];

    /// The Binding Success Response of RFC 5769 section 2.2 (SOFTWARE, XOR-MAPPED-ADDRESS,
    /// MESSAGE-INTEGRITY, FINGERPRINT).
    const RFC5769_RESPONSE_V4: [u8; 80] = [
        0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76,
        0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1,
        0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,
        0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00,
        0x04, 0xc0, 0x7d, 0x4c, 0x96,
    ];

    /// The Binding Request of RFC 5769 section 2.1 (SOFTWARE, PRIORITY, ICE-CONTROLLED,
    /// USERNAME, MESSAGE-INTEGRITY, FINGERPRINT).
    const RFC5769_REQUEST: [u8; 108] = [
        0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74,
        0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e,
        0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
        0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20,
        0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e,
        0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5,
        0x7a, 0x3b, 0xcf,
    ];

    fn v4() -> SocketAddr {
        "192.0.2.1:32853".parse().unwrap()
    }

    fn v6() -> SocketAddr {
        "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
            .parse()
            .unwrap()
    }

    /// A request with the given attributes (type, value), no FINGERPRINT.
    fn request_with(ty: u16, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&ty.to_be_bytes());
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(&TXN);
        for (t, v) in attrs {
            m.extend_from_slice(&t.to_be_bytes());
            m.extend_from_slice(&(v.len() as u16).to_be_bytes());
            m.extend_from_slice(v);
            while m.len() % 4 != 0 {
                m.push(0);
            }
        }
        let len = (m.len() - HEADER_LEN) as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        m
    }

    fn handle(req: &[u8]) -> Result<Vec<u8>, DropReason> {
        let mut out = [0u8; 1200];
        let n = Stun::default().handle(Instant::now(), v4(), req, &mut out)?;
        Ok(out[..n].to_vec())
    }

    #[test]
    fn golden_request() {
        let mut out = [0u8; 64];
        assert_eq!(binding_request(TXN, &mut out), REQUEST.len());
        assert_eq!(out[..REQUEST.len()], REQUEST);
        assert_eq!(binding_request(TXN, &mut [0u8; 27]), 0);
    }

    #[test]
    fn golden_response_v4_with_fingerprint() {
        assert_eq!(handle(&REQUEST).unwrap(), RESPONSE_V4);
        assert_eq!(parse_binding_response(&RESPONSE_V4, &TXN), Some(v4()));
    }

    #[test]
    fn golden_response_v6_without_fingerprint() {
        let req = request_with(0x0001, &[]);
        let mut out = [0u8; 1200];
        let n = Stun::default()
            .handle(Instant::now(), v6(), &req, &mut out)
            .unwrap();
        #[rustfmt::skip]
        let want = [
            0x01, 0x01, 0x00, 0x18, // Binding Success Response, 24 bytes of attributes
            0x21, 0x12, 0xa4, 0x42,
            0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
            0x00, 0x20, 0x00, 0x14, // XOR-MAPPED-ADDRESS, as in RFC 5769 section 2.3
            0x00, 0x02, 0xa1, 0x47,
            0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79,
            0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
        ];
        assert_eq!(out[..n], want);
        assert_eq!(parse_binding_response(&want, &TXN), Some(v6()));
    }

    #[test]
    fn mapped_v4_source_is_answered_as_v4() {
        let src: SocketAddr = "[::ffff:192.0.2.1]:32853".parse().unwrap();
        let mut out = [0u8; 1200];
        let n = Stun::default()
            .handle(Instant::now(), src, &REQUEST, &mut out)
            .unwrap();
        assert_eq!(out[..n], RESPONSE_V4);
    }

    #[test]
    fn rfc5769_response_parses() {
        assert_eq!(
            parse_binding_response(&RFC5769_RESPONSE_V4, &TXN),
            Some(v4())
        );
        let mut other = TXN;
        other[11] ^= 1;
        assert_eq!(parse_binding_response(&RFC5769_RESPONSE_V4, &other), None);
        let mut bad = RFC5769_RESPONSE_V4;
        bad[79] ^= 1;
        assert_eq!(parse_binding_response(&bad, &TXN), None);
    }

    #[test]
    fn client_falls_back_to_mapped_address() {
        let mut m = request_with(0x0101, &[(0x0001, &[0, 1, 0x80, 0x55, 192, 0, 2, 1])]);
        assert_eq!(parse_binding_response(&m, &TXN), Some(v4()));
        // Not a success response.
        m[1] = 0x11;
        assert_eq!(parse_binding_response(&m, &TXN), None);
        // No address at all.
        let m = request_with(0x0101, &[(0x8022, b"x")]);
        assert_eq!(parse_binding_response(&m, &TXN), None);
        // A bad address family.
        let m = request_with(0x0101, &[(0x0020, &[0, 3, 0x80, 0x55, 192, 0, 2, 1])]);
        assert_eq!(parse_binding_response(&m, &TXN), None);
    }

    #[test]
    fn round_trip() {
        let mut stun = Stun::default();
        for src in [
            v4(),
            v6(),
            "[::1]:1".parse().unwrap(),
            "10.0.0.1:65535".parse().unwrap(),
        ] {
            let txn: [u8; 12] = rand::random();
            let mut req = [0u8; 64];
            let n = binding_request(txn, &mut req);
            let mut out = [0u8; MAX_RESPONSE_LEN];
            let m = stun
                .handle(Instant::now(), src, &req[..n], &mut out)
                .unwrap();
            assert_eq!(parse_binding_response(&out[..m], &txn), Some(src));
        }
    }

    #[test]
    fn drop_malformed() {
        let ok = request_with(0x0001, &[]);
        assert!(handle(&ok).is_ok());
        let mal = Err(DropReason::StunMalformed);
        assert_eq!(handle(&[]), mal);
        assert_eq!(handle(&ok[..19]), mal);
        // Top bits of the type set.
        let mut m = ok.clone();
        m[0] = 0x40;
        assert_eq!(handle(&m), mal);
        // Wrong magic cookie.
        let mut m = ok.clone();
        m[7] ^= 1;
        assert_eq!(handle(&m), mal);
        // Length not a multiple of 4.
        let mut m = ok.clone();
        m.extend_from_slice(&[0, 0]);
        m[3] = 2;
        assert_eq!(handle(&m), mal);
        // Length not matching the datagram, either way.
        let mut m = ok.clone();
        m[3] = 4;
        assert_eq!(handle(&m), mal);
        let mut m = ok.clone();
        m.extend_from_slice(&[0x80, 0x22, 0, 0]);
        assert_eq!(handle(&m), mal);
        // An attribute that overruns the message.
        let mut m = request_with(0x0001, &[(0x8022, b"abcd")]);
        m[23] = 5;
        assert_eq!(handle(&m), mal);
        // A truncated attribute header cannot happen (lengths are multiples of 4), but a
        // FINGERPRINT of the wrong size can.
        let m = request_with(0x0001, &[(0x8028, &[0; 8])]);
        assert_eq!(handle(&m), mal);
        let m = request_with(0x0001, &[(0x8028, &[0; 2])]);
        assert_eq!(handle(&m), mal);
    }

    #[test]
    fn drop_not_binding_request() {
        for ty in [0x0011, 0x0101, 0x0111, 0x0003, 0x0002] {
            assert_eq!(
                handle(&request_with(ty, &[])),
                Err(DropReason::StunNotBinding),
                "{ty:#x}"
            );
        }
        assert_eq!(handle(&RESPONSE_V4), Err(DropReason::StunNotBinding));
    }

    #[test]
    fn drop_bad_fingerprint() {
        let mut m = REQUEST;
        m[27] ^= 0x80;
        assert_eq!(handle(&m), Err(DropReason::StunBadFingerprint));
        // A good FINGERPRINT followed by another attribute.
        let mut m = REQUEST.to_vec();
        m.extend_from_slice(&[0x80, 0x22, 0, 0]);
        m[3] = 12;
        assert_eq!(handle(&m), Err(DropReason::StunBadFingerprint));
    }

    #[test]
    fn drop_unknown_comprehension_required() {
        let m = request_with(0x0001, &[(0x0024, &[1, 2, 3, 4])]);
        assert_eq!(handle(&m), Err(DropReason::StunUnknownAttribute));
        let m = request_with(0x0001, &[(0x0003, &[0, 0, 0, 4])]); // CHANGE-REQUEST
        assert_eq!(handle(&m), Err(DropReason::StunUnknownAttribute));
        // PRIORITY comes before MESSAGE-INTEGRITY in the RFC 5769 request.
        assert_eq!(
            handle(&RFC5769_REQUEST),
            Err(DropReason::StunUnknownAttribute)
        );
        // Comprehension-optional and known attributes are fine.
        let m = request_with(0x0001, &[(0x8022, b"soft"), (0xC001, &[]), (0x0006, b"u")]);
        assert!(handle(&m).is_ok());
    }

    #[test]
    fn drop_message_integrity() {
        let m = request_with(0x0001, &[(0x0008, &[0; 20])]);
        assert_eq!(handle(&m), Err(DropReason::StunIntegrity));
        let m = request_with(0x0001, &[(0x001C, &[0; 32])]);
        assert_eq!(handle(&m), Err(DropReason::StunIntegrity));
    }

    #[test]
    fn drop_rate_limited() {
        let t0 = Instant::now();
        let mut stun = Stun::new(10);
        let mut out = [0u8; 1200];
        for _ in 0..10 {
            assert!(stun.handle(t0, v4(), &REQUEST, &mut out).is_ok());
        }
        assert_eq!(
            stun.handle(t0, v4(), &REQUEST, &mut out),
            Err(DropReason::StunRateLimited)
        );
        // Junk does not use up answers, and the bucket refills.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(
            stun.handle(t1, v4(), &[0; 20], &mut out),
            Err(DropReason::StunMalformed)
        );
        assert!(stun.handle(t1, v4(), &REQUEST, &mut out).is_ok());
        // At least 10 a second, sustained.
        let mut ok = 0;
        for ms in 1..=10_000 {
            let now = t1 + Duration::from_millis(ms);
            ok += usize::from(stun.handle(now, v4(), &REQUEST, &mut out).is_ok());
        }
        assert!(ok >= 100, "{ok}");
    }

    #[test]
    fn drop_short_output() {
        let mut out = [0u8; 39];
        assert_eq!(
            Stun::default().handle(Instant::now(), v4(), &REQUEST, &mut out),
            Err(DropReason::OutboxFull)
        );
    }

    /// An independent implementation (the `stun_codec` crate) encodes the request and decodes
    /// our answer.
    #[test]
    fn interop_with_stun_codec() {
        use bytecodec::{DecodeExt, EncodeExt};
        use stun_codec::rfc5389::attributes::{Fingerprint, Software, XorMappedAddress};
        use stun_codec::rfc5389::{methods::BINDING, Attribute};
        use stun_codec::{Message, MessageClass, MessageDecoder, MessageEncoder, TransactionId};

        let mut stun = Stun::default();
        for (src, fingerprint) in [(v4(), true), (v6(), true), (v4(), false), (v6(), false)] {
            let txn: [u8; 12] = rand::random();
            let mut req =
                Message::<Attribute>::new(MessageClass::Request, BINDING, TransactionId::new(txn));
            req.add_attribute(Software::new("stun_codec".to_owned()).unwrap());
            if fingerprint {
                let fp = Fingerprint::new(&req).unwrap();
                req.add_attribute(fp);
            }
            let bytes = MessageEncoder::new().encode_into_bytes(req).unwrap();
            let mut out = [0u8; 1200];
            let n = stun.handle(Instant::now(), src, &bytes, &mut out).unwrap();
            let resp = MessageDecoder::<Attribute>::new()
                .decode_from_bytes(&out[..n])
                .unwrap()
                .unwrap();
            assert_eq!(resp.class(), MessageClass::SuccessResponse);
            assert_eq!(resp.method(), BINDING);
            assert_eq!(resp.transaction_id(), TransactionId::new(txn));
            let xma = resp.get_attribute::<XorMappedAddress>().unwrap();
            assert_eq!(xma.address(), src);
            assert_eq!(resp.get_attribute::<Fingerprint>().is_some(), fingerprint);
            // Our client reads it too.
            assert_eq!(parse_binding_response(&out[..n], &txn), Some(src));
        }
    }

    proptest! {
        #[test]
        fn junk_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut stun = Stun::new(1_000_000);
            let mut out = [0u8; MAX_RESPONSE_LEN];
            let _ = stun.handle(Instant::now(), v6(), &bytes, &mut out);
            let _ = parse_binding_response(&bytes, &TXN);
        }

        #[test]
        fn stun_shaped_junk_never_panics(
            ty in prop_oneof![Just(0x0001u16), Just(0x0101u16), any::<u16>()],
            attrs in proptest::collection::vec(any::<u8>(), 0..120),
            fix_len in any::<bool>(),
        ) {
            let mut m = Vec::new();
            m.extend_from_slice(&ty.to_be_bytes());
            let len = if fix_len { attrs.len() as u16 } else { (attrs.len() as u16) & !3 };
            m.extend_from_slice(&len.to_be_bytes());
            m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
            m.extend_from_slice(&TXN);
            m.extend_from_slice(&attrs);
            let mut stun = Stun::new(1_000_000);
            let mut out = [0u8; MAX_RESPONSE_LEN];
            if let Ok(n) = stun.handle(Instant::now(), v4(), &m, &mut out) {
                prop_assert_eq!(parse_binding_response(&out[..n], &TXN), Some(v4()));
            }
            let _ = parse_binding_response(&m, &TXN);
        }
    }
}
