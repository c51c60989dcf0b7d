//! A tick's broadcast: the game serializes its world once into the ring slot of the tick,
//! and every connected client gets one SNAPSHOT per part, whose head (header + prefix) is
//! written per client and whose body stays in the ring (see [`Server::body`]).
//!
//! In secure mode (PROTOCOL.md section 8.3) each part is first sealed once for everyone
//! (`C`, kept in the sealed ring and sent from there by reference like the plain body), and
//! each client's head gains its 16-byte tag `T = MAC(Kmac, header || prefix || H(C))`: one
//! 59-byte keyed BLAKE3 per client and part.

use super::{Game, Server, Transmit, MAX_PARTS};
use crate::secure::{snapshot_tag, TAG_LEN};
use crate::wire::{room, Kind, SnapshotPrefix, HEADER_LEN};
use arrayvec::ArrayVec;

impl<G: Game> Server<G> {
    /// Serializes `tick` at server time `now_us` and queues its parts for every client. The
    /// snapshot is stamped with [`Ring::stamp`](super::ring::Ring::stamp): the serialization
    /// time less a keyed offset under 1 ms, which no one who did not receive it can compute.
    pub(super) fn broadcast(&mut self, tick: u32, now_us: u64) {
        let time_us = self.ring.stamp(tick, now_us);
        let mut w = self.ring.writer(tick, time_us);
        self.game.snapshot(&mut w);
        let (parts, overflow) = w.finish();
        if overflow {
            self.stats.snapshot_overflows += 1;
        }
        self.newest_tick = Some(tick);
        let slot_index = self.ring.index(tick);
        let slot = self.ring.slot(tick);
        // Each part's body length (sealed: `C`'s) and, in secure mode, `H(C)`: looked up
        // once per tick, not once per client and part.
        let bodies: ArrayVec<(usize, Option<[u8; 32]>), MAX_PARTS> = match &mut self.secure {
            None => (0..parts).map(|i| (slot.part(i).len(), None)).collect(),
            Some(sec) => {
                sec.seal_tick(slot_index, slot, tick, time_us);
                (0..parts)
                    .map(|i| {
                        let (c, h) = sec.part(slot_index, i);
                        (c.len(), Some(*h))
                    })
                    .collect()
            }
        };
        let mut exhausted: ArrayVec<u8, { super::MAX_CLIENTS }> = ArrayVec::new();
        for i in 0..self.connected.len() {
            let q = self.connected[i];
            for (part, (body_len, hash)) in bodies.iter().enumerate() {
                let peer = &mut self.peers[q as usize];
                let tag_len = if hash.is_some() { TAG_LEN } else { 0 };
                let len = SnapshotPrefix::LEN + tag_len + body_len;
                let header = peer.next_header(q, Kind::Snapshot, now_us, len);
                let prefix = SnapshotPrefix {
                    tick,
                    time_us,
                    part: part as u8,
                    parts: parts as u8,
                };
                let kmac = &peer.keys().kmac;
                let body = Some((slot_index as u8, part as u8));
                let t = Transmit::new(
                    peer.reply(),
                    &header,
                    |b| {
                        let n = prefix.emit(b)?;
                        let Some(hash) = hash else { return Ok(n) };
                        let mut head = [0u8; HEADER_LEN + SnapshotPrefix::LEN];
                        header.emit(&mut head)?;
                        head[HEADER_LEN..].copy_from_slice(&b[..n]);
                        let tag = snapshot_tag(kmac, &head, hash);
                        room(&mut b[n..], TAG_LEN)?.copy_from_slice(&tag);
                        Ok(n + TAG_LEN)
                    },
                    body,
                );
                self.push_or_count(t, *body_len);
            }
            self.note_sent(q, now_us);
            if self.secure.is_some() && self.peers[q as usize].seq_exhausted() {
                exhausted.push(q);
            }
        }
        for q in exhausted {
            log::info!(
                "client {} ({}) left: sequence numbers exhausted under its keys",
                q,
                self.peers[q as usize].src()
            );
            self.end_client(q, now_us);
        }
    }
}
