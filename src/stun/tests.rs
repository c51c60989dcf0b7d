//! Golden bytes, drops and interop of the STUN responder and client helpers.

use super::*;
use proptest::prelude::*;
use std::time::Duration;

/// The transaction id of the RFC 5769 test vectors.
const TXN: [u8; 12] = [
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
];

/// `binding_request(TXN)`: the header and a FINGERPRINT.
const REQUEST: [u8; 28] = [
    0x00, 0x01, 0x00, 0x08, // Binding Request, 8 bytes of attributes
    0x21, 0x12, 0xa4, 0x42, // magic cookie
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, // txn
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT
    0xfd, 0xf6, 0xae, 0x02,
];

/// Our answer to `REQUEST` from 192.0.2.1:32853: XOR-MAPPED-ADDRESS as in RFC 5769
/// section 2.2, then FINGERPRINT.
const RESPONSE_V4: [u8; 40] = [
    0x01, 0x01, 0x00, 0x14, // Binding Success Response, 20 bytes of attributes
    0x21, 0x12, 0xa4, 0x42, // magic cookie
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, // txn
    0x00, 0x20, 0x00, 0x08, // XOR-MAPPED-ADDRESS
    0x00, 0x01, 0xa1, 0x47, // IPv4, port 32853 ^ 0x2112
    0xe1, 0x12, 0xa6, 0x43, // 192.0.2.1 ^ magic
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT
    0x7d, 0x28, 0x1f, 0x59,
];

/// The Binding Success Response of RFC 5769 section 2.2 (SOFTWARE, XOR-MAPPED-ADDRESS,
/// MESSAGE-INTEGRITY, FINGERPRINT).
const RFC5769_RESPONSE_V4: [u8; 80] = [
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
];

/// The Binding Request of RFC 5769 section 2.1 (SOFTWARE, PRIORITY, ICE-CONTROLLED,
/// USERNAME, MESSAGE-INTEGRITY, FINGERPRINT).
const RFC5769_REQUEST: [u8; 108] = [
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
];

fn v4() -> SocketAddr {
    "192.0.2.1:32853".parse().unwrap()
}

fn v6() -> SocketAddr {
    "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
        .parse()
        .unwrap()
}

/// A request with the given attributes (type, value), no FINGERPRINT.
fn request_with(ty: u16, attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&ty.to_be_bytes());
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m.extend_from_slice(&TXN);
    for (t, v) in attrs {
        m.extend_from_slice(&t.to_be_bytes());
        m.extend_from_slice(&(v.len() as u16).to_be_bytes());
        m.extend_from_slice(v);
        while m.len() % 4 != 0 {
            m.push(0);
        }
    }
    let len = (m.len() - HEADER_LEN) as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    m
}

fn handle(req: &[u8]) -> Result<Vec<u8>, DropReason> {
    let mut out = [0u8; 1200];
    let n = Stun::default().handle(Instant::now(), v4(), req, &mut out)?;
    Ok(out[..n].to_vec())
}

#[test]
fn golden_request() {
    let mut out = [0u8; 64];
    assert_eq!(binding_request(TXN, &mut out), REQUEST.len());
    assert_eq!(out[..REQUEST.len()], REQUEST);
    assert_eq!(binding_request(TXN, &mut [0u8; 27]), 0);
}

#[test]
fn golden_response_v4_with_fingerprint() {
    assert_eq!(handle(&REQUEST).unwrap(), RESPONSE_V4);
    assert_eq!(parse_binding_response(&RESPONSE_V4, &TXN), Some(v4()));
}

#[test]
fn golden_response_v6_without_fingerprint() {
    let req = request_with(0x0001, &[]);
    let mut out = [0u8; 1200];
    let n = Stun::default()
        .handle(Instant::now(), v6(), &req, &mut out)
        .unwrap();
    #[rustfmt::skip]
    let want = [
        0x01, 0x01, 0x00, 0x18, // Binding Success Response, 24 bytes of attributes
        0x21, 0x12, 0xa4, 0x42,
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
        0x00, 0x20, 0x00, 0x14, // XOR-MAPPED-ADDRESS, as in RFC 5769 section 2.3
        0x00, 0x02, 0xa1, 0x47,
        0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79,
        0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
    ];
    assert_eq!(out[..n], want);
    assert_eq!(parse_binding_response(&want, &TXN), Some(v6()));
}

#[test]
fn mapped_v4_source_is_answered_as_v4() {
    let src: SocketAddr = "[::ffff:192.0.2.1]:32853".parse().unwrap();
    let mut out = [0u8; 1200];
    let n = Stun::default()
        .handle(Instant::now(), src, &REQUEST, &mut out)
        .unwrap();
    assert_eq!(out[..n], RESPONSE_V4);
}

#[test]
fn rfc5769_response_parses() {
    assert_eq!(
        parse_binding_response(&RFC5769_RESPONSE_V4, &TXN),
        Some(v4())
    );
    let mut other = TXN;
    other[11] ^= 1;
    assert_eq!(parse_binding_response(&RFC5769_RESPONSE_V4, &other), None);
    let mut bad = RFC5769_RESPONSE_V4;
    bad[79] ^= 1;
    assert_eq!(parse_binding_response(&bad, &TXN), None);
}

#[test]
fn client_falls_back_to_mapped_address() {
    let mut m = request_with(0x0101, &[(0x0001, &[0, 1, 0x80, 0x55, 192, 0, 2, 1])]);
    assert_eq!(parse_binding_response(&m, &TXN), Some(v4()));
    // Not a success response.
    m[1] = 0x11;
    assert_eq!(parse_binding_response(&m, &TXN), None);
    // No address at all.
    let m = request_with(0x0101, &[(0x8022, b"x")]);
    assert_eq!(parse_binding_response(&m, &TXN), None);
    // A bad address family.
    let m = request_with(0x0101, &[(0x0020, &[0, 3, 0x80, 0x55, 192, 0, 2, 1])]);
    assert_eq!(parse_binding_response(&m, &TXN), None);
}

#[test]
fn round_trip() {
    let mut stun = Stun::default();
    for src in [
        v4(),
        v6(),
        "[::1]:1".parse().unwrap(),
        "10.0.0.1:65535".parse().unwrap(),
    ] {
        let txn: [u8; 12] = rand::random();
        let mut req = [0u8; 64];
        let n = binding_request(txn, &mut req);
        let mut out = [0u8; MAX_RESPONSE_LEN];
        let m = stun
            .handle(Instant::now(), src, &req[..n], &mut out)
            .unwrap();
        assert_eq!(parse_binding_response(&out[..m], &txn), Some(src));
    }
}

#[test]
fn drop_malformed() {
    let ok = request_with(0x0001, &[]);
    assert!(handle(&ok).is_ok());
    let mal = Err(DropReason::StunMalformed);
    assert_eq!(handle(&[]), mal);
    assert_eq!(handle(&ok[..19]), mal);
    // Top bits of the type set.
    let mut m = ok.clone();
    m[0] = 0x40;
    assert_eq!(handle(&m), mal);
    // Wrong magic cookie.
    let mut m = ok.clone();
    m[7] ^= 1;
    assert_eq!(handle(&m), mal);
    // Length not a multiple of 4.
    let mut m = ok.clone();
    m.extend_from_slice(&[0, 0]);
    m[3] = 2;
    assert_eq!(handle(&m), mal);
    // Length not matching the datagram, either way.
    let mut m = ok.clone();
    m[3] = 4;
    assert_eq!(handle(&m), mal);
    let mut m = ok.clone();
    m.extend_from_slice(&[0x80, 0x22, 0, 0]);
    assert_eq!(handle(&m), mal);
    // An attribute that overruns the message.
    let mut m = request_with(0x0001, &[(0x8022, b"abcd")]);
    m[23] = 5;
    assert_eq!(handle(&m), mal);
    // A truncated attribute header cannot happen (lengths are multiples of 4), but a
    // FINGERPRINT of the wrong size can.
    let m = request_with(0x0001, &[(0x8028, &[0; 8])]);
    assert_eq!(handle(&m), mal);
    let m = request_with(0x0001, &[(0x8028, &[0; 2])]);
    assert_eq!(handle(&m), mal);
}

#[test]
fn drop_not_binding_request() {
    for ty in [0x0011, 0x0101, 0x0111, 0x0003, 0x0002] {
        assert_eq!(
            handle(&request_with(ty, &[])),
            Err(DropReason::StunNotBinding),
            "{ty:#x}"
        );
    }
    assert_eq!(handle(&RESPONSE_V4), Err(DropReason::StunNotBinding));
}

#[test]
fn drop_bad_fingerprint() {
    let mut m = REQUEST;
    m[27] ^= 0x80;
    assert_eq!(handle(&m), Err(DropReason::StunBadFingerprint));
    // A good FINGERPRINT followed by another attribute.
    let mut m = REQUEST.to_vec();
    m.extend_from_slice(&[0x80, 0x22, 0, 0]);
    m[3] = 12;
    assert_eq!(handle(&m), Err(DropReason::StunBadFingerprint));
}

#[test]
fn drop_unknown_comprehension_required() {
    let m = request_with(0x0001, &[(0x0024, &[1, 2, 3, 4])]);
    assert_eq!(handle(&m), Err(DropReason::StunUnknownAttribute));
    let m = request_with(0x0001, &[(0x0003, &[0, 0, 0, 4])]); // CHANGE-REQUEST
    assert_eq!(handle(&m), Err(DropReason::StunUnknownAttribute));
    // PRIORITY comes before MESSAGE-INTEGRITY in the RFC 5769 request.
    assert_eq!(
        handle(&RFC5769_REQUEST),
        Err(DropReason::StunUnknownAttribute)
    );
    // Comprehension-optional and known attributes are fine.
    let m = request_with(0x0001, &[(0x8022, b"soft"), (0xC001, &[]), (0x0006, b"u")]);
    assert!(handle(&m).is_ok());
}

#[test]
fn drop_message_integrity() {
    let m = request_with(0x0001, &[(0x0008, &[0; 20])]);
    assert_eq!(handle(&m), Err(DropReason::StunIntegrity));
    let m = request_with(0x0001, &[(0x001C, &[0; 32])]);
    assert_eq!(handle(&m), Err(DropReason::StunIntegrity));
}

#[test]
fn drop_rate_limited() {
    let t0 = Instant::now();
    let mut stun = Stun::new(10);
    let mut out = [0u8; 1200];
    for _ in 0..10 {
        assert!(stun.handle(t0, v4(), &REQUEST, &mut out).is_ok());
    }
    assert_eq!(
        stun.handle(t0, v4(), &REQUEST, &mut out),
        Err(DropReason::StunRateLimited)
    );
    // Junk does not use up answers, and the bucket refills.
    let t1 = t0 + Duration::from_millis(100);
    assert_eq!(
        stun.handle(t1, v4(), &[0; 20], &mut out),
        Err(DropReason::StunMalformed)
    );
    assert!(stun.handle(t1, v4(), &REQUEST, &mut out).is_ok());
    // At least 10 a second, sustained.
    let mut ok = 0;
    for ms in 1..=10_000 {
        let now = t1 + Duration::from_millis(ms);
        ok += usize::from(stun.handle(now, v4(), &REQUEST, &mut out).is_ok());
    }
    assert!(ok >= 100, "{ok}");
}

#[test]
fn drop_short_output() {
    let mut out = [0u8; 39];
    assert_eq!(
        Stun::default().handle(Instant::now(), v4(), &REQUEST, &mut out),
        Err(DropReason::OutboxFull)
    );
}

/// An independent implementation (the `stun_codec` crate) encodes the request and decodes
/// our answer.
#[test]
fn interop_with_stun_codec() {
    use bytecodec::{DecodeExt, EncodeExt};
    use stun_codec::rfc5389::attributes::{Fingerprint, Software, XorMappedAddress};
    use stun_codec::rfc5389::{methods::BINDING, Attribute};
    use stun_codec::{Message, MessageClass, MessageDecoder, MessageEncoder, TransactionId};

    let mut stun = Stun::default();
    for (src, fingerprint) in [(v4(), true), (v6(), true), (v4(), false), (v6(), false)] {
        let txn: [u8; 12] = rand::random();
        let mut req =
            Message::<Attribute>::new(MessageClass::Request, BINDING, TransactionId::new(txn));
        req.add_attribute(Software::new("stun_codec".to_owned()).unwrap());
        if fingerprint {
            let fp = Fingerprint::new(&req).unwrap();
            req.add_attribute(fp);
        }
        let bytes = MessageEncoder::new().encode_into_bytes(req).unwrap();
        let mut out = [0u8; 1200];
        let n = stun.handle(Instant::now(), src, &bytes, &mut out).unwrap();
        let resp = MessageDecoder::<Attribute>::new()
            .decode_from_bytes(&out[..n])
            .unwrap()
            .unwrap();
        assert_eq!(resp.class(), MessageClass::SuccessResponse);
        assert_eq!(resp.method(), BINDING);
        assert_eq!(resp.transaction_id(), TransactionId::new(txn));
        let xma = resp.get_attribute::<XorMappedAddress>().unwrap();
        assert_eq!(xma.address(), src);
        assert_eq!(resp.get_attribute::<Fingerprint>().is_some(), fingerprint);
        // Our client reads it too.
        assert_eq!(parse_binding_response(&out[..n], &txn), Some(src));
    }
}

proptest! {
    #[test]
    fn junk_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut stun = Stun::new(1_000_000);
        let mut out = [0u8; MAX_RESPONSE_LEN];
        let _ = stun.handle(Instant::now(), v6(), &bytes, &mut out);
        let _ = parse_binding_response(&bytes, &TXN);
    }

    #[test]
    fn stun_shaped_junk_never_panics(
        ty in prop_oneof![Just(0x0001u16), Just(0x0101u16), any::<u16>()],
        attrs in proptest::collection::vec(any::<u8>(), 0..120),
        fix_len in any::<bool>(),
    ) {
        let mut m = Vec::new();
        m.extend_from_slice(&ty.to_be_bytes());
        let len = if fix_len { attrs.len() as u16 } else { (attrs.len() as u16) & !3 };
        m.extend_from_slice(&len.to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(&TXN);
        m.extend_from_slice(&attrs);
        let mut stun = Stun::new(1_000_000);
        let mut out = [0u8; MAX_RESPONSE_LEN];
        if let Ok(n) = stun.handle(Instant::now(), v4(), &m, &mut out) {
            prop_assert_eq!(parse_binding_response(&out[..n], &TXN), Some(v4()));
        }
        let _ = parse_binding_response(&m, &TXN);
    }
}

/// The 128-bit transaction id of an RFC 3489 request (bytes 4..20: no magic cookie).
const CLASSIC_ID: [u8; 16] = [
    0x5a, 0x1e, 0x00, 0x07, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
];

/// An RFC 3489 Binding Request with the given attributes (type, value).
fn classic_with(ty: u16, attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut m = request_with(ty, attrs);
    m[4..20].copy_from_slice(&CLASSIC_ID);
    m
}

fn handle_classic(req: &[u8]) -> Result<Vec<u8>, DropReason> {
    let mut out = [0u8; 1200];
    let n = Stun::default().handle_classic(Instant::now(), v4(), req, &mut out)?;
    Ok(out[..n].to_vec())
}

/// RFC 3489 Binding Request (20 bytes) and our answer from 192.0.2.1:32853: the id copied,
/// MAPPED-ADDRESS in the clear (RFC 5389 section 12.2), 32 bytes.
#[test]
fn classic_request_gets_mapped_address() {
    let mut req = vec![0x00, 0x01, 0x00, 0x00];
    req.extend_from_slice(&CLASSIC_ID);
    assert!(is_classic_request(&req));
    let mut want = vec![
        0x01, 0x01, 0x00, 0x0c, // Binding Response, 12 bytes of attributes
    ];
    want.extend_from_slice(&CLASSIC_ID);
    want.extend_from_slice(&[
        0x00, 0x01, 0x00, 0x08, // MAPPED-ADDRESS
        0x00, 0x01, 0x80, 0x55, // IPv4, port 32853
        0xc0, 0x00, 0x02, 0x01, // 192.0.2.1
    ]);
    assert_eq!(handle_classic(&req), Ok(want));
    // IPv6: 44 bytes, the address in the clear.
    let mut out = [0u8; 1200];
    let n = Stun::default()
        .handle_classic(Instant::now(), v6(), &req, &mut out)
        .unwrap();
    assert_eq!(n, 44);
    assert!(n <= MAX_RESPONSE_LEN);
    assert_eq!(out[20..24], [0x00, 0x01, 0x00, 0x14]);
    assert_eq!(out[24..28], [0x00, 0x02, 0x80, 0x55]);
    let IpAddr::V6(ip) = v6().ip() else {
        unreachable!()
    };
    assert_eq!(out[28..44], ip.octets());
    // A too-short output buffer is refused, not overrun.
    assert_eq!(
        Stun::default().handle_classic(Instant::now(), v4(), &req, &mut [0u8; 31]),
        Err(DropReason::OutboxFull)
    );
}

#[test]
fn classic_shape_is_exact() {
    let ok = classic_with(0x0001, &[(0x8022, b"soft")]);
    assert!(is_classic_request(&ok));
    // With the magic cookie it is RFC 5389's (the demux's Stun), not classic.
    assert!(!is_classic_request(&REQUEST));
    assert!(!is_classic_request(&request_with(0x0001, &[])));
    // Another type, a length that is not the datagram's, too short.
    assert!(!is_classic_request(&classic_with(0x0101, &[])));
    assert!(!is_classic_request(&ok[..ok.len() - 4]));
    let mut longer = ok.clone();
    longer.extend_from_slice(&[0; 4]);
    assert!(!is_classic_request(&longer));
    assert!(!is_classic_request(&ok[..19]));
    assert!(!is_classic_request(&[]));
    // A game HELLO (flags 0x80) is not.
    let mut hello = [0u8; 61];
    hello[0] = 0x80;
    hello[10] = 0x01;
    hello[12] = 48;
    assert!(!is_classic_request(&hello));
}

#[test]
fn classic_attributes_are_checked() {
    // stund's client sends CHANGE-REQUEST asking for no change in every request.
    let m = classic_with(0x0001, &[(0x0003, &[0, 0, 0, 0])]);
    assert!(handle_classic(&m).is_ok());
    // Another address or port: cannot be honoured, so not answered.
    for flags in [2u8, 4, 6] {
        let m = classic_with(0x0001, &[(0x0003, &[0, 0, 0, flags])]);
        assert_eq!(handle_classic(&m), Err(DropReason::StunUnknownAttribute));
    }
    // RESPONSE-ADDRESS would send the answer elsewhere (a reflection).
    let m = classic_with(0x0001, &[(0x0002, &[0, 1, 0x12, 0x34, 10, 0, 0, 1])]);
    assert_eq!(handle_classic(&m), Err(DropReason::StunUnknownAttribute));
    let m = classic_with(0x0001, &[(0x0008, &[0; 20])]);
    assert_eq!(handle_classic(&m), Err(DropReason::StunIntegrity));
    // Comprehension-optional and known attributes are fine.
    let m = classic_with(0x0001, &[(0x8022, b"soft"), (0x0006, b"user")]);
    assert!(handle_classic(&m).is_ok());
    // Framing: length not a multiple of 4, an overrunning attribute, the magic cookie.
    let mut m = classic_with(0x0001, &[]);
    m.extend_from_slice(&[0, 0]);
    m[3] = 2;
    assert_eq!(handle_classic(&m), Err(DropReason::StunMalformed));
    let mut m = classic_with(0x0001, &[(0x8022, b"abcd")]);
    m[23] = 5;
    assert_eq!(handle_classic(&m), Err(DropReason::StunMalformed));
    assert_eq!(handle_classic(&REQUEST), Err(DropReason::StunMalformed));
    assert_eq!(handle_classic(&[]), Err(DropReason::StunMalformed));
    assert_eq!(
        handle_classic(&classic_with(0x0111, &[])),
        Err(DropReason::StunNotBinding)
    );
}

#[test]
fn classic_requests_share_the_source_limit() {
    let t0 = Instant::now();
    let mut stun = Stun::new(10);
    let mut out = [0u8; 1200];
    let classic = classic_with(0x0001, &[]);
    for i in 0..10 {
        let r = if i % 2 == 0 {
            stun.handle_classic(t0, v4(), &classic, &mut out)
        } else {
            stun.handle(t0, v4(), &REQUEST, &mut out)
        };
        assert!(r.is_ok(), "{i}");
    }
    assert_eq!(
        stun.handle_classic(t0, v4(), &classic, &mut out),
        Err(DropReason::StunRateLimited)
    );
    assert_eq!(
        stun.handle(t0, v4(), &REQUEST, &mut out),
        Err(DropReason::StunRateLimited)
    );
}

proptest! {
    #[test]
    fn classic_junk_never_panics(
        attrs in proptest::collection::vec(any::<u8>(), 0..120),
        fix_len in any::<bool>(),
    ) {
        let mut m = vec![0x00, 0x01];
        let len = if fix_len { attrs.len() as u16 } else { (attrs.len() as u16) & !3 };
        m.extend_from_slice(&len.to_be_bytes());
        m.extend_from_slice(&CLASSIC_ID);
        m.extend_from_slice(&attrs);
        let mut stun = Stun::new(1_000_000);
        let mut out = [0u8; MAX_RESPONSE_LEN];
        if let Ok(n) = stun.handle_classic(Instant::now(), v4(), &m, &mut out) {
            prop_assert_eq!(n, 32);
            prop_assert_eq!(&out[4..20], &CLASSIC_ID[..]);
        }
    }
}
