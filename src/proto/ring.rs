//! The snapshot ring: 60 slots (one second at 60 Hz), each holding one tick's serialized
//! world, split into parts, stamped with its tick and time.
//!
//! A slot is indexed by `tick % len` and keeps the tick beside its bytes, so a slot that was
//! overwritten (or never written) is detected, never trusted.

/// Largest part body: one datagram minus the header and the snapshot prefix (the one
/// constant [`wire::MAX_PART_BODY`](crate::wire::MAX_PART_BODY)).
pub(crate) use crate::wire::MAX_PART_BODY;

/// Most parts one snapshot may have.
pub const MAX_PARTS: usize = 32;

/// Most entities in one part (the part's count byte).
pub const MAX_PART_ENTITIES: usize = 255;

/// One tick's snapshot.
#[derive(Debug)]
pub(crate) struct Slot {
    /// The tick stored here; meaningful only when `valid`.
    pub tick: u32,
    /// The tick's server time in microseconds.
    pub time_us: u64,
    pub valid: bool,
    buf: Box<[u8]>,
    /// End offset of each part in `buf`; part `i` spans `ends[i-1]..ends[i]`.
    ends: arrayvec::ArrayVec<u16, MAX_PARTS>,
}

impl Slot {
    fn new(capacity: usize) -> Slot {
        Slot {
            tick: 0,
            time_us: 0,
            valid: false,
            // Filled with a non-zero byte so every page is touched now: a zeroed
            // allocation is mapped lazily and would fault on the first ticks instead.
            buf: vec![0xA5u8; capacity].into_boxed_slice(),
            ends: arrayvec::ArrayVec::new(),
        }
    }

    /// Number of parts.
    pub fn parts(&self) -> usize {
        self.ends.len()
    }

    /// Part `i`'s body: `count u8` then its entities.
    pub fn part(&self, i: usize) -> &[u8] {
        let end = self.ends.get(i).copied().unwrap_or(0) as usize;
        let start = match i {
            0 => 0,
            _ => self.ends.get(i - 1).copied().unwrap_or(0) as usize,
        };
        &self.buf[start.min(end)..end]
    }

    /// Total serialized size of all parts.
    #[cfg(test)]
    pub fn body_len(&self) -> usize {
        self.ends.last().copied().unwrap_or(0) as usize
    }
}

/// Most microseconds a snapshot's stamp lies before the time it was serialized.
pub(crate) const STAMP_JITTER_US: u64 = 512;

/// The fixed ring of snapshot slots.
pub(crate) struct Ring {
    slots: Box<[Slot]>,
    /// Keys the unpredictable part of each tick's stamp.
    stamp_key: siphasher::sip::SipHasher13,
    /// The newest stamp given: stamps never go backwards.
    last_stamp_us: u64,
    /// Largest part body: [`MAX_PART_BODY`], or less in secure mode (the tags take room).
    part_max: usize,
}

impl core::fmt::Debug for Ring {
    /// The shape only: not the stamp key.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ring")
            .field("slots", &self.slots.len())
            .field("last_stamp_us", &self.last_stamp_us)
            .finish_non_exhaustive()
    }
}

impl Ring {
    /// A ring of `len` slots, each able to hold `body_capacity` bytes, whose stamps are
    /// keyed by `stamp_key`. All memory is allocated here, once.
    pub fn new(len: usize, body_capacity: usize, stamp_key: (u64, u64)) -> Ring {
        let cap = body_capacity.clamp(1, MAX_PARTS * MAX_PART_BODY);
        Ring {
            slots: (0..len.max(1)).map(|_| Slot::new(cap)).collect(),
            stamp_key: siphasher::sip::SipHasher13::new_with_keys(stamp_key.0, stamp_key.1),
            last_stamp_us: 0,
            part_max: MAX_PART_BODY,
        }
    }

    /// Splits parts at `max` body bytes (at most [`MAX_PART_BODY`]): secure mode's 1141.
    pub fn set_part_max(&mut self, max: usize) {
        self.part_max = max.clamp(2, MAX_PART_BODY);
    }

    /// The time to stamp `tick` with, serialized at server time `now_us` (PROTOCOL.md
    /// section 3: "server time of that tick"): `now_us` less 1 to [`STAMP_JITTER_US`]
    /// microseconds drawn from a keyed hash of the tick, never before the previous stamp
    /// and never after `now_us`.
    ///
    /// Only a receiver of the snapshot knows it: the tick's deadline (`tick * period`) is
    /// public, the time the server got round to serializing it and the keyed offset are
    /// not. A FIRE naming the tick with any other time is refused as forged (section 4).
    pub fn stamp(&mut self, tick: u32, now_us: u64) -> u64 {
        use core::hash::Hasher;
        let mut h = self.stamp_key;
        h.write_u32(tick);
        let offset = 1 + h.finish() % STAMP_JITTER_US;
        let t = now_us.saturating_sub(offset).max(self.last_stamp_us);
        self.last_stamp_us = t;
        t
    }

    /// The slot for `tick`, whatever it holds.
    pub fn slot(&self, tick: u32) -> &Slot {
        &self.slots[tick as usize % self.slots.len()]
    }

    /// Index of the slot for `tick`.
    pub fn index(&self, tick: u32) -> usize {
        tick as usize % self.slots.len()
    }

    /// Slot by index.
    pub fn at(&self, index: usize) -> Option<&Slot> {
        self.slots.get(index)
    }

    /// The slot for `tick` holding exactly that tick with that time, if it still does.
    #[cfg(test)]
    pub fn get(&self, tick: u32, time_us: u64) -> Option<&Slot> {
        let s = self.slot(tick);
        (s.valid && s.tick == tick && s.time_us == time_us).then_some(s)
    }

    /// Starts writing `tick` into its slot, overwriting what was there.
    pub fn writer(&mut self, tick: u32, time_us: u64) -> SnapshotWriter<'_> {
        let n = self.slots.len();
        let slot = &mut self.slots[tick as usize % n];
        slot.tick = tick;
        slot.time_us = time_us;
        slot.valid = false;
        slot.ends.clear();
        SnapshotWriter {
            slot,
            part_max: self.part_max,
            part_start: 0,
            len: 1,
            count: 0,
            overflow: false,
        }
    }
}

/// Writes one tick's entities into a ring slot, splitting at entity boundaries so every
/// part fits in one datagram. Each part body is `count u8` followed by its entities, so
/// every part decodes on its own.
///
/// **Entities carry no length.** The bytes of [`SnapshotWriter::entity`] are written as
/// they are, one after another, with nothing between them: the game's decoder on the
/// client must know each entity's size (a fixed size, or a size it can read from the
/// entity's own first bytes, such as a type byte). A part holds at most 255 entities, and
/// as many bytes of them as fit one datagram after the snapshot prefix and the count.
#[derive(Debug)]
pub struct SnapshotWriter<'a> {
    slot: &'a mut Slot,
    /// Largest part body (see [`Ring::set_part_max`]).
    part_max: usize,
    part_start: usize,
    len: usize,
    count: u8,
    overflow: bool,
}

/// The snapshot ran out of room: the entity was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotFull;

impl SnapshotWriter<'_> {
    /// Appends one entity. An entity larger than a part body, or one that does not fit in
    /// the slot's capacity, is refused and counted as an overflow.
    pub fn entity(&mut self, bytes: &[u8]) -> Result<(), SnapshotFull> {
        if bytes.len() + 1 > self.part_max {
            self.overflow = true;
            return Err(SnapshotFull);
        }
        let part_len = self.len - self.part_start;
        if part_len + bytes.len() > self.part_max || self.count as usize == MAX_PART_ENTITIES {
            if self.slot.ends.len() + 1 >= MAX_PARTS
                || self.len + 1 + bytes.len() > self.slot.buf.len()
            {
                self.overflow = true;
                return Err(SnapshotFull);
            }
            self.close_part();
            self.part_start = self.len;
            self.len += 1;
        }
        let end = self.len + bytes.len();
        if end > self.slot.buf.len() {
            self.overflow = true;
            return Err(SnapshotFull);
        }
        self.slot.buf[self.len..end].copy_from_slice(bytes);
        self.len = end;
        self.count += 1;
        Ok(())
    }

    fn close_part(&mut self) {
        self.slot.buf[self.part_start] = self.count;
        self.count = 0;
        // `len` never exceeds MAX_PARTS * MAX_PART_BODY < u16::MAX.
        let _ = self.slot.ends.try_push(self.len as u16);
    }

    /// Whether an entity was refused.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    /// Closes the last part and stamps the slot valid. Returns the number of parts.
    pub(crate) fn finish(mut self) -> (usize, bool) {
        self.close_part();
        self.slot.valid = true;
        (self.slot.ends.len(), self.overflow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_snapshot_is_one_part_with_count_zero() {
        let mut r = Ring::new(60, 4096, (1, 2));
        let (parts, _) = r.writer(5, 100).finish();
        assert_eq!(parts, 1);
        let s = r.get(5, 100).unwrap();
        assert_eq!(s.part(0), &[0]);
        assert!(r.get(5, 101).is_none());
        assert!(r.get(65, 100).is_none());
    }

    #[test]
    fn splits_at_entity_boundaries() {
        let mut r = Ring::new(60, 16 * 1024, (1, 2));
        let mut w = r.writer(1, 0);
        for i in 0..255u8 {
            w.entity(&[i; 8]).unwrap();
        }
        let (parts, overflow) = w.finish();
        assert!(!overflow);
        assert_eq!(parts, 2);
        let s = r.slot(1);
        let per_part = (MAX_PART_BODY - 1) / 8;
        assert_eq!(s.part(0)[0] as usize, per_part);
        assert_eq!(s.part(0).len(), 1 + per_part * 8);
        assert_eq!(s.part(1)[0] as usize, 255 - per_part);
        assert_eq!(s.part(1)[1], per_part as u8);
        assert!(s.part(0).len() <= MAX_PART_BODY && s.part(1).len() <= MAX_PART_BODY);
        assert_eq!(s.body_len(), 2 + 255 * 8);
    }

    #[test]
    fn part_closes_at_255_entities() {
        let mut r = Ring::new(2, 8192, (1, 2));
        let mut w = r.writer(0, 0);
        for _ in 0..300 {
            w.entity(&[1]).unwrap();
        }
        w.finish();
        assert_eq!(r.slot(0).part(0)[0], 255);
        assert_eq!(r.slot(0).part(1)[0], 45);
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let mut r = Ring::new(2, 64, (1, 2));
        let mut w = r.writer(0, 0);
        assert_eq!(w.entity(&[0; MAX_PART_BODY]), Err(SnapshotFull));
        for _ in 0..7 {
            w.entity(&[0; 8]).unwrap();
        }
        assert_eq!(w.entity(&[0; 8]), Err(SnapshotFull));
        let (parts, overflow) = w.finish();
        assert_eq!((parts, overflow), (1, true));
        assert_eq!(r.slot(0).part(0)[0], 7);
        assert_eq!(r.slot(0).part(5), &[] as &[u8]);
    }

    /// Stamps lie 1..=512 µs before the serialization time, never go backwards, and are
    /// not the deadline a client could compute (issue 11, item 7).
    #[test]
    fn stamps_are_keyed_monotonic_and_close() {
        let mut r = Ring::new(60, 64, (3, 4));
        let mut other = Ring::new(60, 64, (5, 6));
        let period_us = 16_667;
        let mut prev = 0;
        let mut same = 0;
        for tick in 1..=600u32 {
            let now = u64::from(tick) * period_us;
            let t = r.stamp(tick, now);
            assert!(
                t < now && now - t <= STAMP_JITTER_US,
                "tick {tick}: {t} at {now}"
            );
            assert!(t >= prev);
            prev = t;
            same += usize::from(other.stamp(tick, now) == t);
        }
        assert!(same < 10, "another key gives other stamps ({same} alike)");
        // Two ticks serialized within the jitter of each other still go forward.
        let a = r.stamp(601, 20_000_000);
        let b = r.stamp(602, 20_000_001);
        assert!(b >= a && b <= 20_000_001);
    }

    #[test]
    fn overwritten_slot_is_detected() {
        let mut r = Ring::new(60, 64, (1, 2));
        r.writer(3, 30).finish();
        assert!(r.get(3, 30).is_some());
        r.writer(63, 630).finish();
        assert!(r.get(3, 30).is_none());
        assert!(r.get(63, 630).is_some());
    }
}
