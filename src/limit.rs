//! Per-source rate limiting for the answers that need no handshake (STUN, A2S).
//!
//! [`RateLimiter`] is a fixed table of token buckets with one exact entry per source: a
//! source's budget does not depend on how many other sources there are (issue 11, item 8;
//! with shared hashed buckets, 20 000 forged sources took most of an honest source's
//! answers). Time always comes in as `now`.
//!
//! # The table
//!
//! The table is set-associative: a keyed hash (SipHash, key drawn at construction from OS
//! entropy, or from a seed with [`RateLimiter::with_seed`]) picks a set of [`WAYS`]
//! entries, and the source's exact key (its IPv4 address, or its IPv6 /64) is looked for in
//! that set. A source that is not there takes the entry of the set touched longest ago (an
//! empty one first), starting with a full bucket. Memory is bounded (allocated once) and a
//! call touches one set: no allocation, no scan of the table.
//!
//! # The bound
//!
//! - **An honest source gets its rate whatever others do.** Its entry is its own (exact
//!   key), so other sources can only ever evict it, and an evicted source comes back with
//!   a full bucket, which is at least what it had. So a source asking at least `per_sec`
//!   times a second gets at least `per_sec` answers a second (after its burst), with any
//!   number of other sources at any rate.
//! - **What eviction gives away.** A source that is evicted regains at most one burst. An
//!   entry is only evicted when every other entry of its set was touched since it was;
//!   with `n` entries, `WAYS`-way sets and forged sources arriving at `R` a second, an
//!   entry survives about `n / R` seconds untouched (65 536 entries at 90 000 forged
//!   requests a second: about 0.7 s). A source asked for (or forged) at least every
//!   `n / R` seconds is never evicted and never gets more than `per_sec` a second after its
//!   burst. An entry idle for `burst / per_sec` seconds has a full bucket anyway, so
//!   evicting it gives away nothing.

use rand::rngs::StdRng;
use rand::Rng;
use siphasher::sip::SipHasher13;
use std::hash::Hasher;
use std::net::IpAddr;
use std::time::Instant;

/// Tokens are counted in thousandths, so refills of a fraction of a token add up.
const MILLI: u64 = 1000;

/// Entries in one set of the table.
pub(crate) const WAYS: usize = 8;

/// Which kind of key an entry holds.
mod tag {
    pub const EMPTY: u32 = 0;
    pub const V4: u32 = 4;
    pub const V6: u32 = 6;
}

/// One source's bucket: its exact key, the last time it was touched, its tokens.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Entry {
    /// The IPv4 address, or the first 64 bits of the IPv6 address.
    key: u64,
    /// Microseconds since the limiter's epoch at the last touch (refill or not).
    last_us: u64,
    /// Thousandths of a token.
    tokens: u32,
    /// [`tag`]: empty, IPv4 or IPv6.
    tag: u32,
}

const EMPTY: Entry = Entry {
    key: 0,
    last_us: 0,
    tokens: 0,
    tag: tag::EMPTY,
};

/// A source's exact key: its tag and bits (also the key of the rewind budgets per IP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    /// 4 (IPv4, IPv4-mapped IPv6 included) or 6 (IPv6).
    pub tag: u32,
    /// The IPv4 address, or the IPv6 /64 prefix.
    pub bits: u64,
}

impl Key {
    /// The key of `ip`.
    pub(crate) fn of(ip: IpAddr) -> Key {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Key {
                tag: tag::V4,
                bits: u64::from(u32::from(v4)),
            },
            IpAddr::V6(v6) => Key {
                tag: tag::V6,
                bits: (u128::from(v6) >> 64) as u64,
            },
        }
    }
}

/// A fixed-size table of token buckets, one per source IP (see the module docs for the
/// table and the bound).
///
/// An IPv4-mapped IPv6 address counts as its IPv4 address, and an IPv6 address counts by its
/// /64 prefix (what one subscriber is usually given), so one host cannot dodge the limit by
/// hopping through the addresses of its own prefix.
pub struct RateLimiter {
    entries: Box<[Entry]>,
    /// Entries per set (`WAYS`, or fewer in a smaller table).
    ways: usize,
    /// Number of sets.
    sets: u64,
    hasher: SipHasher13,
    /// Thousandths of a token gained per second.
    rate: u64,
    /// Bucket capacity, thousandths of a token.
    cap: u32,
    /// Microseconds that fill an empty bucket (`u64::MAX`: never, at a rate of 0).
    fill_us: u64,
    /// The first `now` seen; entry times count from it.
    epoch: Option<Instant>,
}

impl RateLimiter {
    /// A table of about `entries` entries (at least one; rounded down to whole sets of
    /// [`WAYS`]), each bucket refilling `per_sec` tokens a second up to `burst`. A source
    /// starts with a full bucket. The table is allocated here, once; the hash key is drawn
    /// from OS entropy.
    pub fn new(entries: usize, per_sec: u32, burst: u32) -> Self {
        RateLimiter::from_rng(entries, per_sec, burst, &mut crate::seed::rng(None))
    }

    /// Like [`RateLimiter::new`], with the hash key drawn from a generator seeded with
    /// `seed`: the same seed puts the same addresses in the same sets.
    pub fn with_seed(entries: usize, per_sec: u32, burst: u32, seed: u64) -> Self {
        RateLimiter::from_rng(entries, per_sec, burst, &mut crate::seed::rng(Some(seed)))
    }

    /// A limiter whose hash key is the next two draws of `rng`.
    pub(crate) fn from_rng(entries: usize, per_sec: u32, burst: u32, rng: &mut StdRng) -> Self {
        let entries = entries.max(1);
        let ways = WAYS.min(entries);
        let sets = entries / ways;
        // Thousandths of a token in a u32: bursts beyond four million are cut there.
        let cap = u64::from(burst)
            .saturating_mul(MILLI)
            .min(u64::from(u32::MAX)) as u32;
        RateLimiter {
            entries: vec![EMPTY; sets * ways].into_boxed_slice(),
            ways,
            sets: sets as u64,
            hasher: SipHasher13::new_with_keys(rng.gen(), rng.gen()),
            rate: u64::from(per_sec) * MILLI,
            cap,
            fill_us: match per_sec {
                0 => u64::MAX,
                r => u64::from(cap) * 1_000_000 / (u64::from(r) * MILLI),
            },
            epoch: None,
        }
    }

    /// Takes a token from `ip`'s bucket: `true` if there was one (answer), `false` if the
    /// source is over its limit (drop).
    pub fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        self.take(now, ip, 0)
    }

    /// Like [`RateLimiter::allow`], but takes a token only while more than `reserve`
    /// tokens are left: what a lower class of answers uses, so that it can never spend the
    /// last `reserve` tokens of a bucket, which stay for the answers that use `allow`. Both
    /// classes draw on one bucket, so together they never exceed its rate and burst.
    pub(crate) fn allow_keeping(&mut self, now: Instant, ip: IpAddr, reserve: u32) -> bool {
        self.take(now, ip, reserve)
    }

    /// Refills `ip`'s bucket and takes a token if more than `reserve` are left.
    fn take(&mut self, now: Instant, ip: IpAddr, reserve: u32) -> bool {
        let epoch = *self.epoch.get_or_insert(now);
        let now_us =
            u64::try_from(now.saturating_duration_since(epoch).as_micros()).unwrap_or(u64::MAX);
        let key = Key::of(ip);
        let start = self.set_of(key) * self.ways;
        let (rate, cap, fill_us) = (self.rate, self.cap, self.fill_us);
        let Some(set) = self.entries.get_mut(start..start + self.ways) else {
            return false;
        };
        // The source's own entry, else the one touched longest ago (an empty one first).
        let mut found = None;
        let mut victim = 0;
        let mut oldest = u64::MAX;
        for (i, e) in set.iter().enumerate() {
            if e.tag == key.tag && e.key == key.bits {
                found = Some(i);
                break;
            }
            let age = match e.tag {
                tag::EMPTY => 0,
                _ => e.last_us.saturating_add(1),
            };
            if age < oldest {
                oldest = age;
                victim = i;
            }
        }
        let e = match found {
            Some(i) => &mut set[i],
            None => {
                let e = &mut set[victim];
                *e = Entry {
                    key: key.bits,
                    last_us: now_us,
                    tokens: cap,
                    tag: key.tag,
                };
                e
            }
        };
        let elapsed = now_us.saturating_sub(e.last_us);
        // Time that runs backwards (an injected `now` older than the last one) refills nothing.
        if now_us > e.last_us {
            e.last_us = now_us;
        }
        if e.tokens < cap {
            // Enough time to fill any bucket needs no arithmetic (and no 128-bit division).
            let gained = match elapsed {
                0 => 0,
                us if us >= fill_us => u64::from(cap),
                // us < fill_us, so us * rate < cap * 1e6 < 2^63.
                us => us * rate / 1_000_000,
            };
            e.tokens = u64::from(e.tokens)
                .saturating_add(gained)
                .min(u64::from(cap)) as u32;
        }
        if u64::from(e.tokens) >= (u64::from(reserve) + 1) * MILLI {
            e.tokens -= MILLI as u32;
            true
        } else {
            false
        }
    }

    /// How many entries the table has.
    #[cfg(test)]
    pub fn buckets(&self) -> usize {
        self.entries.len()
    }

    /// The set `ip` lives in (the same for every address of one key).
    #[cfg(test)]
    fn index(&self, ip: IpAddr) -> usize {
        self.set_of(Key::of(ip))
    }

    fn set_of(&self, key: Key) -> usize {
        let mut h = self.hasher;
        h.write_u64(key.bits);
        h.write_u32(key.tag);
        (h.finish() % self.sets) as usize
    }
}

impl core::fmt::Debug for RateLimiter {
    /// The shape only: neither the key nor the table.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("buckets", &self.entries.len())
            .field("per_sec", &(self.rate / MILLI))
            .field("burst", &(u64::from(self.cap) / MILLI))
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

    /// Sources no longer share a bucket (issue 11, item 8): in a table of one entry, B
    /// takes A's entry with a full bucket of its own, and A, evicted, comes back full.
    #[test]
    fn a_full_table_evicts_and_a_newcomer_starts_full() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(1, 1, 3);
        assert_eq!(l.buckets(), 1);
        assert_eq!(count(&mut l, t0, A, 2), 2);
        assert_eq!(count(&mut l, t0, B, 10), 3);
        assert_eq!(count(&mut l, t0, A, 10), 3);
    }

    /// In a full set the entry touched longest ago goes, and a source touched since stays
    /// with what it had left (no refill from being looked at).
    #[test]
    fn eviction_takes_the_stalest_of_the_set() {
        let t0 = Instant::now();
        let mut l = RateLimiter::with_seed(WAYS, 1, 2, 3);
        let ip = |i: u8| IpAddr::V4(Ipv4Addr::new(10, 0, 0, i));
        for i in 0..WAYS as u8 {
            assert!(l.allow(t0 + Duration::from_micros(u64::from(i)), ip(i)));
        }
        // Source 0 spends its last token and is the newest now; source 1 is the stalest.
        let t1 = t0 + Duration::from_micros(100);
        assert!(l.allow(t1, ip(0)));
        assert!(l.allow(t1, ip(100)), "a newcomer starts full");
        assert!(!l.allow(t1, ip(0)), "source 0 kept its empty bucket");
        // Every other source kept its entry and its one remaining token.
        for i in 2..WAYS as u8 {
            assert_eq!(count(&mut l, t1, ip(i), 5), 1, "source {i}");
        }
        assert_eq!(
            count(&mut l, t1, ip(1), 5),
            2,
            "source 1 was evicted: full again"
        );
    }

    /// However many other sources share the table, one source gets its rate.
    #[test]
    fn one_source_gets_its_rate_among_many() {
        let t0 = Instant::now();
        let mut l = RateLimiter::with_seed(64, 10, 10, 1);
        let mut ok = 0;
        for ms in 0..10_000u32 {
            let now = t0 + Duration::from_millis(u64::from(ms));
            for k in 0..20u32 {
                let other = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + ms * 20 + k));
                l.allow(now, other);
            }
            if ms % 50 == 0 && l.allow(now, A) {
                ok += 1;
            }
        }
        assert!(ok >= 10 + 99, "{ok}");
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
