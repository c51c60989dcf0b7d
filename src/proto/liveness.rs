//! The second per-client deadline (PROTOCOL.md section 3): a client whose datagrams have
//! acknowledged none of the server's for the timeout is not reading what it is sent; it is
//! dropped, sent BYE, and its slot freed, however often it speaks.
//!
//! **The rule.** A client is *behind* from the moment the server has sent it a datagram
//! that its acks do not cover: at admission (ACCEPT is outstanding), and whenever the
//! server sends it something while it is caught up. Progress is an accepted datagram whose
//! ack is newer than every ack the client sent before: if that ack is the server's last
//! seq the client is caught up and its clock stops; otherwise the clock starts over from
//! that moment, unless the ack is `S0` (acking ACCEPT while the server has sent more is
//! what a client that reads nothing does forever). A client behind for longer than the
//! timeout is dropped. Acks
//! are cumulative (`ack` is the newest seq received), so loss only delays progress: any
//! one datagram of the server's getting through, and any one of the client's after it,
//! is progress.
//!
//! **The mechanism.** One [`Expiry`](crate::timers::Expiry) list, `unacked`, holds the
//! clients that are behind, ordered by when their clock (re)started, and one
//! [`TimerTable`](crate::timers::TimerTable) entry is the oldest one's deadline; the same
//! O(1) scheme as the idle timeout, and nothing allocates.

use super::{timer, Game, Server};

impl<G: Game> Server<G> {
    /// Client `q`'s accepted datagram moved its newest ack from `before` (or not): when the
    /// ack advanced to the last seq the server sent it, its clock stops; when it advanced
    /// past `S0` but not that far, the clock starts over at `now_us`.
    #[inline]
    pub(super) fn note_acks(&mut self, q: u8, before: Option<u32>, now_us: u64) {
        let peer = &self.peers[q as usize];
        let Some(ack) = peer.newest_ack() else {
            return;
        };
        if before == Some(ack) {
            return;
        }
        if ack == peer.last_sent() {
            // Caught up (even at S0, when ACCEPT is all it was sent). The timer may now be
            // early; `expire_unacked` then only moves it on.
            self.unacked.remove(q as usize);
        } else if ack != peer.s0() {
            self.behind(q, now_us);
        }
    }

    /// The server sent client `q` a sequenced datagram at `now_us`: a client that was
    /// caught up is behind from now.
    #[inline]
    pub(super) fn note_sent(&mut self, q: u8, now_us: u64) {
        if self.unacked.touched_at(q as usize).is_none() {
            self.behind(q, now_us);
        }
    }

    /// Starts (or restarts) client `q`'s clock at `now_us`.
    #[inline]
    pub(super) fn behind(&mut self, q: u8, now_us: u64) {
        self.unacked.touch(q as usize, now_us);
        if self.timers.get(timer::UNACKED).is_none() {
            self.rearm_unacked();
        }
    }

    /// Drops every client behind for longer than the timeout at `now_us`, oldest first.
    pub(super) fn expire_unacked(&mut self, now_us: u64) {
        while let Some((q, since)) = self.unacked.oldest() {
            if now_us.saturating_sub(since) <= self.timeout_us {
                break;
            }
            let q = q as u8;
            log::info!(
                "client {} ({}) left: acknowledged nothing for the timeout",
                q,
                self.peers[q as usize].src()
            );
            self.stats.unacked_drops += 1;
            self.queue_bye(q, now_us);
            self.free(q);
        }
        self.rearm_unacked();
    }

    /// Sets the timer to the oldest clock's deadline: the first instant at which
    /// `now - since > timeout`.
    #[inline]
    pub(super) fn rearm_unacked(&mut self) {
        match self.unacked.oldest() {
            Some((_, since)) => {
                let us = since.saturating_add(self.timeout_us).saturating_add(1);
                self.timers.set(timer::UNACKED, us.saturating_mul(1000));
            }
            None => self.timers.stop(timer::UNACKED),
        }
    }
}
