//! The send side of a link: the sequence counter, the rule for which acks are believable
//! ([`SendHistory`]), and the send times that turn an ack into an RTT sample
//! ([`SendTimes`]). The two are apart so the seqs sit with the hot fields of a
//! [`Link`](super::Link) and the 1 KiB ring after them.

use super::End;
use crate::wire::seq_newer;

/// How many sent sequence numbers keep their send time, for RTT samples.
pub(crate) const SEND_HISTORY: usize = 256;

/// Our sequence numbers: the last one sent and the newest ack heard.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SendHistory {
    end: End,
    /// The link's start sequence number (S0, from ACCEPT).
    s0: u32,
    /// The last seq sent (`s0` while nothing was sent on this side since S0).
    last: u32,
    /// Newest of our seqs the peer acknowledged.
    newest_ack: Option<u32>,
    /// Datagrams sent (sequence numbers taken).
    pub(crate) sent: u64,
}

impl SendHistory {
    /// The history of a link that starts at `s0`: nothing sent after it.
    pub(crate) fn new(end: End, s0: u32) -> SendHistory {
        SendHistory {
            end,
            s0,
            last: s0,
            newest_ack: None,
            sent: 0,
        }
    }

    /// Which end this is.
    pub(crate) fn end(&self) -> End {
        self.end
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

    /// Takes the next seq.
    #[inline]
    pub(crate) fn take(&mut self) -> u32 {
        self.last = self.last.wrapping_add(1);
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

    /// Takes a valid ack (see [`SendHistory::ack_valid`]). Returns whether it gives an RTT
    /// sample: it is newer than every earlier ack and its send time is still kept (S0 has
    /// none: ACCEPT's send time is not recorded).
    #[inline]
    pub(crate) fn on_ack(&mut self, ack: u32) -> bool {
        if self.newest_ack.is_some_and(|n| !seq_newer(ack, n)) {
            return false;
        }
        self.newest_ack = Some(ack);
        ack != self.s0 && (self.last.wrapping_sub(ack) as usize) < SEND_HISTORY
    }
}

/// The send time of each of the last [`SEND_HISTORY`] seqs: low 32 bits of the link's
/// clock (µs) of seq `s`, at `s % SEND_HISTORY`.
#[derive(Debug, Clone)]
pub(crate) struct SendTimes([u32; SEND_HISTORY]);

impl SendTimes {
    /// All zero. Slots need no clearing between links: a slot is read only for a seq sent
    /// since (see [`SendHistory::on_ack`]).
    pub(crate) fn new() -> SendTimes {
        SendTimes([0; SEND_HISTORY])
    }

    /// Seq `seq` was sent at `now_us`.
    #[inline]
    pub(crate) fn record(&mut self, seq: u32, now_us: u64) {
        self.0[seq as usize % SEND_HISTORY] = now_us as u32;
    }

    /// The RTT sample (µs) of an ack of `seq` heard at `now_us`; a clock that went
    /// backwards gives 0.
    #[inline]
    pub(crate) fn sample(&self, seq: u32, now_us: u64) -> u64 {
        let d = (now_us as u32).wrapping_sub(self.0[seq as usize % SEND_HISTORY]);
        if (d as i32) < 0 {
            0
        } else {
            u64::from(d)
        }
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
            h.take();
            h.take();
            assert!(h.ack_valid(101) && h.ack_valid(102));
            assert!(!h.ack_valid(103));
            assert!(!h.ack_valid(99));
        }
    }

    #[test]
    fn samples_only_newer_acks_still_in_the_history() {
        let mut h = SendHistory::new(End::Client, 9);
        let mut t = SendTimes::new();
        for (seq, at) in [(10, 1_000), (11, 11_000)] {
            assert_eq!(h.take(), seq);
            t.record(seq, at);
        }
        assert!(h.on_ack(10));
        assert_eq!(t.sample(10, 41_000), 40_000);
        assert!(!h.on_ack(10), "the same ack again");
        assert!(h.on_ack(11));
        assert_eq!(t.sample(11, 31_000), 20_000);
        for _ in 0..=SEND_HISTORY {
            let s = h.take();
            t.record(s, 50_000);
        }
        assert_eq!(h.last(), 12 + 256);
        assert!(!h.on_ack(12), "its slot was reused");
        assert_eq!(h.newest_ack(), Some(12));
        assert!(h.on_ack(12 + 256));
        assert_eq!(t.sample(12 + 256, 40_000), 0, "clock went backwards");
    }
}
