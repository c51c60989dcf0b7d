//! Every core can move to another thread (issue 10, item 3): compile-time assertions, and a
//! host built on one thread and run on another.
mod common;

use common::net::{NetClient, PATIENCE};
use std::net::TcpStream;
use std::sync::mpsc;
use tickwire::client::blocking::Connection;
use tickwire::client::Client;
use tickwire::internal::Stun;
use tickwire::internal::{Query, QueryOut};
use tickwire::lobby::{Lobby, LobbyCore};
use tickwire::Tickets;
use tickwire::{AdapterWaker, HostView, RunState, Stopper};
use tickwire::{Arena, Host, HostConfig, Server};

fn assert_send<T: Send>() {}
fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn cores_are_send() {
    assert_send::<Server<Arena>>();
    assert_send::<Client>();
    assert_send::<Connection>();
    assert_send::<LobbyCore<TcpStream>>();
    assert_send::<Lobby>();
    assert_send::<Host<Arena>>();
    assert_send::<Stun>();
    assert_send::<Query>();
    assert_send::<QueryOut>();
    assert_send::<RunState>();
    assert_send::<HostView<'static, Arena>>();
    assert_send_sync::<Tickets>();
    assert_send_sync::<Stopper>();
    assert_send_sync::<AdapterWaker>();
}

/// Bound (lobby, tickets and all) on this thread, run on another, still serving.
#[test]
fn host_built_here_runs_there() {
    let cfg = HostConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        stats_interval: None,
        lobby: Some((
            "127.0.0.1:0".parse().unwrap(),
            tickwire::lobby::LobbyConfig::default(),
        )),
        ..HostConfig::default()
    };
    let mut host = Host::bind(cfg, |i| Arena::new(i as u64)).expect("bind");
    let server = host.udp_addrs()[0];
    let stopper = host.stopper();
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        host.run().expect("run");
        tx.send(host.state()).unwrap();
        host
    });
    let mut c = NetClient::new(server);
    c.connect();
    stopper.stop();
    assert_eq!(rx.recv_timeout(PATIENCE), Ok(RunState::Stopped));
    let host = thread.join().expect("host thread");
    assert_eq!(host.merged_stats().accepts, 1);
}
