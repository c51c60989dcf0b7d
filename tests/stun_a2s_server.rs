//! STUN and A2S on a running host's game port, next to real game clients.
mod common;
#[path = "common/python.rs"]
mod python;

use bytecodec::{DecodeExt, EncodeExt};
use common::net::{start, start_with, PATIENCE};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;
use stun_codec::rfc5389::attributes::{Fingerprint, XorMappedAddress};
use stun_codec::rfc5389::{methods::BINDING, Attribute};
use stun_codec::{Message, MessageClass, MessageDecoder, MessageEncoder, TransactionId};
use tickwire::client::blocking::Connection;
use tickwire::client::{ClientConfig, Event};
use tickwire::wire::DropReason;
use tickwire::HostConfig;
use tickwire::ServerInfo;

#[test]
fn a_stun_library_learns_its_mapped_address_from_the_game_port() {
    let host = start(HostConfig::default());
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    let txn: [u8; 12] = rand::random();
    let mut req =
        Message::<Attribute>::new(MessageClass::Request, BINDING, TransactionId::new(txn));
    let fp = Fingerprint::new(&req).unwrap();
    req.add_attribute(fp);
    let bytes = MessageEncoder::new().encode_into_bytes(req).unwrap();
    let mut buf = [0u8; 1500];
    let mut answer = None;
    for _ in 0..(PATIENCE.as_millis() / 250) {
        sock.send_to(&bytes, host.addrs[0]).unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            answer = Some(buf[..n].to_vec());
            break;
        }
    }
    let answer = answer.expect("a STUN answer");
    let resp = MessageDecoder::<Attribute>::new()
        .decode_from_bytes(&answer)
        .unwrap()
        .unwrap();
    assert_eq!(resp.class(), MessageClass::SuccessResponse);
    assert_eq!(resp.transaction_id(), TransactionId::new(txn));
    let mapped = resp.get_attribute::<XorMappedAddress>().unwrap().address();
    assert_eq!(mapped, sock.local_addr().unwrap());
    assert!(resp.get_attribute::<Fingerprint>().is_some());
    // Junk that looks like STUN is dropped and counted, not answered.
    let mut bad = answer.clone();
    bad[1] = 0x01; // a Binding Success Response sent to the server
    sock.send_to(&bad, host.addrs[0]).unwrap();
    assert!(sock.recv_from(&mut buf).is_err());
    drop(host);
}

#[test]
fn the_client_library_connects_with_a_stun_learned_reply_address() {
    let host = start(HostConfig::default());
    let mut c = Connection::connect_with_stun(
        host.addrs[0],
        host.addrs[0],
        ClientConfig::default(),
        PATIENCE,
    )
    .expect("connect via STUN");
    assert_eq!(
        c.client().config().reply,
        Some(c.local_addr().unwrap()).map(|a| {
            // bound to 0.0.0.0: the server saw 127.0.0.1
            std::net::SocketAddr::new("127.0.0.1".parse().unwrap(), a.port())
        })
    );
    let mut snap = false;
    for _ in 0..200 {
        if let Some(Event::Snapshot { .. }) = c.poll(Duration::from_millis(50)).unwrap() {
            snap = true;
            break;
        }
    }
    assert!(snap);
    c.close().unwrap();
}

fn python_a2s(port: u16) -> serde_json::Value {
    python::require_a2s();
    let out = Command::new("timeout")
        .arg("20")
        .arg(python::python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/a2s_query.py"))
        .arg("127.0.0.1")
        .arg(port.to_string())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "a2s_query.py failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn python_a2s_reads_a_running_server_with_players() {
    let host = start(HostConfig {
        info: ServerInfo {
            name: "test arena".into(),
            map: "dust".into(),
            ..ServerInfo::default()
        },
        ..HostConfig::default()
    });
    let port = host.addrs[0].port();
    let mut a = Connection::connect(host.addrs[0], ClientConfig::default(), PATIENCE).unwrap();
    let mut b = Connection::connect(host.addrs[0], ClientConfig::default(), PATIENCE).unwrap();
    let qa = a.client().state();
    // Keep both alive while python queries from another process.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let keeper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = a.poll(Duration::from_millis(20));
                let _ = b.poll(Duration::from_millis(20));
            }
            (a, b)
        })
    };
    let j = python_a2s(port);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (a, b) = keeper.join().unwrap();
    assert_eq!(j["info"]["server_name"], "test arena");
    assert_eq!(j["info"]["map_name"], "dust");
    assert_eq!(j["info"]["player_count"], 2);
    assert_eq!(j["info"]["max_players"], 255);
    assert_eq!(j["info"]["port"], port);
    let names: Vec<String> = j["players"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 2);
    // PROTOCOL.md section 5 (corrected for issue 11): a player without a lobby name is
    // listed under a name that does not reveal its qport (it used to be `player <qport>`).
    if let tickwire::client::State::Connected { qport, .. } = qa {
        assert!(
            names.iter().all(|n| !n.contains(&qport.to_string())),
            "{names:?} reveals qport {qport}"
        );
    }
    assert_eq!(names, ["player", "player"]);
    let rules = &j["rules"];
    assert_eq!(rules["tick_hz"], "60");
    assert_eq!(rules["max_clients"], "255");
    assert_eq!(rules["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(rules["protocol_id"], "0");
    a.close().unwrap();
    b.close().unwrap();
    // A malformed query is dropped and counted.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(&[0xFF, 0xFF, 0xFF, 0xFF, 0x99], host.addrs[0])
        .unwrap();
    // The host handles one socket's datagrams in order: once a later STUN request is
    // answered, the junk before it has been counted.
    tickwire::client::blocking::stun_discover(&sock, host.addrs[0], PATIENCE).unwrap();
    let summary = host.stop();
    assert!(
        summary.contains(&format!("{}=1", DropReason::QueryMalformed)),
        "{summary}"
    );
}

/// A game of an embedder's own: only the two required methods, every other one defaulted.
struct Lighthouse;

impl tickwire::Game for Lighthouse {
    fn step(&mut self, _tick: u32) {}
    fn snapshot(&self, _w: &mut tickwire::SnapshotWriter<'_>) {}
}

/// Issue 17, item 6: `HostConfig::default()` used to advertise map "arena" and game
/// "tickwire arena" whatever the game; now A2S shows what the game says.
#[test]
fn a2s_info_of_a_game_that_is_not_the_arena_does_not_say_arena() {
    let host = start_with(HostConfig::default(), |_| Lighthouse, || {});
    let j = python_a2s(host.addrs[0].port());
    let info = &j["info"];
    assert_eq!(info["server_name"], "tickwire");
    assert_eq!(info["map_name"], "");
    assert_eq!(info["game"], "tickwire game");
    for field in ["server_name", "map_name", "folder", "game"] {
        let v = info[field].as_str().unwrap();
        assert!(!v.contains("arena"), "{field} = {v:?}");
    }
    host.stop();
}

/// The arena still says it is the arena, by default and when the host names a map.
#[test]
fn a2s_info_of_the_arena_says_arena() {
    let host = start(HostConfig::default());
    let j = python_a2s(host.addrs[0].port());
    assert_eq!(j["info"]["map_name"], "arena");
    assert_eq!(j["info"]["game"], "tickwire arena");
    host.stop();
    let host = start(HostConfig {
        info: ServerInfo {
            map: "dust".into(),
            ..ServerInfo::default()
        },
        ..HostConfig::default()
    });
    let j = python_a2s(host.addrs[0].port());
    assert_eq!(j["info"]["map_name"], "dust");
    assert_eq!(j["info"]["game"], "tickwire arena");
    host.stop();
}
