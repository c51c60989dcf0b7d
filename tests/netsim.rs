//! Seeded bad networks between the client library and the core (issue: robustness, part 1).
//! Every run is reproducible from its seed; time is simulated.
mod common;

use common::netsim::{Link, World};
use std::time::Duration;
use tickwire::wire::DropReason;
use tickwire::Config;

const CLIENTS: usize = 6;
const SEEDS: u64 = 6;
const RUN: Duration = Duration::from_secs(20);

fn profile_a() -> Link {
    Link {
        latency: Duration::from_millis(250),
        jitter: Duration::from_millis(250),
        loss: 0.05,
        dup: 0.10,
        hold_back: 0.0,
    }
}

fn profile_b() -> Link {
    Link {
        latency: Duration::from_millis(100),
        jitter: Duration::ZERO,
        loss: 0.20,
        dup: 0.0,
        hold_back: 0.04,
    }
}

/// Runs `seeds` worlds under `link` both ways and checks the pass criteria. Returns the
/// aggregate delivery ratio (snapshots received / snapshot datagrams sent).
fn run_profile(link: Link, seed_base: u64) -> f64 {
    run_profile_in(link, seed_base, false)
}

/// [`run_profile`], in plain or secure mode (PROTOCOL.md section 8).
fn run_profile_in(link: Link, seed_base: u64, secure: bool) -> f64 {
    let (mut got, mut sent) = (0u64, 0u64);
    for seed in seed_base..seed_base + SEEDS {
        let mut w = match secure {
            true => World::new_secure(seed, Config::default()),
            false => World::new(seed, Config::default()),
        };
        for _ in 0..CLIENTS {
            w.add_client(link, link);
        }
        w.run(RUN, Some(Duration::from_millis(100)));
        for (i, c) in w.clients.iter().enumerate() {
            assert!(
                c.connected_at.is_some(),
                "seed {seed} client {i} never connected"
            );
            assert!(
                c.disconnected.is_none(),
                "seed {seed} client {i} dropped: {:?}",
                c.disconnected
            );
            let st = c.client.stats();
            if std::env::var("NETSIM_DEBUG").is_ok() {
                eprintln!(
                    "seed {seed} client {i}: deliverable {} stats {:?}",
                    c.deliverable_snapshots, st
                );
            }
            // Nothing the network delivered in order is lost by client or server.
            assert!(
                st.snapshots as f64 >= c.deliverable_snapshots as f64 * 0.99,
                "seed {seed} client {i}: {} snapshots of {} deliverable",
                st.snapshots,
                c.deliverable_snapshots
            );
            assert!(st.snapshots <= c.deliverable_snapshots);
            got += st.snapshots;
            // What is still in flight when the run ends had no chance yet.
            sent += c.snapshot_datagrams_sent - w.in_flight_snapshots(i);
        }
        assert_eq!(w.server.client_count(), CLIENTS, "seed {seed}");
        assert_eq!(w.server.stats().timeouts, 0, "seed {seed}");
        assert_eq!(w.server.is_secure(), secure);
        // Impairment never looks like forgery: nothing fails to open.
        assert_eq!(
            w.server.stats().drops.get(DropReason::BadAuth),
            0,
            "seed {seed}"
        );
        for c in &w.clients {
            assert_eq!(
                c.client.stats().drops.get(DropReason::BadAuth),
                0,
                "seed {seed}"
            );
        }
    }
    got as f64 / sent as f64
}

#[test]
fn secure_profile_250ms_jitter_250ms_loss_5_dup_10() {
    let ratio = run_profile_in(profile_a(), 300, true);
    let allowed = 1.0 - 0.05;
    assert!(
        (ratio - allowed).abs() <= 0.01,
        "delivery {ratio:.4} vs {allowed:.4}"
    );
}

#[test]
fn secure_profile_100ms_loss_20_reorder_4() {
    let ratio = run_profile_in(profile_b(), 400, true);
    let allowed = (1.0 - 0.20) * (1.0 - 0.04);
    assert!(
        (ratio - allowed).abs() <= 0.01,
        "delivery {ratio:.4} vs {allowed:.4}"
    );
}

#[test]
fn profile_250ms_jitter_250ms_loss_5_dup_10() {
    let ratio = run_profile(profile_a(), 100);
    let allowed = 1.0 - 0.05;
    assert!(
        (ratio - allowed).abs() <= 0.01,
        "delivery {ratio:.4} vs {allowed:.4}"
    );
}

/// "reorder" in the name is `Link::hold_back` (`Impairment::hold_back`), not netem's
/// `reorder`.
#[test]
fn profile_100ms_loss_20_reorder_4() {
    let ratio = run_profile(profile_b(), 200);
    // A datagram held back is overtaken by the next one and dropped as old (section 3).
    let allowed = (1.0 - 0.20) * (1.0 - 0.04);
    assert!(
        (ratio - allowed).abs() <= 0.01,
        "delivery {ratio:.4} vs {allowed:.4}"
    );
}

#[test]
fn client_behind_total_loss_is_dropped_within_timeout_plus_one_tick() {
    for seed in 0..4 {
        let mut w = match seed % 2 {
            // Half of the seeds in secure mode.
            1 => World::new_secure(seed, Config::default()),
            _ => World::new(seed, Config::default()),
        };
        let good = w.add_client(profile_b(), profile_b());
        let doomed = w.add_client(Link::CLEAN, Link::CLEAN);
        w.run(Duration::from_secs(2), Some(Duration::from_millis(100)));
        w.clients[doomed].up.loss = 1.0;
        w.run(Duration::from_secs(7), Some(Duration::from_millis(100)));
        let c = &w.clients[doomed];
        let last = c.last_delivered_up.expect("it was heard before");
        let bye = c.bye_sent_at.expect("server gave up and said BYE");
        let after = bye - last;
        assert!(after > Duration::from_secs(5), "seed {seed}: {after:?}");
        assert!(
            after <= Duration::from_secs(5) + Duration::from_nanos(16_666_667),
            "seed {seed}: {after:?}"
        );
        assert!(w.clients[good].disconnected.is_none());
        assert_eq!(w.server.client_count(), 1);
    }
}

#[test]
fn same_seed_same_run() {
    let run = |seed| {
        let mut w = World::new(seed, Config::default());
        w.add_client(profile_a(), profile_b());
        w.run(Duration::from_secs(3), Some(Duration::from_millis(50)));
        let s = w.clients[0].client.stats();
        (
            s.snapshots,
            s.datagrams_in,
            s.lost,
            w.server.stats().datagrams_in,
            w.server.state_digest(),
        )
    };
    assert_eq!(run(5), run(5));
}
