//! A fixed-capacity byte ring: the per-connection receive and send buffers.
//!
//! The storage is allocated once, when the ring is made, and never grows. Bytes are never
//! shifted towards the front: reads and writes move two indices. A reader sees the data as
//! at most two contiguous slices; [`Ring::contiguous`] hands out a slice in place when the
//! range does not wrap, and [`Ring::copy_out`] copies it otherwise.

/// A bounded FIFO of bytes over storage allocated once.
#[derive(Debug, Default)]
pub struct Ring {
    buf: Box<[u8]>,
    head: usize,
    len: usize,
}

impl Ring {
    /// A ring that holds at most `capacity` bytes; the storage is allocated now.
    pub fn with_capacity(capacity: usize) -> Ring {
        Ring {
            buf: vec![0; capacity].into_boxed_slice(),
            head: 0,
            len: 0,
        }
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
        self.len += n.min(self.free());
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
