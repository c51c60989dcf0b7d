//! RFC 3489 STUN clients (no magic cookie) on a running host's game port: answered with
//! MAPPED-ADDRESS (RFC 5389 section 12.2), their bad requests counted as STUN drops.
mod common;

use common::net::{start, PATIENCE};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;
use tickwire::wire::DropReason;
use tickwire::HostConfig;

/// An RFC 3489 Binding Request as stund's client sends it: a 128-bit transaction id and a
/// CHANGE-REQUEST, here asking for `change` (0: nothing).
fn classic_request(id: &[u8; 16], change: u8) -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0x00, 0x08];
    m.extend_from_slice(id);
    m.extend_from_slice(&[0x00, 0x03, 0x00, 0x04, 0, 0, 0, change]);
    m
}

#[test]
fn an_rfc3489_client_learns_its_mapped_address_and_its_junk_is_a_stun_drop() {
    let host = start(HostConfig::default());
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    let mut id: [u8; 16] = rand::random();
    id[..4].copy_from_slice(&[0x0b, 0xad, 0xc0, 0xde]); // surely not the magic cookie
    let req = classic_request(&id, 0);
    let mut buf = [0u8; 1500];
    let mut answer = None;
    for _ in 0..(PATIENCE.as_millis() / 250) {
        sock.send_to(&req, host.addrs[0]).unwrap();
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            assert_eq!(from, host.addrs[0]);
            answer = Some(buf[..n].to_vec());
            break;
        }
    }
    let a = answer.expect("an answer to an RFC 3489 Binding Request");
    assert_eq!(a.len(), 32, "{a:02x?}");
    assert_eq!(
        a[..4],
        [0x01, 0x01, 0x00, 0x0c],
        "Binding Response, 12 bytes"
    );
    assert_eq!(a[4..20], id, "the transaction id echoed");
    assert_eq!(
        a[20..26],
        [0x00, 0x01, 0x00, 0x08, 0x00, 0x01],
        "MAPPED-ADDRESS, IPv4"
    );
    let port = u16::from_be_bytes([a[26], a[27]]);
    let ip = std::net::Ipv4Addr::new(a[28], a[29], a[30], a[31]);
    assert_eq!(SocketAddr::from((ip, port)), sock.local_addr().unwrap());
    // A request asking to be answered from another port is dropped as a STUN drop.
    sock.send_to(&classic_request(&id, 2), host.addrs[0])
        .unwrap();
    // One socket's datagrams are handled in order: once a later RFC 5389 request is
    // answered, the one before it has been counted.
    tickwire::client::blocking::stun_discover(&sock, host.addrs[0], PATIENCE).unwrap();
    let summary = host.stop();
    assert!(
        summary.contains(&format!("{}=1", DropReason::StunUnknownAttribute)),
        "{summary}"
    );
    assert!(
        !summary.contains(&format!("{}=", DropReason::BadLength)),
        "{summary}"
    );
}
