//! A tick's broadcast: the game serializes its world once into the ring slot of the tick,
//! and every connected client gets one SNAPSHOT per part, whose head (header + prefix) is
//! written per client and whose body stays in the ring (see [`Server::body`]).

use super::{Game, Server, Transmit, MAX_PARTS};
use crate::wire::{Kind, SnapshotPrefix};
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
        // Looked up once per tick, not once per client and part.
        let body_lens: ArrayVec<usize, MAX_PARTS> =
            (0..parts).map(|i| slot.part(i).len()).collect();
        for i in 0..self.connected.len() {
            let q = self.connected[i];
            for (part, &body_len) in body_lens.iter().enumerate() {
                let peer = &mut self.peers[q as usize];
                let len = SnapshotPrefix::LEN + body_len;
                let header = peer.next_header(q, Kind::Snapshot, now_us, len);
                let prefix = SnapshotPrefix {
                    tick,
                    time_us,
                    part: part as u8,
                    parts: parts as u8,
                };
                let body = Some((slot_index as u8, part as u8));
                let t = Transmit::new(peer.reply(), &header, |b| prefix.emit(b), body);
                self.push_or_count(t, body_len);
            }
            self.note_sent(q, now_us);
        }
    }
}
