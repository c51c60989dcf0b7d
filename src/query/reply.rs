//! The A2S reply messages, written into a fixed buffer.
//!
//! The emit contract (the same for every writer of the crate): a message either fits and is
//! written whole, or the writer returns [`Short`] and the caller sends nothing. Nothing is
//! cut silently and nothing panics. Players and rules that would not fit are left out *on
//! purpose* (the count says how many were sent), which is a decision made before writing,
//! not a truncation.

use super::{ty, MAX_STRING, PROTOCOL_VERSION, SINGLE};
use crate::query::QueryState;

/// The buffer is too short for the message; nothing of it may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Short;

/// `S2C_CHALLENGE` with `challenge`; returns its length (9).
pub(super) fn write_challenge(buf: &mut [u8], challenge: u32) -> Result<usize, Short> {
    let mut w = Writer::new(buf);
    w.bytes(&SINGLE)?;
    w.u8(ty::S2C_CHALLENGE)?;
    w.bytes(&challenge.to_le_bytes())?;
    Ok(w.pos)
}

/// The `A2S_INFO` reply; returns its length.
pub(super) fn write_info(buf: &mut [u8], s: &dyn QueryState) -> Result<usize, Short> {
    let mut w = Writer::new(buf);
    w.bytes(&SINGLE)?;
    w.u8(ty::INFO_REPLY)?;
    w.u8(PROTOCOL_VERSION)?;
    w.cstr(s.server_name())?;
    w.cstr(s.map())?;
    w.cstr(s.folder())?;
    w.cstr(s.game())?;
    w.bytes(&0u16.to_le_bytes())?; // app id
    w.u8(s.players())?;
    w.u8(s.max_players())?;
    w.u8(0)?; // bots
    w.u8(b'd')?; // dedicated
    w.u8(b'l')?; // Linux
    w.u8(0)?; // no password
    w.u8(0)?; // no VAC
    w.cstr(env!("CARGO_PKG_VERSION"))?;
    if let Some(port) = s.game_port() {
        w.u8(0x80)?; // extra data: the game port
        w.bytes(&port.to_le_bytes())?;
    }
    Ok(w.pos)
}

/// The `A2S_PLAYER` reply: as many players as fit; returns its length.
pub(super) fn write_players(buf: &mut [u8], s: &dyn QueryState) -> Result<usize, Short> {
    let mut w = Writer::new(buf);
    w.bytes(&SINGLE)?;
    w.u8(ty::PLAYER_REPLY)?;
    let count_at = w.pos;
    w.u8(0)?;
    let mut count: u8 = 0;
    let mut result = Ok(());
    s.for_each_player(&mut |name, score, secs| {
        let name = cut(name);
        // index, name and its NUL, score, duration; a player that does not fit is left out.
        if result.is_err() || count == u8::MAX || w.room() < 1 + name.len() + 1 + 8 {
            return;
        }
        result = (|| {
            w.u8(count)?;
            w.cstr(name)?;
            w.bytes(&score.to_le_bytes())?;
            w.bytes(&secs.to_le_bytes())
        })();
        count += 1;
    });
    result?;
    w.set(count_at, count)?;
    Ok(w.pos)
}

/// The `A2S_RULES` reply: as many rules as fit; returns its length.
pub(super) fn write_rules(buf: &mut [u8], s: &dyn QueryState) -> Result<usize, Short> {
    let mut w = Writer::new(buf);
    w.bytes(&SINGLE)?;
    w.u8(ty::RULES_REPLY)?;
    let count_at = w.pos;
    w.bytes(&[0, 0])?;
    let mut count: u16 = 0;
    let mut result = Ok(());
    s.for_each_rule(&mut |name, value| {
        let (name, value) = (cut(name), cut(value));
        if result.is_err() || count == u16::MAX || w.room() < name.len() + value.len() + 2 {
            return;
        }
        result = w.cstr(name).and_then(|()| w.cstr(value));
        count += 1;
    });
    result?;
    let [lo, hi] = count.to_le_bytes();
    w.set(count_at, lo)?;
    w.set(count_at + 1, hi)?;
    Ok(w.pos)
}

/// `s` cut to at most [`MAX_STRING`] bytes, at a character boundary.
fn cut(s: &str) -> &str {
    let mut end = s.len().min(MAX_STRING);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// Writes into a fixed buffer: every write fits whole or fails with [`Short`], leaving the
/// position where it was.
struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    fn room(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn u8(&mut self, b: u8) -> Result<(), Short> {
        self.bytes(&[b])
    }

    fn bytes(&mut self, b: &[u8]) -> Result<(), Short> {
        let end = self.pos.checked_add(b.len()).ok_or(Short)?;
        let d = self.buf.get_mut(self.pos..end).ok_or(Short)?;
        d.copy_from_slice(b);
        self.pos = end;
        Ok(())
    }

    /// A NUL-terminated string, cut to [`MAX_STRING`] bytes (a documented limit of the
    /// protocol, not a truncation of the message); NULs inside become spaces.
    fn cstr(&mut self, s: &str) -> Result<(), Short> {
        let s = cut(s);
        let end = self.pos + s.len();
        let d = self.buf.get_mut(self.pos..end + 1).ok_or(Short)?;
        for (d, &b) in d.iter_mut().zip(s.as_bytes()) {
            *d = if b == 0 { b' ' } else { b };
        }
        d[s.len()] = 0;
        self.pos = end + 1;
        Ok(())
    }

    /// Overwrites a byte already written.
    fn set(&mut self, at: usize, b: u8) -> Result<(), Short> {
        match self.buf.get_mut(..self.pos).and_then(|w| w.get_mut(at)) {
            Some(d) => {
                *d = b;
                Ok(())
            }
            None => Err(Short),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct One;

    impl QueryState for One {
        fn server_name(&self) -> &str {
            "tick"
        }
        fn map(&self) -> &str {
            "arena"
        }
        fn folder(&self) -> &str {
            "tw"
        }
        fn game(&self) -> &str {
            "Tickwire"
        }
        fn players(&self) -> u8 {
            1
        }
        fn max_players(&self) -> u8 {
            8
        }
        fn for_each_player(&self, f: &mut dyn FnMut(&str, i32, f32)) {
            f("ann", 3, 1.0);
        }
        fn for_each_rule(&self, f: &mut dyn FnMut(&str, &str)) {
            f("tick_hz", "60");
        }
    }

    /// Every writer, on every buffer shorter than its message: an error, never a panic,
    /// never a shorter message; on the exact length: the same bytes as on a large buffer.
    #[test]
    fn short_buffers_fail_whole() {
        type W = fn(&mut [u8], &dyn QueryState) -> Result<usize, Short>;
        let writers: [W; 4] = [
            |b, _| write_challenge(b, 0x1234_5678),
            write_info,
            write_players,
            write_rules,
        ];
        for write in writers {
            let mut big = [0u8; 512];
            let n = write(&mut big, &One).expect("fits in 512 bytes");
            // Players and rules shrink to fit: at the header size, with zero entries.
            let min = match big[4] {
                ty::PLAYER_REPLY => 6,
                ty::RULES_REPLY => 7,
                _ => n,
            };
            for len in 0..min {
                let mut small = vec![0u8; len];
                assert_eq!(write(&mut small, &One), Err(Short), "{len} of {n}");
            }
            let mut exact = vec![0u8; n];
            assert_eq!(write(&mut exact, &One), Ok(n));
            assert_eq!(exact[..], big[..n]);
        }
    }

    #[test]
    fn writer_leaves_position_on_failure() {
        let mut buf = [0u8; 4];
        let mut w = Writer::new(&mut buf);
        w.bytes(&[1, 2]).unwrap();
        assert_eq!(w.bytes(&[3, 4, 5]), Err(Short));
        assert_eq!(w.cstr("ab"), Err(Short));
        assert_eq!(w.pos, 2);
        assert_eq!(w.set(2, 9), Err(Short));
        w.cstr("a").unwrap();
        assert_eq!(w.pos, 4);
        assert_eq!(buf, [1, 2, b'a', 0]);
    }
}
