//! The receive side of a link: the sequence window plus its loss bookkeeping.

use crate::wire::{DropReason, SeqVerdict, SeqWindow};

/// The loss bookkeeping of one receive outcome (PROTOCOL.md section 3): an accepted seq
/// that skipped `gap` numbers counts them lost; a late one was counted lost when the gap
/// opened, so it moves from lost to late. Applied to a link's own counters by
/// [`RecvWindow::receive`] and, by the server, to its totals.
#[inline]
pub(crate) fn count_loss(lost: &mut u64, late: &mut u64, outcome: &Result<u32, DropReason>) {
    match outcome {
        Ok(gap) => *lost += u64::from(*gap),
        Err(DropReason::Late) => {
            *lost = lost.saturating_sub(1);
            *late += 1;
        }
        Err(_) => {}
    }
}

/// A [`SeqWindow`] with the counters of what it saw.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecvWindow {
    window: SeqWindow,
    /// Datagrams accepted.
    pub(crate) received: u64,
    /// Sequence numbers skipped and never seen since.
    pub(crate) lost: u64,
    /// Sequence numbers that arrived after a newer one.
    pub(crate) late: u64,
    /// Datagrams dropped as duplicate, late, old or far ahead.
    pub(crate) out_of_window: u64,
}

impl RecvWindow {
    /// A window whose newest is `s0`, nothing counted.
    pub(crate) fn new(s0: u32) -> RecvWindow {
        RecvWindow {
            window: SeqWindow::new(s0),
            received: 0,
            lost: 0,
            late: 0,
            out_of_window: 0,
        }
    }

    /// The newest seq accepted (the ack to send).
    #[inline]
    pub(crate) fn newest(&self) -> u32 {
        self.window.newest()
    }

    /// Whether `seq` could be taken (accepted, or marked late): the check a sealed
    /// datagram passes before it is opened, so a forgery is never opened for nothing and
    /// never moves the window. A seq that could not is counted exactly as
    /// [`RecvWindow::receive`] counts it (which changes nothing but counters for those).
    #[inline]
    pub(crate) fn precheck(&mut self, seq: u32) -> Result<(), DropReason> {
        match self.window.check(seq) {
            SeqVerdict::Accept { .. } | SeqVerdict::Late => Ok(()),
            _ => self.receive(seq).map(|_| ()),
        }
    }

    /// Takes `seq` from a datagram that passed every other check: `Ok(gap)` when it is
    /// accepted (the window moves, `gap` numbers were skipped), otherwise the drop reason
    /// (`Duplicate`, `Late`, `Old`, `FarAhead`). A late seq is marked so a second copy is a
    /// duplicate, and counted late instead of lost; the window does not move.
    #[inline]
    pub(crate) fn receive(&mut self, seq: u32) -> Result<u32, DropReason> {
        let verdict = self.window.check(seq);
        let r = match verdict {
            SeqVerdict::Accept { gap } => {
                self.window.apply(seq, verdict);
                self.received += 1;
                Ok(gap)
            }
            verdict => {
                self.out_of_window += 1;
                Err(match verdict {
                    SeqVerdict::Late => {
                        self.window.apply(seq, verdict);
                        DropReason::Late
                    }
                    SeqVerdict::Duplicate => DropReason::Duplicate,
                    SeqVerdict::Old => DropReason::Old,
                    _ => DropReason::FarAhead,
                })
            }
        };
        count_loss(&mut self.lost, &mut self.late, &r);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_late_duplicate_and_counters() {
        let mut w = RecvWindow::new(100);
        assert_eq!(w.receive(100), Err(DropReason::Duplicate));
        assert_eq!(w.receive(101), Ok(0));
        assert_eq!(w.receive(104), Ok(2));
        assert_eq!(w.receive(103), Err(DropReason::Late));
        assert_eq!(w.receive(103), Err(DropReason::Duplicate));
        assert_eq!(w.receive(104 + 1025), Err(DropReason::FarAhead));
        assert_eq!(w.receive(104 + 64), Ok(63));
        assert_eq!(w.receive(101), Err(DropReason::Old));
        assert_eq!(w.newest(), 168);
        assert_eq!(
            (w.received, w.lost, w.late, w.out_of_window),
            (3, 1 + 63, 1, 5)
        );
    }

    #[test]
    fn late_before_any_loss_saturates() {
        let mut lost = 0;
        let mut late = 0;
        count_loss(&mut lost, &mut late, &Err(DropReason::Late));
        assert_eq!((lost, late), (0, 1));
        count_loss(&mut lost, &mut late, &Ok(3));
        count_loss(&mut lost, &mut late, &Err(DropReason::Old));
        assert_eq!((lost, late), (3, 1));
    }
}
