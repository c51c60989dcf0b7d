//! A fixed-capacity byte ring: the per-connection receive and send buffers.
//!
//! A ring's storage never grows in place: it is allocated when the ring is made, or lent
//! by the lobby's buffer pool ([`super::pool`]), which moves a ring to larger storage
//! ([`Ring::regrow`]) and takes the storage back when the ring is empty
//! ([`Ring::release`]). Bytes are never shifted towards the front: reads and writes move
//! two indices. A reader sees the data as at most two contiguous slices;
//! [`Ring::contiguous`] hands out a slice in place when the range does not wrap, and
//! [`Ring::copy_out`] copies it otherwise.
//!
//! The ring remembers how far into its storage it has ever written (`touched`), so that
//! storage handed back is wiped at the cost of the bytes it held, not of its capacity.

/// A bounded FIFO of bytes over fixed storage. The default ring has no storage at all.
#[derive(Debug, Default)]
pub struct Ring {
    buf: Box<[u8]>,
    head: usize,
    len: usize,
    /// Bytes of `buf` from its start that may hold data ever written: `buf[touched..]`
    /// is all zero.
    touched: usize,
}

impl Ring {
    /// A ring that holds at most `capacity` bytes; the storage is allocated now.
    pub fn with_capacity(capacity: usize) -> Ring {
        Ring::with_storage(vec![0; capacity].into_boxed_slice())
    }

    /// An empty ring over `buf`, which must be all zero (fresh or [`Ring::release`]d).
    pub fn with_storage(buf: Box<[u8]>) -> Ring {
        Ring {
            buf,
            head: 0,
            len: 0,
            touched: 0,
        }
    }

    /// Zeroes every byte the ring ever wrote and gives its storage back, leaving a ring
    /// with no storage. The held bytes, if any, are dropped.
    pub fn release(&mut self) -> Box<[u8]> {
        self.wipe();
        self.head = 0;
        self.len = 0;
        core::mem::take(&mut self.buf)
    }

    /// Zeroes every byte the ring ever wrote (the held ones included) and empties it.
    pub fn wipe(&mut self) {
        let n = self.touched.min(self.buf.len());
        // Not even an empty fill on a ring with no storage: glibc's AVX-512 memset does a
        // masked store at the (dangling) pointer, and the fault it suppresses costs about
        // a microsecond on the VMs we measure on (perf: 60% of a 100-member fan-out).
        if n > 0 {
            self.buf[..n].fill(0);
        }
        self.touched = 0;
        self.head = 0;
        self.len = 0;
    }

    /// Moves the held bytes to the front of `bigger` (all zero, at least as long as they
    /// are) and returns the old storage, wiped. When `bigger` is too short nothing changes
    /// and `bigger` itself is returned.
    pub fn regrow(&mut self, bigger: Box<[u8]>) -> Box<[u8]> {
        if bigger.len() < self.len {
            return bigger;
        }
        let mut next = Ring::with_storage(bigger);
        let (a, b) = self.slices();
        next.buf[..a.len()].copy_from_slice(a);
        next.buf[a.len()..a.len() + b.len()].copy_from_slice(b);
        next.len = self.len;
        next.touched = self.len;
        core::mem::swap(self, &mut next);
        next.release()
    }

    /// Whether every byte of the storage is zero (tests of the wiping).
    #[cfg(test)]
    pub(crate) fn storage_is_zero(&self) -> bool {
        self.buf.iter().all(|&b| b == 0)
    }

    /// The held bytes as two slices, in order (the second empty unless they wrap).
    fn slices(&self) -> (&[u8], &[u8]) {
        let first = self.read_slice();
        let rest = self.len - first.len();
        (first, &self.buf[..rest])
    }

    /// Most bytes the ring can hold.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left, in bytes.
    pub fn free(&self) -> usize {
        self.capacity() - self.len
    }

    fn tail(&self) -> usize {
        match self.capacity() {
            0 => 0,
            cap => (self.head + self.len) % cap,
        }
    }

    /// The contiguous free space after the held bytes, to read a socket into. Empty only
    /// when the ring is full. Call [`Ring::commit`] with the number of bytes written.
    pub fn write_slice(&mut self) -> &mut [u8] {
        let tail = self.tail();
        let n = (self.capacity() - tail).min(self.free());
        &mut self.buf[tail..tail + n]
    }

    /// Marks `n` bytes of [`Ring::write_slice`] as held.
    pub fn commit(&mut self, n: usize) {
        debug_assert!(n <= self.free());
        let n = n.min(self.free());
        let tail = self.tail();
        // A commit past the storage's end (never with `write_slice`) wraps: all touched.
        let end = tail + n;
        self.touched = self.touched.max(match end > self.capacity() {
            true => self.capacity(),
            false => end,
        });
        self.len += n;
    }

    /// The first contiguous run of held bytes, to write to a socket. Call
    /// [`Ring::consume`] with the number of bytes written.
    pub fn read_slice(&self) -> &[u8] {
        let n = self.len.min(self.capacity() - self.head);
        &self.buf[self.head..self.head + n]
    }

    /// Drops the first `n` held bytes (at most all of them).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        self.head = if self.len == 0 {
            0
        } else {
            (self.head + n) % self.capacity()
        };
    }

    /// Appends all of `data`, or nothing when it does not fit. Returns whether it fit.
    pub fn push(&mut self, data: &[u8]) -> bool {
        if data.len() > self.free() {
            return false;
        }
        let first = self.write_slice();
        let n = first.len().min(data.len());
        first[..n].copy_from_slice(&data[..n]);
        self.commit(n);
        if n < data.len() {
            let rest = &data[n..];
            self.write_slice()[..rest.len()].copy_from_slice(rest);
            self.commit(rest.len());
        }
        true
    }

    /// `n` held bytes from `offset` as one slice in place, or `None` when they wrap around
    /// the end of the storage (or are not all held).
    pub fn contiguous(&self, offset: usize, n: usize) -> Option<&[u8]> {
        if offset + n > self.len {
            return None;
        }
        let start = self.head + offset;
        if start + n <= self.capacity() {
            Some(&self.buf[start..start + n])
        } else if start >= self.capacity() {
            let start = start - self.capacity();
            Some(&self.buf[start..start + n])
        } else {
            None
        }
    }

    /// Copies `dst.len()` held bytes from `offset` into `dst`, across the wrap if need be.
    /// Returns `false` (and copies nothing) when they are not all held.
    pub fn copy_out(&self, offset: usize, dst: &mut [u8]) -> bool {
        if offset + dst.len() > self.len {
            return false;
        }
        let cap = self.capacity();
        let start = (self.head + offset) % cap.max(1);
        let first = dst.len().min(cap - start);
        dst[..first].copy_from_slice(&self.buf[start..start + first]);
        let rest = dst.len() - first;
        dst[first..].copy_from_slice(&self.buf[..rest]);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_wraps_and_reads_back_in_order() {
        let mut r = Ring::with_capacity(8);
        assert!(r.push(b"abcdef"));
        r.consume(4);
        assert!(r.push(b"ghijk")); // wraps: 2 at the end, 3 at the front
        assert_eq!(r.len(), 7);
        assert!(!r.push(b"lm"));
        assert_eq!(r.contiguous(0, 4), Some(&b"efgh"[..]));
        assert_eq!(r.contiguous(0, 5), None);
        assert_eq!(r.contiguous(4, 3), Some(&b"ijk"[..]));
        let mut out = [0; 7];
        assert!(r.copy_out(0, &mut out));
        assert_eq!(&out, b"efghijk");
        assert_eq!(r.read_slice(), b"efgh");
        r.consume(4);
        assert_eq!(r.read_slice(), b"ijk");
        r.consume(10);
        assert!(r.is_empty());
        assert_eq!(r.write_slice().len(), 8);
    }

    #[test]
    fn regrow_keeps_the_bytes_in_order_and_release_wipes() {
        let mut r = Ring::with_capacity(8);
        assert!(r.push(b"abcdef"));
        r.consume(4);
        assert!(r.push(b"ghijk")); // wraps
        let old = r.regrow(vec![0; 16].into_boxed_slice());
        assert_eq!(old.len(), 8);
        assert!(old.iter().all(|&b| b == 0), "the old storage is wiped");
        assert_eq!(r.capacity(), 16);
        assert_eq!(r.read_slice(), b"efghijk");
        assert!(r.push(b"lmnopqrst"));
        assert_eq!(r.len(), 16);
        // Too short: nothing moves.
        let back = r.regrow(vec![0; 4].into_boxed_slice());
        assert_eq!((back.len(), r.len()), (4, 16));
        let buf = r.release();
        assert!(buf.iter().all(|&b| b == 0));
        assert_eq!((r.capacity(), r.len()), (0, 0));
        assert!(!r.push(b"x"), "a ring with no storage takes nothing");
        assert!(r.write_slice().is_empty());
    }

    #[test]
    fn wipe_costs_what_was_written() {
        let mut r = Ring::with_capacity(64);
        assert!(r.push(b"secret"));
        r.consume(6);
        assert_eq!(r.touched, 6);
        r.wipe();
        assert_eq!(r.touched, 0);
        assert!(r.buf.iter().all(|&b| b == 0));
    }

    #[test]
    fn write_slice_is_contiguous_free_space() {
        let mut r = Ring::with_capacity(8);
        r.write_slice()[..5].copy_from_slice(b"12345");
        r.commit(5);
        assert_eq!(r.write_slice().len(), 3);
        r.consume(3);
        assert_eq!(r.write_slice().len(), 3); // up to the end first
        r.commit(3);
        assert_eq!(r.write_slice().len(), 3); // then the front
        r.commit(3);
        assert!(r.write_slice().is_empty());
        assert_eq!(r.free(), 0);
        assert!(!r.copy_out(1, &mut [0; 8]));
    }
}
