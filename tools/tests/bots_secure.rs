//! The load generator in secure mode against a real secure host on loopback: tokens minted
//! per bot, one token from a file, and refused tokens (another key, another scope, already
//! redeemed) counted as handshake timeouts. No timing-based pass criteria: a refused bot
//! can never get an ACCEPT, and the run ends as soon as every bot has failed.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::net;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use tickwire::secure::{Issuer, Key, Secure};
use tickwire::{Config, HostConfig};
use tickwire_tools::bots::{self, BotConfig, Tokens};

/// A secure host with fleet key `key` and server id `id`.
fn secure_host(key: &Key, id: u64) -> net::Running {
    net::start(HostConfig {
        server: Config {
            max_clients_per_ip: 255,
            secure: Some(Secure::new(key.clone(), id)),
            ..Config::default()
        },
        ..HostConfig::default()
    })
}

fn bots_cfg(host: &net::Running, clients: usize, tokens: Tokens) -> BotConfig {
    let mut cfg = BotConfig {
        servers: host.addrs.clone(),
        clients,
        duration: Duration::from_secs(2),
        connect_rate: 200.0,
        seed: 11,
        tokens: Some(tokens),
        ..BotConfig::default()
    };
    cfg.client.connect_timeout = Duration::from_secs(5);
    cfg
}

#[test]
fn bots_mint_their_own_tokens_and_connect() {
    let key = Key::generate();
    let host = secure_host(&key, 3);
    // Scope 3 for this server; scope 0 is admitted by any server of the fleet.
    for scope in [3, 0] {
        let cfg = bots_cfg(
            &host,
            4,
            Tokens::Mint {
                issuer: Issuer::new(key.clone(), 0),
                scope,
            },
        );
        let s = bots::run(&cfg, |_| {}).expect("bots ran");
        assert!(s.secure);
        assert_eq!(s.connected, 4, "scope {scope}: {s:?}");
        assert_eq!(s.failed, 0);
        assert!(s.snapshots_received > 0, "sealed snapshots arrive and open");
        assert_eq!(s.datagrams_dropped, 0, "nothing failed to open: {s:?}");
        assert!(s.to_json().contains("\"secure\":true"));
    }
    net::sync(host.addrs[0]);
    let line = host.stop();
    assert!(line.contains("accepts=8"), "{line}");
}

#[test]
fn refused_tokens_end_as_handshake_timeouts() {
    let key = Key::generate();
    let host = secure_host(&key, 3);
    for (issuer, scope) in [
        (Issuer::new(Key::generate(), 0), 3), // another fleet key
        (Issuer::new(key.clone(), 0), 4),     // another server's scope
        (Issuer::new(key.clone(), 9), 3),     // another protocol id
    ] {
        let mut cfg = bots_cfg(&host, 2, Tokens::Mint { issuer, scope });
        // Long enough never to end the run first: it ends when both bots have failed.
        cfg.duration = Duration::from_secs(60);
        cfg.client.connect_timeout = Duration::from_millis(300);
        let s = bots::run(&cfg, |_| {}).expect("bots ran");
        assert_eq!((s.connected, s.failed), (0, 2), "{s:?}");
        assert_eq!(s.failures.connect_timeout, 2, "{:?}", s.failures);
        assert_eq!(s.rejected, 0, "a refused token gets no REJECT");
        let text = s.to_string();
        assert!(text.contains("handshake timed out"), "{text}");
        assert!(text.contains("secure mode"), "{text}");
    }
    let line = host.stop();
    assert!(line.contains("accepts=0"), "{line}");
}

#[test]
fn one_token_connects_one_bot_once() {
    let key = Key::generate();
    let host = secure_host(&key, 0);
    let now = tickwire_tools::token_cmd::unix_now();
    let token = Issuer::new(key.clone(), 0).mint(77, 0, "solo", now);
    let cfg = bots_cfg(&host, 1, Tokens::One(token.clone()));
    let s = bots::run(&cfg, |_| {}).expect("bots ran");
    assert_eq!((s.connected, s.failed), (1, 0), "{s:?}");
    // The same token again: redeemed, refused from every address.
    let mut again = bots_cfg(&host, 1, Tokens::One(token.clone()));
    again.duration = Duration::from_secs(60);
    again.client.connect_timeout = Duration::from_millis(300);
    let s = bots::run(&again, |_| {}).expect("bots ran");
    assert_eq!((s.connected, s.failures.connect_timeout), (0, 1), "{s:?}");
    // One token, two bots: refused before any socket is opened.
    let two = bots_cfg(&host, 2, Tokens::One(token));
    let e = bots::run(&two, |_| {}).unwrap_err();
    assert!(e.to_string().contains("one connection"), "{e}");
    // Tokens and lobby tickets do not combine.
    let mut both = bots_cfg(
        &host,
        1,
        Tokens::Mint {
            issuer: Issuer::new(key, 0),
            scope: 0,
        },
    );
    both.lobby = Some("127.0.0.1:9".parse().unwrap());
    assert!(bots::run(&both, |_| {}).is_err());
    host.stop();
}

/// An empty directory under the target directory, unique to `test`.
fn dir(test: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("bots_secure")
        .join(test);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn the_binary_takes_a_key_file_or_a_token_file() {
    let key = Key::generate();
    let host = secure_host(&key, 5);
    let d = dir("binary");
    let kf = d.join("fleet.key");
    key.write_file(&kf).unwrap();
    let server = host.addrs[0].to_string();
    let bin = env!("CARGO_BIN_EXE_tickwire-bots");
    let run = |args: &[&str]| {
        Command::new(bin)
            .args(["--server", &server, "--progress", "0", "--seconds", "1.5"])
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[
        "--token-key",
        kf.to_str().unwrap(),
        "--server-id",
        "5",
        "--clients",
        "3",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["connected"], 3);
    assert_eq!(v["secure"], true);

    // A token file from `tickwire token mint`: one bot, and --clients defaults to 1.
    let tf = d.join("token.hex");
    let token = Issuer::new(key.clone(), 0).mint(1, 5, "", tickwire_tools::token_cmd::unix_now());
    std::fs::write(&tf, tickwire_tools::token_cmd::to_text(&token)).unwrap();
    let out = run(&["--token-file", tf.to_str().unwrap(), "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["clients"].clone(), v["connected"].clone()),
        (1.into(), 1.into())
    );

    // Refused before the run: more bots than tokens, a key file others can read, bad files.
    let out = run(&["--token-file", tf.to_str().unwrap(), "--clients", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("one connection"));
    std::fs::set_permissions(&kf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&["--token-key", kf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
    let junk = d.join("junk");
    std::fs::write(&junk, "not a token").unwrap();
    let out = run(&["--token-file", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("410 hex digits"));
    for args in [
        &["--server-id", "5"][..],
        &["--token-file", "x", "--token-key", "y"],
        &["--token-key", "y", "--lobby", "127.0.0.1:9"],
    ] {
        assert_eq!(run(args).status.code(), Some(2), "{args:?}");
    }
    host.stop();
}

/// End to end, as players: every bot logs in to the host's TLS lobby, gets a connect token
/// from it (TOKEN_REQ), and connects to the secure game port with it.
#[test]
fn bots_get_their_tokens_from_the_tls_lobby() {
    use tickwire::client::lobby::TlsTrust;
    use tickwire::lobby::{LobbyConfig, LobbyTls};
    let dir = dir("bots_tls_lobby");
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, pem_key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&pem_key, ck.signing_key.serialize_pem()).unwrap();
    let key = Key::generate();
    let host = net::start(HostConfig {
        server: Config {
            max_clients_per_ip: 255,
            secure: Some(Secure::new(key.clone(), 4)),
            ..Config::default()
        },
        lobby: Some((
            "127.0.0.1:0".parse().unwrap(),
            LobbyConfig {
                tls: Some(LobbyTls::from_pem_files(&cert, &pem_key).unwrap()),
                issuer: Some(Issuer::new(key, 0)),
                server_id: 4,
                ..LobbyConfig::default()
            },
        )),
        ..HostConfig::default()
    });
    let cfg = bots_cfg(
        &host,
        6,
        Tokens::Lobby {
            addr: host.lobby.unwrap(),
            trust: TlsTrust::from_ca_file(&cert).unwrap(),
            server_name: "localhost".into(),
            scope: 0,
        },
    );
    let s = bots::run(&cfg, |_| {}).expect("bots ran");
    assert_eq!(s.connected, 6, "{s:?}");
    assert_eq!(s.failed, 0);
    assert!(s.snapshots_received > 0);
    // A lobby that does not trust us back: the wrong server name fails every bot's login.
    let mut bad = cfg.clone();
    if let Some(Tokens::Lobby { server_name, .. }) = bad.tokens.as_mut() {
        *server_name = "not-localhost".into();
    }
    bad.clients = 2;
    let s = bots::run(&bad, |_| {}).expect("bots ran");
    assert_eq!((s.connected, s.failed), (0, 2), "{s:?}");
    net::sync(host.addrs[0]);
    let line = host.stop();
    assert!(line.contains("accepts=6"), "{line}");
}
