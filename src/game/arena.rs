//! The arena: tickwire's default game (PROTOCOL.md section 4).
//!
//! Players walk on a 1024 x 1024 field and fire lag-compensated shots. The arena is an
//! ordinary [`Game`]: the core knows nothing about it.

use crate::proto::{Context, Game, Past, PlayerId, SnapshotWriter};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// INPUT: `dx i8, dy i8` in -1..=1.
pub(crate) const INPUT: u8 = 0x10;
/// FIRE: `tick u32, tick time u64, aim x i16, aim y i16`.
pub(crate) const FIRE: u8 = 0x11;
/// Size of a FIRE payload.
pub(crate) const FIRE_LEN: usize = 16;
/// Largest coordinate.
pub(crate) const MAX_POS: i16 = 1023;
/// Units walked per tick per unit of direction.
pub(crate) const SPEED: i16 = 5;
/// Full hp.
pub(crate) const FULL_HP: u8 = 100;
/// Damage of one hit.
pub(crate) const DAMAGE: u8 = 25;
/// A target within this many units of the ray is hit.
pub(crate) const HIT_RADIUS: i64 = 16;
/// Size of one player in the snapshot body.
pub(crate) const ENTITY_LEN: usize = 8;

/// One player's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Player {
    /// Position.
    pub x: i16,
    /// Position.
    pub y: i16,
    /// Hit points, 1..=100.
    pub hp: u8,
    /// Hits scored.
    pub score: u16,
    /// Walking direction from the newest INPUT.
    pub dx: i8,
    /// Walking direction from the newest INPUT.
    pub dy: i8,
}

/// A player as stored in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entity {
    /// The player's id (its qport).
    pub qport: PlayerId,
    /// Position.
    pub x: i16,
    /// Position.
    pub y: i16,
    /// Hit points.
    pub hp: u8,
    /// Score.
    pub score: u16,
}

impl Entity {
    /// Encodes the 8-byte snapshot entry.
    pub fn encode(&self) -> [u8; ENTITY_LEN] {
        let x = self.x.to_be_bytes();
        let y = self.y.to_be_bytes();
        let s = self.score.to_be_bytes();
        [self.qport, x[0], x[1], y[0], y[1], self.hp, s[0], s[1]]
    }

    /// Decodes an 8-byte snapshot entry.
    pub fn decode(b: &[u8; ENTITY_LEN]) -> Entity {
        Entity {
            qport: b[0],
            x: i16::from_be_bytes([b[1], b[2]]),
            y: i16::from_be_bytes([b[3], b[4]]),
            hp: b[5],
            score: u16::from_be_bytes([b[6], b[7]]),
        }
    }
}

/// Iterates the players of one snapshot part body: `count u8`, then `count` 8-byte
/// entries (every part carries its own count, so each decodes on its own).
///
/// Never panics: it stops at the end of the body even when `count` promises more, and
/// [`Players::malformed`] then says so (as it does for trailing bytes or an empty body).
pub fn entities(part: &[u8]) -> Players<'_> {
    let (count, rest) = match part.split_first() {
        Some((&c, rest)) => (c, rest),
        None => (0, part),
    };
    Players {
        rest,
        left: count,
        malformed: part.is_empty() || rest.len() != count as usize * ENTITY_LEN,
    }
}

/// Iterator over the players of one body part; see [`entities`].
#[derive(Debug, Clone)]
pub struct Players<'a> {
    rest: &'a [u8],
    left: u8,
    malformed: bool,
}

impl Players<'_> {
    /// Whether the body is not exactly `count u8` then `count` entries.
    pub fn malformed(&self) -> bool {
        self.malformed
    }
}

impl Iterator for Players<'_> {
    type Item = Entity;

    fn next(&mut self) -> Option<Entity> {
        if self.left == 0 {
            return None;
        }
        let Some((e, rest)) = self.rest.split_first_chunk::<ENTITY_LEN>() else {
            self.left = 0;
            return None;
        };
        self.rest = rest;
        self.left -= 1;
        Some(Entity::decode(e))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.left as usize).min(self.rest.len() / ENTITY_LEN);
        (n, Some(n))
    }
}

/// A decoded FIRE payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fire {
    /// Tick of the snapshot the shooter saw.
    pub tick: u32,
    /// That tick's time, as the snapshot said.
    pub time_us: u64,
    /// Aim direction.
    pub aim_x: i16,
    /// Aim direction.
    pub aim_y: i16,
}

impl Fire {
    /// Parses a FIRE payload: exactly 16 bytes, aim not (0, 0).
    pub fn parse(d: &[u8]) -> Option<Fire> {
        let d: &[u8; FIRE_LEN] = d.try_into().ok()?;
        let mut t = [0u8; 8];
        t.copy_from_slice(&d[4..12]);
        let f = Fire {
            tick: u32::from_be_bytes([d[0], d[1], d[2], d[3]]),
            time_us: u64::from_be_bytes(t),
            aim_x: i16::from_be_bytes([d[12], d[13]]),
            aim_y: i16::from_be_bytes([d[14], d[15]]),
        };
        (f.aim_x != 0 || f.aim_y != 0).then_some(f)
    }

    /// Encodes the 16-byte payload.
    pub fn encode(&self) -> [u8; FIRE_LEN] {
        let mut b = [0u8; FIRE_LEN];
        b[0..4].copy_from_slice(&self.tick.to_be_bytes());
        b[4..12].copy_from_slice(&self.time_us.to_be_bytes());
        b[12..14].copy_from_slice(&self.aim_x.to_be_bytes());
        b[14..16].copy_from_slice(&self.aim_y.to_be_bytes());
        b
    }
}

fn parse_input(d: &[u8]) -> Option<(i8, i8)> {
    match d {
        [dx, dy] => {
            let (dx, dy) = (*dx as i8, *dy as i8);
            ((-1..=1).contains(&dx) && (-1..=1).contains(&dy)).then_some((dx, dy))
        }
        _ => None,
    }
}

/// Counters of the arena.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArenaStats {
    /// FIRE payloads received.
    pub shots: u64,
    /// Shots that hit someone.
    pub hits: u64,
    /// Shots resolved that hit nobody.
    pub misses: u64,
    /// Shots refused by the core's rewind checks.
    pub refused: u64,
    /// Shots whose shooter was not in the named tick's snapshot.
    pub shooter_absent: u64,
    /// Respawns after reaching 0 hp.
    pub respawns: u64,
}

/// The arena game.
#[derive(Debug, Clone)]
pub struct Arena {
    players: Box<[Option<Player>; 256]>,
    rng: SmallRng,
    stats: ArenaStats,
}

impl Default for Arena {
    fn default() -> Arena {
        Arena::new(rand::random())
    }
}

impl Arena {
    /// The INPUT kind: `dx i8, dy i8` in -1..=1.
    pub const INPUT: u8 = INPUT;
    /// The FIRE kind: `tick u32, tick time u64, aim x i16, aim y i16`.
    pub const FIRE: u8 = FIRE;
    /// Largest coordinate: the field is `0..=MAX_POS` on both axes.
    pub const MAX_POS: i16 = MAX_POS;
    /// A player's hit points when it joins or respawns.
    pub const FULL_HP: u8 = FULL_HP;

    /// An empty arena whose spawn points come from `seed`.
    pub fn new(seed: u64) -> Arena {
        Arena {
            players: Box::new([None; 256]),
            rng: SmallRng::seed_from_u64(seed),
            stats: ArenaStats::default(),
        }
    }

    /// A player's current state.
    pub fn player(&self, id: PlayerId) -> Option<&Player> {
        self.players[id as usize].as_ref()
    }

    /// A player's state, mutably (for tests and custom spawns).
    pub fn player_mut(&mut self, id: PlayerId) -> Option<&mut Player> {
        self.players[id as usize].as_mut()
    }

    /// The counters.
    pub fn stats(&self) -> ArenaStats {
        self.stats
    }

    fn spawn_point(&mut self) -> (i16, i16) {
        (
            self.rng.gen_range(0..=MAX_POS),
            self.rng.gen_range(0..=MAX_POS),
        )
    }

    fn fire(&mut self, cx: &mut Context<'_>, shooter: PlayerId, f: Fire) {
        self.stats.shots += 1;
        let past = match cx.rewind(f.tick, f.time_us) {
            Ok(p) => p,
            Err(e) => {
                self.stats.refused += 1;
                log::debug!("shot by {} refused: {}", shooter, e.label());
                return;
            }
        };
        let from = match find(&past, shooter) {
            Some(e) => e,
            None => {
                self.stats.shooter_absent += 1;
                return;
            }
        };
        match resolve(&past, from, f.aim_x, f.aim_y) {
            Some(target) => self.hit(shooter, target),
            None => self.stats.misses += 1,
        }
    }

    fn hit(&mut self, shooter: PlayerId, target: PlayerId) {
        // The target may have left since the tick the shooter saw.
        let Some(mut t) = self.players[target as usize] else {
            self.stats.misses += 1;
            return;
        };
        self.stats.hits += 1;
        t.hp = t.hp.saturating_sub(DAMAGE);
        if t.hp == 0 {
            let (x, y) = self.spawn_point();
            t = Player {
                x,
                y,
                hp: FULL_HP,
                ..t
            };
            self.stats.respawns += 1;
        }
        self.players[target as usize] = Some(t);
        if let Some(s) = self.players[shooter as usize].as_mut() {
            s.score = s.score.saturating_add(1);
        }
    }
}

fn find(past: &Past<'_>, id: PlayerId) -> Option<Entity> {
    past.parts().flat_map(entities).find(|e| e.qport == id)
}

/// The player hit by a ray from `from` along `(ax, ay)` among the players of `past`: the
/// one nearest the shooter along the ray among those within [`HIT_RADIUS`] of it.
pub(crate) fn resolve(past: &Past<'_>, from: Entity, ax: i16, ay: i16) -> Option<PlayerId> {
    let (ax, ay) = (i64::from(ax), i64::from(ay));
    let a2 = ax * ax + ay * ay;
    let mut best: Option<(i64, PlayerId)> = None;
    for e in past.parts().flat_map(entities) {
        if e.qport == from.qport {
            continue;
        }
        let (dx, dy) = (
            i64::from(e.x) - i64::from(from.x),
            i64::from(e.y) - i64::from(from.y),
        );
        let d2 = dx * dx + dy * dy;
        // Projection along the ray, scaled by |a|; behind the start the nearest point of
        // the ray is the start itself.
        let t = (dx * ax + dy * ay).max(0);
        // Squared distance to the ray, scaled by |a|^2: |d|^2 |a|^2 - t^2.
        let dist2_scaled = d2 * a2 - t * t;
        if dist2_scaled <= HIT_RADIUS * HIT_RADIUS * a2 && best.is_none_or(|(bt, _)| t < bt) {
            best = Some((t, e.qport));
        }
    }
    best.map(|(_, id)| id)
}

impl Game for Arena {
    fn map_name(&self) -> &str {
        "arena"
    }

    fn description(&self) -> &str {
        "tickwire arena"
    }

    fn knows_kind(&self, kind: u8) -> bool {
        kind == INPUT || kind == FIRE
    }

    fn check_input(&self, kind: u8, payload: &[u8]) -> bool {
        match kind {
            INPUT => parse_input(payload).is_some(),
            FIRE => Fire::parse(payload).is_some(),
            _ => false,
        }
    }

    fn connect(&mut self, player: PlayerId, _name: Option<&str>) {
        let (x, y) = self.spawn_point();
        self.players[player as usize] = Some(Player {
            x,
            y,
            hp: FULL_HP,
            score: 0,
            dx: 0,
            dy: 0,
        });
    }

    fn disconnect(&mut self, player: PlayerId) {
        self.players[player as usize] = None;
    }

    fn input(&mut self, cx: &mut Context<'_>, player: PlayerId, kind: u8, payload: &[u8]) {
        match kind {
            INPUT => {
                if let (Some((dx, dy)), Some(p)) =
                    (parse_input(payload), self.players[player as usize].as_mut())
                {
                    p.dx = dx;
                    p.dy = dy;
                }
            }
            FIRE => {
                if let Some(f) = Fire::parse(payload) {
                    self.fire(cx, player, f);
                }
            }
            _ => {}
        }
    }

    fn step(&mut self, _tick: u32) {
        for p in self.players.iter_mut().flatten() {
            p.x = (p.x + SPEED * i16::from(p.dx)).clamp(0, MAX_POS);
            p.y = (p.y + SPEED * i16::from(p.dy)).clamp(0, MAX_POS);
        }
    }

    fn snapshot(&self, w: &mut SnapshotWriter<'_>) {
        for (id, p) in self.players.iter().enumerate() {
            if let Some(p) = p {
                let e = Entity {
                    qport: id as u8,
                    x: p.x,
                    y: p.y,
                    hp: p.hp,
                    score: p.score,
                };
                if w.entity(&e.encode()).is_err() {
                    return;
                }
            }
        }
    }

    fn score(&self, player: PlayerId) -> i32 {
        self.players[player as usize].map_or(0, |p| i32::from(p.score))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_entity() {
        let e = Entity {
            qport: 7,
            x: 0x0102,
            y: 1023,
            hp: 100,
            score: 0x0A0B,
        };
        assert_eq!(e.encode(), [7, 1, 2, 0x03, 0xFF, 100, 0x0A, 0x0B]);
        assert_eq!(Entity::decode(&e.encode()), e);
    }

    #[test]
    fn golden_fire_and_shapes() {
        let f = Fire {
            tick: 0x0102_0304,
            time_us: 5,
            aim_x: -1,
            aim_y: 2,
        };
        assert_eq!(
            f.encode(),
            [1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 5, 0xFF, 0xFF, 0, 2]
        );
        assert_eq!(Fire::parse(&f.encode()), Some(f));
        let zero = Fire {
            aim_x: 0,
            aim_y: 0,
            ..f
        };
        assert_eq!(Fire::parse(&zero.encode()), None);
        assert_eq!(Fire::parse(&f.encode()[..15]), None);
        assert_eq!(parse_input(&[1, 0xFF]), Some((1, -1)));
        assert_eq!(parse_input(&[2, 0]), None);
        assert_eq!(parse_input(&[0]), None);
    }

    #[test]
    fn entities_never_panic_on_short_bodies() {
        assert_eq!(entities(&[]).count(), 0);
        assert_eq!(entities(&[3, 1, 2, 3]).count(), 0);
        let e = Entity {
            qport: 1,
            x: 2,
            y: 3,
            hp: 4,
            score: 5,
        }
        .encode();
        let mut b = vec![5];
        b.extend_from_slice(&e);
        assert_eq!(entities(&b).count(), 1);
        b[0] = 0;
        assert_eq!(entities(&b).count(), 0);
    }

    #[test]
    fn movement_clamps() {
        let mut a = Arena::new(1);
        a.connect(1, None);
        let p = a.player_mut(1).unwrap();
        p.x = 1021;
        p.y = 2;
        p.dx = 1;
        p.dy = -1;
        a.step(0);
        assert_eq!((a.player(1).unwrap().x, a.player(1).unwrap().y), (1023, 0));
    }
}
