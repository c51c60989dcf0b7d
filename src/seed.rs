//! One seed for every random draw of a host (quinn's `EndpointConfig::rng_seed`).
//!
//! A host's randomness comes from [`Config::seed`](crate::Config::seed): each component
//! (match servers and their CHALLENGE limiters, lobby tickets, the room games' shoes, the
//! STUN limiter, the A2S secret, limiter and split ids)
//! gets its own stream, derived from that one seed and the component's constant below, so
//! a test can reproduce a whole host. `None` draws every stream from OS entropy.
//!
//! Match `i`'s server keeps its historical seed, `seed + i` (its qports, start sequence
//! numbers and cookie key have always come from it); the other streams are
//! `StdRng::seed_from_u64(splitmix64(seed ^ stream))`, which no `seed + i` can meet by
//! accident in practice.

use rand::rngs::StdRng;
use rand::SeedableRng;

/// A component that draws random numbers; its value picks its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum Stream {
    /// Lobby ticket numbers.
    Tickets = 0x7469_636b_6574_7331,
    /// The STUN responder's rate-limiter key.
    Stun = 0x7374_756e_6c69_6d31,
    /// The A2S responder: challenge secret, rate-limiter key, split reply ids.
    Query = 0x6132_7371_7565_7231,
    /// A match server's CHALLENGE limiter key (from that server's own seed).
    Challenge = 0x6368_616c_6c6e_6731,
    /// The lobby's room games: each new table's seed (its baccarat shoe).
    RoomGames = 0x726f_6f6d_6761_6d31,
}

/// SplitMix64's output function (Steele, Lea and Flood 2014): a bijection of `u64` that
/// spreads neighbouring inputs over the whole range.
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of `stream` within a host seeded with `seed`.
pub(crate) fn derive(seed: u64, stream: Stream) -> u64 {
    splitmix64(seed ^ stream as u64)
}

/// A generator for a component seeded with `seed` (`None`: OS entropy).
pub(crate) fn rng(seed: Option<u64>) -> StdRng {
    match seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_entropy(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_and_repeat() {
        let all = [
            Stream::Tickets,
            Stream::Stun,
            Stream::Query,
            Stream::Challenge,
            Stream::RoomGames,
        ];
        for (i, a) in all.iter().enumerate() {
            assert_eq!(derive(42, *a), derive(42, *a));
            assert_ne!(derive(42, *a), derive(43, *a));
            for b in &all[i + 1..] {
                assert_ne!(derive(42, *a), derive(42, *b));
            }
        }
        // Known answer: splitmix64(0) is the first output of SplitMix64 seeded with 0.
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
    }
}
