//! A rough measurement, not a pass/fail test: `cargo test --release --test lobby_load --
//! --ignored --nocapture`. Echo round trips on one connection, and one chat fanned out to a
//! full room of 100.

mod common;

use common::lobby::{TestLobby, PATIENCE};
use std::time::Instant;
use tickwire::client::lobby::Message;
use tickwire::lobby::LobbyConfig;

#[test]
#[ignore = "measurement; run explicitly"]
fn measure_echo_and_fan_out() {
    let lobby = TestLobby::start(LobbyConfig {
        max_conns_per_ip: 200,
        ..LobbyConfig::default()
    });
    let (mut a, _) = lobby.user("a");
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        a.echo(b"0123456789abcdef").unwrap();
    }
    let dt = t.elapsed();
    println!(
        "echo: {n} round trips in {dt:?}: {:.1} us each",
        dt.as_secs_f64() * 1e6 / n as f64
    );

    let room = a.create_room("full", 100).unwrap();
    let mut others: Vec<_> = (1..100)
        .map(|i| {
            let (mut c, _) = lobby.user(&format!("u{i}"));
            c.enter_room(room).unwrap();
            c
        })
        .collect();
    // Drain the enter notifications.
    a.echo(b"").unwrap();
    while a.recv(std::time::Duration::ZERO).unwrap().is_some() {}
    for (i, c) in others.iter_mut().enumerate() {
        for _ in 0..(98 - i) {
            assert!(matches!(
                c.recv(PATIENCE).unwrap(),
                Some(Message::RoomUserEnterNtf { .. })
            ));
        }
    }
    let chats = 1000;
    let msg = "m".repeat(100);
    let t = Instant::now();
    for _ in 0..chats {
        a.chat(&msg).unwrap();
        for c in others.iter_mut() {
            assert!(matches!(
                c.recv(PATIENCE).unwrap(),
                Some(Message::RoomChatNtf { .. })
            ));
        }
    }
    let dt = t.elapsed();
    println!(
        "fan-out: {chats} chats to 100 users in {dt:?}: {:.1} us per chat ({:.2} us per delivery)",
        dt.as_secs_f64() * 1e6 / chats as f64,
        dt.as_secs_f64() * 1e6 / (chats * 100) as f64
    );
    println!("{:?}", lobby.stats());
}
