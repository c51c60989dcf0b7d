//! Secure mode (PROTOCOL.md section 8): the fleet key, connect tokens, and the sealing of
//! every datagram after the handshake.
//!
//! The model is netcode.io's. A backend that authenticated a user (over TLS) mints a
//! short-lived [`ConnectToken`] with an [`Issuer`] holding the fleet key; the token carries
//! two fresh connection keys in the clear for the client and the same keys sealed under
//! the fleet key for the server, so any server of the fleet admits the client with no
//! shared state and no call back. After the handshake every datagram in both directions
//! is authenticated (ChaCha20-Poly1305, RFC 8439); a tick's snapshot is sealed once under
//! the match key and authenticated per client with a 16-byte keyed-BLAKE3 tag.
//!
//! | you want | use |
//! |---|---|
//! | a fleet key, from a key file or fresh | [`Key::read_file`], [`Key::generate`], [`Key::write_file`] |
//! | to issue tokens (a lobby, a matchmaker, a script) | [`Issuer::mint`] |
//! | to see what a token holds (operators, tests) | [`ConnectToken::parse`], [`Issuer::open`] |
//! | a secure server | [`Secure`] in [`Config::secure`](crate::Config::secure) |
//! | a secure client | [`Client::with_token`](crate::client::Client::with_token), [`Connection::connect_with_token`](crate::client::blocking::Connection::connect_with_token) |
//!
//! Crypto comes from reviewed crates, never from here: `ring` for the AEAD (its
//! ChaCha20-Poly1305 is assembly from BoringSSL, about 3x faster here than RustCrypto's
//! portable build), `blake3` for the hash, the MAC and the key derivation, `zeroize` to wipe
//! keys. Every key this module holds is wiped when dropped.

mod keyfile;
mod redeemed;
mod session;
pub(crate) mod token;

pub use keyfile::KeyFileError;
pub(crate) use redeemed::{Redeem, Redeemed};
pub use session::{
    SessionError, Sessions, MAX_NAME as MAX_SESSION_NAME, MAX_SESSION, SESSION_CONTEXT,
};
pub use token::{ConnectToken, Issuer, TokenContents, TokenError, SEALED_LEN, TOKEN_LEN};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Bytes of a key.
pub const KEY_LEN: usize = 32;

/// Bytes of an AEAD tag, and of a snapshot's per-client MAC.
pub const TAG_LEN: usize = 16;

/// Bytes of an AEAD nonce.
pub const NONCE_LEN: usize = 12;

/// The key-derivation context of the snapshot MAC key (PROTOCOL.md section 8.1).
pub(crate) const KMAC_CONTEXT: &str = "tickwire 2026 snapshot mac";

/// A 32-byte key (the fleet key, a connection key, a match key), wiped when dropped. Its
/// `Debug` never prints it.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Key([u8; KEY_LEN]);

impl core::fmt::Debug for Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    /// A key of 32 random bytes from the operating system's generator.
    pub fn generate() -> Key {
        let mut k = Key([0; KEY_LEN]);
        fill_random(&mut k.0);
        k
    }

    /// A key holding `bytes`.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Key {
        Key(bytes)
    }

    /// The key's bytes (to hand a connection key to a client, or to store a key).
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Parses 64 hex digits (either case); surrounding whitespace is ignored.
    pub fn from_hex(s: &str) -> Option<Key> {
        let s = s.trim().as_bytes();
        if s.len() != 2 * KEY_LEN {
            return None;
        }
        let mut k = Key([0; KEY_LEN]);
        for (i, pair) in s.chunks_exact(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            k.0[i] = (hi * 16 + lo) as u8;
        }
        Some(k)
    }

    /// The key as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(2 * KEY_LEN);
        for b in self.0 {
            s.push(char::from_digit((b >> 4) as u32, 16).unwrap_or('0'));
            s.push(char::from_digit((b & 15) as u32, 16).unwrap_or('0'));
        }
        s
    }

    /// The snapshot MAC key of a server-to-client connection key:
    /// `BLAKE3 derive_key("tickwire 2026 snapshot mac", Ks2c)`.
    pub(crate) fn snapshot_mac_key(&self) -> Key {
        Key(blake3::derive_key(KMAC_CONTEXT, &self.0))
    }

    /// The AEAD key, built on the stack for one operation (ChaCha20 has no key schedule,
    /// so this is a copy of 32 bytes).
    #[inline]
    fn aead(&self) -> LessSafeKey {
        // CHACHA20_POLY1305 takes exactly 32 bytes: this cannot fail.
        LessSafeKey::new(
            UnboundKey::new(&CHACHA20_POLY1305, &self.0).expect("a 32-byte ChaCha20 key"),
        )
    }

    /// Seals `in_out` in place under `nonce` and `aad`, returning the tag to append.
    #[inline]
    pub(crate) fn seal(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> [u8; TAG_LEN] {
        let mut tag = [0u8; TAG_LEN];
        // ring fails only on a plaintext over 256 GiB.
        if let Ok(t) = self.aead().seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            in_out,
        ) {
            tag.copy_from_slice(t.as_ref());
        }
        tag
    }

    /// Opens `in_out` (ciphertext then the 16-byte tag) in place; on success the plaintext
    /// is `in_out[..len - 16]` and its length is returned. On failure `in_out` is garbage
    /// and `None` is returned.
    #[inline]
    pub(crate) fn open(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Option<usize> {
        if in_out.len() < TAG_LEN {
            return None;
        }
        self.aead()
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out)
            .ok()
            .map(|p| p.len())
    }

    /// `MAC(k, m)`: the first 16 bytes of keyed BLAKE3 of `m` under this key.
    #[inline]
    pub(crate) fn mac(&self, m: &[u8]) -> [u8; TAG_LEN] {
        let h = blake3::keyed_hash(&self.0, m);
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(&h.as_bytes()[..TAG_LEN]);
        t
    }
}

/// Fills `buf` from the operating system's generator.
pub(crate) fn fill_random(buf: &mut [u8]) {
    use rand::RngCore;
    rand::rngs::OsRng.fill_bytes(buf);
}

/// Which side sends a connected datagram: the first byte of its nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// Client to server (under `Kc2s`).
    ToServer = 0,
    /// Server to client (under `Ks2c`).
    ToClient = 1,
}

/// `nonce(dir, seq)` of a connected datagram: `dir u8 || 7 zero bytes || seq u32`.
#[inline]
pub(crate) fn nonce_seq(dir: Dir, seq: u32) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[0] = dir as u8;
    n[8..].copy_from_slice(&seq.to_be_bytes());
    n
}

/// The nonce of a sealed REJECT: `3 u8 || 11 zero bytes`.
pub(crate) const NONCE_REJECT: [u8; NONCE_LEN] = [3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// The nonce of a snapshot part sealed under the match key:
/// `2 u8 || part index u8 || 6 zero bytes || tick u32`.
#[inline]
pub(crate) fn nonce_snapshot(part: u8, tick: u32) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[0] = 2;
    n[1] = part;
    n[8..].copy_from_slice(&tick.to_be_bytes());
    n
}

/// Bytes over which a snapshot part's per-client MAC is computed: header (13), prefix
/// (14), `H(C)` (32).
pub(crate) const SNAPSHOT_MAC_INPUT: usize = 13 + 14 + 32;

/// `T = MAC(Kmac, header || prefix || H(C))`, from the 27 bytes of header and prefix and
/// the part's hash, in one BLAKE3 call over 59 bytes (one compression).
#[inline]
pub(crate) fn snapshot_tag(kmac: &Key, head: &[u8], hash: &[u8; 32]) -> [u8; TAG_LEN] {
    let mut m = [0u8; SNAPSHOT_MAC_INPUT];
    let n = head.len().min(27);
    m[..n].copy_from_slice(&head[..n]);
    m[27..].copy_from_slice(hash);
    kmac.mac(&m)
}

/// The unix clock of a sans-IO core: an [`Instant`] and the unix time it stands for, so
/// `now` (an `Instant`, as every core takes it) maps to unix seconds without reading the
/// system clock on the datagram path, and tests can set the time.
#[derive(Debug, Clone, Copy)]
pub struct UnixClock {
    at: Instant,
    unix_us: u64,
}

impl UnixClock {
    /// The system clock, read once now.
    pub fn system() -> UnixClock {
        let unix_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        UnixClock {
            at: Instant::now(),
            unix_us,
        }
    }

    /// A clock on which `at` is `unix_secs` seconds after the unix epoch (tests).
    pub fn fixed(at: Instant, unix_secs: u64) -> UnixClock {
        UnixClock {
            at,
            unix_us: unix_secs.saturating_mul(1_000_000),
        }
    }

    /// Unix time at `now`, in seconds.
    #[inline]
    pub fn unix_secs(&self, now: Instant) -> u64 {
        let us = match now.checked_duration_since(self.at) {
            Some(d) => self.unix_us.saturating_add(d.as_micros() as u64),
            None => self
                .unix_us
                .saturating_sub(self.at.duration_since(now).as_micros() as u64),
        };
        us / 1_000_000
    }
}

/// A server's secure-mode settings (`tickwire serve --secure`): the fleet key, its server
/// id, and the memory of redeemed tokens. Clones share that memory, so every match of a
/// host (and every thread) refuses a token any of them redeemed.
#[derive(Debug, Clone)]
pub struct Secure {
    pub(crate) fleet: Key,
    pub(crate) server_id: u64,
    pub(crate) clock: UnixClock,
    pub(crate) redeemed: Redeemed,
}

impl Secure {
    /// Secure mode with `fleet_key`, for the server started with `--server-id server_id`
    /// (0 = none: only scope-0 tokens are admitted), on the system clock, remembering up to
    /// [`Secure::DEFAULT_REDEEMED`] tokens at once.
    pub fn new(fleet_key: Key, server_id: u64) -> Secure {
        Secure {
            fleet: fleet_key,
            server_id,
            clock: UnixClock::system(),
            redeemed: Redeemed::new(Secure::DEFAULT_REDEEMED),
        }
    }

    /// How many unexpired redeemed tokens a host remembers by default (65 536, 2 MiB). A
    /// token that finds no room is refused (counted `token_memory_full`): never admitted
    /// twice.
    pub const DEFAULT_REDEEMED: usize = 65_536;

    /// The same settings on another unix clock (tests inject time).
    pub fn with_clock(mut self, clock: UnixClock) -> Secure {
        self.clock = clock;
        self
    }

    /// The same settings, remembering up to `capacity` redeemed tokens (a fresh memory).
    pub fn with_capacity(mut self, capacity: usize) -> Secure {
        self.redeemed = Redeemed::new(capacity);
        self
    }

    /// The server id tokens are checked against.
    pub fn server_id(&self) -> u64 {
        self.server_id
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;
