//! Lobby framing (PROTOCOL.md section 7): the 5-byte header, checked as soon as it has
//! arrived, and frame reassembly over a [`Ring`] in place, for both ends: the server's
//! connections and the client read frames through the same [`pop`].
//!
//! The header's type byte says how the body is encoded ([`Format`]): 0 plain, 1
//! MessagePack; any other type is ERROR 2.

use super::cursor::Full;
use super::msg::ErrorCode;
use super::ring::Ring;

/// Byte ranges of the header fields.
mod field {
    use core::ops::Range;
    pub const SIZE: Range<usize> = 0..2;
    pub const ID: Range<usize> = 2..4;
    pub const TYPE: usize = 4;
    pub const BODY: usize = 5;
}

/// Size of the frame header.
pub const HEADER_LEN: usize = field::BODY;
/// Largest frame, header included.
pub const MAX_FRAME: usize = 4096;

/// How a frame's body is encoded: the header's type byte (PROTOCOL.md section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Format {
    /// Type 0: the plain body (big-endian integers, `len u8` strings).
    #[default]
    Plain = 0,
    /// Type 1: the body is one MessagePack array of the message's fields.
    MsgPack = 1,
}

impl Format {
    /// The format of a header's type byte; `None` for the reserved types 2..=255.
    pub fn from_type(t: u8) -> Option<Format> {
        match t {
            0 => Some(Format::Plain),
            1 => Some(Format::MsgPack),
            _ => None,
        }
    }

    /// The format a frame's (or a header's) type byte gives; `None` when the bytes are
    /// shorter than a header or the type is reserved.
    pub fn of_frame(frame: &[u8]) -> Option<Format> {
        frame.get(field::TYPE).copied().and_then(Format::from_type)
    }
}

/// A checked frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The whole frame's size, header included: `HEADER_LEN..=MAX_FRAME`.
    pub size: usize,
    /// The message id.
    pub id: u16,
    /// How the body is encoded (the type byte).
    pub format: Format,
}

impl Header {
    /// Checks a header in the order of PROTOCOL.md: size, type, then whether `known(id)`.
    pub fn check(
        bytes: &[u8; HEADER_LEN],
        known: impl Fn(u16) -> bool,
    ) -> Result<Header, ErrorCode> {
        let size = usize::from(read_u16(&bytes[field::SIZE]));
        if !(HEADER_LEN..=MAX_FRAME).contains(&size) {
            return Err(ErrorCode::Size);
        }
        let format = Format::from_type(bytes[field::TYPE]).ok_or(ErrorCode::Type)?;
        let id = read_u16(&bytes[field::ID]);
        if !known(id) {
            return Err(ErrorCode::UnknownId);
        }
        Ok(Header { size, id, format })
    }

    /// Writes the header of a frame of `size` bytes, body encoded as `format`, at the start
    /// of `out`. [`Full`] when `out` is shorter than the header or than `size`, or `size`
    /// is not a frame size (`HEADER_LEN..=MAX_FRAME`).
    pub fn write(out: &mut [u8], size: usize, id: u16, format: Format) -> Result<(), Full> {
        if !(HEADER_LEN..=MAX_FRAME).contains(&size) || out.len() < size {
            return Err(Full);
        }
        let size = u16::try_from(size).map_err(|_| Full)?;
        out[field::SIZE].copy_from_slice(&size.to_be_bytes());
        out[field::ID].copy_from_slice(&id.to_be_bytes());
        out[field::TYPE] = format as u8;
        Ok(())
    }
}

fn read_u16(d: &[u8]) -> u16 {
    u16::from_be_bytes([d[0], d[1]])
}

/// The next whole frame held in `ring`, header included, without consuming it.
///
/// `Ok(None)`: more bytes are needed. The header is checked as soon as its 5 bytes are
/// held, so a bad size is reported before the body arrives. The frame is borrowed in place
/// from the ring, or, when it wraps around the ring's end, copied once into `scratch`
/// (at least [`MAX_FRAME`] bytes). Consume it with `ring.consume(frame.len())`.
pub fn next<'a>(
    ring: &'a Ring,
    scratch: &'a mut [u8],
    known: impl Fn(u16) -> bool,
) -> Result<Option<&'a [u8]>, ErrorCode> {
    let mut head = [0; HEADER_LEN];
    if !ring.copy_out(0, &mut head) {
        return Ok(None);
    }
    let h = Header::check(&head, known)?;
    if ring.len() < h.size {
        return Ok(None);
    }
    if let Some(frame) = ring.contiguous(0, h.size) {
        return Ok(Some(frame));
    }
    let dst = scratch.get_mut(..h.size).ok_or(ErrorCode::Size)?;
    ring.copy_out(0, dst);
    Ok(Some(dst))
}

/// Takes the next whole frame off `ring`: hands it to `f` (see [`next`]), then consumes it.
///
/// `Ok(None)`: more bytes are needed, nothing was consumed. `Err`: the header is bad; the
/// stream cannot be resynchronised and nothing was consumed.
pub fn pop<R>(
    ring: &mut Ring,
    scratch: &mut [u8],
    known: impl Fn(u16) -> bool,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<Option<R>, ErrorCode> {
    let Some(frame) = next(ring, scratch, known)? else {
        return Ok(None);
    };
    let size = frame.len();
    let r = f(frame);
    ring.consume(size);
    Ok(Some(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(_: u16) -> bool {
        true
    }

    #[test]
    fn header_checks_size_then_type_then_id() {
        assert_eq!(Header::check(&[0, 4, 0, 1, 0], any), Err(ErrorCode::Size));
        assert_eq!(Header::check(&[16, 1, 0, 1, 0], any), Err(ErrorCode::Size));
        for t in 2..=255 {
            assert_eq!(Header::check(&[0, 5, 0, 1, t], any), Err(ErrorCode::Type));
        }
        assert_eq!(
            Header::check(&[0, 5, 0, 7, 0], |id| id == 1),
            Err(ErrorCode::UnknownId)
        );
        assert_eq!(
            Header::check(&[0, 5, 0, 7, 1], |id| id == 1),
            Err(ErrorCode::UnknownId)
        );
        assert_eq!(
            Header::check(&[16, 0, 0, 1, 0], any),
            Ok(Header {
                size: 4096,
                id: 1,
                format: Format::Plain
            })
        );
        assert_eq!(
            Header::check(&[0, 5, 0, 1, 1], any),
            Ok(Header {
                size: 5,
                id: 1,
                format: Format::MsgPack
            })
        );
    }

    #[test]
    fn the_type_byte_is_the_format() {
        let mut out = [0; 5];
        Header::write(&mut out, 5, 0x0102, Format::MsgPack).unwrap();
        assert_eq!(out, [0, 5, 1, 2, 1]);
        assert_eq!(Format::of_frame(&out), Some(Format::MsgPack));
        Header::write(&mut out, 5, 0x0102, Format::Plain).unwrap();
        assert_eq!(out, [0, 5, 1, 2, 0]);
        assert_eq!(Format::of_frame(&out), Some(Format::Plain));
        assert_eq!(Format::of_frame(&[0, 5, 0, 1, 2]), None);
        assert_eq!(Format::of_frame(&[0, 5, 0, 1]), None);
    }

    #[test]
    fn bad_size_is_seen_before_the_body() {
        let mut ring = Ring::with_capacity(64);
        let mut scratch = [0; MAX_FRAME];
        ring.push(&[0xFF, 0xFF, 0, 1]);
        assert_eq!(next(&ring, &mut scratch, any), Ok(None));
        ring.push(&[0]);
        assert_eq!(next(&ring, &mut scratch, any), Err(ErrorCode::Size));
    }

    #[test]
    fn a_frame_across_the_wrap_is_copied_once() {
        let mut ring = Ring::with_capacity(16);
        let mut scratch = [0; MAX_FRAME];
        let first = [0, 12, 0, 1, 0, 1, 2, 3, 4, 5, 6, 7];
        let frame = [0, 8, 0, 1, 0, b'a', b'b', b'c'];
        ring.push(&first);
        ring.push(&frame[..2]);
        assert_eq!(next(&ring, &mut scratch, any), Ok(Some(&first[..])));
        ring.consume(first.len());
        ring.push(&frame[2..]); // 4 bytes at the end, 4 at the front
        assert_eq!(ring.contiguous(0, 8), None);
        assert_eq!(next(&ring, &mut scratch, any), Ok(Some(&frame[..])));
    }
}
