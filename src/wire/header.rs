//! The 13-byte game datagram header (PROTOCOL.md section 1), read in place.
//!
//! [`Packet`] wraps any byte buffer. [`Packet::new_checked`] runs every check that does not
//! need server state (length, exact size, reserved flags, known kind, flags of that kind);
//! after it succeeds no accessor can panic.

use super::{room, BufferTooSmall, DropReason, Kind, MAX_DATAGRAM};

/// Byte ranges of the header fields.
mod field {
    use core::ops::Range;
    pub const FLAGS: usize = 0;
    pub const SEQ: Range<usize> = 1..5;
    pub const ACK: Range<usize> = 5..9;
    pub const QPORT: usize = 9;
    pub const KIND: usize = 10;
    pub const LEN: Range<usize> = 11..13;
    pub const PAYLOAD: usize = 13;
}

/// Size of the header in bytes.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// Largest payload a datagram can carry (`MAX_DATAGRAM - HEADER_LEN`).
pub const MAX_PAYLOAD: usize = MAX_DATAGRAM - HEADER_LEN;

/// Header flag bits.
pub mod flags {
    /// Part of the connect handshake.
    pub const CONNECT: u8 = 0x80;
    /// Ends a connection.
    pub const DISCONNECT: u8 = 0x40;
    /// The seq field is meaningful.
    pub const SEQ: u8 = 0x20;
    /// The ack field is meaningful.
    pub const ACK: u8 = 0x10;
    /// Reserved bits; must be zero.
    pub const RESERVED: u8 = 0x0F;
}

/// Who sent a datagram; decides which kinds are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    ToServer,
    /// Server to client.
    ToClient,
}

/// A read-only or read-write view of a game datagram.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it. Accessors may panic on a short buffer: use
    /// [`Packet::new_checked`] for anything that came from the network.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after the stateless checks of PROTOCOL.md section 1, in the order
    /// they are counted: too short, wrong size, reserved flag, unknown kind, wrong direction,
    /// wrong flags. `game_kind` says whether a kind in `0x10..=0xFF` is known, and is only
    /// asked for those kinds.
    pub fn new_checked(
        buffer: T,
        dir: Direction,
        game_kind: impl FnOnce(u8) -> bool,
    ) -> Result<Packet<T>, DropReason> {
        let p = Packet::new_unchecked(buffer);
        p.check(dir, game_kind)?;
        Ok(p)
    }

    fn check(&self, dir: Direction, game_kind: impl FnOnce(u8) -> bool) -> Result<(), DropReason> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(DropReason::TooShort);
        }
        if data.len() > MAX_DATAGRAM || data.len() != HEADER_LEN + self.len() as usize {
            return Err(DropReason::BadLength);
        }
        let flags = self.flags();
        if flags & flags::RESERVED != 0 {
            return Err(DropReason::ReservedFlag);
        }
        let raw = self.kind_raw();
        let kind = Kind::from_u8(raw);
        let kind = match kind {
            Some(k) => k,
            None => return Err(DropReason::UnknownKind),
        };
        if kind == Kind::Game(raw) && !game_kind(raw) {
            return Err(DropReason::UnknownKind);
        }
        if !kind.allowed(dir) {
            return Err(DropReason::WrongDirection);
        }
        let (must, may) = kind.flags(dir);
        if flags & !may != must {
            return Err(DropReason::BadFlags);
        }
        Ok(())
    }

    /// The flags byte.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// Whether every bit of `f` is set.
    #[inline]
    pub fn has(&self, f: u8) -> bool {
        self.flags() & f == f
    }

    /// The seq field.
    #[inline]
    pub fn seq(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::SEQ])
    }

    /// The ack field.
    #[inline]
    pub fn ack(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::ACK])
    }

    /// The client slot id (0 = none yet).
    #[inline]
    pub fn qport(&self) -> u8 {
        self.buffer.as_ref()[field::QPORT]
    }

    /// The raw kind byte.
    #[inline]
    pub fn kind_raw(&self) -> u8 {
        self.buffer.as_ref()[field::KIND]
    }

    /// The kind; always `Some` on a checked packet.
    #[inline]
    pub fn kind(&self) -> Option<Kind> {
        Kind::from_u8(self.kind_raw())
    }

    /// The payload length field.
    #[inline]
    pub fn len(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::LEN])
    }

    /// Whether the payload is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The payload.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let d = self.buffer.as_ref();
        &d[field::PAYLOAD..field::PAYLOAD + self.len() as usize]
    }

    /// The 13 header bytes as they arrived (the additional data of a sealed datagram).
    #[inline]
    pub fn header_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[..HEADER_LEN]
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// The fields of a header, for emitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Flags byte.
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledged sequence number.
    pub ack: u32,
    /// Client slot id.
    pub qport: u8,
    /// Message kind.
    pub kind: u8,
    /// Payload length.
    pub len: u16,
}

impl Header {
    /// Writes the header into the first 13 bytes of `buf` and returns 13; writes nothing
    /// and returns [`BufferTooSmall`] if `buf` is shorter.
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let b = room(buf, HEADER_LEN)?;
        b[field::FLAGS] = self.flags;
        b[field::SEQ].copy_from_slice(&self.seq.to_be_bytes());
        b[field::ACK].copy_from_slice(&self.ack.to_be_bytes());
        b[field::QPORT] = self.qport;
        b[field::KIND] = self.kind;
        b[field::LEN].copy_from_slice(&self.len.to_be_bytes());
        Ok(HEADER_LEN)
    }

    /// Reads the fields of a checked packet.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Header {
        Header {
            flags: p.flags(),
            seq: p.seq(),
            ack: p.ack(),
            qport: p.qport(),
            kind: p.kind_raw(),
            len: p.len(),
        }
    }
}

#[inline]
pub(crate) fn read_u16(d: &[u8]) -> u16 {
    u16::from_be_bytes([d[0], d[1]])
}

#[inline]
pub(crate) fn read_u32(d: &[u8]) -> u32 {
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

#[inline]
pub(crate) fn read_u64(d: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keepalive() -> [u8; 13] {
        // flags SEQ|ACK, seq 0x01020304, ack 0x0A0B0C0D, qport 7, kind 0, len 0
        [0x30, 1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D, 7, 0x00, 0, 0]
    }

    #[test]
    fn golden_keepalive_parses() {
        let b = keepalive();
        let p = Packet::new_checked(&b[..], Direction::ToServer, |_| false).unwrap();
        assert_eq!(p.seq(), 0x0102_0304);
        assert_eq!(p.ack(), 0x0A0B_0C0D);
        assert_eq!(p.qport(), 7);
        assert_eq!(p.kind(), Some(Kind::Keepalive));
        assert!(p.payload().is_empty());
    }

    #[test]
    fn golden_emit() {
        let h = Header {
            flags: 0x30,
            seq: 0x0102_0304,
            ack: 0x0A0B_0C0D,
            qport: 7,
            kind: 0,
            len: 0,
        };
        let mut b = [0u8; 13];
        h.emit(&mut b).unwrap();
        assert_eq!(b, keepalive());
        assert!(h.emit(&mut [0u8; 12]).is_err());
    }

    #[test]
    fn checks_in_order() {
        let dir = Direction::ToServer;
        assert_eq!(
            Packet::new_checked(&[0u8; 12][..], dir, |_| true).unwrap_err(),
            DropReason::TooShort
        );
        let mut b = keepalive().to_vec();
        b.push(0);
        assert_eq!(
            Packet::new_checked(&b[..], dir, |_| true).unwrap_err(),
            DropReason::BadLength
        );
        let mut b = keepalive();
        b[0] |= 0x01;
        assert_eq!(
            Packet::new_checked(&b[..], dir, |_| true).unwrap_err(),
            DropReason::ReservedFlag
        );
        let mut b = keepalive();
        b[10] = 0x08;
        assert_eq!(
            Packet::new_checked(&b[..], dir, |_| true).unwrap_err(),
            DropReason::UnknownKind
        );
        b[10] = 0x42;
        assert_eq!(
            Packet::new_checked(&b[..], dir, |_| false).unwrap_err(),
            DropReason::UnknownKind
        );
        assert!(Packet::new_checked(&b[..], dir, |k| k == 0x42).is_ok());
        let mut b = keepalive();
        b[10] = Kind::Snapshot.to_u8();
        assert_eq!(
            Packet::new_checked(&b[..], dir, |_| true).unwrap_err(),
            DropReason::WrongDirection
        );
        let mut b = keepalive();
        b[0] = 0x10; // ACK without SEQ
        assert_eq!(
            Packet::new_checked(&b[..], dir, |_| true).unwrap_err(),
            DropReason::BadFlags
        );
        b[0] = 0x20; // SEQ without ACK is allowed before anything was received
        assert!(Packet::new_checked(&b[..], dir, |_| true).is_ok());
    }

    #[test]
    fn len_field_beyond_buffer_is_bad_length() {
        let mut b = keepalive();
        b[11] = 0xFF;
        b[12] = 0xFF;
        assert_eq!(
            Packet::new_checked(&b[..], Direction::ToServer, |_| true).unwrap_err(),
            DropReason::BadLength
        );
    }
}
