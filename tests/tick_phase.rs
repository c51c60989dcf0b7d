//! The matches' tick phase (issue 13, item 3): staggered clocks spread over one period,
//! aligned ones share a deadline; an aligned loop that receives in batches wakes about
//! twice per period however many matches it runs. Deadlines are read from the host before
//! it runs; the wake-up count comes from the host's summary, the waits are on snapshots.
mod common;

use common::net::{play_inputs, start, NetClient};
use std::time::Duration;
use tickwire::{Arena, Host, HostConfig, TickPhase};

use common::line_field as field;

fn deadlines(phase: TickPhase, matches: usize) -> Vec<Duration> {
    let host = Host::bind(
        HostConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            matches,
            tick_phase: phase,
            stats_interval: None,
            ..HostConfig::default()
        },
        |i| Arena::new(i as u64),
    )
    .expect("host binds");
    let first = host.server(0).unwrap().next_tick_deadline();
    (0..matches)
        .map(|i| host.server(i).unwrap().next_tick_deadline() - first)
        .collect()
}

#[test]
fn staggered_clocks_spread_over_a_period_and_aligned_ones_share_a_deadline() {
    assert_eq!(HostConfig::default().tick_phase, TickPhase::Aligned);
    let period_ns = 1_000_000_000u64 / 60;
    let staggered = deadlines(TickPhase::Staggered, 4);
    for (i, d) in staggered.iter().enumerate() {
        let want = Duration::from_nanos(period_ns * i as u64 / 4);
        let off = d.abs_diff(want);
        assert!(
            off <= Duration::from_micros(1),
            "match {i}: {d:?}, not {want:?}"
        );
    }
    assert_eq!(deadlines(TickPhase::Aligned, 4), vec![Duration::ZERO; 4]);
}

#[test]
fn an_aligned_batched_loop_wakes_about_twice_per_period_whatever_its_matches() {
    let matches = 4;
    let host = start(HostConfig {
        matches,
        tick_phase: TickPhase::Aligned,
        ..HostConfig::default()
    });
    // One client in every match, each sending an input per snapshot it waits for.
    let mut cs: Vec<_> = host.addrs.iter().map(|a| NetClient::new(*a)).collect();
    for c in &mut cs {
        c.connect();
    }
    play_inputs(&mut cs, 60, 1);
    let line = host.stop();
    assert_eq!(field(&line, "accepts"), matches as u64, "{line}");
    // `ticks` counts every match's; the loop had a quarter as many deadlines.
    let periods = field(&line, "ticks") / matches as u64;
    let wakeups = field(&line, "wakeups");
    assert!(periods >= 60, "{line}");
    // Two planned wake-ups per period (the mid-period drain, the tick), a few more at
    // start-up and for the stop; staggered, it would be one or two per match.
    assert!(
        wakeups <= 2 * periods + 10,
        "{wakeups} wake-ups for {periods} periods: {line}"
    );
}
