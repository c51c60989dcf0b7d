//! Checked cursors for lobby bodies: [`Reader`] parses, [`Writer`] builds a frame in a
//! caller's buffer. Neither can panic on any input.
//!
//! Both carry the frame's [`Format`], and each primitive reads or writes its value in that
//! format: plain (big-endian integers, `len u8` strings, raw bytes) or MessagePack
//! (PROTOCOL.md section 7: the body is one array of the message's fields, integers of any
//! width that holds the value, `str`, `bin`, each `{...}*` list an array of arrays). A
//! field type built from the primitives therefore reads and writes both formats.
//!
//! A body is written as: [`Writer::begin`] with the number of top-level elements (every
//! field of the table, a list's count included, counts one; the list itself one more), then
//! the fields in table order. A list is [`Writer::list`] (the count's plain width), then each
//! entry as [`Writer::entry`] with its number of fields followed by those fields, then
//! [`Writer::end_list`] with how many entries were written. The [`Reader`] mirrors it:
//! [`Reader::begin`], [`Reader::list`] (which returns the count), [`Reader::entry`] per
//! entry. In the plain format `begin` and `entry` write and check nothing, so the plain
//! bytes are exactly the table's.
//!
//! For example, a list `count u8, {user u32, delta i32, chips u32}*`:
//!
//! ```ignore
//! // Writing (`rows` known in advance or not: the count is patched at the end).
//! let list = w.list(Count::U8)?;
//! let mut n = 0;
//! for r in rows {
//!     w.entry(3)?.u32(r.user)?.i32(r.delta)?.u32(r.chips)?;
//!     n += 1;
//! }
//! w.end_list(list, n)?; // Full when n exceeds what a u8 count holds
//! // Reading.
//! let n = r.list(Count::U8)?;
//! for _ in 0..n {
//!     r.entry(3)?;
//!     let (user, delta, chips) = (r.u32()?, r.i32()?, r.u32()?);
//! }
//! ```
//!
//! A fixed run of bytes that are small numbers (`[u8; 3]` cards) is [`Writer::array`] /
//! [`Reader::array`]: raw in plain, an array of that many integers in MessagePack. Opaque
//! bytes (ECHO's, a connect token) are [`Writer::bin`] / [`Reader::bin`] / [`Reader::data`]:
//! raw in plain, `bin` in MessagePack.
//!
//! Decoding never allocates: strings and bytes are borrowed from the body in place (rmp's
//! slice decoders).

use super::frame::{Header, HEADER_LEN, MAX_FRAME};
use super::msg::ErrorCode;
use arrayvec::ArrayString;
use rmp::decode::{self as mpd, Bytes};
use rmp::encode as mpe;

pub use super::frame::Format;

/// The width of a list's count in the plain format (ROOM_LIST_RES's is a `u16`,
/// ROOM_ENTER_RES's a `u8`). In MessagePack the count is an integer that must fit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// `count u8`: at most 255 entries.
    U8,
    /// `count u16`: at most 65535 entries.
    U16,
}

impl Count {
    /// The most entries the count holds.
    pub fn max(self) -> usize {
        match self {
            Count::U8 => usize::from(u8::MAX),
            Count::U16 => usize::from(u16::MAX),
        }
    }
}

/// Longest string of any field: plain strings are `len u8`, and MessagePack strings obey the
/// same limit (a longer `str` is a bad body).
const MAX_STR: usize = 255;

/// A checked cursor over a body.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
    format: Format,
}

impl<'a> Reader<'a> {
    /// Reads `body`, encoded as `format`, from its start.
    pub fn with_format(body: &'a [u8], format: Format) -> Reader<'a> {
        Reader { rest: body, format }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], ErrorCode> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(ErrorCode::BadBody)?;
        self.rest = rest;
        Ok(*head)
    }

    /// Runs one of rmp's decoders on the rest of the body, in place.
    fn mp<T, E>(&mut self, f: impl FnOnce(&mut Bytes<'a>) -> Result<T, E>) -> Result<T, ErrorCode> {
        let mut b = Bytes::new(self.rest);
        let v = f(&mut b).map_err(|_| ErrorCode::BadBody)?;
        self.rest = b.remaining_slice();
        Ok(v)
    }

    /// A MessagePack array header that must say exactly `n` elements.
    fn mp_array(&mut self, n: u32) -> Result<(), ErrorCode> {
        match self.mp(mpd::read_array_len)? {
            len if len == n => Ok(()),
            _ => Err(ErrorCode::BadBody),
        }
    }

    /// A MessagePack integer of any width (any of its int markers, signed or not) whose
    /// value fits `T`.
    fn mp_int<T: TryFrom<i128>>(&mut self) -> Result<T, ErrorCode> {
        let v: i128 = self.mp(mpd::read_int)?;
        T::try_from(v).map_err(|_| ErrorCode::BadBody)
    }

    /// `n` bytes, borrowed.
    fn slice(&mut self, n: usize) -> Result<&'a [u8], ErrorCode> {
        if self.rest.len() < n {
            return Err(ErrorCode::BadBody);
        }
        let (s, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(s)
    }

    /// The start of a body of `elems` top-level elements: MessagePack, an array of exactly
    /// that many; plain, nothing.
    pub fn begin(&mut self, elems: u32) -> Result<(), ErrorCode> {
        match self.format {
            Format::Plain => Ok(()),
            Format::MsgPack => self.mp_array(elems),
        }
    }

    /// The start of one list entry of `fields` fields: MessagePack, an array of exactly
    /// that many; plain, nothing.
    pub fn entry(&mut self, fields: u32) -> Result<(), ErrorCode> {
        self.begin(fields)
    }

    /// The start of a list: its count (plain, of `count`'s width; MessagePack, an integer
    /// that fits it, then an array of exactly that many entries). Read the entries next.
    pub fn list(&mut self, count: Count) -> Result<usize, ErrorCode> {
        let n = match count {
            Count::U8 => usize::from(self.u8()?),
            Count::U16 => usize::from(self.u16()?),
        };
        if self.format == Format::MsgPack {
            // n <= 65535: the cast is exact.
            self.mp_array(n as u32)?;
        }
        Ok(n)
    }

    /// `N` small numbers (`[u8; N]`): plain, `N` bytes; MessagePack, an array of `N`
    /// integers, each 0..=255.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], ErrorCode> {
        match self.format {
            Format::Plain => self.take(),
            Format::MsgPack => {
                let n = u32::try_from(N).map_err(|_| ErrorCode::BadBody)?;
                self.mp_array(n)?;
                let mut a = [0; N];
                for b in &mut a {
                    *b = self.mp_int()?;
                }
                Ok(a)
            }
        }
    }

    /// `N` opaque bytes: plain, `N` bytes; MessagePack, a `bin` of exactly `N` bytes.
    pub fn bin<const N: usize>(&mut self) -> Result<[u8; N], ErrorCode> {
        if self.format == Format::MsgPack {
            let len = self.mp(mpd::read_bin_len)?;
            if usize::try_from(len) != Ok(N) {
                return Err(ErrorCode::BadBody);
            }
        }
        self.take()
    }

    /// ECHO's bytes, borrowed: plain, the rest of the body; MessagePack, a `bin` of any
    /// length.
    pub fn data(&mut self) -> Result<&'a [u8], ErrorCode> {
        match self.format {
            Format::Plain => Ok(self.rest()),
            Format::MsgPack => {
                let len = self.mp(mpd::read_bin_len)?;
                self.slice(usize::try_from(len).map_err(|_| ErrorCode::BadBody)?)
            }
        }
    }

    /// A `u8`.
    pub fn u8(&mut self) -> Result<u8, ErrorCode> {
        match self.format {
            Format::Plain => Ok(self.take::<1>()?[0]),
            Format::MsgPack => self.mp_int(),
        }
    }

    /// A `u16` (plain: big-endian).
    pub fn u16(&mut self) -> Result<u16, ErrorCode> {
        match self.format {
            Format::Plain => self.take().map(u16::from_be_bytes),
            Format::MsgPack => self.mp_int(),
        }
    }

    /// A `u32` (plain: big-endian).
    pub fn u32(&mut self) -> Result<u32, ErrorCode> {
        match self.format {
            Format::Plain => self.take().map(u32::from_be_bytes),
            Format::MsgPack => self.mp_int(),
        }
    }

    /// A `u64` (plain: big-endian).
    pub fn u64(&mut self) -> Result<u64, ErrorCode> {
        match self.format {
            Format::Plain => self.take().map(u64::from_be_bytes),
            Format::MsgPack => self.mp_int(),
        }
    }

    /// An `i32` (plain: big-endian two's complement).
    pub fn i32(&mut self) -> Result<i32, ErrorCode> {
        match self.format {
            Format::Plain => self.take().map(i32::from_be_bytes),
            Format::MsgPack => self.mp_int(),
        }
    }

    /// A string, borrowed: plain, `len u8` then that many bytes of UTF-8; MessagePack, a
    /// `str` of at most 255 bytes of UTF-8.
    pub fn str(&mut self) -> Result<&'a str, ErrorCode> {
        let s = match self.format {
            Format::Plain => {
                let n = usize::from(self.u8()?);
                self.slice(n)?
            }
            Format::MsgPack => {
                let (s, rest) =
                    mpd::read_str_from_slice(self.rest).map_err(|_| ErrorCode::BadBody)?;
                if s.len() > MAX_STR {
                    return Err(ErrorCode::BadBody);
                }
                self.rest = rest;
                return Ok(s);
            }
        };
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

    /// The rest of the body, raw, consumed.
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

/// A list started by [`Writer::list`], to close with [`Writer::end_list`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a list's count is written by Writer::end_list"]
pub struct List {
    at: usize,
    count: Count,
}

/// Writes one frame into a caller's buffer: the header first, the size patched by
/// [`Writer::finish`]. See the module docs for how a body, its lists and their entries are
/// written in either format.
///
/// In MessagePack, integers take the smallest encoding that holds the value, strings
/// `fixstr` or `str8`, bytes `bin8` or `bin16`, arrays `fixarray` (up to 15 elements);
/// a list's count is always a `uint8` (`0xcc`) or `uint16` (`0xcd`) after its plain width,
/// and its array always an `array16` (`0xdc`), so both can be patched once the entries that
/// fit are written.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
    id: u16,
    format: Format,
}

impl<'a> Writer<'a> {
    /// Starts a frame with message `id` and a body encoded as `format` in `buf` (at most
    /// [`MAX_FRAME`] bytes are used).
    pub fn with_format(buf: &'a mut [u8], id: u16, format: Format) -> Writer<'a> {
        let n = buf.len().min(MAX_FRAME);
        Writer {
            buf: &mut buf[..n],
            pos: HEADER_LEN.min(n),
            id,
            format,
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

    /// Appends raw bytes, in either format.
    pub fn bytes(&mut self, b: &[u8]) -> Result<&mut Self, Full> {
        let end = self.pos.checked_add(b.len()).ok_or(Full)?;
        let dst = self.buf.get_mut(self.pos..end).ok_or(Full)?;
        dst.copy_from_slice(b);
        self.pos += b.len();
        Ok(self)
    }

    /// Runs one of rmp's encoders on the free part of the buffer.
    fn mp<T, E>(
        &mut self,
        f: impl FnOnce(&mut &mut [u8]) -> Result<T, E>,
    ) -> Result<&mut Self, Full> {
        let written = {
            let mut dst = self.buf.get_mut(self.pos..).ok_or(Full)?;
            let free = dst.len();
            f(&mut dst).map_err(|_| Full)?;
            free - dst.len()
        };
        self.pos += written;
        Ok(self)
    }

    /// The start of a body of `elems` top-level elements: MessagePack, its array header;
    /// plain, nothing.
    pub fn begin(&mut self, elems: u32) -> Result<&mut Self, Full> {
        match self.format {
            Format::Plain => Ok(self),
            Format::MsgPack => self.mp(|w| mpe::write_array_len(w, elems)),
        }
    }

    /// The start of one list entry of `fields` fields: MessagePack, its array header;
    /// plain, nothing.
    pub fn entry(&mut self, fields: u32) -> Result<&mut Self, Full> {
        self.begin(fields)
    }

    /// Starts a list whose count has `count`'s plain width: writes a count of 0 (and in
    /// MessagePack an empty `array16`) that [`Writer::end_list`] patches. Write the entries
    /// next, each one [`Writer::entry`] and its fields.
    pub fn list(&mut self, count: Count) -> Result<List, Full> {
        let at = self.pos;
        match (self.format, count) {
            (Format::Plain, Count::U8) => self.bytes(&[0])?,
            (Format::Plain, Count::U16) => self.bytes(&[0, 0])?,
            (Format::MsgPack, Count::U8) => self.bytes(&[0xcc, 0, 0xdc, 0, 0])?,
            (Format::MsgPack, Count::U16) => self.bytes(&[0xcd, 0, 0, 0xdc, 0, 0])?,
        };
        Ok(List { at, count })
    }

    /// Ends `list` with `n` entries written since [`Writer::list`]: patches its count (and
    /// in MessagePack its array's length). [`Full`] when `n` is more than the count holds.
    pub fn end_list(&mut self, list: List, n: usize) -> Result<(), Full> {
        if n > list.count.max() {
            return Err(Full);
        }
        // n <= 65535.
        let n16 = (n as u16).to_be_bytes();
        match (self.format, list.count) {
            (Format::Plain, Count::U8) => self.patch(list.at, &n16[1..]),
            (Format::Plain, Count::U16) => self.patch(list.at, &n16),
            (Format::MsgPack, Count::U8) => {
                self.patch(list.at + 1, &n16[1..])?;
                self.patch(list.at + 3, &n16)
            }
            (Format::MsgPack, Count::U16) => {
                self.patch(list.at + 1, &n16)?;
                self.patch(list.at + 4, &n16)
            }
        }
    }

    /// Appends a `u8`.
    pub fn u8(&mut self, v: u8) -> Result<&mut Self, Full> {
        match self.format {
            Format::Plain => self.bytes(&[v]),
            Format::MsgPack => self.mp(|w| mpe::write_uint(w, u64::from(v))),
        }
    }

    /// Appends a `u16` (plain: big-endian).
    pub fn u16(&mut self, v: u16) -> Result<&mut Self, Full> {
        match self.format {
            Format::Plain => self.bytes(&v.to_be_bytes()),
            Format::MsgPack => self.mp(|w| mpe::write_uint(w, u64::from(v))),
        }
    }

    /// Appends a `u32` (plain: big-endian).
    pub fn u32(&mut self, v: u32) -> Result<&mut Self, Full> {
        match self.format {
            Format::Plain => self.bytes(&v.to_be_bytes()),
            Format::MsgPack => self.mp(|w| mpe::write_uint(w, u64::from(v))),
        }
    }

    /// Appends a `u64` (plain: big-endian).
    pub fn u64(&mut self, v: u64) -> Result<&mut Self, Full> {
        match self.format {
            Format::Plain => self.bytes(&v.to_be_bytes()),
            Format::MsgPack => self.mp(|w| mpe::write_uint(w, v)),
        }
    }

    /// Appends an `i32` (plain: big-endian two's complement; MessagePack: the smallest
    /// integer encoding, unsigned for a value >= 0).
    pub fn i32(&mut self, v: i32) -> Result<&mut Self, Full> {
        match self.format {
            Format::Plain => self.bytes(&v.to_be_bytes()),
            Format::MsgPack => self.mp(|w| mpe::write_sint(w, i64::from(v))),
        }
    }

    /// Appends a string (plain: `len u8`, bytes; MessagePack: `str`); longer than 255
    /// bytes is [`Full`].
    pub fn str(&mut self, s: &str) -> Result<&mut Self, Full> {
        let n = u8::try_from(s.len()).map_err(|_| Full)?;
        match self.format {
            Format::Plain => self.u8(n)?.bytes(s.as_bytes()),
            Format::MsgPack => self.mp(|w| mpe::write_str(w, s)),
        }
    }

    /// Appends `N` small numbers (`[u8; N]`): plain, the bytes; MessagePack, an array of
    /// `N` integers.
    pub fn array<const N: usize>(&mut self, a: &[u8; N]) -> Result<&mut Self, Full> {
        match self.format {
            Format::Plain => self.bytes(a),
            Format::MsgPack => {
                self.begin(u32::try_from(N).map_err(|_| Full)?)?;
                for &b in a {
                    self.u8(b)?;
                }
                Ok(self)
            }
        }
    }

    /// Appends opaque bytes (ECHO's, a token): plain, the bytes; MessagePack, a `bin`.
    pub fn bin(&mut self, b: &[u8]) -> Result<&mut Self, Full> {
        match self.format {
            Format::Plain => self.bytes(b),
            Format::MsgPack => {
                let n = u32::try_from(b.len()).map_err(|_| Full)?;
                self.mp(|w| mpe::write_bin_len(w, n))?.bytes(b)
            }
        }
    }

    fn patch(&mut self, pos: usize, b: &[u8]) -> Result<(), Full> {
        let end = pos
            .checked_add(b.len())
            .filter(|&e| e <= self.pos)
            .ok_or(Full)?;
        self.buf.get_mut(pos..end).ok_or(Full)?.copy_from_slice(b);
        Ok(())
    }

    /// Writes the header (its type is the format) and returns the frame's size: the frame
    /// is `buf[..size]`. [`Full`] when the buffer cannot hold even the header.
    pub fn finish(self) -> Result<usize, Full> {
        Header::write(self.buf, self.pos, self.id, self.format)?;
        Ok(self.pos)
    }
}
