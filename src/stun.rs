//! STUN Binding (RFC 5389) on the game port (PROTOCOL.md section 6).
//!
//! The server side, [`Stun::handle`], answers a Binding Request with a Binding Success
//! Response carrying XOR-MAPPED-ADDRESS, and FINGERPRINT when the request had one.
//! [`Stun::handle_classic`] answers an RFC 3489 Binding Request (no magic cookie, told by
//! [`is_classic_request`]) with MAPPED-ADDRESS, as RFC 5389 section 12.2 asks. Everything
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
/// Largest answer [`Stun::handle`] or [`Stun::handle_classic`] writes (IPv6 with
/// FINGERPRINT).
pub const MAX_RESPONSE_LEN: usize = HEADER_LEN + 24 + 8;
/// Entries in the per-source rate limiter (one per source; 1.5 MiB, allocated once): a
/// source's budget does not depend on the other sources (see `crate::limit`).
const LIMIT_ENTRIES: usize = 65_536;

/// STUN message types (method and class combined) and attribute types.
mod ty {
    pub const BINDING_REQUEST: u16 = 0x0001;
    pub const BINDING_SUCCESS: u16 = 0x0101;
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    /// RFC 3489's CHANGE-REQUEST (RFC 5780's since).
    pub const CHANGE_REQUEST: u16 = 0x0003;
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
    /// The limiter's hash key is drawn from OS entropy.
    pub fn new(limit_per_sec: u32) -> Stun {
        Stun {
            limit: RateLimiter::new(LIMIT_ENTRIES, limit_per_sec, limit_per_sec),
        }
    }

    /// Like [`Stun::new`], with the limiter's hash key drawn from a generator seeded with
    /// `seed` (a reproducible host).
    pub fn with_seed(limit_per_sec: u32, seed: u64) -> Stun {
        Stun {
            limit: RateLimiter::with_seed(LIMIT_ENTRIES, limit_per_sec, limit_per_sec, seed),
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
        let (id, fingerprint) = check_request(req)?;
        self.answer(now, src, id, Form::Xor { fingerprint }, out)
    }

    /// Like [`Stun::handle`] for an RFC 3489 Binding Request ([`is_classic_request`]: its
    /// bytes 4..20 are a 128-bit transaction id, there is no magic cookie): the answer is a
    /// Binding Response with that id and MAPPED-ADDRESS (RFC 5389 section 12.2), the same
    /// size as [`Stun::handle`]'s without FINGERPRINT, charged to the same per-source limit.
    ///
    /// Attributes are checked as in [`Stun::handle`], except that a CHANGE-REQUEST asking
    /// for no change is accepted (RFC 3489 clients such as stund's send one in every
    /// request); one asking for another address or port is `stun_unknown_attribute`, as is
    /// RESPONSE-ADDRESS (an answer sent elsewhere would be a reflection). A datagram with
    /// the magic cookie is `stun_malformed` here (it is [`Stun::handle`]'s).
    pub fn handle_classic(
        &mut self,
        now: Instant,
        src: SocketAddr,
        req: &[u8],
        out: &mut [u8],
    ) -> Result<usize, DropReason> {
        let id = check_classic_request(req)?;
        self.answer(now, src, id, Form::Classic, out)
    }

    /// Charges a valid request to its source's limit and writes the answer: one place for
    /// both kinds of request, so they share the limit by construction.
    fn answer(
        &mut self,
        now: Instant,
        src: SocketAddr,
        id: &[u8; 16],
        form: Form,
        out: &mut [u8],
    ) -> Result<usize, DropReason> {
        if !self.limit.allow(now, src.ip()) {
            return Err(DropReason::StunRateLimited);
        }
        write_response(src, id, form, out).ok_or(DropReason::OutboxFull)
    }
}

/// Whether a datagram has the exact shape of an RFC 3489 Binding Request: type `0x0001`, a
/// length field equal to the datagram's length less the 20-byte header, and no magic
/// cookie (which would make it RFC 5389's, [`crate::wire::demux`]'s `Stun`). A game
/// datagram never has it: its byte 0 would be flags `0x00`, which no kind carries.
pub fn is_classic_request(d: &[u8]) -> bool {
    be16(d, 0) == Some(ty::BINDING_REQUEST)
        && be16(d, 2).is_some_and(|len| usize::from(len) + HEADER_LEN == d.len())
        && be32(d, 4) != Some(MAGIC_COOKIE)
}

impl Default for Stun {
    fn default() -> Self {
        Stun::new(DEFAULT_LIMIT_PER_SEC)
    }
}

/// Writes a Binding Request with transaction id `txn` and a FINGERPRINT into `out`, and
/// returns its length (28 bytes: the 20-byte header and the FINGERPRINT), or 0 if `out` is
/// shorter than that.
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

/// Bytes 4..20 of a message at least [`HEADER_LEN`] long: the magic cookie and the
/// transaction id (RFC 5389), or the 128-bit transaction id (RFC 3489).
fn id16(m: &[u8]) -> Result<&[u8; 16], DropReason> {
    m.get(4..HEADER_LEN)
        .and_then(|t| <&[u8; 16]>::try_from(t).ok())
        .ok_or(DropReason::StunMalformed)
}

/// Checks a Binding Request; returns its bytes 4..20 and whether it had a FINGERPRINT.
fn check_request(req: &[u8]) -> Result<(&[u8; 16], bool), DropReason> {
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
            t if known_harmless(t) => {}
            t if t < 0x8000 => return Err(DropReason::StunUnknownAttribute),
            ty::FINGERPRINT => fingerprint = true,
            // Comprehension-optional: ignored (RFC 5389 section 15).
            _ => {}
        }
    }
    Ok((id16(req)?, fingerprint))
}

/// Comprehension-required attributes we know, and that are harmless to ignore without
/// credentials: both request checks (RFC 5389 and RFC 3489) skip them.
fn known_harmless(t: u16) -> bool {
    matches!(
        t,
        ty::MAPPED_ADDRESS
            | ty::USERNAME
            | ty::ERROR_CODE
            | ty::UNKNOWN_ATTRIBUTES
            | ty::REALM
            | ty::NONCE
            | ty::XOR_MAPPED_ADDRESS
    )
}

/// Checks an RFC 3489 Binding Request; returns its 128-bit transaction id.
fn check_classic_request(req: &[u8]) -> Result<&[u8; 16], DropReason> {
    let (Some(ty), Some(len), Some(cookie)) = (be16(req, 0), be16(req, 2), be32(req, 4)) else {
        return Err(DropReason::StunMalformed);
    };
    if cookie == MAGIC_COOKIE || len % 4 != 0 || usize::from(len) + HEADER_LEN != req.len() {
        return Err(DropReason::StunMalformed);
    }
    if ty != ty::BINDING_REQUEST {
        return Err(DropReason::StunNotBinding);
    }
    for attr in Attrs::new(req) {
        let attr = attr?;
        match attr.ty {
            ty::MESSAGE_INTEGRITY | ty::MESSAGE_INTEGRITY_SHA256 => {
                return Err(DropReason::StunIntegrity)
            }
            // "Change nothing": answered from where it was sent, as asked.
            ty::CHANGE_REQUEST if attr.value == [0, 0, 0, 0] => {}
            t if known_harmless(t) => {}
            // RESPONSE-ADDRESS, a CHANGE-REQUEST for another address or port, the rest.
            t if t < 0x8000 => return Err(DropReason::StunUnknownAttribute),
            _ => {}
        }
    }
    id16(req)
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

/// How a response carries the address.
#[derive(Clone, Copy)]
enum Form {
    /// RFC 5389: XOR-MAPPED-ADDRESS, FINGERPRINT when the request had one.
    Xor { fingerprint: bool },
    /// RFC 3489: MAPPED-ADDRESS, no FINGERPRINT.
    Classic,
}

/// Writes the response for `src` into `out`, with `id` (the request's bytes 4..20) in
/// bytes 4..20; `None` if `out` is too short.
fn write_response(src: SocketAddr, id: &[u8; 16], form: Form, out: &mut [u8]) -> Option<usize> {
    // The XOR key is the magic cookie and the transaction id: bytes 4..20.
    let (attr_ty, key, fingerprint) = match form {
        Form::Xor { fingerprint } => (ty::XOR_MAPPED_ADDRESS, *id, fingerprint),
        Form::Classic => (ty::MAPPED_ADDRESS, [0u8; 16], false),
    };
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
    buf[..2].copy_from_slice(&ty::BINDING_SUCCESS.to_be_bytes());
    buf[2..4].copy_from_slice(&(attrs_len as u16).to_be_bytes());
    buf[4..20].copy_from_slice(id);
    let xma = buf.get_mut(HEADER_LEN..HEADER_LEN + 4 + xma_len)?;
    xma[..2].copy_from_slice(&attr_ty.to_be_bytes());
    xma[2..4].copy_from_slice(&(xma_len as u16).to_be_bytes());
    xma[4] = 0;
    xma[5] = family;
    let port = src.port() ^ u16::from_be_bytes([key[0], key[1]]);
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
mod tests;
