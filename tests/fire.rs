//! PROTOCOL.md section 4, FIRE: lag compensation against the snapshot ring, with injected
//! time and no sleeping.
mod common;

use common::{addr, config, RawClient, Sim};
use std::time::Duration;
use tickwire::game::arena::Fire;
use tickwire::Arena;
use tickwire::{Config, RewindError};

const TICK: Duration = Duration::from_nanos(16_666_667);

struct Scene {
    sim: Sim,
    shooter: RawClient,
    target: RawClient,
}

fn place(sim: &mut Sim, c: &RawClient, x: i16, y: i16) {
    let p = sim.server.game_mut().player_mut(c.qport).unwrap();
    p.x = x;
    p.y = y;
}

/// Shooter at (100, 100), target at (200, 100); both have an RTT of `rtt`.
fn scene(cfg: Config, rtt: Duration) -> Scene {
    let mut sim = Sim::with(cfg);
    sim.tick();
    let mut shooter = sim.connect(addr(1));
    let mut target = sim.connect(addr(2));
    place(&mut sim, &shooter, 100, 100);
    place(&mut sim, &target, 200, 100);
    // One snapshot each, acked `rtt` after it was sent.
    sim.advance(TICK);
    for o in sim.drain() {
        if o.dst == shooter.src {
            shooter.saw(&o);
        } else {
            target.saw(&o);
        }
    }
    sim.advance(rtt);
    sim.drain();
    for c in [&mut shooter, &mut target] {
        let k = c.keepalive();
        sim.send(c.src, &k).unwrap();
    }
    let got = sim.server.players(sim.now).next().unwrap().rtt.unwrap();
    assert!(got.abs_diff(rtt) < TICK, "rtt {got:?}");
    Scene {
        sim,
        shooter,
        target,
    }
}

impl Scene {
    /// The newest tick and its time, as a client would have seen them.
    fn seen(&self) -> (u32, u64) {
        let t = self.sim.server.newest_tick().unwrap();
        (t, t as u64 * 1_000_000_000 / 60 / 1000)
    }

    fn fire(&mut self, tick: u32, time_us: u64, aim: (i16, i16)) {
        let f = Fire {
            tick,
            time_us,
            aim_x: aim.0,
            aim_y: aim.1,
        };
        let d = self.shooter.datagram(Arena::FIRE, &f.encode());
        self.sim
            .send(self.shooter.src, &d)
            .expect("a well-formed FIRE is accepted");
    }

    fn hp(&self, c: &RawClient) -> u8 {
        self.sim.server.game().player(c.qport).unwrap().hp
    }

    fn score(&self) -> u16 {
        self.sim
            .server
            .game()
            .player(self.shooter.qport)
            .unwrap()
            .score
    }

    fn refused(&self, e: RewindError) -> u64 {
        self.sim.server.stats().rewinds.refused_for(e)
    }
}

#[test]
fn a_target_that_moved_away_since_the_seen_tick_is_still_hit() {
    let mut s = scene(config(), Duration::from_millis(100));
    let (tick, time) = s.seen();
    let target = s.target.clone();
    // The target has walked away since; the shooter, 100 ms behind, aims where it saw it.
    place(&mut s.sim, &target, 900, 900);
    s.sim.advance(Duration::from_millis(100));
    s.fire(tick, time, (1, 0));
    assert_eq!(s.hp(&target), Arena::FULL_HP - 25);
    assert_eq!(s.score(), 1);
    let st = s.sim.server.stats();
    assert_eq!(st.rewinds.ok, 1);
    assert_eq!(st.rewinds.refused_total(), 0);
    assert!(s.sim.server.rewind_depth().len() == 1);
    // Aiming at where the target is now, at the old tick, misses.
    s.fire(tick, time, (1, 1));
    assert_eq!(s.hp(&target), Arena::FULL_HP - 25);
    assert_eq!(s.sim.server.game().stats().misses, 1);
}

#[test]
fn shot_at_the_current_position_with_the_current_tick() {
    let mut s = scene(config(), Duration::from_millis(1));
    let (tick, time) = s.seen();
    s.fire(tick, time, (3, 0));
    assert_eq!(s.hp(&s.target.clone()), 75);
}

#[test]
fn overwritten_slot_is_refused() {
    // A 2 s rewind limit, so that only the ring (1 s) stands in the way.
    let mut s = scene(
        Config {
            max_rewind: Duration::from_secs(2),
            rewind_tolerance: Duration::from_secs(2),
            ..config()
        },
        Duration::from_millis(50),
    );
    let (tick, time) = s.seen();
    s.sim.advance(TICK * 61);
    s.fire(tick, time, (1, 0));
    assert_eq!(s.refused(RewindError::Overwritten), 1);
    assert_eq!(s.hp(&s.target.clone()), Arena::FULL_HP);
    assert_eq!(s.score(), 0);
}

#[test]
fn forged_tick_time_is_refused() {
    let mut s = scene(config(), Duration::from_millis(50));
    let (tick, time) = s.seen();
    s.sim.advance(Duration::from_millis(50));
    s.fire(tick, time - 1, (1, 0));
    s.fire(tick, time + 1, (1, 0));
    assert_eq!(s.refused(RewindError::Forged), 2);
    assert_eq!(s.hp(&s.target.clone()), Arena::FULL_HP);
}

#[test]
fn tick_from_the_future_is_refused() {
    let mut s = scene(config(), Duration::from_millis(50));
    let (tick, time) = s.seen();
    s.fire(tick + 1, time + 16_666, (1, 0));
    s.fire(tick + 1000, time, (1, 0));
    s.fire(tick, s.sim.server.time_us(s.sim.now) + 1, (1, 0));
    assert_eq!(s.refused(RewindError::Future), 3);
    assert_eq!(s.hp(&s.target.clone()), Arena::FULL_HP);
}

#[test]
fn tick_past_the_rewind_limit_is_refused() {
    let mut s = scene(
        Config {
            max_rewind: Duration::from_millis(500),
            rewind_tolerance: Duration::from_secs(2),
            ..config()
        },
        Duration::from_millis(50),
    );
    let (tick, time) = s.seen();
    // Exactly at the limit is allowed ("greater than the limit" is refused).
    let now_us = s.sim.server.time_us(s.sim.now);
    s.sim
        .advance(Duration::from_micros(time + 500_000 - now_us));
    s.fire(tick, time, (1, 0));
    assert_eq!(s.sim.server.stats().rewinds.ok, 1);
    s.sim.advance(Duration::from_micros(1));
    s.fire(tick, time, (1, 0));
    assert_eq!(s.refused(RewindError::TooOld), 1);
}

#[test]
fn implausible_tick_for_the_measured_rtt_is_refused() {
    let mut s = scene(config(), Duration::from_millis(40));
    let (tick, time) = s.seen();
    // 600 ms old with a 40 ms RTT: a client cannot have been looking at that tick.
    s.sim.advance(Duration::from_millis(600));
    s.fire(tick, time, (1, 0));
    assert_eq!(s.refused(RewindError::Implausible), 1);
    // A tick that matches the RTT is fine.
    let (tick, time) = s.seen();
    s.sim.advance(Duration::from_millis(40));
    s.fire(tick, time, (1, 0));
    assert_eq!(s.sim.server.stats().rewinds.ok, 1);
}

#[test]
fn rewind_budget_per_player_per_second() {
    let mut s = scene(
        Config {
            rewinds_per_sec: 3,
            ..config()
        },
        Duration::from_millis(20),
    );
    let (tick, time) = s.seen();
    for _ in 0..5 {
        s.fire(tick, time, (1, 0));
    }
    assert_eq!(s.sim.server.stats().rewinds.ok, 3);
    assert_eq!(s.refused(RewindError::OverBudget), 2);
    // A new second, a new budget.
    s.sim.advance(Duration::from_secs(1));
    let k = s.shooter.keepalive();
    s.sim.send(s.shooter.src, &k).unwrap();
    let (tick, time) = s.seen();
    s.fire(tick, time, (1, 0));
    assert_eq!(s.sim.server.stats().rewinds.ok, 4);
}

#[test]
fn hits_hp_score_and_respawn() {
    let mut s = scene(config(), Duration::from_millis(10));
    let target = s.target.clone();
    for n in 1..=4u8 {
        let (tick, time) = s.seen();
        place(&mut s.sim, &target, 200, 100);
        s.sim.advance(TICK);
        s.fire(tick, time, (1, 0));
        if n < 4 {
            assert_eq!(s.hp(&target), Arena::FULL_HP - 25 * n);
        }
    }
    // The fourth hit took it to 0: it respawned at full hp.
    assert_eq!(s.hp(&target), Arena::FULL_HP);
    assert_eq!(s.score(), 4);
    assert_eq!(s.sim.server.game().stats().respawns, 1);
    assert_eq!(s.sim.server.game().stats().hits, 4);
}

#[test]
fn nearest_along_the_ray_within_16_units() {
    let mut s = scene(config(), Duration::from_millis(10));
    let far = s.target.clone();
    let near = s.sim.connect(addr(3));
    let off = s.sim.connect(addr(4));
    let behind = s.sim.connect(addr(5));
    place(&mut s.sim, &far, 400, 110); // on the ray, 10 units off
    place(&mut s.sim, &near, 300, 84); // nearer, 16 units off: still hit
    place(&mut s.sim, &off, 150, 117); // nearest along the ray but 17 units off
    place(&mut s.sim, &behind, 50, 100); // on the line, behind the shooter
    s.sim.advance(TICK);
    let (tick, time) = s.seen();
    s.sim.advance(Duration::from_millis(10));
    s.fire(tick, time, (1, 0));
    let hp = |s: &Scene, c: &RawClient| s.sim.server.game().player(c.qport).unwrap().hp;
    assert_eq!(hp(&s, &near), 75);
    assert_eq!(hp(&s, &far), 100);
    assert_eq!(hp(&s, &off), 100);
    assert_eq!(hp(&s, &behind), 100);
    // Aiming backwards hits the one behind.
    s.fire(tick, time, (-5, 0));
    assert_eq!(hp(&s, &behind), 75);
}

#[test]
fn shooter_absent_from_the_named_tick_cannot_shoot_from_it() {
    let mut s = scene(config(), Duration::from_millis(10));
    let (tick, time) = s.seen();
    // A newcomer fires naming a tick from before it connected.
    let mut late = s.sim.connect(addr(9));
    let f = Fire {
        tick,
        time_us: time,
        aim_x: 1,
        aim_y: 0,
    };
    let d = late.datagram(Arena::FIRE, &f.encode());
    s.sim.send(late.src, &d).unwrap();
    assert_eq!(s.sim.server.game().stats().shooter_absent, 1);
    assert_eq!(s.hp(&s.target.clone()), Arena::FULL_HP);
}
