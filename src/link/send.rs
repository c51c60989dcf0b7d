//! The send side of a link: the sequence counter, send times for RTT samples, and the rule
//! for which acks are believable.

use super::End;
use crate::wire::seq_newer;

/// How many sent sequence numbers keep their send time, for RTT samples.
pub(crate) const SEND_HISTORY: usize = 256;

/// Our sequence numbers: the last one sent, the send time of the recent ones, the newest
/// ack heard.
#[derive(Debug, Clone)]
pub(crate) struct SendHistory {
    end: End,
    /// The link's start sequence number (S0, from ACCEPT).
    s0: u32,
    /// The last seq sent (`s0` while nothing was sent on this side since S0).
    last: u32,
    /// Low 32 bits of the send time (µs) of seq `s`, at `s % SEND_HISTORY`. Boxed, so the
    /// state every datagram reads stays in a few cache lines (the server keeps 255 links).
    times: Box<[u32; SEND_HISTORY]>,
    /// Newest of our seqs the peer acknowledged.
    newest_ack: Option<u32>,
    /// Datagrams sent (sequence numbers taken).
    pub(crate) sent: u64,
}

impl SendHistory {
    /// The history of a link that starts at `s0`: nothing sent after it. Allocates the
    /// send-time ring, once.
    pub(crate) fn new(end: End, s0: u32) -> SendHistory {
        SendHistory {
            end,
            s0,
            last: s0,
            times: Box::new([0; SEND_HISTORY]),
            newest_ack: None,
            sent: 0,
        }
    }

    /// Re-initializes in place for a new link at `s0`, keeping the allocation. The old send
    /// times need no clearing: an ack is sampled only for seqs sent since.
    pub(crate) fn reset(&mut self, s0: u32) {
        self.s0 = s0;
        self.last = s0;
        self.newest_ack = None;
        self.sent = 0;
    }

    /// The link's start sequence number.
    pub(crate) fn s0(&self) -> u32 {
        self.s0
    }

    /// The last seq sent.
    #[inline]
    pub(crate) fn last(&self) -> u32 {
        self.last
    }

    /// The newest ack heard, if any.
    pub(crate) fn newest_ack(&self) -> Option<u32> {
        self.newest_ack
    }

    /// Takes the next seq and records its send time (`now_us`, the link's clock).
    #[inline]
    pub(crate) fn take(&mut self, now_us: u64) -> u32 {
        self.last = self.last.wrapping_add(1);
        self.times[self.last as usize % SEND_HISTORY] = now_us as u32;
        self.sent += 1;
        self.last
    }

    /// Whether `ack` names a seq this end could have sent: not beyond the last one sent,
    /// and from the first one on. The ends differ in that first one, and only there: the
    /// server sends S0 itself (ACCEPT carries it), so S0 is a valid ack for it; the client's
    /// first seq is S0 + 1, so an ack of S0 or before names nothing it sent.
    #[inline]
    pub(crate) fn ack_valid(&self, ack: u32) -> bool {
        let from_first = match self.end {
            End::Server => !seq_newer(self.s0, ack),
            End::Client => seq_newer(ack, self.s0),
        };
        from_first && !seq_newer(ack, self.last)
    }

    /// Takes a valid ack (see [`SendHistory::ack_valid`]) heard at `now_us`. Returns an RTT
    /// sample in microseconds when the ack is newer than every earlier one and its send
    /// time is still kept (S0 has none: ACCEPT's send time is not recorded). A clock that
    /// went backwards gives a sample of 0.
    #[inline]
    pub(crate) fn on_ack(&mut self, ack: u32, now_us: u64) -> Option<u64> {
        if self.newest_ack.is_some_and(|n| !seq_newer(ack, n)) {
            return None;
        }
        self.newest_ack = Some(ack);
        if ack == self.s0 || self.last.wrapping_sub(ack) as usize >= SEND_HISTORY {
            return None;
        }
        let sent = self.times[ack as usize % SEND_HISTORY];
        let d = (now_us as u32).wrapping_sub(sent);
        Some(if (d as i32) < 0 { 0 } else { u64::from(d) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_rule_differs_only_at_s0() {
        let mut s = SendHistory::new(End::Server, 100);
        let mut c = SendHistory::new(End::Client, 100);
        assert!(s.ack_valid(100));
        assert!(!c.ack_valid(100), "the client never sent S0");
        for h in [&mut s, &mut c] {
            assert!(!h.ack_valid(101));
            h.take(0);
            h.take(0);
            assert!(h.ack_valid(101) && h.ack_valid(102));
            assert!(!h.ack_valid(103));
            assert!(!h.ack_valid(99));
        }
    }

    #[test]
    fn samples_only_newer_acks_still_in_the_history() {
        let mut h = SendHistory::new(End::Client, 9);
        assert_eq!(h.take(1_000), 10);
        assert_eq!(h.take(11_000), 11);
        assert_eq!(h.on_ack(10, 41_000), Some(40_000));
        assert_eq!(h.on_ack(10, 91_000), None, "the same ack again");
        assert_eq!(h.on_ack(11, 31_000), Some(20_000));
        for _ in 0..=SEND_HISTORY {
            h.take(50_000);
        }
        assert_eq!(h.last(), 12 + 256);
        assert_eq!(h.on_ack(12, 60_000), None, "its slot was reused");
        assert_eq!(h.newest_ack(), Some(12));
        assert_eq!(h.on_ack(12 + 256, 40_000), Some(0), "clock went backwards");
    }
}
