//! One link layer for both ends of a connection (crate-private).
//!
//! A [`Link`] is everything a connection keeps about its sequence numbers, the same on the
//! server (one per [`Peer`](crate::proto)) and in the [`Client`](crate::client::Client):
//!
//! - [`RecvWindow`]: the peer's sequence numbers received, with the lost / late /
//!   duplicate / old / far-ahead accounting (PROTOCOL.md section 3);
//! - [`SendHistory`]: our sequence counter, the send times of recent seqs, and the ack
//!   rule ("an ack names a seq I could have sent");
//! - [`RttEstimator`]: RFC 6298 smoothing of the RTT samples those acks give;
//! - [`LinkStats`]: the counters of all three, in one vocabulary.
//!
//! Both ends start at S0, the server's start sequence number from ACCEPT: the server's
//! datagrams carry S0 + 1, S0 + 2, ... after ACCEPT's S0, the client's S0 + 1, S0 + 2, ....
//! Times are microseconds on the owner's clock (the server's since it started, the
//! client's since it was created); `now` must not go backwards.

mod recv;
mod rtt;
mod send;

pub(crate) use recv::{count_loss, RecvWindow};
pub(crate) use rtt::RttEstimator;
pub(crate) use send::{SendHistory, SendTimes};

use crate::wire::{DropReason, Header, Kind};

/// Which end of the link this is. The ends share every rule but one: whether S0 itself
/// is a seq this end sent (see [`SendHistory::ack_valid`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum End {
    /// The server: it sends S0 in ACCEPT.
    Server,
    /// The client: its first seq is S0 + 1.
    Client,
}

/// The counters of one link: what was received, lost, reordered and sent. The server
/// reports one per player (as [`PeerStats`](crate::proto::PeerStats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Valid datagrams received.
    pub received: u64,
    /// Sequence numbers skipped and never seen since (lost).
    pub lost: u64,
    /// Sequence numbers that arrived after a newer one (dropped as late; not lost).
    pub late: u64,
    /// Datagrams dropped as duplicate, late, old or far ahead.
    pub out_of_window: u64,
    /// Datagrams sent.
    pub sent: u64,
}

/// One connection's sequence state, the same at both ends (see the module docs).
///
/// `repr(C)`, in the order the paths read it: the receive window and the seqs (every
/// datagram both ways), the RTT estimate (acks, game inputs), then the 1 KiB send-time
/// ring (one slot per datagram sent), so the hot state of a server's 255 links stays in
/// a few cache lines each.
#[derive(Debug, Clone)]
#[repr(C)]
pub(crate) struct Link {
    recv: RecvWindow,
    send: SendHistory,
    rtt: RttEstimator,
    times: SendTimes,
}

impl Link {
    /// Bytes at the start of a `Link` that the receive path reads: everything before the
    /// send-time ring.
    #[cfg(test)]
    pub(crate) const HOT_BYTES: usize =
        core::mem::size_of::<Link>() - core::mem::size_of::<SendTimes>();

    /// A link at S0 = `s0`: nothing received after it, nothing sent.
    pub(crate) fn new(end: End, s0: u32) -> Link {
        Link {
            recv: RecvWindow::new(s0),
            send: SendHistory::new(end, s0),
            rtt: RttEstimator::default(),
            times: SendTimes::new(),
        }
    }

    /// Starts the link over at `s0`, in place.
    pub(crate) fn reset(&mut self, s0: u32) {
        self.recv = RecvWindow::new(s0);
        self.send = SendHistory::new(self.send.end(), s0);
        self.rtt = RttEstimator::default();
    }

    /// The start sequence number.
    pub(crate) fn s0(&self) -> u32 {
        self.send.s0()
    }

    /// The newest seq received from the peer: the ack to send (S0 until something came).
    #[inline]
    pub(crate) fn newest_received(&self) -> u32 {
        self.recv.newest()
    }

    /// The last seq sent (S0 until something was sent).
    #[inline]
    pub(crate) fn last_sent(&self) -> u32 {
        self.send.last()
    }

    /// The newest of our seqs the peer acknowledged.
    pub(crate) fn newest_ack(&self) -> Option<u32> {
        self.send.newest_ack()
    }

    /// Takes a seq from a datagram that passed every other check (see
    /// [`RecvWindow::receive`]): `Ok(gap)` when it is accepted.
    #[inline]
    pub(crate) fn receive(&mut self, seq: u32) -> Result<u32, DropReason> {
        self.recv.receive(seq)
    }

    /// Whether `seq` could be taken, before a sealed datagram is opened (see
    /// [`RecvWindow::precheck`]); nothing moves.
    #[inline]
    pub(crate) fn precheck(&mut self, seq: u32) -> Result<(), DropReason> {
        self.recv.precheck(seq)
    }

    /// Whether either counter is within [`SEQ_RESERVE`] of coming back to `S0` (see
    /// [`seq_exhausted`]).
    #[inline]
    pub(crate) fn seq_exhausted(&self) -> bool {
        seq_exhausted(self.s0(), self.last_sent(), self.newest_received())
    }

    /// Takes the next seq to send at `now_us` (the tests' shortcut for `next_header`).
    #[cfg(test)]
    pub(crate) fn next_seq(&mut self, now_us: u64) -> u32 {
        let seq = self.send.take();
        self.times.record(seq, now_us);
        seq
    }

    /// The header of the next sequenced datagram of `kind` (KEEPALIVE, SNAPSHOT, BYE, a
    /// game kind), taking its seq at `now_us`. The ack field is the newest seq received,
    /// and the ACK flag is set when `ack_flag` (the client: always; the server: once
    /// anything was received), except on BYE, which carries neither (PROTOCOL.md section 1).
    #[inline]
    pub(crate) fn next_header(
        &mut self,
        kind: Kind,
        qport: u8,
        len: usize,
        ack_flag: bool,
        now_us: u64,
    ) -> Header {
        let bye = kind == Kind::Bye;
        let seq = self.send.take();
        self.times.record(seq, now_us);
        Header {
            flags: kind.send_flags(ack_flag && !bye),
            seq,
            ack: if bye { 0 } else { self.recv.newest() },
            qport,
            kind: kind.to_u8(),
            len: len as u16,
        }
    }

    /// Whether `ack` names a seq this end could have sent (see [`SendHistory::ack_valid`]).
    #[inline]
    pub(crate) fn ack_valid(&self, ack: u32) -> bool {
        self.send.ack_valid(ack)
    }

    /// Takes a valid ack heard at `now_us`; returns the RTT sample (µs) it gave, already
    /// fed to the estimator.
    #[inline]
    pub(crate) fn on_ack(&mut self, ack: u32, now_us: u64) -> Option<u64> {
        if !self.send.on_ack(ack) {
            return None;
        }
        let sample = self.times.sample(ack, now_us);
        self.rtt.update(sample);
        Some(sample)
    }

    /// The RTT estimate.
    #[inline]
    pub(crate) fn rtt(&self) -> &RttEstimator {
        &self.rtt
    }

    /// The counters.
    pub(crate) fn stats(&self) -> LinkStats {
        LinkStats {
            received: self.recv.received,
            lost: self.recv.lost,
            late: self.recv.late,
            out_of_window: self.recv.out_of_window,
            sent: self.send.sent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::send::SEND_HISTORY;
    use super::*;

    /// Moved from `proto/peer.rs`: the server's RTT from acks, across the u32 wrap.
    #[test]
    fn rtt_from_acks() {
        let mut p = Link::new(End::Server, u32::MAX - 1);
        let s0 = p.s0();
        let a = p.next_seq(1_000);
        let b = p.next_seq(2_000);
        assert_eq!(a, u32::MAX);
        assert_eq!(b, 0);
        assert!(p.ack_valid(s0));
        assert!(p.ack_valid(b));
        assert!(!p.ack_valid(1));
        assert!(!p.ack_valid(s0.wrapping_sub(1)));
        p.on_ack(a, 51_000);
        assert_eq!(p.rtt().smoothed_us(), Some(50_000));
        p.on_ack(a, 90_000); // not newer: no sample
        assert_eq!(p.rtt().smoothed_us(), Some(50_000));
        p.on_ack(b, 12_000);
        assert_eq!(p.rtt().smoothed_us(), Some((7 * 50_000 + 10_000) / 8));
    }

    /// Moved from `client/stats.rs`: the client samples only newer acks in the history.
    #[test]
    fn rtt_samples_only_newer_acks_in_the_ring() {
        let ms = |n: u64| n * 1000;
        let mut m = Link::new(End::Client, 9);
        assert_eq!(m.next_seq(0), 10);
        assert_eq!(m.next_seq(ms(10)), 11);
        m.on_ack(10, ms(40));
        assert_eq!(m.rtt().samples(), 1);
        assert_eq!(m.rtt().latest(), core::time::Duration::from_millis(40));
        m.on_ack(10, ms(90)); // same ack again: no sample
        assert!(!m.ack_valid(9)); // S0: never sent by the client
        assert_eq!(m.rtt().samples(), 1);
        m.on_ack(11, ms(30));
        let r = m.rtt();
        assert_eq!(r.samples(), 2);
        assert_eq!(r.min(), core::time::Duration::from_millis(20));
        assert_eq!(r.max(), core::time::Duration::from_millis(40));
        assert_eq!(
            r.smoothed(),
            Some(core::time::Duration::from_micros(37_500))
        );
        // seq 12 + 256 reuses the slot of 12: an ack of 12 is not sampled
        for _ in 0..=SEND_HISTORY {
            m.next_seq(0);
        }
        m.on_ack(12, ms(50));
        assert_eq!(m.rtt().samples(), 2);
    }
}

/// Seqs kept in reserve before a counter would come back to `S0`: room for the parts of a
/// few more ticks and the BYE, and the client's far-ahead window.
pub(crate) const SEQ_RESERVE: u32 = 4096;

/// Whether `last_sent` or `newest_received`, both counted from `s0`, are within
/// [`SEQ_RESERVE`] of wrapping back to it.
pub(crate) fn seq_exhausted(s0: u32, last_sent: u32, newest_received: u32) -> bool {
    let limit = u32::MAX - SEQ_RESERVE;
    last_sent.wrapping_sub(s0) >= limit || newest_received.wrapping_sub(s0) >= limit
}

#[cfg(test)]
mod exhaustion_tests {
    use super::*;

    #[test]
    fn seq_exhaustion_is_seen_before_either_counter_wraps_to_s0() {
        let s0 = 0xFFFF_FFF0;
        assert!(!seq_exhausted(s0, s0, s0));
        assert!(!seq_exhausted(
            s0,
            s0.wrapping_add(1 << 31),
            s0.wrapping_add(5)
        ));
        let near = s0.wrapping_add(u32::MAX - SEQ_RESERVE);
        assert!(seq_exhausted(s0, near, s0));
        assert!(seq_exhausted(s0, s0, near));
        assert!(seq_exhausted(s0, s0.wrapping_sub(1), s0));
    }
}
