//! The hybrid tick wait (issue 13, item 2): with `tick_spin`, the loop stops sleeping
//! before each tick and polls without blocking to the deadline; with it off it never
//! spins. The counts come from the host's own summary line; the test waits on snapshots,
//! not on time.
mod common;

use common::net::{start, NetClient, PATIENCE};
use std::time::Duration;
use tickwire::wire::Kind;
use tickwire::HostConfig;

use common::line_field as field;

/// Runs a host with `spin` until a client has seen 30 snapshots; returns the summary.
fn run(spin: Duration) -> String {
    let host = start(HostConfig {
        tick_spin: spin,
        ..HostConfig::default()
    });
    let mut c = NetClient::new(host.addrs[0]);
    c.connect();
    for i in 0..30 {
        assert!(
            c.wait_for(Kind::Snapshot, PATIENCE).is_some(),
            "snapshot {i} within {PATIENCE:?}"
        );
    }
    host.stop()
}

#[test]
fn with_a_spin_the_loop_polls_without_blocking_before_ticks() {
    // 5 ms of a 16.7 ms period: the timer would have to wake more than 5 ms late on every
    // one of 30 ticks for no poll to fall in the window.
    let line = run(Duration::from_millis(5));
    assert!(field(&line, "ticks") >= 30, "{line}");
    assert!(field(&line, "spin_polls") > 0, "{line}");
    assert!(field(&line, "wakeups") > 0, "{line}");
    assert!(line.contains(" tick_late_us p50="), "{line}");
    assert!(line.contains(" p99.9="), "{line}");
}

#[test]
fn without_a_spin_the_loop_never_spins() {
    let line = run(Duration::ZERO);
    assert!(field(&line, "ticks") >= 30, "{line}");
    assert_eq!(field(&line, "spin_polls"), 0, "{line}");
    assert!(
        field(&line, "wakeups") >= 30,
        "a sleep for every tick: {line}"
    );
}
