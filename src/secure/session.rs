//! Fleet sessions: what a matchmaker (`tickwire-matchmaker`) hands a player at login.
//! Self-verifying, so they cost no memory and no Redis call, and anything holding the
//! fleet key checks them offline: every matchmaker, and the lobby on the game loop
//! (SESSION_LOGIN_REQ, docs/LOBBY.md).
//!
//! A session is the text `v1.{expires}.{name as hex}.{mac as hex}`, `expires` in unix
//! seconds and `mac` the 32-byte keyed BLAKE3 of `"v1" || expires (8 bytes, big endian)
//! || name` under a key derived from the fleet key with its own context
//! ([`SESSION_CONTEXT`]), so a session MAC can never be mistaken for anything else the
//! fleet key protects.
//!
//! ```
//! use tickwire::secure::{Key, Sessions};
//! let s = Sessions::new(&Key::generate());
//! let text = s.mint("ann", 1_800_000_000);
//! assert_eq!(s.check(&text, 1_700_000_000).unwrap().0.as_str(), "ann");
//! ```

use super::Key;
use arrayvec::ArrayString;
use std::fmt::Write as _;
use zeroize::Zeroize;

/// The BLAKE3 key-derivation context of the session key.
pub const SESSION_CONTEXT: &str = "tickwire 2026 matchmaker session";

/// The longest name a session carries, in bytes of UTF-8.
pub const MAX_NAME: usize = 32;

/// The longest session text.
pub const MAX_SESSION: usize = 3 + 20 + 1 + 2 * MAX_NAME + 1 + 64;

/// Mints and checks sessions. Its key is wiped when dropped.
#[derive(Clone)]
pub struct Sessions {
    key: [u8; 32],
}

impl Drop for Sessions {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions(..)")
    }
}

/// Why a session was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// Not a session's text.
    Malformed,
    /// The MAC does not match (forged, or another fleet key).
    BadMac,
    /// Past its expiry.
    Expired,
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SessionError::Malformed => "not a session",
            SessionError::BadMac => "session not signed by this fleet",
            SessionError::Expired => "session expired: log in again",
        })
    }
}

impl Sessions {
    /// The session key of `fleet`.
    pub fn new(fleet: &Key) -> Sessions {
        Sessions {
            key: blake3::derive_key(SESSION_CONTEXT, fleet.as_bytes()),
        }
    }

    fn mac(&self, name: &str, expires: u64) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(b"v1");
        h.update(&expires.to_be_bytes());
        h.update(name.as_bytes());
        h.finalize()
    }

    /// A session for `name` (at most [`MAX_NAME`] bytes: the caller checks it) until
    /// `expires` (unix seconds).
    pub fn mint(&self, name: &str, expires: u64) -> String {
        let mut s = format!("v1.{expires}.");
        for b in name.as_bytes() {
            let _ = write!(s, "{b:02x}");
        }
        s.push('.');
        s.push_str(&self.mac(name, expires).to_hex());
        s
    }

    /// The name and expiry of a valid session, at `now` (unix seconds). Allocates nothing
    /// (the lobby calls it on the game loop).
    pub fn check(
        &self,
        session: &str,
        now: u64,
    ) -> Result<(ArrayString<MAX_NAME>, u64), SessionError> {
        if session.len() > MAX_SESSION {
            return Err(SessionError::Malformed);
        }
        let mut parts = session.split('.');
        let (Some("v1"), Some(exp), Some(name), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(SessionError::Malformed);
        };
        // One spelling per session: digits and lowercase hex only (no `+`, no case).
        let lower_hex = |t: &str| t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !exp.bytes().all(|b| b.is_ascii_digit()) || !lower_hex(name) || !lower_hex(mac) {
            return Err(SessionError::Malformed);
        }
        let expires: u64 = exp.parse().map_err(|_| SessionError::Malformed)?;
        let mut bytes = [0u8; MAX_NAME];
        let n = unhex(name, &mut bytes).ok_or(SessionError::Malformed)?;
        let name = core::str::from_utf8(&bytes[..n]).map_err(|_| SessionError::Malformed)?;
        let name = ArrayString::from(name).map_err(|_| SessionError::Malformed)?;
        let mac = blake3::Hash::from_hex(mac).map_err(|_| SessionError::Malformed)?;
        // blake3::Hash compares in constant time.
        if self.mac(&name, expires) != mac {
            return Err(SessionError::BadMac);
        }
        if expires <= now {
            return Err(SessionError::Expired);
        }
        Ok((name, expires))
    }
}

/// Decodes hex `s` into `out`; the bytes written.
fn unhex(s: &str, out: &mut [u8; MAX_NAME]) -> Option<usize> {
    if s.len() % 2 != 0 || s.len() > 2 * MAX_NAME {
        return None;
    }
    for (i, o) in out.iter_mut().take(s.len() / 2).enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(s.len() / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_checks_until_it_expires() {
        let s = Sessions::new(&Key::from_bytes([7; 32]));
        let t = s.mint("ann é", 1000);
        let (name, exp) = s.check(&t, 999).unwrap();
        assert_eq!((name.as_str(), exp), ("ann é", 1000));
        assert_eq!(s.check(&t, 1000), Err(SessionError::Expired));
        let other = Sessions::new(&Key::from_bytes([8; 32]));
        assert_eq!(other.check(&t, 1), Err(SessionError::BadMac));
    }

    #[test]
    fn tampering_is_refused() {
        let s = Sessions::new(&Key::from_bytes([7; 32]));
        let t = s.mint("ann", 1000);
        let longer = t.replacen("v1.1000.", "v1.9000.", 1);
        assert_eq!(s.check(&longer, 1), Err(SessionError::BadMac));
        let renamed = t.replacen(".616e6e.", ".626f62.", 1);
        assert_eq!(s.check(&renamed, 1), Err(SessionError::BadMac));
        for bad in [
            "",
            "v1",
            "v1.1.2.3.4",
            "v2.1000.616e6e.00",
            "v1.x.616e6e.00",
            "v1.1.6.00",
        ] {
            assert_eq!(s.check(bad, 1), Err(SessionError::Malformed), "{bad}");
        }
    }
}
