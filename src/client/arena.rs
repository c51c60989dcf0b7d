//! The arena demo game's messages (PROTOCOL.md section 4): INPUT and FIRE encoders and the
//! snapshot body decoder.
//!
//! ```
//! use tickwire::client::arena;
//! let (kind, payload) = arena::input(1, -1);
//! assert_eq!((kind, payload), (0x10, [0x01, 0xFF]));
//! let body = [1, 7, 0, 10, 0, 20, 100, 0, 3];
//! let p: Vec<_> = arena::players(&body).collect();
//! assert_eq!((p[0].qport, p[0].x, p[0].y, p[0].hp, p[0].score), (7, 10, 20, 100, 3));
//! ```

use crate::game::arena::Fire;
pub use crate::game::arena::{entities as players, Entity as PlayerState, Players};
use crate::game::arena::{FIRE, FIRE_LEN, INPUT};

/// INPUT payload size.
const INPUT_LEN: usize = 2;

/// INPUT: the direction to walk. Each component is clamped to `-1..=1` (the server rejects
/// anything else), so only the sign counts: `input(-7, 3)` is sent as `(-1, 1)`.
pub fn input(dx: i8, dy: i8) -> (u8, [u8; INPUT_LEN]) {
    (INPUT, [dx.signum() as u8, dy.signum() as u8])
}

/// FIRE, aimed along `(aim_x, aim_y)` from the shooter's position, lag-compensated to the
/// snapshot `tick` stamped `tick_time_us` (from [`Event::Snapshot`](super::Event::Snapshot)).
/// `None` for an aim of `(0, 0)`, which the server rejects.
pub fn fire(tick: u32, tick_time_us: u64, aim_x: i16, aim_y: i16) -> Option<(u8, [u8; FIRE_LEN])> {
    if aim_x == 0 && aim_y == 0 {
        return None;
    }
    let f = Fire {
        tick,
        time_us: tick_time_us,
        aim_x,
        aim_y,
    };
    Some((FIRE, f.encode()))
}

/// All players of a whole snapshot, part after part, e.g. from
/// [`Client::snapshot_parts`](super::Client::snapshot_parts).
pub fn players_in<'a, I>(parts: I) -> impl Iterator<Item = PlayerState> + 'a
where
    I: IntoIterator<Item = &'a [u8]>,
    I::IntoIter: 'a,
{
    parts.into_iter().flat_map(players)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_input() {
        assert_eq!(input(0, 0), (0x10, [0, 0]));
        assert_eq!(input(1, -1), (0x10, [0x01, 0xFF]));
        assert_eq!(input(-128, 127), (0x10, [0xFF, 0x01]));
    }

    #[test]
    fn golden_fire() {
        let (k, b) = fire(0x0102_0304, 0x1112_1314_1516_1718, -2, 300).unwrap();
        assert_eq!(k, 0x11);
        assert_eq!(
            b,
            [1, 2, 3, 4, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0xFF, 0xFE, 0x01, 0x2C]
        );
        assert!(fire(1, 1, 0, 0).is_none());
        assert!(fire(1, 1, 0, 1).is_some());
    }

    #[test]
    fn decodes_players() {
        let body = [
            2, 1, 0, 5, 0x03, 0xFF, 100, 0, 0, 9, 0xFF, 0xFF, 0, 0, 0, 0x01, 0x02,
        ];
        let p = players(&body);
        assert!(!p.malformed());
        assert_eq!(p.size_hint(), (2, Some(2)));
        let v: Vec<_> = p.collect();
        assert_eq!(
            v,
            [
                PlayerState {
                    qport: 1,
                    x: 5,
                    y: 1023,
                    hp: 100,
                    score: 0
                },
                PlayerState {
                    qport: 9,
                    x: -1,
                    y: 0,
                    hp: 0,
                    score: 258
                },
            ]
        );
        let both: Vec<_> = players_in([&body[..], &[1, 3, 0, 0, 0, 0, 1, 0, 0][..]]).collect();
        assert_eq!(both.len(), 3);
        assert_eq!(both[2].qport, 3);
    }

    #[test]
    fn malformed_bodies_never_panic() {
        assert!(players(&[]).malformed());
        assert_eq!(players(&[]).count(), 0);
        assert!(!players(&[0]).malformed());
        let short = [3, 1, 0, 0, 0, 0, 1, 0, 0, 2, 0];
        let p = players(&short);
        assert!(p.malformed());
        assert_eq!(p.count(), 1);
        let trailing = [1, 1, 0, 0, 0, 0, 1, 0, 0, 9];
        assert!(players(&trailing).malformed());
        assert_eq!(players(&trailing).count(), 1);
        for n in 0..64usize {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37 + n) as u8).collect();
            let _ = players(&junk).count();
        }
    }
}
