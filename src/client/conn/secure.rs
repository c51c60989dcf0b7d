//! The client's side of secure mode (PROTOCOL.md section 8): what it holds, TOKEN_HELLO,
//! opening the sealed REJECT and ACCEPT, and sealing and opening connected datagrams.

use super::Event;
use crate::secure::{
    nonce_seq, nonce_snapshot, snapshot_tag, ConnectToken, Dir, Key, NONCE_REJECT, TAG_LEN,
};
use crate::wire::msg::Accept;
use crate::wire::msg::{SecureAccept, SnapshotPrefix, TokenHello};
use crate::wire::{DropReason, Header, Kind, Packet, HEADER_LEN, MAX_DATAGRAM, MAX_PAYLOAD};
use core::net::SocketAddr;
use std::time::Instant;

/// A secure connection's keys and the buffer sealed datagrams are opened in.
pub(super) struct ClientSecure {
    pub(super) token: ConnectToken,
    /// `Kmac`, derived from the token's `Ks2c`.
    kmac: Key,
    /// `Km`, from ACCEPT.
    match_key: Option<Key>,
    pub(super) scratch: Box<[u8; MAX_DATAGRAM]>,
}

/// `a == b` in time that depends only on their length.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl ClientSecure {
    pub(super) fn new(token: ConnectToken) -> ClientSecure {
        ClientSecure {
            kmac: token.s2c.snapshot_mac_key(),
            token,
            match_key: None,
            scratch: Box::new([0; MAX_DATAGRAM]),
        }
    }

    /// Writes TOKEN_HELLO with the given cookies into `out`; its length.
    pub(super) fn token_hello(
        &self,
        (protocol_id, reply): (u32, Option<SocketAddr>),
        (cookie, source_cookie): (u64, u64),
        out: &mut [u8],
    ) -> Option<usize> {
        let n = HEADER_LEN + TokenHello::LEN;
        let buf = out.get_mut(..n)?;
        Header {
            flags: Kind::TokenHello.send_flags(false),
            seq: 0,
            ack: 0,
            qport: 0,
            kind: Kind::TokenHello.to_u8(),
            len: TokenHello::LEN as u16,
        }
        .emit(buf)
        .ok()?;
        TokenHello {
            protocol_id,
            reply,
            expires: self.token.expires,
            cookie,
            source_cookie,
            sealed: self.token.sealed,
        }
        .emit(&mut buf[HEADER_LEN..])
        .ok()?;
        Some(n)
    }

    /// Opens a REJECT's payload under `Ks2c` and returns the reason byte's plaintext.
    pub(super) fn open_reject(&mut self, p: &Packet<&[u8]>) -> Result<&[u8], DropReason> {
        let n = self.open(p, NONCE_REJECT)?;
        Ok(&self.scratch[..n])
    }

    /// Opens an ACCEPT's payload under `Ks2c` with nonce `(1, S0)`; keeps the match key.
    pub(super) fn open_accept(&mut self, p: &Packet<&[u8]>) -> Result<SecureAccept, DropReason> {
        let n = self.open(p, nonce_seq(Dir::ToClient, p.seq()))?;
        let a = SecureAccept::parse(&self.scratch[..n])?;
        self.match_key = Some(a.match_key.clone());
        Ok(a)
    }

    /// Opens a connected datagram (KEEPALIVE, BYE, a game kind) under `Ks2c`: the
    /// plaintext's length, in `scratch`.
    pub(super) fn open_connected(&mut self, p: &Packet<&[u8]>) -> Result<usize, DropReason> {
        self.open(p, nonce_seq(Dir::ToClient, p.seq()))
    }

    /// Checks a SNAPSHOT part's per-client tag `T`, then opens `C` under the match key:
    /// the prefix and the body's length, in `scratch`.
    pub(super) fn open_snapshot(
        &mut self,
        p: &Packet<&[u8]>,
    ) -> Result<(SnapshotPrefix, usize), DropReason> {
        let d = p.payload();
        let (prefix, rest) = SnapshotPrefix::parse(d)?;
        if rest.len() < 2 * TAG_LEN {
            return Err(DropReason::BadAuth);
        }
        let (t, c) = rest.split_at(TAG_LEN);
        let mut head = [0u8; HEADER_LEN + SnapshotPrefix::LEN];
        head[..HEADER_LEN].copy_from_slice(p.header_bytes());
        head[HEADER_LEN..].copy_from_slice(&d[..SnapshotPrefix::LEN]);
        let expect = snapshot_tag(&self.kmac, &head, blake3::hash(c).as_bytes());
        if !same(&expect, t) {
            return Err(DropReason::BadAuth);
        }
        let km = self.match_key.as_ref().ok_or(DropReason::BadAuth)?;
        let buf = &mut self.scratch[..c.len()];
        buf.copy_from_slice(c);
        let n = km
            .open(
                nonce_snapshot(prefix.part, prefix.tick),
                &d[..SnapshotPrefix::LEN],
                buf,
            )
            .ok_or(DropReason::BadAuth)?;
        Ok((prefix, n))
    }

    /// Copies the payload into `scratch` and opens it under `Ks2c` with the header as
    /// additional data.
    fn open(&mut self, p: &Packet<&[u8]>, nonce: [u8; 12]) -> Result<usize, DropReason> {
        let sealed = p.payload();
        if sealed.len() < TAG_LEN {
            return Err(DropReason::BadAuth);
        }
        let buf = &mut self.scratch[..sealed.len()];
        buf.copy_from_slice(sealed);
        self.token
            .s2c
            .open(nonce, p.header_bytes(), buf)
            .ok_or(DropReason::BadAuth)
    }

    /// Seals the datagram in `out`: its header (already written) is the additional data,
    /// `plain` bytes follow it, and the tag goes after them.
    pub(super) fn seal(&self, out: &mut [u8], plain: usize) {
        let mut aad = [0u8; HEADER_LEN];
        aad.copy_from_slice(&out[..HEADER_LEN]);
        let seq = u32::from_be_bytes([aad[1], aad[2], aad[3], aad[4]]);
        let body = &mut out[HEADER_LEN..HEADER_LEN + plain + TAG_LEN];
        let tag = self
            .token
            .c2s
            .seal(nonce_seq(Dir::ToServer, seq), &aad, &mut body[..plain]);
        body[plain..].copy_from_slice(&tag);
    }
}

impl super::Client {
    /// ACCEPT's fields: as they are, or opened under `Ks2c` in secure mode (which also
    /// keeps the match key).
    pub(super) fn parse_accept(&mut self, p: &Packet<&[u8]>) -> Result<Accept, DropReason> {
        match self.sec.as_deref_mut() {
            None => Accept::parse(p.payload()),
            Some(sec) => sec.open_accept(p).map(|a| Accept {
                tick_hz: a.tick_hz,
                max_payload: a.max_payload.min((MAX_PAYLOAD - TAG_LEN) as u16),
                tick: a.tick,
                time_us: a.time_us,
            }),
        }
    }

    /// A connected datagram in secure mode (PROTOCOL.md section 8.3): qport and window
    /// first, then the snapshot tag and the match key, or `Ks2c`; only what opens moves
    /// the window and is acted on.
    pub(super) fn connected_sealed(
        &mut self,
        now: Instant,
        qport: u8,
        kind: Kind,
        p: &Packet<&[u8]>,
    ) -> Option<Event> {
        if p.qport() != qport {
            return self.dropped(DropReason::BadQport);
        }
        if let Err(d) = self.link.precheck(p.seq()) {
            return self.dropped(d);
        }
        let sec = self.sec.as_deref_mut()?;
        let opened = match kind {
            Kind::Snapshot => sec.open_snapshot(p).map(|(s, n)| (Some(s), n)),
            _ => sec.open_connected(p).map(|n| (None, n)),
        };
        let (snap, n) = match opened {
            Ok(o) => o,
            Err(d) => return self.dropped(d),
        };
        if matches!(kind, Kind::Keepalive | Kind::Bye) && n != 0 {
            return self.dropped(DropReason::BadPayload);
        }
        // The plaintext is in the secure state's buffer: take the state out (a pointer
        // move) while the shared tail reads it.
        let sec = self.sec.take()?;
        let ev = self.take_connected(now, p, kind, snap, &sec.scratch[..n]);
        self.sec = Some(sec);
        ev
    }
}
