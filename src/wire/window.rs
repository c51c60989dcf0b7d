//! The receive side of the sequence window (PROTOCOL.md section 3), shared by server and
//! client: newer than the newest seen and at most 1024 ahead, in serial arithmetic.
//!
//! Besides the newest sequence number, a 64-bit mask remembers which of the 64 below it
//! arrived, so a datagram that comes after a newer one is told apart: a first arrival is
//! *late* (it was counted as lost when the newer one opened the gap, and is not lost after
//! all), a second one is a *duplicate*. Both are dropped, as the protocol says.

use super::seq_newer;

/// Largest step forward the window accepts.
pub const SEQ_WINDOW: u32 = 1024;

/// What a sequence number is, relative to the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// Newer than the newest and within the window; `gap` numbers were skipped.
    Accept {
        /// Sequence numbers skipped (counted as lost until they turn up late).
        gap: u32,
    },
    /// Seen before.
    Duplicate,
    /// Older than the newest, within the last 64 and not seen before: it was counted lost.
    Late,
    /// Older than the newest and beyond what the window remembers.
    Old,
    /// More than [`SEQ_WINDOW`] ahead.
    FarAhead,
}

/// The newest sequence number received and which of the 64 before it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqWindow {
    newest: u32,
    /// Bit `i` set: `newest - 1 - i` arrived (or was never expected).
    mask: u64,
}

impl SeqWindow {
    /// A window whose newest is `start` (a connection's S0): nothing before it is expected.
    pub fn new(start: u32) -> SeqWindow {
        SeqWindow {
            newest: start,
            mask: u64::MAX,
        }
    }

    /// The newest sequence number accepted.
    pub fn newest(&self) -> u32 {
        self.newest
    }

    /// Classifies `seq` without changing anything.
    #[inline]
    pub fn check(&self, seq: u32) -> SeqVerdict {
        let ahead = seq.wrapping_sub(self.newest);
        if ahead == 0 {
            return SeqVerdict::Duplicate;
        }
        if seq_newer(seq, self.newest) {
            return if ahead > SEQ_WINDOW {
                SeqVerdict::FarAhead
            } else {
                SeqVerdict::Accept { gap: ahead - 1 }
            };
        }
        let back = self.newest.wrapping_sub(seq);
        if back > 64 {
            SeqVerdict::Old
        } else if self.mask & (1u64 << (back - 1)) != 0 {
            SeqVerdict::Duplicate
        } else {
            SeqVerdict::Late
        }
    }

    /// Records `seq` as received: moves the window for an `Accept`, marks a `Late` one so
    /// a second copy is a duplicate. Does nothing for other verdicts.
    #[cfg(any(test, feature = "internal"))]
    pub fn record(&mut self, seq: u32) {
        self.apply(seq, self.check(seq));
    }

    /// [`SeqWindow::record`] with the verdict [`SeqWindow::check`] just gave for `seq`, so
    /// the receive path classifies each seq once.
    #[inline]
    pub(crate) fn apply(&mut self, seq: u32, verdict: SeqVerdict) {
        match verdict {
            SeqVerdict::Accept { gap } => {
                let shift = gap + 1;
                // The old newest becomes bit `gap`; the skipped ones are zero below it.
                self.mask = if shift >= 64 {
                    if shift == 64 {
                        1u64 << 63
                    } else {
                        0
                    }
                } else {
                    (self.mask << shift) | (1u64 << gap)
                };
                self.newest = seq;
            }
            SeqVerdict::Late => {
                let back = self.newest.wrapping_sub(seq);
                self.mask |= 1u64 << (back - 1);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_gap_late_duplicate_old_far() {
        let mut w = SeqWindow::new(100);
        assert_eq!(w.check(100), SeqVerdict::Duplicate);
        assert_eq!(
            w.check(99),
            SeqVerdict::Duplicate,
            "before S0 is never expected"
        );
        assert_eq!(w.check(101), SeqVerdict::Accept { gap: 0 });
        w.record(101);
        assert_eq!(w.check(104), SeqVerdict::Accept { gap: 2 });
        w.record(104);
        assert_eq!(w.check(103), SeqVerdict::Late);
        w.record(103);
        assert_eq!(w.check(103), SeqVerdict::Duplicate);
        assert_eq!(w.check(102), SeqVerdict::Late);
        assert_eq!(w.check(101), SeqVerdict::Duplicate);
        assert_eq!(w.check(104 + 1024), SeqVerdict::Accept { gap: 1023 });
        assert_eq!(w.check(104 + 1025), SeqVerdict::FarAhead);
        w.record(104 + 100);
        assert_eq!(w.check(104 + 100 - 64), SeqVerdict::Late);
        assert_eq!(w.check(104 + 100 - 65), SeqVerdict::Old);
        assert_eq!(w.check(104), SeqVerdict::Old);
    }

    #[test]
    fn shift_of_exactly_64_keeps_the_old_newest() {
        let mut w = SeqWindow::new(0);
        w.record(64);
        assert_eq!(w.check(0), SeqVerdict::Duplicate);
        assert_eq!(w.check(1), SeqVerdict::Late);
        assert_eq!(w.check(63), SeqVerdict::Late);
        w.record(129);
        assert_eq!(w.check(64), SeqVerdict::Old);
    }

    #[test]
    fn wraps_at_2_32() {
        let mut w = SeqWindow::new(u32::MAX - 1);
        assert_eq!(w.check(1), SeqVerdict::Accept { gap: 2 });
        w.record(1);
        assert_eq!(w.check(u32::MAX), SeqVerdict::Late);
        assert_eq!(w.check(0), SeqVerdict::Late);
        assert_eq!(w.check(u32::MAX - 1), SeqVerdict::Duplicate);
        assert_eq!(w.check(1 << 31), SeqVerdict::FarAhead);
        assert_eq!(w.check(1 + (1 << 31)), SeqVerdict::Old);
    }
}
