//! The batched receive mode (issue 13, item 3): game sockets are not in epoll; the loop
//! drains them before each tick and every interval, and hands each datagram to the core
//! at its kernel arrival time. A client connects (the handshake rides on the drains) and
//! plays; the loop wakes about twice per tick; every datagram was stamped. Counts come
//! from the host's summary; the waits are on snapshots.
mod common;

use common::net::{play_inputs, start, NetClient};
use std::time::Duration;
use tickwire::{HostConfig, Receive};

use common::line_field as field;

/// Plays 60 ticks' worth of snapshots with inputs on a host receiving as `receive`.
fn play(receive: Receive) -> String {
    let host = start(HostConfig {
        receive,
        ..HostConfig::default()
    });
    let mut cs: Vec<_> = (0..4).map(|_| NetClient::new(host.addrs[0])).collect();
    for c in &mut cs {
        c.connect();
    }
    play_inputs(&mut cs, 60, 1);
    host.stop()
}

#[test]
fn batched_receive_serves_stamps_and_wakes_about_twice_per_tick() {
    let line = play(Receive::Batched {
        // Half of the 60 Hz period: one drain in the middle of each.
        interval: Duration::from_micros(8_334),
    });
    let ticks = field(&line, "ticks");
    let wakeups = field(&line, "wakeups");
    let datagrams = field(&line, "in");
    assert!(ticks >= 60, "{line}");
    assert_eq!(field(&line, "accepts"), 4, "{line}");
    // Every datagram read was timed by the kernel's stamp.
    assert!(datagrams >= 4 * 60, "{line}");
    assert_eq!(field(&line, "rx_stamped"), datagrams, "{line}");
    // Two planned wake-ups per tick (the mid-period drain, the tick); a few more at
    // start-up and for the stop.
    assert!(
        wakeups <= 2 * ticks + 10,
        "{wakeups} wake-ups for {ticks} ticks: {line}"
    );
}

#[test]
fn immediate_receive_stamps_nothing() {
    let line = play(Receive::Immediate);
    assert_eq!(field(&line, "accepts"), 4, "{line}");
    assert_eq!(field(&line, "rx_stamped"), 0, "{line}");
}

#[test]
fn a_bye_waiting_in_the_kernel_at_stop_is_read_before_the_shutdown() {
    // Batched, the sockets are drained on a schedule; a stop between two drains still reads
    // what arrived (a loopback send is in the server's socket when it returns), so clients
    // that said BYE leave as they asked and are counted as such.
    let host = start(HostConfig::default());
    let mut cs: Vec<_> = (0..3).map(|_| NetClient::new(host.addrs[0])).collect();
    for c in &mut cs {
        c.connect();
    }
    for c in cs.iter_mut() {
        let b = c.c.bye();
        c.send(&b);
    }
    let line = host.stop();
    assert_eq!(field(&line, "accepts"), 3, "{line}");
    assert_eq!(field(&line, "byes"), 3, "{line}");
}
