//! The transmit queue and its drive contract: [`Server::transmits`] gives the queued
//! datagrams not yet sent, [`Server::sent`] reports how many of them went out, and
//! [`Server::write_transmit`] assembles one into a buffer for callers that do not send
//! head and body as two slices.

use super::{Game, Server, MAX_HEAD};
use crate::wire::{BufferTooSmall, DropReason, Header};
use core::net::SocketAddr;

/// A datagram the server wants sent: a head in place, and maybe a snapshot part body that
/// stays in the ring (see [`Server::body`]), so that body is never copied per client.
#[derive(Debug, Clone, Copy)]
pub struct Transmit {
    /// Destination.
    pub dst: SocketAddr,
    head: [u8; MAX_HEAD],
    head_len: u8,
    body: Option<(u8, u8)>,
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
            body,
        }
    }

    fn blank() -> Transmit {
        Transmit {
            dst: SocketAddr::from(([0, 0, 0, 0], 0)),
            head: [0; MAX_HEAD],
            head_len: 0,
            body: None,
        }
    }
}

/// The fixed-capacity queue behind [`Server::transmits`].
#[derive(Debug)]
pub(crate) struct Outbox {
    queue: Vec<Transmit>,
    /// How many transmits at the front the caller has sent already.
    sent: usize,
}

impl Outbox {
    /// A queue of `cap` transmits, every page touched now (not on the first busy ticks).
    pub(crate) fn new(cap: usize) -> Outbox {
        let mut queue = Vec::with_capacity(cap);
        queue.resize(cap, Transmit::blank());
        queue.clear();
        Outbox { queue, sent: 0 }
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

    /// The snapshot part a transmit carries after its head (empty for control messages).
    pub fn body(&self, t: &Transmit) -> &[u8] {
        match t.body {
            Some((slot, part)) => self
                .ring
                .at(slot as usize)
                .map_or(&[][..], |s| s.part(part as usize)),
            None => &[],
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
