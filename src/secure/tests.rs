use super::*;

#[test]
fn hex_round_trip_and_refusals() {
    let k = Key::from_bytes([0xAB; 32]);
    assert_eq!(k.to_hex(), "ab".repeat(32));
    assert_eq!(Key::from_hex(&k.to_hex().to_uppercase()), Some(k.clone()));
    assert_eq!(Key::from_hex(&"ab".repeat(31)), None);
    assert_eq!(Key::from_hex(&format!("{}zz", "ab".repeat(31))), None);
    assert_eq!(format!("{k:?}"), "Key(..)");
}

#[test]
fn seal_open_round_trip_and_tamper() {
    let k = Key::from_bytes([7; 32]);
    let mut buf = *b"hello, world";
    let tag = k.seal(nonce_seq(Dir::ToServer, 5), b"aad", &mut buf);
    let mut ct = buf.to_vec();
    ct.extend_from_slice(&tag);
    let mut ok = ct.clone();
    assert_eq!(
        k.open(nonce_seq(Dir::ToServer, 5), b"aad", &mut ok),
        Some(12)
    );
    assert_eq!(&ok[..12], b"hello, world");
    for (nonce, aad) in [
        (nonce_seq(Dir::ToClient, 5), &b"aad"[..]),
        (nonce_seq(Dir::ToServer, 6), &b"aad"[..]),
        (nonce_seq(Dir::ToServer, 5), &b"aae"[..]),
    ] {
        let mut c = ct.clone();
        assert_eq!(k.open(nonce, aad, &mut c), None);
    }
    let mut flipped = ct.clone();
    flipped[3] ^= 1;
    assert_eq!(
        k.open(nonce_seq(Dir::ToServer, 5), b"aad", &mut flipped),
        None
    );
    assert_eq!(
        k.open(nonce_seq(Dir::ToServer, 5), b"", &mut [0u8; 15]),
        None
    );
}

#[test]
fn nonce_layouts() {
    assert_eq!(
        nonce_seq(Dir::ToClient, 0x0102_0304),
        [1, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]
    );
    assert_eq!(
        nonce_snapshot(9, 0x0A0B_0C0D),
        [2, 9, 0, 0, 0, 0, 0, 0, 0x0A, 0x0B, 0x0C, 0x0D]
    );
    assert_eq!(NONCE_REJECT[0], 3);
}

#[test]
fn token_round_trip_and_refusals() {
    let issuer = Issuer::new(Key::from_bytes([1; 32]), 77);
    let t = issuer.mint(5, 9, "ann", 1000);
    assert_eq!(t.expires, 1030);
    let b = t.to_bytes();
    assert_eq!(b.len(), TOKEN_LEN);
    let parsed = ConnectToken::parse(&b).unwrap();
    assert_eq!(parsed, t);
    let c = issuer.open(&parsed).unwrap();
    assert_eq!((c.client_id, c.scope, c.expires), (5, 9, 1030));
    assert_eq!(c.name.unwrap().as_str(), "ann");
    assert_eq!(c.nonce, t.nonce());
    assert!(!format!("{c:?}").contains("Key(") || format!("{c:?}").contains(".."));
    // Another key, another protocol id, a changed expiry: the seal does not open.
    let other = Issuer::new(Key::from_bytes([2; 32]), 77);
    assert_eq!(other.open(&parsed), Err(TokenError::Seal));
    let other_pid = Issuer::new(Key::from_bytes([1; 32]), 78);
    assert_eq!(other_pid.open(&parsed), Err(TokenError::Seal));
    let mut later = parsed.clone();
    later.expires += 1;
    assert_eq!(issuer.open(&later), Err(TokenError::Seal));
    let mut swapped = parsed.clone();
    swapped.c2s = Key::from_bytes([3; 32]);
    assert_eq!(issuer.open(&swapped), Err(TokenError::Mismatch));
    assert_eq!(ConnectToken::parse(&b[..204]), Err(TokenError::Length(204)));
    // A long name is cut at a character boundary; no name is None.
    let long = issuer.mint(1, 0, "ééééééééé", 0); // 18 bytes
    assert_eq!(issuer.open(&long).unwrap().name.unwrap().len(), 16);
    assert_eq!(issuer.open(&issuer.mint(1, 0, "", 0)).unwrap().name, None);
}

#[test]
fn unix_clock_maps_instants() {
    let t0 = Instant::now();
    let c = UnixClock::fixed(t0, 1_000);
    assert_eq!(c.unix_secs(t0), 1_000);
    assert_eq!(
        c.unix_secs(t0 + core::time::Duration::from_millis(2_500)),
        1_002
    );
}

#[test]
fn key_files() {
    let dir = std::env::temp_dir().join(format!("tickwire-keyfile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("fleet.key");
    let k = Key::generate();
    k.write_file(&p).unwrap();
    assert_eq!(Key::read_file(&p).unwrap(), k);
    assert!(matches!(k.write_file(&p), Err(KeyFileError::Exists(_))));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Key::read_file(&p).unwrap_err();
        assert!(matches!(e, KeyFileError::Permissions(_, 0o644)), "{e}");
        assert!(e.to_string().contains("chmod 600"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    for bad in [
        "",
        "abc\n",
        &format!("{}\n\n", k.to_hex()),
        &format!(" {}\n", k.to_hex()),
    ] {
        std::fs::write(&p, bad).unwrap();
        assert!(
            matches!(Key::read_file(&p), Err(KeyFileError::Format(_))),
            "{bad:?}"
        );
    }
    std::fs::write(&p, k.to_hex()).unwrap();
    assert_eq!(
        Key::read_file(&p).unwrap(),
        k,
        "no final newline is accepted"
    );
    assert!(matches!(
        Key::read_file(dir.join("missing")),
        Err(KeyFileError::Io(..))
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
