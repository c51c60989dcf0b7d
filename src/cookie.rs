//! Stateless cookies: the game handshake's (PROTOCOL.md section 2) and A2S's challenge
//! (section 5) are one mechanism, [`Stateless`].
//!
//! A cookie is SipHash-2-4, keyed with a secret drawn at start-up, of the fields it binds
//! (a [`Fields`] value: addresses, protocol id, ...) and a time bucket. The current and the
//! previous bucket are accepted, so a cookie is valid for at least one and at most two
//! bucket lengths. The server keeps nothing per cookie. [`CookieKey`] is the game port's
//! use of it: 5-second buckets over the source address, the reply address, the protocol
//! id and the address the cookie is sent to.

use core::hash::Hasher;
use core::net::SocketAddr;
use siphasher::sip::SipHasher24;

/// Length of one game-port cookie time bucket in microseconds.
pub(crate) const BUCKET_US: u64 = 5_000_000;

/// What a cookie binds: written into the MAC before the time bucket.
pub(crate) trait Fields {
    /// Feeds the bound fields to the MAC.
    fn write(&self, h: &mut SipHasher24);

    /// The cookie value for a MAC: what goes on the wire. It must never be 0, which both
    /// protocols use for "no cookie yet". The default keeps the 64 bits.
    fn fold(mac: u64) -> u64 {
        mac.max(1)
    }
}

/// A keyed stateless cookie over time buckets of a fixed length.
#[derive(Clone)]
pub(crate) struct Stateless {
    k0: u64,
    k1: u64,
    bucket_us: u64,
}

impl Stateless {
    /// A cookie keyed with `(k0, k1)` over buckets of `bucket_us` microseconds (at least 1).
    pub(crate) fn new(k0: u64, k1: u64, bucket_us: u64) -> Stateless {
        Stateless {
            k0,
            k1,
            bucket_us: bucket_us.max(1),
        }
    }

    fn value<F: Fields>(&self, fields: &F, bucket: u64) -> u64 {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        fields.write(&mut h);
        h.write_u64(bucket);
        F::fold(h.finish())
    }

    /// The cookie for `fields` at time `now_us` (microseconds on the issuer's clock).
    pub(crate) fn issue<F: Fields>(&self, fields: &F, now_us: u64) -> u64 {
        self.value(fields, now_us / self.bucket_us)
    }

    /// Whether `cookie` was issued for `fields` in the bucket of `now_us` or the one before.
    /// A cookie of 0 never is.
    pub(crate) fn check<F: Fields>(&self, fields: &F, now_us: u64, cookie: u64) -> bool {
        if cookie == 0 {
            return false;
        }
        let b = now_us / self.bucket_us;
        cookie == self.value(fields, b) || (b > 0 && cookie == self.value(fields, b - 1))
    }
}

impl core::fmt::Debug for Stateless {
    /// The bucket length only, never the key.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Stateless")
            .field("bucket_us", &self.bucket_us)
            .finish_non_exhaustive()
    }
}

/// Writes an address as its family tag, its octets and its port.
pub(crate) fn write_addr(h: &mut SipHasher24, a: &SocketAddr) {
    match a {
        SocketAddr::V4(v) => {
            h.write_u8(4);
            h.write(&v.ip().octets());
        }
        SocketAddr::V6(v) => {
            h.write_u8(6);
            h.write(&v.ip().octets());
        }
    }
    h.write_u16(a.port());
}

/// The fields of a HELLO's cookie.
struct Hello<'a> {
    src: &'a SocketAddr,
    reply: &'a SocketAddr,
    /// Where the CHALLENGE carrying the cookie goes: the reply address, or (when that is
    /// not the source) the source address.
    dst: &'a SocketAddr,
    protocol_id: u32,
}

/// Written before the destination of a cookie that does not go to the reply address.
const TO_SOURCE: u8 = b's';

impl Fields for Hello<'_> {
    /// The source, the reply address and the protocol id; then, for a cookie sent anywhere
    /// but the reply address, a tag and that address. A cookie sent to the reply address
    /// hashes exactly what it hashed before the destination was bound, so those values
    /// (every cookie of a client whose reply address is its source) are unchanged; the two
    /// kinds of input differ in length, so the cookie to one address is no use at the other.
    fn write(&self, h: &mut SipHasher24) {
        write_addr(h, self.src);
        write_addr(h, self.reply);
        h.write_u32(self.protocol_id);
        if self.dst != self.reply {
            h.write_u8(TO_SOURCE);
            write_addr(h, self.dst);
        }
    }
}

/// The game port's handshake cookie: [`Stateless`] over [`BUCKET_US`] buckets of the source
/// address, the reply address, the protocol id and the address the cookie is sent to
/// (PROTOCOL.md section 2).
#[derive(Debug, Clone)]
pub(crate) struct CookieKey(Stateless);

impl CookieKey {
    pub fn new(k0: u64, k1: u64) -> CookieKey {
        CookieKey(Stateless::new(k0, k1, BUCKET_US))
    }

    /// The cookie sent to `dst` for a HELLO from `src` with reply address `reply`,
    /// received at server time `now_us`.
    pub fn issue(
        &self,
        src: &SocketAddr,
        reply: &SocketAddr,
        dst: &SocketAddr,
        pid: u32,
        now_us: u64,
    ) -> u64 {
        let fields = Hello {
            src,
            reply,
            dst,
            protocol_id: pid,
        };
        self.0.issue(&fields, now_us)
    }

    /// Whether `cookie` was issued for these addresses (sent to `dst`) in this or the
    /// previous bucket.
    pub fn check(
        &self,
        src: &SocketAddr,
        reply: &SocketAddr,
        dst: &SocketAddr,
        pid: u32,
        now_us: u64,
        cookie: u64,
    ) -> bool {
        let fields = Hello {
            src,
            reply,
            dst,
            protocol_id: pid,
        };
        self.0.check(&fields, now_us, cookie)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_between_5_and_10_seconds() {
        let k = CookieKey::new(1, 2);
        let s: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let r: SocketAddr = "127.0.0.2:5000".parse().unwrap();
        let t0 = 12_345_678;
        let c = k.issue(&s, &r, &r, 0, t0);
        assert!(k.check(&s, &r, &r, 0, t0, c));
        assert!(k.check(&s, &r, &r, 0, t0 + 4_999_999 - (t0 % BUCKET_US), c));
        // At least 5 s after issue: still valid.
        assert!(k.check(&s, &r, &r, 0, t0 + 5_000_000, c));
        // 10 s after the bucket began: never valid.
        assert!(!k.check(&s, &r, &r, 0, (t0 / BUCKET_US + 2) * BUCKET_US, c));
        // Bound to addresses, protocol id and key.
        assert!(!k.check(&r, &r, &r, 0, t0, c));
        assert!(!k.check(&s, &s, &s, 0, t0, c));
        assert!(!k.check(&s, &r, &r, 1, t0, c));
        assert!(!CookieKey::new(1, 3).check(&s, &r, &r, 0, t0, c));
        assert!(!k.check(&s, &r, &r, 0, t0, 0));
    }

    /// The cookie sent to the source of a HELLO whose reply address is elsewhere is bound to
    /// that destination: it is not the reply address's cookie, and neither works for the other.
    #[test]
    fn bound_to_the_address_it_is_sent_to() {
        let k = CookieKey::new(1, 2);
        let s: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let r: SocketAddr = "127.0.0.2:5000".parse().unwrap();
        let to_reply = k.issue(&s, &r, &r, 0, 0);
        let to_src = k.issue(&s, &r, &s, 0, 0);
        assert_ne!(to_reply, to_src);
        assert!(k.check(&s, &r, &s, 0, 0, to_src));
        assert!(!k.check(&s, &r, &s, 0, 0, to_reply));
        assert!(!k.check(&s, &r, &r, 0, 0, to_src));
        // The source's cookie of a split HELLO is not the cookie of a HELLO from s to s.
        assert!(!k.check(&s, &s, &s, 0, 0, to_src));
    }

    /// The game port's cookie values are part of its behaviour: pinned here, computed by
    /// the SipHash-2-4 of the fields as they were hashed before the generic type existed.
    #[test]
    fn game_cookie_values_are_unchanged() {
        let k = CookieKey::new(0x0706_0504_0302_0100, 0x0F0E_0D0C_0B0A_0908);
        let s: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let r: SocketAddr = "[2001:db8::1]:7777".parse().unwrap();
        let mut h = SipHasher24::new_with_keys(0x0706_0504_0302_0100, 0x0F0E_0D0C_0B0A_0908);
        h.write_u8(4);
        h.write(&[127, 0, 0, 1]);
        h.write_u16(5000);
        h.write_u8(6);
        h.write(
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        h.write_u16(7777);
        h.write_u32(0x5449_434B);
        h.write_u64(3);
        let want = h.finish().max(1);
        assert_eq!(k.issue(&s, &r, &r, 0x5449_434B, 3 * BUCKET_US + 17), want);
    }

    #[test]
    fn bucket_length_is_the_type_s() {
        struct F(u32);
        impl Fields for F {
            fn write(&self, h: &mut SipHasher24) {
                h.write_u32(self.0);
            }
            fn fold(mac: u64) -> u64 {
                u64::from(mac as u32).max(1)
            }
        }
        let c = Stateless::new(5, 6, 1000);
        let v = c.issue(&F(1), 1500);
        assert!(v <= u64::from(u32::MAX) && v != 0);
        assert!(c.check(&F(1), 1999, v) && c.check(&F(1), 2999, v));
        assert!(!c.check(&F(1), 3000, v) && !c.check(&F(2), 1500, v));
        assert!(!Stateless::new(5, 6, 0).check(&F(1), 0, 0));
    }
}
