//! The matchmaker's sessions: self-verifying, so they cost no memory and no Redis call,
//! and any matchmaker of the fleet (or any holder of the fleet key) checks them offline.
//!
//! A session is the text `v1.{expires}.{name as hex}.{mac as hex}`, `expires` in unix
//! seconds and `mac` the 32-byte keyed BLAKE3 of `"v1" || expires (8 bytes, big endian)
//! || name` under a key derived from the fleet key with its own context
//! ([`SESSION_CONTEXT`]), so a session MAC can never be mistaken for anything else the
//! fleet key protects.

use std::fmt::Write as _;
use tickwire::secure::Key;
use zeroize::Zeroize;

/// The BLAKE3 key-derivation context of the session key.
pub const SESSION_CONTEXT: &str = "tickwire 2026 matchmaker session";

/// The longest name, in bytes of UTF-8 (a connect token carries the first 16).
pub const MAX_NAME: usize = 32;

/// The longest session text.
pub const MAX_SESSION: usize = 3 + 20 + 1 + 2 * MAX_NAME + 1 + 64;

/// Mints and checks sessions.
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

/// Checks a login name: 1 to [`MAX_NAME`] bytes, no control characters, no leading or
/// trailing space.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!("a name is 1 to {MAX_NAME} bytes of UTF-8"));
    }
    if name.chars().any(char::is_control) {
        return Err("a name holds no control characters".into());
    }
    if name.trim() != name {
        return Err("a name neither starts nor ends with a space".into());
    }
    Ok(())
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

    /// A session for `name` (checked with [`check_name`] by the caller) until `expires`.
    pub fn mint(&self, name: &str, expires: u64) -> String {
        let mut s = format!("v1.{expires}.");
        for b in name.as_bytes() {
            let _ = write!(s, "{b:02x}");
        }
        s.push('.');
        s.push_str(&self.mac(name, expires).to_hex());
        s
    }

    /// The name and expiry of a valid session, at `now` (unix seconds).
    pub fn check(&self, session: &str, now: u64) -> Result<(String, u64), SessionError> {
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
        let expires: u64 = exp.parse().map_err(|_| SessionError::Malformed)?;
        let name = unhex(name).ok_or(SessionError::Malformed)?;
        let name = String::from_utf8(name).map_err(|_| SessionError::Malformed)?;
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

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || s.len() > 2 * MAX_NAME {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_checks_until_it_expires() {
        let s = Sessions::new(&Key::from_bytes([7; 32]));
        let t = s.mint("ann é", 1000);
        assert_eq!(s.check(&t, 999), Ok(("ann é".into(), 1000)));
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

    #[test]
    fn names_are_checked() {
        assert!(check_name("ann").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(" ann").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"x".repeat(MAX_NAME + 1)).is_err());
    }
}
