//! Secure mode on the server (PROTOCOL.md section 8): TOKEN_HELLO admission, the sealed
//! ACCEPT and REJECT, and the sealed copy of each tick's snapshot parts.
//!
//! Admission runs the checks in the order section 8.2 gives, dropping on the first that
//! fails: size, protocol id, expiry, cookies (a CHALLENGE, as for HELLO, and nothing more:
//! nothing is decrypted before the cookies are valid), the seal under the fleet key, the
//! scope, the memory of redeemed tokens, then the slots. What is sealed per client is
//! sealed where its seq is taken: BYE in `mod.rs`, game datagrams in `outbox.rs`, the
//! snapshot tags in `broadcast.rs`.

use super::peer::PeerKeys;
use super::ring::Slot;
use super::{Game, Server, Transmit, MAX_PARTS};
use crate::secure::token::open_sealed;
use crate::secure::{nonce_seq, nonce_snapshot, Dir, Key, Redeem, Secure, NONCE_REJECT, TAG_LEN};
use crate::wire::{
    DropReason, Header, Kind, Packet, RejectReason, SecureAccept, SnapshotPrefix, TokenHello,
    HEADER_LEN, MAX_PAYLOAD,
};
use arrayvec::ArrayVec;
use core::net::SocketAddr;
use std::time::Instant;

/// Largest plaintext a secure client may send, ACCEPT's `max_payload`: 1187 less the tag.
pub(crate) const MAX_SEALED_PLAINTEXT: usize = MAX_PAYLOAD - TAG_LEN;

/// Largest snapshot part body in secure mode: 1200 - 13 - 14 - 16 - 16 = 1141.
pub(crate) const MAX_SEALED_PART_BODY: usize = MAX_PAYLOAD - SnapshotPrefix::LEN - 2 * TAG_LEN;

/// Bytes of a secure ACCEPT's payload: the 52-byte plaintext and its tag.
const ACCEPT_SEALED_LEN: usize = SecureAccept::LEN + TAG_LEN;

/// A server's secure state: the settings, the match key, and the sealed parts of the
/// ring's ticks.
pub(crate) struct ServerSecure {
    pub(crate) cfg: Secure,
    /// `Km`, drawn when the match starts.
    pub(crate) match_key: Key,
    /// One sealed copy per ring slot, so a queued snapshot part stays valid exactly as long
    /// as its plaintext in the ring does.
    sealed: Box<[SealedSlot]>,
}

/// The sealed parts of one tick: `C` of each part, one after another, and `H(C)`.
struct SealedSlot {
    buf: Box<[u8]>,
    ends: ArrayVec<u32, MAX_PARTS>,
    hashes: [[u8; 32]; MAX_PARTS],
}

impl ServerSecure {
    /// Secure state for a ring of `slots` slots of `capacity` body bytes; everything is
    /// allocated here.
    pub(crate) fn new(cfg: Secure, slots: usize, capacity: usize) -> ServerSecure {
        let cap = capacity + MAX_PARTS * TAG_LEN;
        ServerSecure {
            cfg,
            match_key: Key::generate(),
            sealed: (0..slots)
                .map(|_| SealedSlot {
                    // Non-zero, so every page is touched now (see `Slot::new`).
                    buf: vec![0xA5u8; cap].into_boxed_slice(),
                    ends: ArrayVec::new(),
                    hashes: [[0; 32]; MAX_PARTS],
                })
                .collect(),
        }
    }

    /// Seals every part of `slot` (ring index `index`) once under the match key: `C =
    /// AEAD(Km, nonce(2, part, tick), aad = prefix, body)`, and `H(C)` for the per-client
    /// tags. No allocation.
    pub(crate) fn seal_tick(&mut self, index: usize, slot: &Slot, tick: u32, time_us: u64) {
        let s = &mut self.sealed[index];
        s.ends.clear();
        let parts = slot.parts();
        let mut off = 0usize;
        for i in 0..parts {
            let body = slot.part(i);
            let end = off + body.len() + TAG_LEN;
            if end > s.buf.len() {
                break;
            }
            let prefix = SnapshotPrefix {
                tick,
                time_us,
                part: i as u8,
                parts: parts as u8,
            };
            let mut aad = [0u8; SnapshotPrefix::LEN];
            let _ = prefix.emit(&mut aad);
            let c = &mut s.buf[off..end];
            c[..body.len()].copy_from_slice(body);
            let tag =
                self.match_key
                    .seal(nonce_snapshot(i as u8, tick), &aad, &mut c[..body.len()]);
            c[body.len()..].copy_from_slice(&tag);
            s.hashes[i] = *blake3::hash(c).as_bytes();
            s.ends.push(end as u32);
            off = end;
        }
    }

    /// Part `part` of ring slot `index`, sealed (`C`), and its hash.
    #[inline]
    pub(crate) fn part(&self, index: usize, part: usize) -> (&[u8], &[u8; 32]) {
        let Some(s) = self.sealed.get(index) else {
            return (&[], &[0; 32]);
        };
        let end = s.ends.get(part).copied().unwrap_or(0) as usize;
        let start = match part {
            0 => 0,
            _ => s.ends.get(part - 1).copied().unwrap_or(0) as usize,
        };
        (
            &s.buf[start.min(end)..end],
            &s.hashes[part.min(MAX_PARTS - 1)],
        )
    }
}

impl<G: Game> Server<G> {
    /// Whether the server runs in secure mode.
    pub fn is_secure(&self) -> bool {
        self.secure.is_some()
    }

    /// Sets the match key (secure mode), for golden test vectors: a real match draws its
    /// own at start-up and never changes it.
    #[doc(hidden)]
    pub fn force_match_key(&mut self, key: crate::secure::Key) {
        if let Some(s) = &mut self.secure {
            s.match_key = key;
        }
    }

    /// A TOKEN_HELLO (secure mode): the checks of section 8.2 in order, then CHALLENGE,
    /// ACCEPT again (the same client, the same token), REJECT (full), or a new client.
    pub(super) fn on_token_hello(
        &mut self,
        now: Instant,
        src: SocketAddr,
        p: &Packet<&[u8]>,
    ) -> Result<(), DropReason> {
        let Some(sec) = &self.secure else {
            return Err(DropReason::NotSecure);
        };
        // Section 8.2's order: size, protocol id, expiry, cookies, seal, scope, memory.
        let hello = TokenHello::parse(p.payload())?;
        if p.qport() != 0 {
            return Err(DropReason::BadQport);
        }
        if hello.protocol_id != self.cfg.protocol_id {
            return Err(DropReason::ProtocolId);
        }
        let unix_now = sec.cfg.clock.unix_secs(now);
        if hello.expires <= unix_now {
            return Err(DropReason::TokenExpired);
        }
        let reply = hello.reply.unwrap_or(src);
        if reply.is_ipv4() != src.is_ipv4() {
            return Err(DropReason::BadReplyAddr);
        }
        let now_us = self.time_us(now);
        if !self.cookies_valid((hello.cookie, hello.source_cookie), src, reply, now_us) {
            return self.challenge(now, now_us, src, reply);
        }
        // Only now, behind valid cookies, is anything decrypted.
        let token = open_sealed(
            &sec.cfg.fleet,
            self.cfg.protocol_id,
            hello.expires,
            &hello.sealed,
        )
        .map_err(|_| DropReason::BadToken)?;
        if token.scope != 0 && token.scope != sec.cfg.server_id {
            return Err(DropReason::TokenScope);
        }
        // A connected client whose ACCEPT was lost sends the same token again.
        if let Some(q) = self.connected_from(src) {
            if self.peers[q as usize].keys().token != token.nonce {
                return Err(DropReason::AlreadyConnected);
            }
            self.queue_secure_accept(q)?;
            self.stats.accept_resends += 1;
            return Ok(());
        }
        let (slots, (from_ip, max_per_ip)) = self.occupancy(src);
        if slots.0 >= slots.1 || from_ip >= max_per_ip {
            // Full: REJECT 1 under the token's Ks2c. The token is not spent, so it may be
            // tried again (until it expires) when a slot is free.
            if self.secure_redeemed(&token.nonce, unix_now) {
                return Err(DropReason::TokenReused);
            }
            self.queue_secure_reject(reply, &token.s2c)?;
            match slots.0 < slots.1 {
                true => self.stats.rejects_per_ip += 1,
                false => self.stats.rejects_full += 1,
            }
            return Ok(());
        }
        let sec = self.secure.as_ref().ok_or(DropReason::NotSecure)?;
        match sec
            .cfg
            .redeemed
            .redeem(&token.nonce, token.expires, unix_now)
        {
            Redeem::Fresh => {}
            Redeem::Again => return Err(DropReason::TokenReused),
            Redeem::Full => return Err(DropReason::TokenMemoryFull),
        }
        let keys = PeerKeys::new(
            token.c2s.clone(),
            token.s2c.clone(),
            token.nonce,
            token.client_id,
        );
        let q = self.admit(now_us, src, reply, token.name);
        self.peers[q as usize].set_keys(keys);
        self.queue_secure_accept(q)
    }

    /// Whether the token with `nonce` was redeemed already (by any match of this host).
    fn secure_redeemed(&self, nonce: &[u8; 12], unix_now: u64) -> bool {
        self.secure
            .as_ref()
            .is_some_and(|s| s.cfg.redeemed.was_redeemed(nonce, unix_now))
    }

    /// Queues client `q`'s sealed ACCEPT: `AEAD(Ks2c, nonce(1, S0), aad = header, plain)`
    /// with the match key in the plaintext. The same bytes when resent.
    pub(super) fn queue_secure_accept(&mut self, q: u8) -> Result<(), DropReason> {
        let Some(sec) = &self.secure else {
            return Err(DropReason::NotSecure);
        };
        let peer = &self.peers[q as usize];
        let (s0, tick, time_us) = peer.accept_fields();
        let header = Header {
            flags: Kind::Accept.send_flags(true),
            seq: s0,
            ack: 1,
            qport: q,
            kind: Kind::Accept.to_u8(),
            len: ACCEPT_SEALED_LEN as u16,
        };
        let mut aad = [0u8; HEADER_LEN];
        let _ = header.emit(&mut aad);
        let plain = SecureAccept {
            tick_hz: self.cfg.tick_hz,
            max_payload: MAX_SEALED_PLAINTEXT as u16,
            tick,
            time_us,
            match_key: sec.match_key.clone(),
        };
        let s2c = &peer.keys().s2c;
        let t = Transmit::new(peer.reply(), &header, |_| Ok(0), None);
        let r = self.outbox.push_own(t, ACCEPT_SEALED_LEN, |b| {
            let _ = plain.emit(b);
            let tag = s2c.seal(
                nonce_seq(Dir::ToClient, s0),
                &aad,
                &mut b[..SecureAccept::LEN],
            );
            b[SecureAccept::LEN..].copy_from_slice(&tag);
        });
        r?;
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += (HEADER_LEN + ACCEPT_SEALED_LEN) as u64;
        Ok(())
    }

    /// Queues REJECT 1 (full) sealed under the token's `Ks2c`: `AEAD(Ks2c, 3 || 11 zero
    /// bytes, aad = header, reason)`, so a client can tell it from a forged one.
    fn queue_secure_reject(&mut self, dst: SocketAddr, s2c: &Key) -> Result<(), DropReason> {
        let header = Header {
            flags: Kind::Reject.send_flags(false),
            seq: 0,
            ack: 0,
            qport: 0,
            kind: Kind::Reject.to_u8(),
            len: (1 + TAG_LEN) as u16,
        };
        let mut aad = [0u8; HEADER_LEN];
        let _ = header.emit(&mut aad);
        let mut body = [RejectReason::Full.to_u8()];
        let tag = s2c.seal(NONCE_REJECT, &aad, &mut body);
        let t = Transmit::new(
            dst,
            &header,
            |b| {
                let o = crate::wire::room(b, 1 + TAG_LEN)?;
                o[0] = body[0];
                o[1..].copy_from_slice(&tag);
                Ok(1 + TAG_LEN)
            },
            None,
        );
        self.push(t, 0)
    }
}
