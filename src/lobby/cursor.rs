//! Checked cursors for lobby bodies: [`Reader`] parses, [`Writer`] builds a frame in a
//! caller's buffer. Neither can panic on any input.

use super::frame::{Header, HEADER_LEN, MAX_FRAME};
use super::msg::ErrorCode;
use arrayvec::ArrayString;

/// A checked cursor over a body.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads `body` from its start.
    pub fn new(body: &'a [u8]) -> Reader<'a> {
        Reader { rest: body }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], ErrorCode> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(ErrorCode::BadBody)?;
        self.rest = rest;
        Ok(*head)
    }

    /// `N` bytes.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], ErrorCode> {
        self.take()
    }

    /// A `u8`.
    pub fn u8(&mut self) -> Result<u8, ErrorCode> {
        Ok(self.take::<1>()?[0])
    }

    /// A big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, ErrorCode> {
        self.take().map(u16::from_be_bytes)
    }

    /// A big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, ErrorCode> {
        self.take().map(u32::from_be_bytes)
    }

    /// A big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, ErrorCode> {
        self.take().map(u64::from_be_bytes)
    }

    /// A string: `len u8` then that many bytes of UTF-8.
    pub fn str(&mut self) -> Result<&'a str, ErrorCode> {
        let n = usize::from(self.u8()?);
        if self.rest.len() < n {
            return Err(ErrorCode::BadBody);
        }
        let (s, rest) = self.rest.split_at(n);
        self.rest = rest;
        core::str::from_utf8(s).map_err(|_| ErrorCode::BadBody)
    }

    /// A string that must fit an `ArrayString<N>`.
    pub fn array_str<const N: usize>(&mut self) -> Result<ArrayString<N>, ErrorCode> {
        ArrayString::from(self.str()?).map_err(|_| ErrorCode::BadBody)
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The rest of the body, consumed.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    /// Succeeds only when the whole body was read.
    pub fn end(&self) -> Result<(), ErrorCode> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(ErrorCode::BadBody)
        }
    }
}

/// The frame did not fit in the caller's buffer, or in the largest frame (4096 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// Writes one frame into a caller's buffer: the header first, the size patched by
/// [`Writer::finish`].
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
    id: u16,
}

impl<'a> Writer<'a> {
    /// Starts a frame with message `id` in `buf` (at most [`MAX_FRAME`] bytes are used).
    pub fn new(buf: &'a mut [u8], id: u16) -> Writer<'a> {
        let n = buf.len().min(MAX_FRAME);
        Writer {
            buf: &mut buf[..n],
            pos: HEADER_LEN.min(n),
            id,
        }
    }

    /// Whether the writer may use a whole [`MAX_FRAME`]: when not, the caller's buffer is
    /// shorter than a frame, and running out of it is the caller's [`Full`], not the frame's.
    pub(crate) fn is_frame_sized(&self) -> bool {
        self.buf.len() == MAX_FRAME
    }

    /// Bytes written so far, header included.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Forgets everything written after `pos` (to drop a list entry that did not fit).
    pub fn truncate(&mut self, pos: usize) {
        self.pos = self.pos.min(pos.max(HEADER_LEN));
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) -> Result<&mut Self, Full> {
        let end = self.pos.checked_add(b.len()).ok_or(Full)?;
        let dst = self.buf.get_mut(self.pos..end).ok_or(Full)?;
        dst.copy_from_slice(b);
        self.pos += b.len();
        Ok(self)
    }

    /// Appends a `u8`.
    pub fn u8(&mut self, v: u8) -> Result<&mut Self, Full> {
        self.bytes(&[v])
    }

    /// Appends a big-endian `u16`.
    pub fn u16(&mut self, v: u16) -> Result<&mut Self, Full> {
        self.bytes(&v.to_be_bytes())
    }

    /// Appends a big-endian `u32`.
    pub fn u32(&mut self, v: u32) -> Result<&mut Self, Full> {
        self.bytes(&v.to_be_bytes())
    }

    /// Appends a big-endian `u64`.
    pub fn u64(&mut self, v: u64) -> Result<&mut Self, Full> {
        self.bytes(&v.to_be_bytes())
    }

    /// Appends a string (`len u8`, bytes); longer than 255 bytes is [`Full`].
    pub fn str(&mut self, s: &str) -> Result<&mut Self, Full> {
        let n = u8::try_from(s.len()).map_err(|_| Full)?;
        self.u8(n)?.bytes(s.as_bytes())
    }

    /// Overwrites a `u16` written earlier at `pos`; [`Full`] when `pos..pos + 2` was not
    /// written.
    pub fn patch_u16(&mut self, pos: usize, v: u16) -> Result<(), Full> {
        self.patch(pos, &v.to_be_bytes())
    }

    /// Overwrites a `u8` written earlier at `pos`; [`Full`] when `pos` was not written.
    pub fn patch_u8(&mut self, pos: usize, v: u8) -> Result<(), Full> {
        self.patch(pos, &[v])
    }

    fn patch(&mut self, pos: usize, b: &[u8]) -> Result<(), Full> {
        let end = pos
            .checked_add(b.len())
            .filter(|&e| e <= self.pos)
            .ok_or(Full)?;
        self.buf.get_mut(pos..end).ok_or(Full)?.copy_from_slice(b);
        Ok(())
    }

    /// Writes the header and returns the frame's size: the frame is `buf[..size]`.
    /// [`Full`] when the buffer cannot hold even the header.
    pub fn finish(self) -> Result<usize, Full> {
        Header::write(self.buf, self.pos, self.id)?;
        Ok(self.pos)
    }
}
