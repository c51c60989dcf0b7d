//! Per-source rate limiting for the answers that need no handshake (STUN, A2S).
//!
//! [`RateLimiter`] is a fixed table of token buckets. A source address picks its bucket
//! through a keyed hash (SipHash, key drawn at construction from OS entropy, or from a seed
//! with [`RateLimiter::with_seed`]), so an attacker cannot aim many
//! addresses at one bucket on purpose. Addresses that collide share a bucket: the table never
//! grows, and bounded memory beats exactness. Time always comes in as `now`.

use rand::rngs::StdRng;
use rand::Rng;
use siphasher::sip::SipHasher13;
use std::hash::Hasher;
use std::net::IpAddr;
use std::time::Instant;

/// Tokens are counted in thousandths, so refills of a fraction of a token add up.
const MILLI: u64 = 1000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Thousandths of a token.
    tokens: u64,
    /// Microseconds since the limiter's epoch at the last refill.
    last_us: u64,
}

/// A fixed-size table of token buckets keyed by source IP.
///
/// An IPv4-mapped IPv6 address counts as its IPv4 address, and an IPv6 address counts by its
/// /64 prefix (what one subscriber is usually given), so one host cannot dodge the limit by
/// hopping through the addresses of its own prefix.
pub struct RateLimiter {
    buckets: Box<[Bucket]>,
    hasher: SipHasher13,
    /// Thousandths of a token gained per second.
    rate: u64,
    /// Bucket capacity, thousandths of a token.
    cap: u64,
    /// The first `now` seen; bucket times count from it.
    epoch: Option<Instant>,
}

impl RateLimiter {
    /// A table of `buckets` buckets (at least one), each refilling `per_sec` tokens a second
    /// up to `burst`. Every bucket starts full. The table is allocated here, once; the
    /// hash key is drawn from OS entropy.
    pub fn new(buckets: usize, per_sec: u32, burst: u32) -> Self {
        RateLimiter::from_rng(buckets, per_sec, burst, &mut crate::seed::rng(None))
    }

    /// Like [`RateLimiter::new`], with the hash key drawn from a generator seeded with
    /// `seed`: the same seed puts the same addresses in the same buckets.
    pub fn with_seed(buckets: usize, per_sec: u32, burst: u32, seed: u64) -> Self {
        RateLimiter::from_rng(buckets, per_sec, burst, &mut crate::seed::rng(Some(seed)))
    }

    /// A limiter whose hash key is the next two draws of `rng`.
    pub(crate) fn from_rng(buckets: usize, per_sec: u32, burst: u32, rng: &mut StdRng) -> Self {
        let cap = u64::from(burst) * MILLI;
        RateLimiter {
            buckets: vec![
                Bucket {
                    tokens: cap,
                    last_us: 0
                };
                buckets.max(1)
            ]
            .into_boxed_slice(),
            hasher: SipHasher13::new_with_keys(rng.gen(), rng.gen()),
            rate: u64::from(per_sec) * MILLI,
            cap,
            epoch: None,
        }
    }

    /// Takes a token from `ip`'s bucket: `true` if there was one (answer), `false` if the
    /// source is over its limit (drop).
    pub fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        let epoch = *self.epoch.get_or_insert(now);
        let now_us =
            u64::try_from(now.saturating_duration_since(epoch).as_micros()).unwrap_or(u64::MAX);
        let i = self.index(ip);
        let (rate, cap) = (self.rate, self.cap);
        let Some(b) = self.buckets.get_mut(i) else {
            return false;
        };
        let elapsed = now_us.saturating_sub(b.last_us);
        // Time that runs backwards (an injected `now` older than the last one) refills nothing.
        if now_us > b.last_us {
            b.last_us = now_us;
        }
        let gained =
            (u128::from(elapsed) * u128::from(rate) / 1_000_000).min(u128::from(cap)) as u64;
        b.tokens = b.tokens.saturating_add(gained).min(cap);
        if b.tokens >= MILLI {
            b.tokens -= MILLI;
            true
        } else {
            false
        }
    }

    /// Like [`RateLimiter::allow`], but takes a token only while more than `reserve`
    /// tokens are left: what a lower class of answers uses, so that it can never spend the
    /// last `reserve` tokens of a bucket, which stay for the answers that use `allow`. Both
    /// classes draw on one bucket, so together they never exceed its rate and burst.
    pub(crate) fn allow_keeping(&mut self, now: Instant, ip: IpAddr, reserve: u32) -> bool {
        let epoch = *self.epoch.get_or_insert(now);
        let now_us =
            u64::try_from(now.saturating_duration_since(epoch).as_micros()).unwrap_or(u64::MAX);
        let i = self.index(ip);
        let (rate, cap) = (self.rate, self.cap);
        let Some(b) = self.buckets.get_mut(i) else {
            return false;
        };
        let elapsed = now_us.saturating_sub(b.last_us);
        if now_us > b.last_us {
            b.last_us = now_us;
        }
        let gained =
            (u128::from(elapsed) * u128::from(rate) / 1_000_000).min(u128::from(cap)) as u64;
        b.tokens = b.tokens.saturating_add(gained).min(cap);
        let need = (u64::from(reserve) + 1) * MILLI;
        if b.tokens >= need {
            b.tokens -= MILLI;
            true
        } else {
            false
        }
    }

    /// How many buckets the table has.
    #[cfg(test)]
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }

    fn index(&self, ip: IpAddr) -> usize {
        let mut h = self.hasher;
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                h.write_u8(4);
                h.write(&v4.octets());
            }
            IpAddr::V6(v6) => {
                h.write_u8(6);
                h.write(&v6.octets()[..8]);
            }
        }
        (h.finish() % self.buckets.len() as u64) as usize
    }
}

impl core::fmt::Debug for RateLimiter {
    /// The shape only: neither the key nor the table.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("buckets", &self.buckets.len())
            .field("per_sec", &(self.rate / MILLI))
            .field("burst", &(self.cap / MILLI))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

    fn count(l: &mut RateLimiter, now: Instant, ip: IpAddr, n: usize) -> usize {
        (0..n).filter(|_| l.allow(now, ip)).count()
    }

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(1024, 10, 5);
        assert_eq!(count(&mut l, t0, A, 100), 5);
        // 10 per second: one token every 100 ms.
        assert!(!l.allow(t0 + Duration::from_millis(99), A));
        assert!(l.allow(t0 + Duration::from_millis(100), A));
        assert!(!l.allow(t0 + Duration::from_millis(100), A));
        // Fractions add up: 50 ms + 50 ms is one token.
        assert!(!l.allow(t0 + Duration::from_millis(150), A));
        assert!(l.allow(t0 + Duration::from_millis(200), A));
        // A long pause refills up to the burst, no more.
        let t1 = t0 + Duration::from_secs(3600);
        assert_eq!(count(&mut l, t1, A, 100), 5);
    }

    #[test]
    fn sustained_rate() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(64, 20, 20);
        let mut ok = 0;
        // 10 seconds of 1000 requests per second.
        for ms in 0..10_000u64 {
            if l.allow(t0 + Duration::from_millis(ms), A) {
                ok += 1;
            }
        }
        assert!((20 + 199..=20 + 200).contains(&ok), "{ok}");
    }

    #[test]
    fn sources_are_separate() {
        let t0 = Instant::now();
        // Find a key where A and B do not collide (they do with probability 1/4096).
        let mut l = RateLimiter::new(4096, 1, 3);
        while l.index(A) == l.index(B) {
            l = RateLimiter::new(4096, 1, 3);
        }
        assert_eq!(count(&mut l, t0, A, 10), 3);
        assert_eq!(count(&mut l, t0, B, 10), 3);
    }

    #[test]
    fn collisions_share_a_bucket() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(1, 1, 3);
        assert_eq!(l.buckets(), 1);
        assert_eq!(count(&mut l, t0, A, 2), 2);
        assert_eq!(count(&mut l, t0, B, 10), 1);
    }

    #[test]
    fn mapped_v4_and_v6_prefix_count_together() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(1 << 16, 1, 2);
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert_eq!(l.index(A), l.index(mapped));
        assert!(l.allow(t0, A));
        assert!(l.allow(t0, mapped));
        assert!(!l.allow(t0, A));
        let p1 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, 1));
        let p2 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0xffff, 9, 9, 9));
        assert_eq!(l.index(p1), l.index(p2));
    }

    #[test]
    fn time_going_backwards_is_harmless() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut l = RateLimiter::new(8, 10, 1);
        assert!(l.allow(t0, A));
        assert!(!l.allow(t0 - Duration::from_secs(5), A));
        assert!(!l.allow(t0, A));
        assert!(l.allow(t0 + Duration::from_millis(100), A));
    }

    #[test]
    fn allow_keeping_leaves_the_reserve_to_allow() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(8, 10, 20);
        assert_eq!((0..100).filter(|_| l.allow_keeping(t0, A, 10)).count(), 10);
        // The reserve is still there for the other class, and only it.
        assert_eq!(count(&mut l, t0, A, 100), 10);
        assert!(!l.allow_keeping(t0 + Duration::from_secs(1), A, 10));
        // One second refills 10 tokens: the reserve again, none above it.
        assert_eq!(count(&mut l, t0 + Duration::from_secs(1), A, 100), 10);
    }

    #[test]
    fn debug_shows_no_key() {
        let l = RateLimiter::new(8, 10, 20);
        assert_eq!(
            format!("{l:?}"),
            "RateLimiter { buckets: 8, per_sec: 10, burst: 20, .. }"
        );
    }

    #[test]
    fn seeded_keys_repeat() {
        let (a, b) = (
            RateLimiter::with_seed(4096, 1, 1, 9),
            RateLimiter::with_seed(4096, 1, 1, 9),
        );
        let ips = (0..64u8).map(|i| IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)));
        assert!(ips.clone().all(|ip| a.index(ip) == b.index(ip)));
        let c = RateLimiter::with_seed(4096, 1, 1, 10);
        assert!(ips.clone().any(|ip| a.index(ip) != c.index(ip)));
    }

    #[test]
    fn zero_sizes_do_not_panic() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(0, 0, 0);
        assert_eq!(l.buckets(), 1);
        assert!(!l.allow(t0, A));
        let mut l = RateLimiter::new(4, 0, 1);
        assert!(l.allow(t0, A));
        assert!(!l.allow(t0 + Duration::from_secs(100), A));
    }
}
