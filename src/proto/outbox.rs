//! The transmit queue and its drive contract: [`Server::transmits`] gives the queued
//! datagrams not yet sent, [`Server::sent`] reports how many of them went out, and
//! [`Server::write_transmit`] assembles one into a buffer for callers that do not send
//! head and body as two slices. Also the one path that queues a game's datagram to one
//! player ([`Context::send`](super::Context::send)), whose payload the outbox keeps.

use super::peer::Peer;
use super::secure::MAX_SEALED_PLAINTEXT;
use super::{Game, PlayerId, Server, Stats, MAX_HEAD};
use crate::secure::{nonce_seq, Dir, TAG_LEN};
use crate::wire::{BufferTooSmall, DropReason, Header, Kind, HEADER_LEN, MAX_PAYLOAD};
use core::net::SocketAddr;

/// Bytes of game payloads ([`Context::send`](super::Context::send)) the outbox holds
/// between two drains: 64 KiB, about 55 full-size datagrams or a thousand small ones.
pub(crate) const OWN_BYTES: usize = 64 * 1024;

/// What follows a transmit's head.
#[derive(Debug, Clone, Copy)]
enum Body {
    /// Nothing (a control message).
    None,
    /// Part `.1` of ring slot `.0` (a snapshot part).
    Part(u8, u8),
    /// `len` bytes at `off` in the outbox's own buffer (a game payload).
    Own { off: u32, len: u16 },
}

/// A datagram the server wants sent: a head in place, and maybe a body (see
/// [`Server::body`]): a snapshot part that stays in the ring, so it is never copied per
/// client, or a game payload ([`Context::send`](super::Context::send)) kept in the queue's
/// own buffer.
#[derive(Debug, Clone, Copy)]
pub struct Transmit {
    /// Destination.
    pub dst: SocketAddr,
    head: [u8; MAX_HEAD],
    head_len: u8,
    body: Body,
}

impl Transmit {
    /// The bytes before the body: header, then the message or the snapshot prefix.
    pub fn head(&self) -> &[u8] {
        &self.head[..self.head_len as usize]
    }

    /// A transmit whose head is `header` followed by what `payload` writes after it (the
    /// message, or the snapshot prefix), and whose body is part `part` of ring slot `slot`.
    #[inline]
    pub(crate) fn new(
        dst: SocketAddr,
        header: &Header,
        payload: impl FnOnce(&mut [u8]) -> Result<usize, BufferTooSmall>,
        body: Option<(u8, u8)>,
    ) -> Transmit {
        let mut head = [0u8; MAX_HEAD];
        // Every head the server writes fits in MAX_HEAD (header + ACCEPT or prefix).
        let n = header.emit(&mut head).unwrap_or(0);
        let m = payload(&mut head[n..]).unwrap_or(0);
        Transmit {
            dst,
            head,
            head_len: (n + m) as u8,
            body: match body {
                Some((slot, part)) => Body::Part(slot, part),
                None => Body::None,
            },
        }
    }

    fn blank() -> Transmit {
        Transmit {
            dst: SocketAddr::from(([0, 0, 0, 0], 0)),
            head: [0; MAX_HEAD],
            head_len: 0,
            body: Body::None,
        }
    }
}

/// The fixed-capacity queue behind [`Server::transmits`].
#[derive(Debug)]
pub(crate) struct Outbox {
    queue: Vec<Transmit>,
    /// How many transmits at the front the caller has sent already.
    sent: usize,
    /// The payloads of queued game datagrams ([`Body::Own`]), emptied with the queue;
    /// never grows past its capacity ([`OWN_BYTES`]).
    own: Vec<u8>,
}

impl Outbox {
    /// A queue of `cap` transmits, every page touched now (not on the first busy ticks).
    pub(crate) fn new(cap: usize) -> Outbox {
        let mut queue = Vec::with_capacity(cap);
        queue.resize(cap, Transmit::blank());
        queue.clear();
        // Written once so its pages are touched now (zeroed memory may be mapped lazily).
        let mut own = vec![0u8; OWN_BYTES];
        own.fill(0xFF);
        own.clear();
        Outbox {
            queue,
            sent: 0,
            own,
        }
    }

    /// Whether one more transmit with a `len`-byte payload of its own fits.
    fn has_room(&self, len: usize) -> bool {
        self.queue.len() < self.queue.capacity() && self.own.capacity() - self.own.len() >= len
    }

    /// Queues `t` with a body of `len` bytes of its own, written by `fill` into the
    /// outbox's buffer (a sealed ACCEPT, a sealed game payload), or says there is no room.
    #[inline]
    pub(crate) fn push_own(
        &mut self,
        mut t: Transmit,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), DropReason> {
        if !self.has_room(len) {
            return Err(DropReason::OutboxFull);
        }
        let off = self.own.len();
        // Within the capacity checked above: no allocation.
        self.own.resize(off + len, 0);
        fill(&mut self.own[off..]);
        t.body = Body::Own {
            off: off as u32,
            len: len as u16,
        };
        self.queue.push(t);
        Ok(())
    }

    /// Queues `t`, or says there is no room.
    #[inline]
    pub(crate) fn push(&mut self, t: Transmit) -> Result<(), DropReason> {
        if self.queue.len() == self.queue.capacity() {
            return Err(DropReason::OutboxFull);
        }
        self.queue.push(t);
        Ok(())
    }

    /// The transmits not yet sent.
    #[inline]
    pub(crate) fn pending(&self) -> &[Transmit] {
        &self.queue[self.sent..]
    }

    /// The first `n` pending were sent.
    pub(crate) fn sent(&mut self, n: usize) {
        self.sent = self.sent.saturating_add(n).min(self.queue.len());
        if self.sent == self.queue.len() {
            self.queue.clear();
            self.own.clear();
            self.sent = 0;
        }
    }
}

impl<G: Game> Server<G> {
    /// Queues `t` (carrying `body_len` body bytes) and counts it sent, or returns
    /// `OutboxFull` without counting: the caller counts the drop (an answer through the
    /// datagram it answers, see [`Server::push_or_count`] for the rest).
    #[inline]
    pub(crate) fn push(&mut self, t: Transmit, body_len: usize) -> Result<(), DropReason> {
        self.outbox.push(t)?;
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += (t.head_len as usize + body_len) as u64;
        Ok(())
    }

    /// Queues a datagram no incoming datagram is waiting on (a snapshot part, a BYE); one
    /// that does not fit is counted under `OutboxFull`.
    #[inline]
    pub(crate) fn push_or_count(&mut self, t: Transmit, body_len: usize) {
        if let Err(d) = self.push(t, body_len) {
            self.stats.drops.add(d);
        }
    }

    /// The queued datagrams not yet reported sent, oldest first. Send each as `head()`
    /// followed by [`Server::body`] (or assemble it with [`Server::write_transmit`]), then
    /// report how many (from the front) with [`Server::sent`].
    pub fn transmits(&self) -> &[Transmit] {
        self.outbox.pending()
    }

    /// Reports that the first `n` of [`Server::transmits`] were sent (or given up on): the
    /// server forgets them, and the rest stay queued. `n` larger than what is queued
    /// forgets everything.
    pub fn sent(&mut self, n: usize) {
        self.outbox.sent(n);
    }

    /// The snapshot part a transmit carries after its head (empty for control messages;
    /// in secure mode the part sealed under the match key).
    pub fn body(&self, t: &Transmit) -> &[u8] {
        match t.body {
            Body::Part(slot, part) => match &self.secure {
                Some(sec) => sec.part(slot as usize, part as usize).0,
                None => self
                    .ring
                    .at(slot as usize)
                    .map_or(&[][..], |s| s.part(part as usize)),
            },
            Body::Own { off, len } => self
                .outbox
                .own
                .get(off as usize..off as usize + len as usize)
                .unwrap_or(&[]),
            Body::None => &[],
        }
    }

    /// Writes one transmit, head then body, into `out` and returns its length; writes
    /// nothing and returns [`BufferTooSmall`] if `out` is shorter. A buffer of
    /// [`MAX_DATAGRAM`](crate::wire::MAX_DATAGRAM) bytes always fits.
    pub fn write_transmit(&self, t: &Transmit, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let (head, body) = (t.head(), self.body(t));
        let n = head.len() + body.len();
        let o = out.get_mut(..n).ok_or(BufferTooSmall { needed: n })?;
        o[..head.len()].copy_from_slice(head);
        o[head.len()..].copy_from_slice(body);
        Ok(n)
    }
}

/// Why [`Context::send`](super::Context::send) (or [`Server::send`]) queued nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendError {
    /// The player is not connected.
    NotConnected,
    /// The kind is a protocol kind (below `0x10`).
    NotGameKind,
    /// Longer than what ACCEPT tells the client: [`MAX_PAYLOAD`] (1187), or 1171 in
    /// secure mode (the tag takes 16).
    TooLarge,
    /// The outbox has no room until the caller drains it (counted under `outbox_full`).
    OutboxFull,
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SendError::NotConnected => "player not connected",
            SendError::NotGameKind => "not a game kind",
            SendError::TooLarge => "payload too large",
            SendError::OutboxFull => "outbox full",
        })
    }
}

impl std::error::Error for SendError {}

/// Queues game datagram `(player, kind, payload)` at `now_us`: every check first, then the
/// player's next seq, the payload copied into the outbox's own buffer (and, in secure mode,
/// sealed there under the player's `Ks2c`), and the counters.
pub(crate) fn send_game(
    peers: &mut [Peer],
    outbox: &mut Outbox,
    stats: &mut Stats,
    (now_us, secure): (u64, bool),
    (player, kind, payload): (PlayerId, u8, &[u8]),
) -> Result<(), SendError> {
    if kind < Kind::FIRST_GAME {
        return Err(SendError::NotGameKind);
    }
    if player == 0 || !peers[player as usize].is_connected() {
        return Err(SendError::NotConnected);
    }
    let (max, tag) = match secure {
        true => (MAX_SEALED_PLAINTEXT, TAG_LEN),
        false => (MAX_PAYLOAD, 0),
    };
    if payload.len() > max {
        return Err(SendError::TooLarge);
    }
    let len = payload.len() + tag;
    if !outbox.has_room(len) {
        stats.drops.add(DropReason::OutboxFull);
        return Err(SendError::OutboxFull);
    }
    let peer = &mut peers[player as usize];
    let header = peer.next_header(player, Kind::Game(kind), now_us, len);
    let t = Transmit::new(peer.reply(), &header, |_| Ok(0), None);
    let s2c = &peer.keys().s2c;
    // Room was checked above: this push cannot fail.
    let _ = outbox.push_own(t, len, |b| {
        b[..payload.len()].copy_from_slice(payload);
        if secure {
            let aad = &t.head()[..HEADER_LEN];
            let tag = s2c.seal(
                nonce_seq(Dir::ToClient, header.seq),
                aad,
                &mut b[..payload.len()],
            );
            b[payload.len()..].copy_from_slice(&tag);
        }
    });
    stats.datagrams_out += 1;
    stats.bytes_out += (t.head_len as usize + len) as u64;
    stats.game_sent += 1;
    Ok(())
}

impl<G: Game> Server<G> {
    /// Queues one game datagram to `player` at `now`, from outside a game callback (an
    /// application that drives the [`Server`] itself). The same datagram, checks and
    /// counters as [`Context::send`](super::Context::send).
    pub fn send(
        &mut self,
        now: std::time::Instant,
        player: PlayerId,
        kind: u8,
        payload: &[u8],
    ) -> Result<(), SendError> {
        let now_us = self.time_us(now);
        send_game(
            &mut self.peers,
            &mut self.outbox,
            &mut self.stats,
            (now_us, self.secure.is_some()),
            (player, kind, payload),
        )?;
        self.note_sent(player, now_us);
        Ok(())
    }

    /// Starts the liveness clock of every player in `sent_to` (bit `q`) that a game's
    /// [`Context::send`](super::Context::send) wrote to.
    pub(super) fn note_sent_to(&mut self, sent_to: [u64; 4], now_us: u64) {
        for (w, mut bits) in sent_to.into_iter().enumerate() {
            while bits != 0 {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                self.note_sent((w * 64 + i) as u8, now_us);
            }
        }
    }
}
