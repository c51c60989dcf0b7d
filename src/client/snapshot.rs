//! Snapshot reassembly: the parts of one tick, collected in a preallocated buffer.
//!
//! Two buffers of `max_parts` part slots each are allocated when the client is created:
//! one collects the parts of the newest incomplete tick, the other holds the last whole
//! snapshot. When the last part of a tick arrives the two are swapped, so the delivered
//! snapshot stays readable (see [`Client::snapshot_parts`](super::Client::snapshot_parts))
//! until the next one is complete, and nothing is allocated or copied twice.

use crate::wire::{msg::SnapshotPrefix, seq_newer};

/// Largest body part one SNAPSHOT datagram can carry: the one constant
/// [`wire::MAX_PART_BODY`](crate::wire::MAX_PART_BODY) (the server's `MAX_PART_BODY`).
use crate::wire::MAX_PART_BODY as PART_MAX;

const MISSING: u16 = u16::MAX;

struct PartBuf {
    data: Box<[u8]>,
    lens: Box<[u16]>,
    tick: u32,
    time_us: u64,
    parts: u8,
    have: u8,
    active: bool,
}

impl PartBuf {
    fn new(max_parts: usize) -> PartBuf {
        PartBuf {
            data: vec![0; max_parts * PART_MAX].into_boxed_slice(),
            lens: vec![MISSING; max_parts].into_boxed_slice(),
            tick: 0,
            time_us: 0,
            parts: 0,
            have: 0,
            active: false,
        }
    }

    fn reset(&mut self, p: &SnapshotPrefix) {
        self.tick = p.tick;
        self.time_us = p.time_us;
        self.parts = p.parts;
        self.have = 0;
        self.active = true;
        self.lens[..p.parts as usize].fill(MISSING);
    }

    /// Stores part `i`; false if it was already there.
    fn put(&mut self, i: u8, body: &[u8]) -> bool {
        let i = i as usize;
        if self.lens[i] != MISSING {
            return false;
        }
        let at = i * PART_MAX;
        self.data[at..at + body.len()].copy_from_slice(body);
        self.lens[i] = body.len() as u16;
        self.have += 1;
        true
    }
}

impl core::fmt::Debug for PartBuf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PartBuf")
            .field("tick", &self.tick)
            .field("time_us", &self.time_us)
            .field("parts", &self.parts)
            .field("have", &self.have)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// What one snapshot part did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The part completed its tick; `lost` ticks were skipped since the previous one.
    Complete { tick: u32, time_us: u64, lost: u64 },
    /// Stored; the tick still misses parts.
    Pending,
    /// The part's tick is older than one already delivered or being assembled.
    Stale,
    /// The part's tick has more parts than the buffer holds, the part disagrees with its
    /// tick's other parts, or repeats one.
    Rejected,
}

/// Reassembles snapshot parts into whole ticks.
#[derive(Debug)]
pub(crate) struct Reassembly {
    building: PartBuf,
    done: PartBuf,
    max_parts: usize,
    delivered: Option<u32>,
    pub(crate) stale: u64,
    pub(crate) abandoned: u64,
    pub(crate) rejected: u64,
}

impl Reassembly {
    pub(crate) fn new(max_parts: u8) -> Reassembly {
        let max_parts = (max_parts as usize).max(1);
        Reassembly {
            building: PartBuf::new(max_parts),
            done: PartBuf::new(max_parts),
            max_parts,
            delivered: None,
            stale: 0,
            abandoned: 0,
            rejected: 0,
        }
    }

    /// Takes one checked part (`p.part < p.parts`, `body.len() <= PART_MAX`).
    pub(crate) fn part(&mut self, p: &SnapshotPrefix, body: &[u8]) -> Outcome {
        if let Some(d) = self.delivered {
            if !seq_newer(p.tick, d) {
                self.stale += 1;
                return Outcome::Stale;
            }
        }
        if p.parts as usize > self.max_parts || body.len() > PART_MAX || p.part >= p.parts {
            self.rejected += 1;
            return Outcome::Rejected;
        }
        let b = &mut self.building;
        if b.active && b.tick == p.tick {
            if b.parts != p.parts || b.time_us != p.time_us {
                self.rejected += 1;
                return Outcome::Rejected;
            }
        } else if b.active && !seq_newer(p.tick, b.tick) {
            self.stale += 1;
            return Outcome::Stale;
        } else {
            if b.active {
                self.abandoned += 1;
            }
            b.reset(p);
        }
        if !b.put(p.part, body) {
            self.rejected += 1;
            return Outcome::Rejected;
        }
        if b.have < b.parts {
            return Outcome::Pending;
        }
        b.active = false;
        core::mem::swap(&mut self.building, &mut self.done);
        let lost = match self.delivered {
            Some(d) => u64::from(p.tick.wrapping_sub(d).wrapping_sub(1)),
            None => 0,
        };
        self.delivered = Some(p.tick);
        Outcome::Complete {
            tick: p.tick,
            time_us: p.time_us,
            lost,
        }
    }

    /// The tick and time of the last whole snapshot.
    pub(crate) fn last(&self) -> Option<(u32, u64)> {
        self.delivered.map(|t| (t, self.done.time_us))
    }

    /// The parts of the last whole snapshot, in part order (empty before the first).
    pub(crate) fn parts(&self) -> SnapshotParts<'_> {
        SnapshotParts {
            data: &self.done.data,
            offs: None,
            lens: &self.done.lens,
            next: 0,
            end: if self.delivered.is_some() {
                self.done.parts
            } else {
                0
            },
        }
    }
}

/// The body parts of the last whole snapshot, in part order, from
/// [`Client::snapshot_parts`](super::Client::snapshot_parts).
///
/// Each part is what the server's [`SnapshotWriter`](crate::SnapshotWriter) wrote: one
/// byte, `count` (`u8`, 0..=255), the number of entities in this part, then those `count`
/// entities back to back. Entities carry no length: the game's decoder knows each one's
/// size. Every part decodes on its own, so a game can read part by part:
///
/// ```
/// // Parts of two-byte entities `[id, colour]`:
/// fn entities(part: &[u8]) -> impl Iterator<Item = (u8, u8)> + '_ {
///     let (count, rest) = part.split_first().map_or((0, &[][..]), |(c, r)| (*c, r));
///     rest.chunks_exact(2).take(count as usize).map(|e| (e[0], e[1]))
/// }
/// assert_eq!(entities(&[2, 7, 1, 9, 3]).collect::<Vec<_>>(), [(7, 1), (9, 3)]);
/// ```
#[derive(Debug, Clone)]
pub struct SnapshotParts<'a> {
    data: &'a [u8],
    /// Each part's offset in `data`; `None`: part `i` is at `i * PART_MAX`.
    offs: Option<&'a [u16]>,
    lens: &'a [u16],
    next: u8,
    end: u8,
}

impl<'a> SnapshotParts<'a> {
    /// Parts `i` at `data[offs[i]..][..lens[i]]` (the interpolation buffer's layout).
    pub(crate) fn spans(data: &'a [u8], offs: &'a [u16], lens: &'a [u16]) -> SnapshotParts<'a> {
        SnapshotParts {
            data,
            offs: Some(offs),
            lens,
            next: 0,
            end: lens.len().min(offs.len()).min(u8::MAX as usize) as u8,
        }
    }
}

impl<'a> Iterator for SnapshotParts<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.next >= self.end {
            return None;
        }
        let i = self.next as usize;
        self.next += 1;
        let len = *self.lens.get(i)? as usize;
        let at = match self.offs {
            Some(o) => *o.get(i)? as usize,
            None => i * PART_MAX,
        };
        self.data.get(at..at + len)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.end - self.next) as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for SnapshotParts<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn pre(tick: u32, part: u8, parts: u8) -> SnapshotPrefix {
        SnapshotPrefix {
            tick,
            time_us: u64::from(tick) * 1000,
            part,
            parts,
        }
    }

    fn collect(r: &Reassembly) -> Vec<Vec<u8>> {
        r.parts().map(|p| p.to_vec()).collect()
    }

    #[test]
    fn one_and_two_parts() {
        let mut r = Reassembly::new(4);
        assert_eq!(r.parts().count(), 0);
        assert!(matches!(
            r.part(&pre(5, 0, 1), b"a"),
            Outcome::Complete {
                tick: 5,
                lost: 0,
                ..
            }
        ));
        assert_eq!(collect(&r), vec![b"a".to_vec()]);
        assert_eq!(r.part(&pre(6, 1, 2), b"second"), Outcome::Pending);
        // the last whole snapshot stays readable while the next one is assembled
        assert_eq!(collect(&r), vec![b"a".to_vec()]);
        assert!(matches!(
            r.part(&pre(6, 0, 2), b"first"),
            Outcome::Complete {
                tick: 6,
                lost: 0,
                ..
            }
        ));
        assert_eq!(collect(&r), vec![b"first".to_vec(), b"second".to_vec()]);
        assert_eq!(r.parts().len(), 2);
    }

    #[test]
    fn newer_tick_abandons_and_older_is_stale() {
        let mut r = Reassembly::new(4);
        assert_eq!(r.part(&pre(10, 0, 2), b"x"), Outcome::Pending);
        assert_eq!(r.part(&pre(11, 0, 2), b"y"), Outcome::Pending);
        assert_eq!(r.abandoned, 1);
        assert_eq!(r.part(&pre(10, 1, 2), b"x"), Outcome::Stale);
        assert!(matches!(
            r.part(&pre(11, 1, 2), b"z"),
            Outcome::Complete { tick: 11, .. }
        ));
        assert_eq!(r.part(&pre(11, 0, 2), b"y"), Outcome::Stale);
        assert!(matches!(
            r.part(&pre(14, 0, 1), b""),
            Outcome::Complete {
                tick: 14,
                lost: 2,
                ..
            }
        ));
        assert_eq!(collect(&r), vec![Vec::<u8>::new()]);
    }

    #[test]
    fn rejects_oversize_mismatch_and_repeats() {
        let mut r = Reassembly::new(2);
        assert_eq!(r.part(&pre(1, 0, 3), b""), Outcome::Rejected);
        assert_eq!(r.part(&pre(1, 0, 2), b"a"), Outcome::Pending);
        assert_eq!(r.part(&pre(1, 0, 2), b"a"), Outcome::Rejected);
        let mut p = pre(1, 1, 2);
        p.time_us += 1;
        assert_eq!(r.part(&p, b"b"), Outcome::Rejected);
        assert_eq!(r.rejected, 3);
        assert!(matches!(
            r.part(&pre(1, 1, 2), &[7u8; PART_MAX]),
            Outcome::Complete { .. }
        ));
        assert_eq!(r.parts().nth(1).map(<[u8]>::len), Some(PART_MAX));
    }
}
