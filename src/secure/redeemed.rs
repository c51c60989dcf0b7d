//! The memory of redeemed tokens (PROTOCOL.md section 8.2): a token admits exactly one
//! connection, so the server remembers every token it redeemed until the token expires.
//!
//! A fixed set-associative table of `(nonce, expires)` entries, allocated once, shared by
//! every match of a host through an `Arc<Mutex>` (taken only for a TOKEN_HELLO that passed
//! its cookies and opened under the fleet key: never on the per-datagram path). A set whose
//! ways all hold unexpired tokens refuses the new one: the memory fails closed, never by
//! forgetting a live token.

use super::NONCE_LEN;
use std::sync::{Arc, Mutex};

/// Ways per set.
const WAYS: usize = 8;

#[derive(Clone, Copy, Default)]
struct Entry {
    nonce: [u8; NONCE_LEN],
    /// Unix seconds; 0 = empty.
    expires: u64,
}

struct Table {
    entries: Box<[Entry]>,
    sets: usize,
    /// Keys the set index, so nonces cannot be chosen to crowd one set (an issuer draws
    /// them at random anyway).
    key: siphasher::sip::SipHasher13,
}

/// What [`Redeemed::redeem`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Redeem {
    /// First time: remembered now.
    Fresh,
    /// Redeemed before (and not expired).
    Again,
    /// No room to remember it: refused.
    Full,
}

/// A shared handle to the memory of redeemed tokens.
#[derive(Clone)]
pub(crate) struct Redeemed(Arc<Mutex<Table>>);

impl core::fmt::Debug for Redeemed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Redeemed(..)")
    }
}

impl Redeemed {
    /// A memory of at least `capacity` tokens (rounded up to whole sets).
    pub(crate) fn new(capacity: usize) -> Redeemed {
        let sets = capacity.div_ceil(WAYS).max(1);
        let mut k = [0u8; 16];
        super::fill_random(&mut k);
        let (k0, k1) = (
            u64::from_le_bytes(k[..8].try_into().unwrap_or_default()),
            u64::from_le_bytes(k[8..].try_into().unwrap_or_default()),
        );
        Redeemed(Arc::new(Mutex::new(Table {
            entries: vec![Entry::default(); sets * WAYS].into_boxed_slice(),
            sets,
            key: siphasher::sip::SipHasher13::new_with_keys(k0, k1),
        })))
    }

    /// Redeems the token with `nonce` expiring at `expires`, at unix time `now`.
    pub(crate) fn redeem(&self, nonce: &[u8; NONCE_LEN], expires: u64, now: u64) -> Redeem {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let set = t.set(nonce);
        let ways = &mut t.entries[set * WAYS..(set + 1) * WAYS];
        let mut free = None;
        for (i, e) in ways.iter().enumerate() {
            let live = e.expires > now;
            if live && e.nonce == *nonce {
                return Redeem::Again;
            }
            if !live && free.is_none() {
                free = Some(i);
            }
        }
        match free {
            Some(i) => {
                ways[i] = Entry {
                    nonce: *nonce,
                    expires,
                };
                Redeem::Fresh
            }
            None => Redeem::Full,
        }
    }

    /// Whether the token with `nonce` was redeemed and has not expired at `now`.
    pub(crate) fn was_redeemed(&self, nonce: &[u8; NONCE_LEN], now: u64) -> bool {
        let t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let set = t.set(nonce);
        t.entries[set * WAYS..(set + 1) * WAYS]
            .iter()
            .any(|e| e.expires > now && e.nonce == *nonce)
    }
}

impl Table {
    fn set(&self, nonce: &[u8; NONCE_LEN]) -> usize {
        use core::hash::Hasher;
        let mut h = self.key;
        h.write(nonce);
        (h.finish() % self.sets as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_until_expiry_and_fails_closed() {
        let r = Redeemed::new(8); // one set
        let n = |i: u8| [i; NONCE_LEN];
        assert_eq!(r.redeem(&n(1), 100, 50), Redeem::Fresh);
        assert_eq!(r.redeem(&n(1), 100, 60), Redeem::Again);
        assert!(r.was_redeemed(&n(1), 99));
        for i in 2..=8 {
            assert_eq!(r.redeem(&n(i), 100, 50), Redeem::Fresh);
        }
        assert_eq!(
            r.redeem(&n(9), 100, 50),
            Redeem::Full,
            "never forgets a live one"
        );
        // Once expired, an entry's room is reused.
        assert_eq!(r.redeem(&n(9), 300, 100), Redeem::Fresh);
        assert!(!r.was_redeemed(&n(1), 100));
    }
}
