//! The connect token (PROTOCOL.md section 8.1): its byte layout, minting and opening.

use super::{fill_random, Key, KEY_LEN, NONCE_LEN, TAG_LEN};
use crate::tickets::{Name, MAX_NAME};
use std::time::Duration;

/// Bytes of a connect token.
pub const TOKEN_LEN: usize = 205;

/// Bytes of the token's sealed part: nonce (12), then the 97-byte plaintext sealed (113).
pub const SEALED_LEN: usize = NONCE_LEN + PLAIN_LEN + TAG_LEN;

/// Bytes of the sealed plaintext.
const PLAIN_LEN: usize = 97;

/// The 16 ASCII bytes that start the token's additional data.
const AAD_LABEL: &[u8; 16] = b"tickwire-token-1";

/// Byte ranges of the token and of its sealed plaintext.
mod field {
    use core::ops::Range;
    pub const CLIENT_ID: Range<usize> = 0..8;
    pub const EXPIRES: Range<usize> = 8..16;
    pub const C2S: Range<usize> = 16..48;
    pub const S2C: Range<usize> = 48..80;
    pub const SEALED: Range<usize> = 80..205;

    /// In the plaintext.
    pub mod plain {
        use core::ops::Range;
        pub const CLIENT_ID: Range<usize> = 0..8;
        pub const SCOPE: Range<usize> = 8..16;
        pub const C2S: Range<usize> = 16..48;
        pub const S2C: Range<usize> = 48..80;
        pub const NAME_LEN: usize = 80;
        pub const NAME: Range<usize> = 81..97;
    }
}

fn u64_at(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

fn key_at(b: &[u8]) -> Key {
    let mut a = [0u8; KEY_LEN];
    a.copy_from_slice(&b[..KEY_LEN]);
    let k = Key::from_bytes(a);
    zeroize::Zeroize::zeroize(&mut a);
    k
}

/// A connect token as the client holds it: 205 bytes, handed over TLS only. The client
/// reads its id, expiry and two connection keys; `sealed` is opaque to it and goes into
/// TOKEN_HELLO as it is.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectToken {
    /// Unique per issued token stream (the lobby's user id, a matchmaker's session).
    pub client_id: u64,
    /// Unix time, seconds: the token is refused from then on.
    pub expires: u64,
    /// The client-to-server connection key.
    pub c2s: Key,
    /// The server-to-client connection key.
    pub s2c: Key,
    /// Nonce, then the fields sealed under the fleet key.
    pub sealed: [u8; SEALED_LEN],
}

impl core::fmt::Debug for ConnectToken {
    /// Id and expiry; never the keys.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ConnectToken")
            .field("client_id", &self.client_id)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl Drop for ConnectToken {
    fn drop(&mut self) {
        // The keys wipe themselves; the sealed part holds them too, under the fleet key.
        zeroize::Zeroize::zeroize(&mut self.sealed);
    }
}

/// Why bytes are not a usable token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not exactly [`TOKEN_LEN`] bytes.
    Length(usize),
    /// The sealed part does not open under this fleet key and protocol id (another key,
    /// another protocol id, a changed expiry, or corrupt bytes).
    Seal,
    /// It opens, but holds a name longer than 16 bytes or not UTF-8 (a broken issuer).
    Name,
    /// It opens, but the keys or the id outside do not match those inside.
    Mismatch,
}

impl core::fmt::Display for TokenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TokenError::Length(n) => write!(f, "a connect token is {TOKEN_LEN} bytes, not {n}"),
            TokenError::Seal => f.write_str(
                "the token does not open under this fleet key and protocol id (wrong key, \
                 wrong protocol id, changed expiry or corrupt)",
            ),
            TokenError::Name => f.write_str("the token's name is not 1..=16 bytes of UTF-8"),
            TokenError::Mismatch => {
                f.write_str("the token's clear fields do not match its sealed fields")
            }
        }
    }
}

impl std::error::Error for TokenError {}

impl ConnectToken {
    /// The 205 bytes.
    pub fn to_bytes(&self) -> [u8; TOKEN_LEN] {
        let mut b = [0u8; TOKEN_LEN];
        b[field::CLIENT_ID].copy_from_slice(&self.client_id.to_be_bytes());
        b[field::EXPIRES].copy_from_slice(&self.expires.to_be_bytes());
        b[field::C2S].copy_from_slice(self.c2s.as_bytes());
        b[field::S2C].copy_from_slice(self.s2c.as_bytes());
        b[field::SEALED].copy_from_slice(&self.sealed);
        b
    }

    /// Reads 205 bytes (a client cannot check the sealed part: it has no fleet key).
    pub fn parse(b: &[u8]) -> Result<ConnectToken, TokenError> {
        if b.len() != TOKEN_LEN {
            return Err(TokenError::Length(b.len()));
        }
        let mut sealed = [0u8; SEALED_LEN];
        sealed.copy_from_slice(&b[field::SEALED]);
        Ok(ConnectToken {
            client_id: u64_at(&b[field::CLIENT_ID]),
            expires: u64_at(&b[field::EXPIRES]),
            c2s: key_at(&b[field::C2S]),
            s2c: key_at(&b[field::S2C]),
            sealed,
        })
    }

    /// The token's 12-byte nonce, which identifies it.
    pub fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(&self.sealed[..NONCE_LEN]);
        n
    }
}

/// What a token's sealed part holds, as the server (or an operator with the fleet key)
/// reads it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenContents {
    /// The client id.
    pub client_id: u64,
    /// 0: any server of the fleet; otherwise only the server with this `--server-id`.
    pub scope: u64,
    /// Unix seconds (from the additional data the seal covers).
    pub expires: u64,
    /// The client-to-server key.
    pub c2s: Key,
    /// The server-to-client key.
    pub s2c: Key,
    /// The user's lobby name, if the issuer gave one.
    pub name: Option<Name>,
    /// The token's nonce: its identity.
    pub nonce: [u8; NONCE_LEN],
}

impl core::fmt::Debug for TokenContents {
    /// Everything but the keys.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokenContents")
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("expires", &self.expires)
            .field("name", &self.name)
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

/// The additional data of a token's seal: `"tickwire-token-1" || protocol id u32 ||
/// expires u64`.
fn aad(protocol_id: u32, expires: u64) -> [u8; 28] {
    let mut a = [0u8; 28];
    a[..16].copy_from_slice(AAD_LABEL);
    a[16..20].copy_from_slice(&protocol_id.to_be_bytes());
    a[20..].copy_from_slice(&expires.to_be_bytes());
    a
}

/// Opens a token's sealed part (as TOKEN_HELLO carries it) under `fleet`, with the
/// protocol id and expiry that the additional data covers. No allocation.
pub(crate) fn open_sealed(
    fleet: &Key,
    protocol_id: u32,
    expires: u64,
    sealed: &[u8; SEALED_LEN],
) -> Result<TokenContents, TokenError> {
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&sealed[..NONCE_LEN]);
    let mut buf = [0u8; PLAIN_LEN + TAG_LEN];
    buf.copy_from_slice(&sealed[NONCE_LEN..]);
    let r = fleet.open(nonce, &aad(protocol_id, expires), &mut buf);
    let out = match r {
        Some(PLAIN_LEN) => read_plain(&buf[..PLAIN_LEN], expires, nonce),
        _ => Err(TokenError::Seal),
    };
    zeroize::Zeroize::zeroize(&mut buf);
    out
}

fn read_plain(p: &[u8], expires: u64, nonce: [u8; NONCE_LEN]) -> Result<TokenContents, TokenError> {
    use field::plain::*;
    let name_len = p[NAME_LEN] as usize;
    if name_len > MAX_NAME || p[NAME][name_len..].iter().any(|&b| b != 0) {
        return Err(TokenError::Name);
    }
    let name = match name_len {
        0 => None,
        n => Some(
            core::str::from_utf8(&p[NAME][..n])
                .ok()
                .and_then(|s| Name::from(s).ok())
                .ok_or(TokenError::Name)?,
        ),
    };
    Ok(TokenContents {
        client_id: u64_at(&p[CLIENT_ID]),
        scope: u64_at(&p[SCOPE]),
        expires,
        c2s: key_at(&p[C2S]),
        s2c: key_at(&p[S2C]),
        name,
        nonce,
    })
}

/// A token issuer: the fleet key, the application's protocol id and how long its tokens
/// live. A lobby, a matchmaker or a script mints with it; every server started with the
/// same key and protocol id admits what it mints.
///
/// ```
/// use tickwire::secure::{ConnectToken, Issuer, Key};
/// let issuer = Issuer::new(Key::generate(), 0);
/// let now = 1_800_000_000; // unix seconds
/// let token = issuer.mint(42, 7, "ann", now);
/// let bytes = token.to_bytes(); // hand these to the client, over TLS only
/// let opened = issuer.open(&ConnectToken::parse(&bytes).unwrap()).unwrap();
/// assert_eq!((opened.client_id, opened.scope), (42, 7));
/// assert_eq!(opened.name.unwrap().as_str(), "ann");
/// assert_eq!(opened.expires, now + 30);
/// ```
#[derive(Debug, Clone)]
pub struct Issuer {
    fleet: Key,
    protocol_id: u32,
    lifetime: Duration,
}

impl Issuer {
    /// How long a token lives by default (PROTOCOL.md section 8.1): 30 seconds.
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(30);

    /// An issuer of tokens for servers of `protocol_id` holding `fleet_key`.
    pub fn new(fleet_key: Key, protocol_id: u32) -> Issuer {
        Issuer {
            fleet: fleet_key,
            protocol_id,
            lifetime: Issuer::DEFAULT_LIFETIME,
        }
    }

    /// The same issuer, minting tokens that live `lifetime` (whole seconds, at least 1).
    pub fn with_lifetime(mut self, lifetime: Duration) -> Issuer {
        self.lifetime = lifetime.max(Duration::from_secs(1));
        self
    }

    /// The protocol id its tokens are for.
    pub fn protocol_id(&self) -> u32 {
        self.protocol_id
    }

    /// Mints a token for `client_id`, admitted on the server with `--server-id scope` (0:
    /// any server of the fleet), carrying `name` (its first 16 bytes, cut at a character
    /// boundary; "" for none), valid until `now_unix` (unix seconds) plus the lifetime. The
    /// connection keys and the nonce are fresh from the operating system's generator.
    pub fn mint(&self, client_id: u64, scope: u64, name: &str, now_unix: u64) -> ConnectToken {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce);
        let expires = now_unix.saturating_add(self.lifetime.as_secs());
        self.mint_with(
            (client_id, scope, name, expires),
            Key::generate(),
            Key::generate(),
            nonce,
        )
    }

    /// Mints a token from given parts: `(client id, scope, name, expires)`, the two
    /// connection keys and the nonce. Nothing random: for test vectors and for issuers that
    /// draw their own randomness. A nonce must never be used twice under one fleet key.
    pub fn mint_with(
        &self,
        (client_id, scope, name, expires): (u64, u64, &str, u64),
        c2s: Key,
        s2c: Key,
        nonce: [u8; NONCE_LEN],
    ) -> ConnectToken {
        use field::plain::*;
        let mut cut = name.len().min(MAX_NAME);
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut plain = [0u8; PLAIN_LEN];
        plain[CLIENT_ID].copy_from_slice(&client_id.to_be_bytes());
        plain[SCOPE].copy_from_slice(&scope.to_be_bytes());
        plain[C2S].copy_from_slice(c2s.as_bytes());
        plain[S2C].copy_from_slice(s2c.as_bytes());
        plain[NAME_LEN] = cut as u8;
        plain[NAME][..cut].copy_from_slice(&name.as_bytes()[..cut]);
        let tag = self
            .fleet
            .seal(nonce, &aad(self.protocol_id, expires), &mut plain);
        let mut sealed = [0u8; SEALED_LEN];
        sealed[..NONCE_LEN].copy_from_slice(&nonce);
        sealed[NONCE_LEN..NONCE_LEN + PLAIN_LEN].copy_from_slice(&plain);
        sealed[NONCE_LEN + PLAIN_LEN..].copy_from_slice(&tag);
        ConnectToken {
            client_id,
            expires,
            c2s,
            s2c,
            sealed,
        }
    }

    /// Opens a token's sealed part and checks it against its clear fields: what a server
    /// with this key would read from it (`tickwire token inspect`).
    pub fn open(&self, token: &ConnectToken) -> Result<TokenContents, TokenError> {
        let c = open_sealed(&self.fleet, self.protocol_id, token.expires, &token.sealed)?;
        if c.client_id != token.client_id || c.c2s != token.c2s || c.s2c != token.s2c {
            return Err(TokenError::Mismatch);
        }
        Ok(c)
    }
}
