use super::*;

const MS: Duration = Duration::from_millis(1);

fn drain(n: &mut Netem<u32>, now: Instant) -> Vec<u32> {
    let mut v = Vec::new();
    while let Some(d) = n.poll(now) {
        v.push(d);
    }
    v
}

/// Pushes 0..count, one every `gap`, and collects everything in arrival order, with the
/// arrival times since the first push.
fn run(imp: Impairment, seed: u64, count: u32, gap: Duration) -> Vec<(Duration, u32)> {
    let mut n = Netem::new(imp, seed);
    let t0 = Instant::now();
    let mut out = Vec::new();
    for i in 0..count {
        let now = t0 + gap * i;
        while let Some(at) = n.poll_timeout().filter(|&at| at <= now) {
            out.extend(drain(&mut n, at).into_iter().map(|d| (at - t0, d)));
        }
        n.push(now, i);
    }
    while let Some(at) = n.poll_timeout() {
        out.extend(drain(&mut n, at).into_iter().map(|d| (at - t0, d)));
    }
    out
}

fn ids(v: &[(Duration, u32)]) -> Vec<u32> {
    v.iter().map(|&(_, d)| d).collect()
}

#[test]
fn no_impairment_is_due_at_once_in_order() {
    let mut n = Netem::new(Impairment::NONE, 1);
    let t0 = Instant::now();
    for i in 0..10 {
        let f = n.push(t0, i);
        assert!(!f.lost() && !f.duplicated() && f.reordered() == 0);
    }
    assert_eq!(n.poll_timeout(), Some(t0));
    assert_eq!(drain(&mut n, t0), (0..10).collect::<Vec<_>>());
    assert_eq!(n.poll_timeout(), None);
    assert_eq!(n.stats().delivered, 10);
}

#[test]
fn latency_holds_each_datagram_exactly_that_long() {
    let imp = Impairment {
        latency: 50 * MS,
        ..Impairment::NONE
    };
    let mut n = Netem::new(imp, 1);
    let t0 = Instant::now();
    n.push(t0, 1);
    n.push(t0 + MS, 2);
    assert_eq!(n.poll(t0 + 49 * MS), None);
    assert_eq!(n.poll_timeout(), Some(t0 + 50 * MS));
    assert_eq!(drain(&mut n, t0 + 50 * MS), [1]);
    assert_eq!(drain(&mut n, t0 + 51 * MS), [2]);
}

#[test]
fn loss_rate_is_within_bounds_over_many_seeds() {
    for p in [0.05, 0.2, 0.5] {
        let imp = Impairment {
            loss: p,
            ..Impairment::NONE
        };
        let (mut lost, mut total) = (0u64, 0u64);
        for seed in 0..20 {
            let mut n: Netem<()> = Netem::new(imp, seed);
            let t0 = Instant::now();
            for _ in 0..5_000 {
                lost += u64::from(n.push(t0, ()).lost());
            }
            assert_eq!(n.stats().lost + n.len() as u64, 5_000);
            total += 5_000;
        }
        let rate = lost as f64 / total as f64;
        // 100 000 draws: the standard deviation is at most 0.0016.
        assert!((rate - p).abs() < 0.01, "loss {p}: measured {rate}");
    }
}

#[test]
fn certain_and_impossible_probabilities() {
    let t0 = Instant::now();
    let all = Impairment {
        loss: 1.0,
        ..Impairment::NONE
    };
    let mut n = Netem::new(all, 3);
    assert!((0..100).all(|i| n.push(t0, i).lost()));
    assert!(n.is_empty());
    // Out-of-range and NaN probabilities neither panic nor fire.
    let odd = Impairment {
        loss: f64::NAN,
        duplicate: -1.0,
        reorder: f64::NAN,
        ..Impairment::NONE
    };
    let mut n = Netem::new(odd, 3);
    assert!((0..100).all(|i| n.push(t0, i).copies().count() == 1));
}

#[test]
fn duplication_queues_two_copies() {
    let imp = Impairment {
        latency: 10 * MS,
        duplicate: 1.0,
        ..Impairment::NONE
    };
    let out = run(imp, 5, 20, MS);
    let mut want: Vec<u32> = (0..20).flat_map(|i| [i, i]).collect();
    want.sort_unstable();
    assert_eq!(ids(&out), want);
    let imp = Impairment {
        duplicate: 0.25,
        ..imp
    };
    let out = run(imp, 5, 10_000, MS);
    let extra = out.len() as f64 / 10_000.0 - 1.0;
    assert!((extra - 0.25).abs() < 0.02, "duplicated {extra}");
}

#[test]
fn push_with_makes_only_the_queued_copies() {
    let imp = Impairment {
        loss: 0.5,
        duplicate: 0.5,
        ..Impairment::NONE
    };
    let mut n = Netem::new(imp, 9);
    let t0 = Instant::now();
    let mut made = 0;
    for _ in 0..1000 {
        let f = n.push_with(t0, || {
            made += 1;
            made
        });
        assert_eq!(f.lost(), f.copies().count() == 0);
    }
    assert_eq!(made, n.len());
    assert_eq!(
        made as u64,
        n.stats().pushed - n.stats().lost + n.stats().duplicated
    );
}

#[test]
fn jitter_without_reorder_keeps_fifo_order() {
    // Jitter of 20 ms, one datagram per ms: due times overlap heavily.
    let imp = Impairment {
        latency: 30 * MS,
        jitter: 20 * MS,
        order: Order::Fifo,
        ..Impairment::NONE
    };
    for dist in [Distribution::Uniform, Distribution::Normal] {
        let imp = Impairment {
            distribution: dist,
            ..imp
        };
        let out = run(imp, 11, 2000, MS);
        assert_eq!(ids(&out), (0..2000).collect::<Vec<_>>(), "{dist:?}");
        // ... and the jitter is really there.
        let spread = out.windows(2).filter(|w| w[1].0 > w[0].0 + 2 * MS).count();
        assert!(spread > 10, "{dist:?}: {spread}");
    }
}

#[test]
fn jitter_by_due_time_reorders() {
    let imp = Impairment {
        latency: 30 * MS,
        jitter: 20 * MS,
        order: Order::DueTime,
        ..Impairment::NONE
    };
    let out = run(imp, 11, 2000, MS);
    let mut sorted = ids(&out);
    assert_ne!(sorted, (0..2000).collect::<Vec<_>>());
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..2000).collect::<Vec<_>>(),
        "nothing lost or doubled"
    );
    // Arrival times never go backwards.
    assert!(out.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[test]
fn jitter_stays_within_its_distribution() {
    let t0 = Instant::now();
    for (dist, lo, hi) in [
        (Distribution::Uniform, 80, 120),
        (Distribution::Normal, 20, 180),
    ] {
        let imp = Impairment {
            latency: 100 * MS,
            jitter: 20 * MS,
            distribution: dist,
            ..Impairment::NONE
        };
        let mut n: Netem<()> = Netem::new(imp, 2);
        let mut sum = 0.0;
        for i in 0..10_000u32 {
            let f = n.decide(t0);
            let d = f.copies().next().unwrap().due - t0;
            assert!(d >= lo * MS && d <= hi * MS, "{dist:?}: {d:?} ({i})");
            sum += d.as_secs_f64();
        }
        let mean = sum / 10_000.0;
        assert!((mean - 0.1).abs() < 0.001, "{dist:?}: mean {mean}");
    }
    // A jitter larger than the latency never makes a delay negative.
    let imp = Impairment {
        latency: 5 * MS,
        jitter: 50 * MS,
        ..Impairment::NONE
    };
    let mut n: Netem<()> = Netem::new(imp, 2);
    for _ in 0..1000 {
        assert!(n.decide(t0).copies().all(|c| c.due >= t0));
    }
}

#[test]
fn a_reordered_datagram_skips_the_delay_and_overtakes() {
    let imp = Impairment {
        latency: 100 * MS,
        reorder: 1.0,
        ..Impairment::NONE
    };
    let mut n = Netem::new(imp, 4);
    let t0 = Instant::now();
    let f = n.push(t0, 1);
    assert_eq!(f.reordered(), 1);
    assert_eq!(f.copies().next().unwrap().due, t0, "sent at once");
    assert_eq!(drain(&mut n, t0), [1]);

    // Half of them skip the delay: each of those arrives at its own send time, before
    // every earlier one still delayed; the rest arrive 100 ms after theirs, in order.
    let imp = Impairment {
        reorder: 0.5,
        ..imp
    };
    for order in [Order::DueTime, Order::Fifo] {
        let imp = Impairment { order, ..imp };
        let out = run(imp, 4, 1000, MS);
        assert_eq!(out.len(), 1000);
        let mut skipped = 0;
        for &(at, d) in &out {
            let delay = at - MS * d;
            if delay.is_zero() {
                skipped += 1;
            } else {
                assert_eq!(delay, 100 * MS, "{d}");
            }
        }
        assert!((400..600).contains(&skipped), "{skipped}");
        let delayed: Vec<u32> = out
            .iter()
            .filter(|&&(at, d)| at > MS * d)
            .map(|&(_, d)| d)
            .collect();
        assert!(
            delayed.windows(2).all(|w| w[0] < w[1]),
            "delayed ones in order"
        );
        assert_ne!(ids(&out), (0..1000).collect::<Vec<_>>(), "reordered");
    }
    // The stats count the copies that skipped the delay.
    let mut n = Netem::new(imp, 4);
    for i in 0..1000 {
        n.push(t0, i);
    }
    let at_once = drain(&mut n, t0).len();
    assert_eq!(n.stats().reordered, at_once as u64);
    assert_eq!(n.poll_timeout(), Some(t0 + 100 * MS));
    assert_eq!(drain(&mut n, t0 + 100 * MS).len(), 1000 - at_once);
}

#[test]
fn reordered_copies_do_not_hold_back_the_fifo() {
    // With a FIFO, a copy that skipped the delay is not a copy the next one waits for.
    let imp = Impairment {
        latency: 10 * MS,
        order: Order::Fifo,
        ..Impairment::NONE
    };
    let mut n = Netem::new(imp, 1);
    let t0 = Instant::now();
    n.push(t0, 1);
    n.set_impairment(Impairment {
        reorder: 1.0,
        ..imp
    });
    n.push(t0 + MS, 2);
    n.set_impairment(imp);
    n.push(t0 + 2 * MS, 3);
    assert_eq!(drain(&mut n, t0 + MS), [2]);
    assert_eq!(drain(&mut n, t0 + 10 * MS), [1]);
    assert_eq!(drain(&mut n, t0 + 12 * MS), [3]);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let imp = Impairment {
        latency: 40 * MS,
        jitter: 15 * MS,
        distribution: Distribution::Normal,
        loss: 0.1,
        duplicate: 0.1,
        reorder: 0.1,
        ..Impairment::NONE
    };
    let a = run(imp, 77, 3000, MS);
    assert_eq!(a, run(imp, 77, 3000, MS));
    assert_ne!(ids(&a), ids(&run(imp, 78, 3000, MS)));
}

#[test]
fn time_does_not_go_backwards() {
    let imp = Impairment {
        latency: 10 * MS,
        ..Impairment::NONE
    };
    let mut n = Netem::new(imp, 1);
    let t0 = Instant::now();
    assert_eq!(n.poll(t0 + 20 * MS), None);
    // Pushed "earlier" than a time already seen: counts from the latest time.
    n.push(t0, 1);
    assert_eq!(n.poll_timeout(), Some(t0 + 30 * MS));
    assert_eq!(n.poll(t0 + 25 * MS), None);
}

#[test]
fn absurd_latency_does_not_overflow() {
    let imp = Impairment {
        latency: Duration::MAX,
        jitter: Duration::MAX,
        distribution: Distribution::Normal,
        ..Impairment::NONE
    };
    let mut n = Netem::new(imp, 1);
    let t0 = Instant::now();
    for i in 0..100 {
        n.push(t0, i);
    }
    assert!(n.poll_timeout().is_some_and(|t| t <= t0 + MAX_DELAY));
    assert_eq!(n.iter().count(), 100);
    n.clear();
    assert!(n.is_empty());
}

fn hold_back(p: f64) -> Impairment {
    Impairment {
        latency: 100 * MS,
        order: Order::Fifo,
        hold_back: p,
        hold_back_range: (17 * MS, 50 * MS),
        ..Impairment::NONE
    }
}

#[test]
fn the_share_of_held_back_copies_is_within_bounds_over_many_seeds() {
    let t0 = Instant::now();
    for p in [0.04, 0.3] {
        let (mut held, mut total) = (0u64, 0u64);
        for seed in 0..20 {
            let mut n: Netem<()> = Netem::new(hold_back(p), seed);
            let mut here = 0;
            for _ in 0..5_000 {
                let f = n.decide(t0);
                for c in f.copies() {
                    let d = c.due - t0;
                    if c.held_back {
                        assert!(d >= 117 * MS && d <= 150 * MS, "held {d:?}");
                    } else {
                        assert_eq!(d, 100 * MS);
                    }
                }
                here += f.held_back() as u64;
            }
            assert_eq!(n.stats().held_back, here);
            held += here;
            total += 5_000;
        }
        let rate = held as f64 / total as f64;
        // 100 000 draws: the standard deviation is at most 0.0015.
        assert!((rate - p).abs() < 0.01, "hold-back {p}: measured {rate}");
    }
}

#[test]
fn held_back_amounts_cover_the_range_uniformly() {
    let t0 = Instant::now();
    let mut n: Netem<()> = Netem::new(hold_back(1.0), 8);
    let (mut lo, mut hi, mut sum) = (Duration::MAX, Duration::ZERO, 0.0);
    for _ in 0..10_000 {
        let c = n.decide(t0).copies().next().unwrap();
        assert!(c.held_back && !c.reordered);
        let extra = c.due - t0 - 100 * MS;
        lo = lo.min(extra);
        hi = hi.max(extra);
        sum += extra.as_secs_f64();
    }
    assert!(lo >= 17 * MS && lo < 18 * MS, "{lo:?}");
    assert!(hi <= 50 * MS && hi > 49 * MS, "{hi:?}");
    let mean = sum / 10_000.0;
    assert!((mean - 0.0335).abs() < 0.001, "mean {mean}");
    // A single-value range (or a max below the min) holds back by exactly the min.
    for range in [(20 * MS, 20 * MS), (20 * MS, 5 * MS)] {
        let imp = Impairment {
            hold_back_range: range,
            ..hold_back(1.0)
        };
        let mut n: Netem<()> = Netem::new(imp, 8);
        assert!((0..100).all(|_| n.decide(t0).copies().all(|c| c.due == t0 + 120 * MS)));
    }
}

#[test]
fn held_back_copies_arrive_after_later_ones_without_holding_up_the_fifo() {
    // One datagram every 16 ms, 100 ms away; a held-back one leaves 17..=50 ms late, so
    // at least the next one overtakes it, and the others keep their own due times.
    for order in [Order::Fifo, Order::DueTime] {
        let imp = Impairment {
            order,
            ..hold_back(0.2)
        };
        let out = run(imp, 21, 2000, 16 * MS);
        assert_eq!(out.len(), 2000, "nothing lost or doubled");
        let mut pos = vec![0; 2000];
        let mut delay = vec![Duration::ZERO; 2000];
        for (k, &(at, d)) in out.iter().enumerate() {
            pos[d as usize] = k;
            delay[d as usize] = at - 16 * MS * d;
        }
        let mut held = 0;
        for d in 0..2000 {
            if delay[d] == 100 * MS {
                continue;
            }
            held += 1;
            assert!(
                delay[d] >= 117 * MS && delay[d] <= 150 * MS,
                "{d}: {:?}",
                delay[d]
            );
            // The next one, unless held back too, overtakes it.
            if d + 1 < 2000 && delay[d + 1] == 100 * MS {
                assert!(pos[d + 1] < pos[d], "{d} overtaken");
            }
        }
        assert!((300..500).contains(&held), "{held}");
        // The ones not held back arrive in order, each exactly 100 ms after it was sent.
        let on_time: Vec<u32> = out
            .iter()
            .filter(|&&(at, d)| at - 16 * MS * d == 100 * MS)
            .map(|&(_, d)| d)
            .collect();
        assert_eq!(on_time.len(), 2000 - held);
        assert!(on_time.windows(2).all(|w| w[0] < w[1]));
    }
}

#[test]
fn a_held_back_copy_keeps_its_fifo_place_but_not_its_extra_delay() {
    // With a FIFO and jitter, the copy after a held-back one waits for the held copy's
    // normal due time (its place in the FIFO), never for the extra amount.
    let imp = Impairment {
        latency: 10 * MS,
        order: Order::Fifo,
        ..Impairment::NONE
    };
    let mut n = Netem::new(imp, 1);
    let t0 = Instant::now();
    n.set_impairment(Impairment {
        latency: 30 * MS,
        hold_back: 1.0,
        hold_back_range: (40 * MS, 40 * MS),
        ..imp
    });
    let f = n.push(t0, 1);
    assert_eq!(f.held_back(), 1);
    assert_eq!(f.copies().next().unwrap().due, t0 + 70 * MS);
    n.set_impairment(imp);
    // Due at 11 ms on its own, but not before the held copy's place (30 ms).
    let f = n.push(t0 + MS, 2);
    assert_eq!(f.copies().next().unwrap().due, t0 + 30 * MS);
    assert_eq!(drain(&mut n, t0 + 30 * MS), [2]);
    assert_eq!(drain(&mut n, t0 + 70 * MS), [1]);
    assert_eq!(n.stats().held_back, 1);
}

#[test]
fn a_reordered_copy_is_not_held_back() {
    let imp = Impairment {
        reorder: 1.0,
        ..hold_back(1.0)
    };
    let mut n: Netem<()> = Netem::new(imp, 3);
    let t0 = Instant::now();
    for _ in 0..100 {
        let f = n.decide(t0);
        assert_eq!((f.reordered(), f.held_back()), (1, 0));
    }
    assert_eq!((n.stats().reordered, n.stats().held_back), (100, 0));
}

#[test]
fn hold_back_is_deterministic_and_draws_nothing_at_zero() {
    let imp = Impairment {
        jitter: 10 * MS,
        loss: 0.1,
        duplicate: 0.1,
        reorder: 0.05,
        ..hold_back(0.1)
    };
    let a = run(imp, 31, 3000, MS);
    assert_eq!(a, run(imp, 31, 3000, MS));
    assert_ne!(a, run(imp, 32, 3000, MS));
    // A hold-back probability of 0 draws nothing: the run is the one without the field,
    // whatever the range.
    let plain = Impairment {
        hold_back: 0.0,
        ..imp
    };
    let none = Impairment {
        hold_back_range: (Duration::ZERO, Duration::ZERO),
        ..plain
    };
    assert_eq!(run(plain, 31, 3000, MS), run(none, 31, 3000, MS));
    assert_ne!(run(plain, 31, 3000, MS), a);
}
