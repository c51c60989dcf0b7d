//! Lobby tickets admit a player to the game port once, with its lobby name (PROTOCOL.md
//! sections 2 and 7), on one host running both.
mod common;

use common::net::{start, PATIENCE};
use tickwire::client::blocking::Connection;
use tickwire::client::lobby::LobbyClient;
use tickwire::client::ClientConfig;
use tickwire::lobby::LobbyConfig;
use tickwire::Config;
use tickwire::HostConfig;

#[test]
fn a_lobby_ticket_admits_once_with_the_lobby_name() {
    let host = start(HostConfig {
        server: Config {
            require_ticket: true,
            ..Config::default()
        },
        lobby: Some(("127.0.0.1:0".parse().unwrap(), LobbyConfig::default())),
        ..HostConfig::default()
    });
    let game = host.addrs[0];
    let mut lobby = LobbyClient::connect(host.lobby.unwrap()).unwrap();
    let login = lobby.login("alice").unwrap();
    assert_ne!(login.ticket, 0);

    // Without a ticket: refused.
    let err = Connection::connect(game, ClientConfig::default(), PATIENCE)
        .err()
        .unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);

    // With it: admitted, as alice.
    let cfg = ClientConfig {
        ticket: login.ticket,
        ..ClientConfig::default()
    };
    let conn = Connection::connect(game, cfg, PATIENCE).expect("ticket admits");

    // Once only.
    let err = Connection::connect(game, cfg, PATIENCE).err().unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);

    // The game knows the name: A2S lists it.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_millis(250)))
        .unwrap();
    let names = a2s_player_names(&sock, game);
    assert_eq!(names, vec!["alice".to_string()]);
    conn.close().unwrap();
    let summary = host.stop();
    assert!(summary.contains("accepts=1 "), "{summary}");
}

/// A2S_PLAYER with its challenge round trip, parsed by hand (little-endian, per Valve).
fn a2s_player_names(sock: &std::net::UdpSocket, to: std::net::SocketAddr) -> Vec<String> {
    let mut buf = [0u8; 1500];
    let mut challenge = [0xFFu8; 4];
    for _ in 0..(PATIENCE.as_millis() / 250) {
        let mut req = vec![0xFF, 0xFF, 0xFF, 0xFF, 0x55];
        req.extend_from_slice(&challenge);
        sock.send_to(&req, to).unwrap();
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        match buf.get(4) {
            Some(0x41) if n == 9 => challenge.copy_from_slice(&buf[5..9]),
            Some(0x44) => {
                let count = buf[5] as usize;
                let mut at = 6;
                let mut names = vec![];
                for _ in 0..count {
                    at += 1; // index
                    let end = at + buf[at..n].iter().position(|&b| b == 0).unwrap();
                    names.push(String::from_utf8(buf[at..end].to_vec()).unwrap());
                    at = end + 1 + 4 + 4; // NUL, score, duration
                }
                return names;
            }
            _ => {}
        }
    }
    panic!("no A2S_PLAYER answer");
}
