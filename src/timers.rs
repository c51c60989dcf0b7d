//! Deadlines as data, not scans (quinn's `connection/timer.rs` is the model).
//!
//! - [`TimerTable`]: one `Option<T>` per timer of a state machine, indexed by a small enum;
//!   the next deadline is the smallest set entry, and `handle_timeout` walks the expired
//!   ones in index order.
//! - [`Expiry`]: many slots sharing one timeout (every client's idle timeout, every lobby
//!   connection's frame deadline). Slots are kept in an intrusive doubly linked list in the
//!   order they were last touched, so the oldest touch is always at the front and the next
//!   expiry is `front + timeout`: touching, removing and finding the oldest are O(1), and
//!   nothing scans all slots to find the next deadline.
//!
//! Both are fixed-size and allocate only in `new`.

/// A table of named deadlines: `N` entries, each set or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerTable<T, const N: usize> {
    at: [Option<T>; N],
}

impl<T: Copy + Ord, const N: usize> TimerTable<T, N> {
    /// A table with no timer set.
    pub(crate) const fn new() -> Self {
        TimerTable { at: [None; N] }
    }

    /// Sets timer `i` to fire at `at`.
    #[inline]
    pub(crate) fn set(&mut self, i: usize, at: T) {
        self.at[i] = Some(at);
    }

    /// Stops timer `i`.
    #[inline]
    pub(crate) fn stop(&mut self, i: usize) {
        self.at[i] = None;
    }

    /// When timer `i` fires, if it is set.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<T> {
        self.at[i]
    }

    /// The earliest set deadline.
    #[inline]
    pub(crate) fn next(&self) -> Option<T> {
        self.at.iter().flatten().copied().min()
    }

    /// The first timer (in index order) due at `now`, stopped as it is returned: call until
    /// `None` to run every expired timer once.
    #[inline]
    pub(crate) fn pop_expired(&mut self, now: T) -> Option<usize> {
        let i = self.at.iter().position(|t| t.is_some_and(|t| t <= now))?;
        self.at[i] = None;
        Some(i)
    }
}

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Link<T> {
    prev: u32,
    next: u32,
    at: T,
    linked: bool,
}

/// Slots ordered by their last touch, oldest first (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Expiry<T> {
    links: Box<[Link<T>]>,
    head: u32,
    tail: u32,
    len: usize,
}

impl<T: Copy + Ord + Default> Expiry<T> {
    /// A list for slots `0..slots`, all unlinked. Allocates once.
    pub(crate) fn new(slots: usize) -> Self {
        assert!(slots < NONE as usize, "slot count fits in u32");
        let blank = Link {
            prev: NONE,
            next: NONE,
            at: T::default(),
            linked: false,
        };
        Expiry {
            links: vec![blank; slots].into_boxed_slice(),
            head: NONE,
            tail: NONE,
            len: 0,
        }
    }

    /// Marks `slot` touched at `at` and moves it to the back. Times are expected not to go
    /// backwards; one that does is raised to the newest time in the list, so the front stays
    /// the oldest and a deadline is never early (at worst late by the step back).
    #[inline]
    pub(crate) fn touch(&mut self, slot: usize, at: T) {
        let s = slot as u32;
        let tail = self.tail;
        let links = &mut *self.links;
        if tail == s {
            // Already the newest: only the time moves.
            let l = &mut links[slot];
            l.at = at.max(l.at);
            return;
        }
        let at = match tail {
            NONE => at,
            t => at.max(links[t as usize].at),
        };
        let Link {
            prev, next, linked, ..
        } = links[slot];
        if linked {
            // Not the tail, so `next` is a slot.
            match prev {
                NONE => self.head = next,
                p => links[p as usize].next = next,
            }
            links[next as usize].prev = prev;
        } else {
            self.len += 1;
        }
        links[slot] = Link {
            prev: tail,
            next: NONE,
            at,
            linked: true,
        };
        match tail {
            NONE => self.head = s,
            t => links[t as usize].next = s,
        }
        self.tail = s;
    }

    /// Takes `slot` out of the list; does nothing if it is not in it.
    #[inline]
    pub(crate) fn remove(&mut self, slot: usize) {
        if self.links[slot].linked {
            self.unlink(slot);
        }
    }

    fn unlink(&mut self, slot: usize) {
        let Link { prev, next, .. } = self.links[slot];
        match prev {
            NONE => self.head = next,
            p => self.links[p as usize].next = next,
        }
        match next {
            NONE => self.tail = prev,
            n => self.links[n as usize].prev = prev,
        }
        self.links[slot].linked = false;
        self.links[slot].prev = NONE;
        self.links[slot].next = NONE;
        self.len -= 1;
    }

    /// The slot touched longest ago, and when.
    #[inline]
    pub(crate) fn oldest(&self) -> Option<(usize, T)> {
        match self.head {
            NONE => None,
            h => Some((h as usize, self.links[h as usize].at)),
        }
    }

    /// When `slot` was last touched, if it is in the list.
    #[inline]
    pub(crate) fn touched_at(&self, slot: usize) -> Option<T> {
        let l = &self.links[slot];
        l.linked.then_some(l.at)
    }

    /// How many slots are in the list.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(e: &Expiry<u64>) -> Vec<usize> {
        let mut v = Vec::new();
        let mut i = e.head;
        while i != NONE {
            v.push(i as usize);
            i = e.links[i as usize].next;
        }
        v
    }

    #[test]
    fn touch_moves_to_the_back_and_remove_unlinks() {
        let mut e = Expiry::<u64>::new(8);
        assert_eq!(e.oldest(), None);
        e.touch(3, 10);
        e.touch(5, 20);
        e.touch(1, 30);
        assert_eq!(order(&e), [3, 5, 1]);
        assert_eq!(e.oldest(), Some((3, 10)));
        e.touch(3, 40);
        assert_eq!(order(&e), [5, 1, 3]);
        e.touch(3, 45); // already last: only the time moves
        assert_eq!(order(&e), [5, 1, 3]);
        assert_eq!(e.touched_at(3), Some(45));
        e.remove(1);
        e.remove(1);
        assert_eq!(order(&e), [5, 3]);
        assert_eq!(e.len(), 2);
        e.remove(5);
        assert_eq!(e.oldest(), Some((3, 45)));
        e.remove(3);
        assert_eq!(e.oldest(), None);
        assert_eq!(e.len(), 0);
        e.touch(7, 50);
        assert_eq!(order(&e), [7]);
    }

    #[test]
    fn touching_the_middle_relinks_its_neighbours() {
        let mut e = Expiry::<u64>::new(4);
        for (slot, at) in [(0, 1), (1, 2), (2, 3)] {
            e.touch(slot, at);
        }
        e.touch(1, 4);
        assert_eq!(order(&e), [0, 2, 1]);
        e.remove(2);
        e.touch(0, 5);
        assert_eq!(order(&e), [1, 0]);
        assert_eq!((e.oldest(), e.len()), (Some((1, 4)), 2));
    }

    #[test]
    fn a_time_going_backwards_is_raised_so_the_front_stays_oldest() {
        let mut e = Expiry::<u64>::new(4);
        e.touch(0, 100);
        e.touch(1, 50);
        assert_eq!(e.touched_at(1), Some(100));
        assert_eq!(e.oldest(), Some((0, 100)));
    }

    #[test]
    fn timer_table_gives_the_earliest_and_pops_expired_in_order() {
        let mut t = TimerTable::<u64, 3>::new();
        assert_eq!(t.next(), None);
        t.set(2, 5);
        t.set(0, 9);
        t.set(1, 7);
        assert_eq!(t.next(), Some(5));
        assert_eq!(t.pop_expired(4), None);
        assert_eq!(t.pop_expired(8), Some(1));
        assert_eq!(t.pop_expired(8), Some(2));
        assert_eq!(t.pop_expired(8), None);
        assert_eq!(t.get(0), Some(9));
        t.stop(0);
        assert_eq!(t.next(), None);
    }
}
