//! The stateless handshake cookie (PROTOCOL.md section 2).
//!
//! A cookie is SipHash-2-4, keyed with a secret drawn at start-up, of the source address,
//! the reply address, the protocol id and a 5-second time bucket. The current and the
//! previous bucket are accepted, so a cookie is valid for at least 5 and at most 10 seconds.
//! The server keeps nothing per cookie.

use core::hash::Hasher;
use core::net::SocketAddr;
use siphasher::sip::SipHasher24;

/// Length of one time bucket in microseconds.
pub(crate) const BUCKET_US: u64 = 5_000_000;

#[derive(Debug, Clone)]
pub(crate) struct CookieKey {
    k0: u64,
    k1: u64,
}

fn hash_addr(h: &mut SipHasher24, a: &SocketAddr) {
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

impl CookieKey {
    pub fn new(k0: u64, k1: u64) -> CookieKey {
        CookieKey { k0, k1 }
    }

    fn mac(&self, src: &SocketAddr, reply: &SocketAddr, protocol_id: u32, bucket: u64) -> u64 {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        hash_addr(&mut h, src);
        hash_addr(&mut h, reply);
        h.write_u32(protocol_id);
        h.write_u64(bucket);
        // 0 means "no cookie" on the wire; never issue it.
        h.finish().max(1)
    }

    /// The cookie for a HELLO received at server time `now_us`.
    pub fn issue(&self, src: &SocketAddr, reply: &SocketAddr, pid: u32, now_us: u64) -> u64 {
        self.mac(src, reply, pid, now_us / BUCKET_US)
    }

    /// Whether `cookie` was issued for these addresses in this or the previous bucket.
    pub fn check(
        &self,
        src: &SocketAddr,
        reply: &SocketAddr,
        pid: u32,
        now_us: u64,
        cookie: u64,
    ) -> bool {
        if cookie == 0 {
            return false;
        }
        let b = now_us / BUCKET_US;
        cookie == self.mac(src, reply, pid, b)
            || (b > 0 && cookie == self.mac(src, reply, pid, b - 1))
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
        let c = k.issue(&s, &r, 0, t0);
        assert!(k.check(&s, &r, 0, t0, c));
        assert!(k.check(&s, &r, 0, t0 + 4_999_999 - (t0 % BUCKET_US), c));
        // At least 5 s after issue: still valid.
        assert!(k.check(&s, &r, 0, t0 + 5_000_000, c));
        // 10 s after the bucket began: never valid.
        assert!(!k.check(&s, &r, 0, (t0 / BUCKET_US + 2) * BUCKET_US, c));
        // Bound to addresses, protocol id and key.
        assert!(!k.check(&r, &r, 0, t0, c));
        assert!(!k.check(&s, &s, 0, t0, c));
        assert!(!k.check(&s, &r, 1, t0, c));
        assert!(!CookieKey::new(1, 3).check(&s, &r, 0, t0, c));
        assert!(!k.check(&s, &r, 0, t0, 0));
    }
}
