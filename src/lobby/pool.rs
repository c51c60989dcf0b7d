//! The lobby's buffer pool: the storage of the connections' rings, lent while a ring holds
//! bytes and taken back when it is empty.
//!
//! An idle connection holds no buffer at all. Bytes read from a socket land in one
//! staging ring shared by every connection ([`Pool::staging`]); only a connection left
//! holding part of a frame keeps that storage (the staging ring takes another). A send ring
//! takes the smallest buffer that holds what is queued, [`MIN_BUFFER`] first, and moves to
//! a buffer twice as large when it must ([`Ring::regrow`]), up to the configured bound;
//! once written out it gives the buffer back.
//!
//! Buffers come in a few fixed sizes (classes). A buffer given back is wiped (the bytes
//! its ring ever wrote) and kept on its class's free list, up to [`Pool::KEEP_BYTES`] of
//! free buffers in all; beyond that it is freed. The free lists are reserved at their full
//! length up front, so once warm, lending and taking back allocate nothing.

use super::ring::Ring;
use arrayvec::ArrayVec;

/// The smallest buffer a ring is lent: one whole frame.
pub const MIN_BUFFER: usize = super::frame::MAX_FRAME;

/// Most size classes: 4 KiB doubling up to 2^14 times (64 MiB), the receive size, and the
/// send bound.
const MAX_CLASSES: usize = 18;

#[derive(Debug)]
struct Class {
    size: usize,
    free: Vec<Box<[u8]>>,
}

/// Lends the rings' storage. See the module docs.
#[derive(Debug)]
pub struct Pool {
    /// Ascending sizes.
    classes: ArrayVec<Class, MAX_CLASSES>,
    /// The size every receive ring (and the staging ring) uses.
    recv_size: usize,
    /// The largest a send ring may grow.
    send_bound: usize,
    /// Bytes held on the free lists.
    kept: usize,
    staging: Ring,
    stats: PoolStats,
}

/// What the pool has done since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Buffers allocated (the free list of their size was empty).
    pub allocated: u64,
    /// Buffers lent from a free list.
    pub reused: u64,
    /// Buffers freed because the free lists held [`Pool::KEEP_BYTES`] already.
    pub freed: u64,
    /// Buffers lent now (the staging ring's included).
    pub lent: usize,
    /// Bytes lent now.
    pub lent_bytes: usize,
}

impl Pool {
    /// Most bytes of free buffers kept for reuse; more are freed (memory shrinks back
    /// after a burst).
    pub const KEEP_BYTES: usize = 4 << 20;

    /// A pool for receive rings of `recv_size` bytes and send rings of at most
    /// `send_bound` bytes (both at least [`MIN_BUFFER`]).
    pub fn new(recv_size: usize, send_bound: usize) -> Pool {
        let recv_size = recv_size.max(MIN_BUFFER);
        let send_bound = send_bound.max(MIN_BUFFER);
        let mut sizes: ArrayVec<usize, MAX_CLASSES> = ArrayVec::new();
        let mut s = MIN_BUFFER;
        while s < send_bound && sizes.len() < MAX_CLASSES - 2 {
            sizes.push(s);
            s = s.saturating_mul(2);
        }
        sizes.push(send_bound);
        sizes.push(recv_size);
        sizes.sort_unstable();
        let mut classes = ArrayVec::new();
        for size in sizes {
            if classes.last().is_some_and(|c: &Class| c.size == size) {
                continue;
            }
            classes.push(Class {
                size,
                free: Vec::with_capacity(Self::KEEP_BYTES / size + 1),
            });
        }
        let mut pool = Pool {
            classes,
            recv_size,
            send_bound,
            kept: 0,
            staging: Ring::default(),
            stats: PoolStats::default(),
        };
        pool.staging = Ring::with_storage(pool.take(recv_size));
        pool
    }

    /// Counters and gauges.
    pub fn stats(&self) -> PoolStats {
        self.stats
    }

    /// The smallest class that holds `n` bytes and may serve a send ring (at most the
    /// send bound); `None` when `n` is over the bound.
    fn send_class(&self, n: usize) -> Option<usize> {
        if n > self.send_bound {
            return None;
        }
        self.classes
            .iter()
            .map(|c| c.size)
            .find(|&s| s >= n && s <= self.send_bound)
    }

    /// A zeroed buffer of exactly `size` bytes (a class size).
    fn take(&mut self, size: usize) -> Box<[u8]> {
        self.stats.lent += 1;
        self.stats.lent_bytes += size;
        if let Some(c) = self.classes.iter_mut().find(|c| c.size == size) {
            if let Some(b) = c.free.pop() {
                self.kept -= size;
                self.stats.reused += 1;
                return b;
            }
        }
        self.stats.allocated += 1;
        vec![0; size].into_boxed_slice()
    }

    /// Takes back a buffer that a ring released (wiped). Storage of no class, or beyond
    /// [`Pool::KEEP_BYTES`], is freed.
    fn give(&mut self, buf: Box<[u8]>) {
        if buf.is_empty() {
            return;
        }
        self.stats.lent = self.stats.lent.saturating_sub(1);
        self.stats.lent_bytes = self.stats.lent_bytes.saturating_sub(buf.len());
        let size = buf.len();
        let room = self.kept + size <= Self::KEEP_BYTES;
        match self.classes.iter_mut().find(|c| c.size == size) {
            Some(c) if room && c.free.len() < c.free.capacity() => {
                c.free.push(buf);
                self.kept += size;
            }
            _ => self.stats.freed += 1,
        }
    }

    /// Gives a ring's storage back when the ring is empty (its storage wiped); a ring that
    /// holds bytes keeps it.
    pub fn reclaim(&mut self, ring: &mut Ring) {
        if ring.is_empty() && ring.capacity() > 0 {
            let buf = ring.release();
            self.give(buf);
        }
    }

    /// Gives a ring's storage back whatever it holds (a closing connection's): wiped.
    pub fn reclaim_all(&mut self, ring: &mut Ring) {
        if ring.capacity() > 0 {
            let buf = ring.release();
            self.give(buf);
        }
    }

    /// Appends `data` to a send ring, lending it storage or moving it to a larger buffer
    /// as needed. `false` (nothing appended) when the ring would hold more than the send
    /// bound.
    pub fn push(&mut self, ring: &mut Ring, data: &[u8]) -> bool {
        if ring.free() < data.len() {
            let Some(size) = ring
                .len()
                .checked_add(data.len())
                .and_then(|n| self.send_class(n))
            else {
                return false;
            };
            let bigger = self.take(size);
            if ring.capacity() == 0 {
                // The common case (a connection with nothing queued): no bytes to move.
                *ring = Ring::with_storage(bigger);
            } else {
                let old = ring.regrow(bigger);
                self.give(old);
            }
        }
        ring.push(data)
    }

    /// Whether a send ring holding `held` bytes may take `n` more.
    pub fn send_fits(&self, held: usize, n: usize) -> bool {
        held.checked_add(n).is_some_and(|t| t <= self.send_bound)
    }

    /// The staging ring: where a connection with no receive storage reads into. It is
    /// always empty between calls.
    pub fn staging(&mut self) -> &mut Ring {
        &mut self.staging
    }

    /// Takes the staging ring out (to hand its bytes to the frame layer), leaving a ring
    /// with no storage; give it back with [`Pool::restage`].
    pub fn take_staging(&mut self) -> Ring {
        core::mem::take(&mut self.staging)
    }

    /// Puts the ring taken by [`Pool::take_staging`] back. When `keep` (the connection
    /// holds part of a frame in it), the ring is returned, now the connection's own, and
    /// fresh storage is staged; otherwise it is wiped and staged again, and a ring with no
    /// storage is returned.
    pub fn restage(&mut self, mut ring: Ring, keep: bool) -> Ring {
        if !keep && ring.capacity() == self.recv_size {
            ring.wipe();
            self.staging = ring;
            return Ring::default();
        }
        let fresh = self.take(self.recv_size);
        self.staging = Ring::with_storage(fresh);
        if !keep {
            self.reclaim_all(&mut ring);
        }
        ring
    }

    /// Whether every free buffer and the staging ring's storage is all zero (tests: no
    /// byte of a closed connection survives into the next one's buffers).
    #[cfg(test)]
    pub fn all_wiped(&self) -> bool {
        self.classes
            .iter()
            .flat_map(|c| c.free.iter())
            .all(|b| b.iter().all(|&x| x == 0))
            && self.staging.is_empty()
            && self.staging.storage_is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_double_up_to_the_bound() {
        let p = Pool::new(8192, 64 * 1024);
        let sizes: Vec<_> = p.classes.iter().map(|c| c.size).collect();
        assert_eq!(sizes, [4096, 8192, 16384, 32768, 65536]);
        let p = Pool::new(5000, 10_000);
        let sizes: Vec<_> = p.classes.iter().map(|c| c.size).collect();
        assert_eq!(sizes, [4096, 5000, 8192, 10_000]);
        assert_eq!(p.send_class(8193), Some(10_000));
        assert_eq!(p.send_class(10_001), None);
    }

    #[test]
    fn a_send_ring_grows_to_the_bound_and_gives_its_storage_back() {
        let mut p = Pool::new(8192, 64 * 1024);
        let mut r = Ring::default();
        let frame = [7u8; 4096];
        for i in 0..16 {
            assert!(p.push(&mut r, &frame), "frame {i}");
        }
        assert_eq!(r.capacity(), 64 * 1024);
        assert!(!p.push(&mut r, &[1]), "the bound holds");
        r.consume(r.len());
        p.reclaim(&mut r);
        assert_eq!(r.capacity(), 0);
        // Staging plus nothing lent.
        assert_eq!(p.stats().lent, 1);
        assert!(p.all_wiped());
        // Warm: the same again allocates nothing new.
        let before = p.stats().allocated;
        for _ in 0..16 {
            assert!(p.push(&mut r, &frame));
        }
        r.consume(r.len());
        p.reclaim(&mut r);
        assert_eq!(p.stats().allocated, before);
    }

    #[test]
    fn free_buffers_beyond_the_keep_bound_are_freed() {
        let mut p = Pool::new(8192, 64 * 1024);
        let mut rings: Vec<Ring> = (0..100).map(|_| Ring::default()).collect();
        for r in &mut rings {
            assert!(p.push(r, &[1; 60_000]));
        }
        for r in &mut rings {
            p.reclaim_all(r);
        }
        assert!(p.kept <= Pool::KEEP_BYTES);
        assert_eq!(p.stats().freed, 100 - (Pool::KEEP_BYTES / 65536) as u64);
    }
}
