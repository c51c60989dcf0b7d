//! One client slot and its behaviour: the connected receive path (source pin, payload
//! shape, ack, sequence window, RTT) and the send side's sequence numbers, over the shared
//! [`Link`]. One [`Peer`] per qport, allocated at start-up.

use super::game::RewindBudget;
use super::PlayerInfo;
use crate::link::{End, Link};
use crate::secure::{nonce_seq, Dir, Key, TAG_LEN};
use crate::tickets::Name;
use crate::wire::{flags, DropReason, Header, Kind, Packet};
use core::hash::{Hash, Hasher};
use core::net::SocketAddr;
use core::time::Duration;

/// Per-client counters: the link counters, the same vocabulary the client keeps.
pub use crate::link::LinkStats as PeerStats;

/// One client slot. `repr(C)` in the order the two hot paths read it: the slot's flags,
/// source and reply address (every datagram in, every datagram out), the rewind budget,
/// then the link (window and seqs, RTT, then its send-time ring); what only the handshake
/// and reports read comes last.
#[derive(Debug, Clone)]
#[repr(C)]
pub(crate) struct Peer {
    connected: bool,
    /// Whether anything was received since ACCEPT (ACK goes out from then on).
    received_any: bool,
    /// Source address of the accepted HELLO; the only one accepted.
    src: SocketAddr,
    /// Where everything for this client goes.
    reply: SocketAddr,
    budget: RewindBudget,
    link: Link,
    connected_at_us: u64,
    /// The tick and time ACCEPT carries (the same in a resent ACCEPT).
    accept_time_us: u64,
    accept_tick: u32,
    name: Option<Name>,
    /// Secure mode: this connection's keys and its token's nonce (zero keys otherwise).
    keys: PeerKeys,
}

/// A secure connection's keys (PROTOCOL.md section 8.1), wiped when the slot is freed.
#[derive(Debug, Clone)]
pub(crate) struct PeerKeys {
    /// Opens the client's datagrams.
    pub(crate) c2s: Key,
    /// Seals the server's datagrams.
    pub(crate) s2c: Key,
    /// The snapshot MAC key, derived from `s2c`.
    pub(crate) kmac: Key,
    /// The nonce of the token that admitted it: its identity.
    pub(crate) token: [u8; 12],
    /// The client id of the token that admitted it (`None` for a free or plain slot).
    pub(crate) client_id: Option<u64>,
}

impl PeerKeys {
    /// No keys (a free or plain slot).
    pub(crate) fn none() -> PeerKeys {
        PeerKeys {
            c2s: Key::from_bytes([0; 32]),
            s2c: Key::from_bytes([0; 32]),
            kmac: Key::from_bytes([0; 32]),
            token: [0; 12],
            client_id: None,
        }
    }

    /// The keys of a redeemed token.
    pub(crate) fn new(c2s: Key, s2c: Key, token: [u8; 12], client_id: u64) -> PeerKeys {
        PeerKeys {
            kmac: s2c.snapshot_mac_key(),
            c2s,
            s2c,
            token,
            client_id: Some(client_id),
        }
    }
}

impl Peer {
    /// A free slot.
    pub(crate) fn empty() -> Peer {
        let any: SocketAddr = SocketAddr::from(([0, 0, 0, 0], 0));
        Peer {
            connected: false,
            received_any: false,
            src: any,
            reply: any,
            budget: RewindBudget::default(),
            link: Link::new(End::Server, 0),
            connected_at_us: 0,
            accept_time_us: 0,
            accept_tick: 0,
            name: None,
            keys: PeerKeys::none(),
        }
    }

    /// Takes the slot for a client admitted at `now_us`, starting its link at `s0`.
    pub(crate) fn connect(
        &mut self,
        src: SocketAddr,
        reply: SocketAddr,
        s0: u32,
        now_us: u64,
        tick: u32,
        name: Option<Name>,
    ) {
        self.connected = true;
        self.src = src;
        self.reply = reply;
        self.received_any = false;
        self.connected_at_us = now_us;
        self.accept_tick = tick;
        self.accept_time_us = now_us;
        self.name = name;
        self.link.reset(s0);
        self.budget = RewindBudget::default();
    }

    /// Frees the slot (its keys are wiped).
    pub(crate) fn free(&mut self) {
        self.connected = false;
        self.keys = PeerKeys::none();
    }

    /// Gives a secure connection its keys (after [`Peer::connect`]).
    pub(crate) fn set_keys(&mut self, keys: PeerKeys) {
        self.keys = keys;
    }

    /// The connection's keys (all zero for a plain one).
    #[inline]
    pub(crate) fn keys(&self) -> &PeerKeys {
        &self.keys
    }

    /// Whether a client holds the slot.
    #[inline]
    pub(crate) fn is_connected(&self) -> bool {
        self.connected
    }

    /// Where the client's datagrams come from: the source of the accepted HELLO, and the
    /// only one accepted (a datagram from another is dropped as `WrongSource`).
    #[inline]
    pub(crate) fn src(&self) -> SocketAddr {
        self.src
    }

    /// Where its datagrams go.
    #[inline]
    pub(crate) fn reply(&self) -> SocketAddr {
        self.reply
    }

    /// The newest of the server's seqs this client acknowledged, if any.
    #[inline]
    pub(crate) fn newest_ack(&self) -> Option<u32> {
        self.link.newest_ack()
    }

    /// The last seq sent to this client (`S0` until anything after ACCEPT).
    #[inline]
    pub(crate) fn last_sent(&self) -> u32 {
        self.link.last_sent()
    }

    /// The start sequence number, ACCEPT's seq.
    #[inline]
    pub(crate) fn s0(&self) -> u32 {
        self.link.s0()
    }

    /// ACCEPT's fields for this client: seq S0, the tick and time of admission.
    pub(crate) fn accept_fields(&self) -> (u32, u32, u64) {
        (self.link.s0(), self.accept_tick, self.accept_time_us)
    }

    /// The connected receive path after the qport lookup and the source pin (see
    /// [`Peer::src`]), in the order drops are counted: bad payload (`shape_ok`), bad ack,
    /// then the sequence window. `Ok(gap)` when the datagram is accepted: the window moved,
    /// and its ack (if any) was taken at `now_us`, sampling RTT. A drop changes nothing but
    /// counters (and a late seq's mark).
    #[inline]
    pub(crate) fn receive(
        &mut self,
        p: &Packet<&[u8]>,
        now_us: u64,
        shape_ok: impl FnOnce() -> bool,
    ) -> Result<u32, DropReason> {
        if !shape_ok() {
            return Err(DropReason::BadPayload);
        }
        let acked = p.has(flags::ACK);
        if acked && !self.link.ack_valid(p.ack()) {
            return Err(DropReason::BadAck);
        }
        let gap = self.link.receive(p.seq())?;
        self.received_any = true;
        if acked {
            self.link.on_ack(p.ack(), now_us);
        }
        Ok(gap)
    }

    /// The secure receive path (PROTOCOL.md section 8.3) after the qport lookup and the
    /// source pin: the checks that need no key first (the sequence window, nothing moves;
    /// the ack), then the payload is copied into `scratch` and opened under `Kc2s` with the
    /// header as additional data, then the plaintext's shape (`shape_ok`) is checked, and
    /// only then is the seq taken. `Ok((gap, plaintext length))`; the plaintext is `scratch[..len]`. A datagram
    /// that does not open is `BadAuth` and changes nothing but that counter.
    #[inline]
    pub(crate) fn receive_sealed(
        &mut self,
        p: &Packet<&[u8]>,
        header: &[u8],
        now_us: u64,
        scratch: &mut [u8],
        shape_ok: impl FnOnce(&[u8]) -> bool,
    ) -> Result<(u32, usize), DropReason> {
        self.link.precheck(p.seq())?;
        // The ack needs no key either: it is checked before anything is opened.
        let acked = p.has(flags::ACK);
        if acked && !self.link.ack_valid(p.ack()) {
            return Err(DropReason::BadAck);
        }
        let sealed = p.payload();
        if sealed.len() < TAG_LEN || sealed.len() > scratch.len() {
            return Err(DropReason::BadAuth);
        }
        let buf = &mut scratch[..sealed.len()];
        buf.copy_from_slice(sealed);
        let n = self
            .keys
            .c2s
            .open(nonce_seq(Dir::ToServer, p.seq()), header, buf)
            .ok_or(DropReason::BadAuth)?;
        if !shape_ok(&scratch[..n]) {
            return Err(DropReason::BadPayload);
        }
        let gap = self.link.receive(p.seq())?;
        self.received_any = true;
        if acked {
            self.link.on_ack(p.ack(), now_us);
        }
        Ok((gap, n))
    }

    /// Whether either counter of this connection is within `link::SEQ_RESERVE` seqs of coming back
    /// to `S0` (secure mode ends the connection then: a seq is never reused under a key,
    /// PROTOCOL.md section 8.3). About two years of 60 Hz snapshots.
    #[inline]
    pub(crate) fn seq_exhausted(&self) -> bool {
        self.link.seq_exhausted()
    }

    /// The header of the next sequenced datagram of `kind` (SNAPSHOT, BYE) to this client,
    /// taking its seq at `now_us`; ACK goes out once anything was received.
    #[inline]
    pub(crate) fn next_header(&mut self, qport: u8, kind: Kind, now_us: u64, len: usize) -> Header {
        self.link
            .next_header(kind, qport, len, self.received_any, now_us)
    }

    /// Smoothed RTT (µs) and the rewind budget, for a game input's `Context`.
    #[inline]
    pub(crate) fn rewind_parts(&mut self) -> (Option<u64>, &mut RewindBudget) {
        (self.link.rtt().smoothed_us(), &mut self.budget)
    }

    /// What [`Server::players`](super::Server::players) reports.
    pub(crate) fn info(&self, id: u8, now_us: u64) -> PlayerInfo {
        PlayerInfo {
            id,
            name: self.name,
            client_id: self.keys.client_id,
            addr: self.src,
            connected_for: Duration::from_micros(now_us.saturating_sub(self.connected_at_us)),
            rtt: self.link.rtt().smoothed(),
            newest_seq: self.link.newest_received(),
            stats: self.link.stats(),
        }
    }

    /// Feeds the protocol state (not the counters, bar `received`) to a hasher, for
    /// [`Server::state_digest`](super::Server::state_digest).
    pub(crate) fn hash_state<H: Hasher>(&self, h: &mut H) {
        let l = &self.link;
        (
            self.src,
            self.reply,
            l.s0(),
            l.last_sent(),
            l.newest_received(),
        )
            .hash(h);
        (self.received_any, l.newest_ack(), l.rtt()).hash(h);
        let b = &self.budget;
        (b.used, b.window_start_us, l.stats().received).hash(h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the receive and broadcast paths read (all but the send-time ring) sits in the
    /// first four cache lines of a slot.
    #[test]
    fn hot_fields_first() {
        let p = Peer::empty();
        let base = &p as *const Peer as usize;
        let hot_end = &p.link as *const Link as usize - base + Link::HOT_BYTES;
        assert!(hot_end <= 4 * 64, "{hot_end}");
    }
}
