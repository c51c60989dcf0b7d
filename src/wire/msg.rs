//! Payloads of the protocol messages (PROTOCOL.md sections 2 and 3).
//!
//! Each message has `parse(&[u8]) -> Result<Self, DropReason>` that checks the exact length and
//! every value, and `emit(&self, &mut [u8])` that writes exactly `LEN` bytes.

use super::header::read_u32;
use super::DropReason;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

fn read_u16(d: &[u8]) -> u16 {
    u16::from_be_bytes([d[0], d[1]])
}

fn read_u64(d: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

/// HELLO (0x01) payload, exactly 48 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// The application's protocol id.
    pub protocol_id: u32,
    /// Where the client wants answers; `None` = the datagram's source (family 0).
    pub reply: Option<SocketAddr>,
    /// Lobby ticket, 0 = none.
    pub ticket: u64,
    /// Challenge cookie, 0 in the first HELLO.
    pub cookie: u64,
}

impl Hello {
    /// Payload size.
    pub const LEN: usize = 48;

    /// Parses and checks a HELLO payload: exact length, a known reply family, an IPv4
    /// address with zero tail bytes, a usable reply address (non-zero port, specified
    /// address), and zero padding.
    pub fn parse(d: &[u8]) -> Result<Hello, DropReason> {
        if d.len() != Self::LEN {
            return Err(DropReason::BadPayload);
        }
        if d[39..48].iter().any(|&b| b != 0) {
            return Err(DropReason::BadPayload);
        }
        let port = read_u16(&d[5..7]);
        let ip = &d[7..23];
        let reply = match d[4] {
            0 => {
                if port != 0 || ip.iter().any(|&b| b != 0) {
                    return Err(DropReason::BadPayload);
                }
                None
            }
            4 => {
                if ip[4..].iter().any(|&b| b != 0) {
                    return Err(DropReason::BadPayload);
                }
                let a = Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]);
                Some(SocketAddr::new(IpAddr::V4(a), port))
            }
            6 => {
                let mut b = [0u8; 16];
                b.copy_from_slice(ip);
                Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(b)), port))
            }
            _ => return Err(DropReason::BadPayload),
        };
        if let Some(r) = reply {
            if r.port() == 0 || r.ip().is_unspecified() || r.ip().is_multicast() {
                return Err(DropReason::BadReplyAddr);
            }
        }
        Ok(Hello {
            protocol_id: read_u32(&d[0..4]),
            reply,
            ticket: read_u64(&d[23..31]),
            cookie: read_u64(&d[31..39]),
        })
    }

    /// Writes the 48-byte payload into `out[..48]`.
    pub fn emit(&self, out: &mut [u8]) {
        let o = &mut out[..Self::LEN];
        o.fill(0);
        o[0..4].copy_from_slice(&self.protocol_id.to_be_bytes());
        match self.reply {
            None => {}
            Some(SocketAddr::V4(a)) => {
                o[4] = 4;
                o[5..7].copy_from_slice(&a.port().to_be_bytes());
                o[7..11].copy_from_slice(&a.ip().octets());
            }
            Some(SocketAddr::V6(a)) => {
                o[4] = 6;
                o[5..7].copy_from_slice(&a.port().to_be_bytes());
                o[7..23].copy_from_slice(&a.ip().octets());
            }
        }
        o[23..31].copy_from_slice(&self.ticket.to_be_bytes());
        o[31..39].copy_from_slice(&self.cookie.to_be_bytes());
    }
}

/// CHALLENGE (0x02) payload: the cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    /// The cookie to echo in the next HELLO.
    pub cookie: u64,
}

impl Challenge {
    /// Payload size.
    pub const LEN: usize = 8;
    /// Parses a CHALLENGE payload.
    pub fn parse(d: &[u8]) -> Result<Challenge, DropReason> {
        if d.len() != Self::LEN {
            return Err(DropReason::BadPayload);
        }
        Ok(Challenge {
            cookie: read_u64(d),
        })
    }
    /// Writes the payload into `out[..8]`.
    pub fn emit(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.cookie.to_be_bytes());
    }
}

/// ACCEPT (0x03) payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accept {
    /// Tick rate in Hz.
    pub tick_hz: u16,
    /// Largest payload the server accepts.
    pub max_payload: u16,
    /// The server's current tick.
    pub tick: u32,
    /// Server time, microseconds since the server started.
    pub time_us: u64,
}

impl Accept {
    /// Payload size.
    pub const LEN: usize = 16;
    /// Parses an ACCEPT payload.
    pub fn parse(d: &[u8]) -> Result<Accept, DropReason> {
        if d.len() != Self::LEN {
            return Err(DropReason::BadPayload);
        }
        let tick_hz = read_u16(&d[0..2]);
        if tick_hz == 0 {
            return Err(DropReason::BadPayload);
        }
        Ok(Accept {
            tick_hz,
            max_payload: read_u16(&d[2..4]),
            tick: read_u32(&d[4..8]),
            time_us: read_u64(&d[8..16]),
        })
    }
    /// Writes the payload into `out[..16]`.
    pub fn emit(&self, out: &mut [u8]) {
        out[0..2].copy_from_slice(&self.tick_hz.to_be_bytes());
        out[2..4].copy_from_slice(&self.max_payload.to_be_bytes());
        out[4..8].copy_from_slice(&self.tick.to_be_bytes());
        out[8..16].copy_from_slice(&self.time_us.to_be_bytes());
    }
}

/// Why the server refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// 1: every slot is taken.
    Full,
    /// 2: tickets are required and this one is missing, unknown or used.
    BadTicket,
    /// Any other value (from a newer server).
    Other(u8),
}

impl RejectReason {
    /// The reason byte.
    pub fn to_u8(self) -> u8 {
        match self {
            RejectReason::Full => 1,
            RejectReason::BadTicket => 2,
            RejectReason::Other(b) => b,
        }
    }
    /// Decodes a reason byte.
    pub fn from_u8(b: u8) -> RejectReason {
        match b {
            1 => RejectReason::Full,
            2 => RejectReason::BadTicket,
            b => RejectReason::Other(b),
        }
    }
}

/// REJECT (0x04) payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject {
    /// The reason.
    pub reason: RejectReason,
}

impl Reject {
    /// Payload size.
    pub const LEN: usize = 1;
    /// Parses a REJECT payload.
    pub fn parse(d: &[u8]) -> Result<Reject, DropReason> {
        match d {
            [b] => Ok(Reject {
                reason: RejectReason::from_u8(*b),
            }),
            _ => Err(DropReason::BadPayload),
        }
    }
    /// Writes the payload into `out[..1]`.
    pub fn emit(&self, out: &mut [u8]) {
        out[0] = self.reason.to_u8();
    }
}

/// The 14-byte prefix of a SNAPSHOT (0x06) payload; the body part follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPrefix {
    /// The tick.
    pub tick: u32,
    /// Server time of that tick, microseconds since the server started.
    pub time_us: u64,
    /// Part index, from 0.
    pub part: u8,
    /// Part count, at least 1.
    pub parts: u8,
}

impl SnapshotPrefix {
    /// Prefix size.
    pub const LEN: usize = 14;
    /// Parses the prefix of a SNAPSHOT payload and returns it with the body part.
    pub fn parse(d: &[u8]) -> Result<(SnapshotPrefix, &[u8]), DropReason> {
        if d.len() < Self::LEN {
            return Err(DropReason::BadPayload);
        }
        let p = SnapshotPrefix {
            tick: read_u32(&d[0..4]),
            time_us: read_u64(&d[4..12]),
            part: d[12],
            parts: d[13],
        };
        if p.parts == 0 || p.part >= p.parts {
            return Err(DropReason::BadPayload);
        }
        Ok((p, &d[Self::LEN..]))
    }
    /// Writes the prefix into `out[..14]`.
    pub fn emit(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.tick.to_be_bytes());
        out[4..12].copy_from_slice(&self.time_us.to_be_bytes());
        out[12] = self.part;
        out[13] = self.parts;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_hello_v4() {
        let h = Hello {
            protocol_id: 0x0102_0304,
            reply: Some("10.0.0.1:7777".parse().unwrap()),
            ticket: 0x1112_1314_1516_1718,
            cookie: 0x2122_2324_2526_2728,
        };
        let mut b = [0xEEu8; 48];
        h.emit(&mut b);
        let mut golden = [0u8; 48];
        golden[..23].copy_from_slice(&[
            1, 2, 3, 4, 4, 0x1E, 0x61, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        golden[23..31].copy_from_slice(&[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]);
        golden[31..39].copy_from_slice(&[0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28]);
        assert_eq!(b, golden);
        assert_eq!(Hello::parse(&b), Ok(h));
    }

    #[test]
    fn golden_hello_v6_and_family0() {
        let h = Hello {
            protocol_id: 0,
            reply: Some("[::1]:9".parse().unwrap()),
            ticket: 0,
            cookie: 0,
        };
        let mut b = [0u8; 48];
        h.emit(&mut b);
        assert_eq!(b[4], 6);
        assert_eq!(&b[5..7], &[0, 9]);
        assert_eq!(b[22], 1);
        assert_eq!(Hello::parse(&b), Ok(h));
        let h0 = Hello { reply: None, ..h };
        h0.emit(&mut b);
        assert_eq!(b, [0u8; 48]);
        assert_eq!(Hello::parse(&b), Ok(h0));
    }

    #[test]
    fn hello_rejects_bad_shapes() {
        let mut b = [0u8; 48];
        assert_eq!(Hello::parse(&b[..47]), Err(DropReason::BadPayload));
        b[47] = 1; // padding
        assert_eq!(Hello::parse(&b), Err(DropReason::BadPayload));
        b[47] = 0;
        b[4] = 5; // family
        assert_eq!(Hello::parse(&b), Err(DropReason::BadPayload));
        b[4] = 4; // v4 with port 0
        b[7] = 10;
        assert_eq!(Hello::parse(&b), Err(DropReason::BadReplyAddr));
        b[6] = 1;
        b[12] = 1; // v4 tail byte
        assert_eq!(Hello::parse(&b), Err(DropReason::BadPayload));
        b[12] = 0;
        assert!(Hello::parse(&b).is_ok());
        b[4] = 0; // family 0 with an address
        assert_eq!(Hello::parse(&b), Err(DropReason::BadPayload));
    }

    #[test]
    fn golden_accept_challenge_reject_prefix() {
        let mut b = [0u8; 16];
        Accept {
            tick_hz: 60,
            max_payload: 1187,
            tick: 0x0A0B_0C0D,
            time_us: 0x0102_0304_0506_0708,
        }
        .emit(&mut b);
        assert_eq!(
            b,
            [0, 60, 0x04, 0xA3, 10, 11, 12, 13, 1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(Accept::parse(&b).unwrap().max_payload, 1187);

        let mut c = [0u8; 8];
        Challenge {
            cookie: 0xDEAD_BEEF_0000_0001,
        }
        .emit(&mut c);
        assert_eq!(c, [0xDE, 0xAD, 0xBE, 0xEF, 0, 0, 0, 1]);
        assert_eq!(Challenge::parse(&c).unwrap().cookie, 0xDEAD_BEEF_0000_0001);

        let mut r = [0u8; 1];
        Reject {
            reason: RejectReason::BadTicket,
        }
        .emit(&mut r);
        assert_eq!(r, [2]);
        assert_eq!(Reject::parse(&[1]).unwrap().reason, RejectReason::Full);
        assert!(Reject::parse(&[]).is_err());

        let mut p = [0u8; 15];
        SnapshotPrefix {
            tick: 7,
            time_us: 9,
            part: 1,
            parts: 2,
        }
        .emit(&mut p);
        assert_eq!(&p[..14], &[0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 9, 1, 2]);
        let (sp, body) = SnapshotPrefix::parse(&p).unwrap();
        assert_eq!((sp.part, sp.parts, body.len()), (1, 2, 1));
        p[12] = 2;
        assert!(SnapshotPrefix::parse(&p).is_err());
    }
}
