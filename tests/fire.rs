//! PROTOCOL.md section 4, FIRE: lag compensation against the snapshot ring, with injected
//! time and no sleeping.
mod common;

// The shooter, its target and the others are connections of one host (127.0.0.1), as
// these tests were written for: the rewind budget per IP is about such connections.
use common::{addr_on_one_host as addr, config, snapshots_to, Out, RawClient, Sim};
use std::time::Duration;
use tickwire::game::arena::Fire;
use tickwire::Arena;
use tickwire::{Config, RewindError};

const TICK: Duration = Duration::from_nanos(16_666_667);

struct Scene {
    sim: Sim,
    shooter: RawClient,
    target: RawClient,
    /// Every (tick, time) the shooter was sent, in order.
    stamps: Vec<(u32, u64)>,
}

/// The (tick, time) of the snapshots in `out` sent to `dst`.
fn stamps_to(out: &[Out], dst: std::net::SocketAddr) -> Vec<(u32, u64)> {
    snapshots_to(out, dst)
        .into_iter()
        .map(|(p, _)| (p.tick, p.time_us))
        .collect()
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
    let out = sim.drain();
    let mut stamps = stamps_to(&out, shooter.src);
    for o in out {
        if o.dst == shooter.src {
            shooter.saw(&o);
        } else {
            target.saw(&o);
        }
    }
    sim.advance(rtt);
    stamps.extend(stamps_to(&sim.drain(), shooter.src));
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
        stamps,
    }
}

impl Scene {
    /// The newest tick and its time, as a client would have seen them: read from the
    /// snapshots sent to the shooter (a tick's time is no longer `tick * period`, which
    /// anyone can compute: PROTOCOL.md section 3, issue 11 item 7).
    fn seen(&mut self) -> (u32, u64) {
        let out = self.sim.drain();
        self.stamps.extend(stamps_to(&out, self.shooter.src));
        let newest = *self.stamps.last().unwrap();
        assert_eq!(Some(newest.0), self.sim.server.newest_tick());
        newest
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

/// Issue 11, item 7: the budget was per connection, so reconnecting every 30 shots gave
/// 314 hits a second. It is charged to the source IP too, and that survives a reconnect;
/// another player from the same IP (a NAT) keeps its own share.
#[test]
fn reconnecting_does_not_refresh_the_rewind_budget() {
    let mut s = scene(
        Config {
            rewinds_per_sec: 3,
            ..config()
        },
        Duration::from_millis(20),
    );
    let (tick, time) = s.seen();
    for _ in 0..3 {
        s.fire(tick, time, (1, 0));
    }
    assert_eq!(s.sim.server.stats().rewinds.ok, 3);
    let bye = s.shooter.bye();
    s.sim.send(s.shooter.src, &bye).unwrap();
    // The same host again, from a new port: a new slot, a fresh connection.
    s.shooter = s.sim.connect(addr(7));
    assert_eq!(s.shooter.src.ip(), addr(1).ip());
    s.fire(tick, time, (1, 0));
    s.fire(tick, time, (1, 0));
    assert_eq!(s.sim.server.stats().rewinds.ok, 3, "no fresh budget");
    assert_eq!(s.refused(RewindError::OverBudget), 2);
    // The target shares the IP and has a budget of its own.
    let f = Fire {
        tick,
        time_us: time,
        aim_x: -1,
        aim_y: 0,
    };
    let d = s.target.datagram(Arena::FIRE, &f.encode());
    s.sim.send(s.target.src, &d).unwrap();
    assert_eq!(s.sim.server.stats().rewinds.ok, 4);
    // A new second, a new budget for the reconnected shooter.
    s.sim.advance(Duration::from_secs(1));
    let k = s.shooter.keepalive();
    s.sim.send(s.shooter.src, &k).unwrap();
    let (tick, time) = s.seen();
    s.fire(tick, time, (1, 0));
    assert_eq!(s.sim.server.stats().rewinds.ok, 5);
}

/// Issue 11, item 7: a client that holds back its acks measures an RTT of 950 ms and got
/// rewinds of up to a second. The plausibility check believes at most
/// `max_rewind_rtt` (250 ms): no shot older than 250 + 200 ms is granted.
#[test]
fn an_inflated_rtt_gets_at_most_the_capped_rewind() {
    let cfg = Config {
        rewinds_per_sec: 10_000,
        ..config()
    };
    let cap = cfg.max_rewind_rtt + cfg.rewind_tolerance;
    assert_eq!(cap, Duration::from_millis(450));
    let mut s = scene(cfg, Duration::from_millis(950));
    s.seen();
    let now_us = s.sim.server.time_us(s.sim.now);
    let mut granted = vec![];
    for (tick, time) in s.stamps.clone() {
        let before = s.sim.server.stats().rewinds.ok;
        s.fire(tick, time, (1, 0));
        if s.sim.server.stats().rewinds.ok > before {
            granted.push(Duration::from_micros(now_us - time));
        }
    }
    let oldest = granted.iter().max().copied().unwrap();
    assert!(oldest <= cap, "a rewind of {oldest:?} with a 950 ms RTT");
    // The capped rewind itself is still granted.
    assert!(oldest > cap - Duration::from_millis(20), "{oldest:?}");
    assert!(s.refused(RewindError::Implausible) > 0);
}

/// Issue 11, item 7: a tick's time was its deadline, `tick * period`, which anyone can
/// compute. It is now known only to a receiver of the snapshot: the computed time is
/// refused as forged, the one the snapshot carried is accepted.
#[test]
fn a_fire_with_the_computed_tick_time_is_refused() {
    let mut s = scene(config(), Duration::from_millis(30));
    s.sim.advance(Duration::from_millis(30));
    let (tick, real) = s.seen();
    let computed = u64::from(tick) * 1_000_000_000 / 60 / 1000;
    assert_ne!(real, computed);
    assert!(computed - real <= 512, "within well under a millisecond");
    s.fire(tick, computed, (1, 0));
    assert_eq!(s.refused(RewindError::Forged), 1);
    assert_eq!(s.hp(&s.target.clone()), Arena::FULL_HP);
    s.fire(tick, real, (1, 0));
    assert_eq!(s.sim.server.stats().rewinds.ok, 1);
    assert_eq!(s.hp(&s.target.clone()), Arena::FULL_HP - 25);
}
