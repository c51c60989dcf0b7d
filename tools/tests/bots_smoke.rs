//! The load generator's engine against a real host on loopback: 20 bots for about 2 s.
//! No timing-based pass criteria: counts must be positive and consistent.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::net;
use std::time::Duration;
use tickwire::{Config, HostConfig};
use tickwire_tools::bots::{self, BotConfig, SourceIps};

#[test]
fn twenty_bots_connect_receive_and_report() {
    // Twenty bots on one host: a load test from one machine lifts the per-IP slot limit.
    let host = net::start(HostConfig {
        server: Config {
            max_clients_per_ip: 255,
            ..Config::default()
        },
        ..HostConfig::default()
    });
    let cfg = BotConfig {
        servers: host.addrs.clone(),
        clients: 20,
        duration: Duration::from_secs(2),
        input_hz: 20.0,
        fire_hz: 2.0,
        connect_rate: 200.0,
        progress: Some(Duration::from_millis(500)),
        seed: 7,
        ..BotConfig::default()
    };
    let mut samples = 0;
    let s = bots::run(&cfg, |_| samples += 1).expect("bots ran");
    net::sync(host.addrs[0]);
    let server_line = host.stop();

    assert_eq!(s.clients, 20);
    assert_eq!(s.connected, 20, "every bot connected: {s:?}");
    assert_eq!((s.failed, s.rejected, s.dropped), (0, 0, 0));
    assert!(samples > 0, "the progress callback ran");
    assert_eq!(s.tick_hz, 60);
    assert!(s.snapshots_received > 0);
    assert!(s.snapshots_per_s_min > 0.0, "every bot received snapshots");
    assert!(s.window_received <= s.window_expected);
    assert!(s.window_received <= s.snapshots_received);
    assert!(s.delivery > 0.0 && s.delivery <= 1.0);
    // Over loopback every tick that arrives is in time for rendering.
    assert!(
        s.render_usable >= s.delivery * 0.9 && s.render_usable <= 1.0,
        "{s:?}"
    );
    assert_eq!(s.handshake_ms.samples, 20);
    assert!(s.handshake_ms.p50 <= s.handshake_ms.p99 && s.handshake_ms.p99 <= s.handshake_ms.max);
    assert!(s.rtt_ms.samples > 0);
    assert!(s.rtt_ms.p50 <= s.rtt_ms.max);
    assert!(s.inputs > 0 && s.fires > 0);
    // Every INPUT and FIRE went out, plus at least one KEEPALIVE/HELLO per bot.
    assert!(s.sent.datagrams >= s.inputs + s.fires + 20);
    assert!(s.received.datagrams >= s.snapshots_received);
    assert!(s.received.bytes > s.received.datagrams * 13);
    assert!(s.cpu.user_s + s.cpu.sys_s > 0.0);
    assert!(server_line.contains("accepts=20"), "{server_line}");
    // Every bot said BYE at the end (the host counts BYEs received).
    assert!(server_line.contains("byes=20"), "{server_line}");

    let v: serde_json::Value = serde_json::from_str(&s.to_json()).expect("summary is JSON");
    for key in [
        "servers",
        "clients",
        "connected",
        "failed",
        "wall_s",
        "tick_hz",
        "handshake_ms",
        "snapshots_per_s_mean",
        "snapshots_per_s_min",
        "snapshots_received",
        "window_expected",
        "delivery",
        "render_usable",
        "render_delay_ms",
        "loss",
        "rtt_ms",
        "sent",
        "received",
        "cpu",
    ] {
        assert!(v.get(key).is_some(), "JSON summary lacks {key}: {v}");
    }
    assert_eq!(v["connected"], 20);
    assert!(v["rtt_ms"]["p99"].is_number());
    assert!(v["handshake_ms"]["p50"].is_number());
    assert!(v["sent"]["datagrams"].as_u64().unwrap() > 0);
    assert!(v["received"]["bytes"].as_u64().unwrap() > 0);
    assert!(v["cpu"]["user_s"].is_number());
}

#[test]
fn no_server_answering_is_a_clean_failure() {
    // A socket nobody reads from: HELLOs go unanswered, the handshake times out.
    let quiet = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cfg = BotConfig {
        servers: vec![quiet.local_addr().unwrap()],
        clients: 3,
        duration: Duration::from_millis(600),
        ..BotConfig::default()
    };
    cfg.client.connect_timeout = Duration::from_millis(300);
    let s = bots::run(&cfg, |_| {}).expect("bots ran");
    assert_eq!((s.connected, s.failed), (0, 3));
    assert_eq!(s.snapshots_received, 0);
    assert_eq!(s.delivery, 0.0);
    assert!(s.sent.datagrams >= 3);
    assert!(serde_json::from_str::<serde_json::Value>(&s.to_json()).is_ok());
    assert!(
        bots::run(&BotConfig::default(), |_| {}).is_err(),
        "no server is an error"
    );
}

#[test]
fn absurd_settings_do_not_panic() {
    let quiet = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let cfg = BotConfig {
        servers: vec![quiet.local_addr().unwrap()],
        clients: 2,
        duration: Duration::from_millis(200),
        input_hz: f64::NAN,
        fire_hz: -1.0,
        connect_rate: 0.0,
        progress: Some(Duration::MAX),
        ..BotConfig::default()
    };
    let s = bots::run(&cfg, |_| {}).expect("bots ran");
    assert_eq!(s.clients, 2);
    let zero = BotConfig { clients: 0, ..cfg };
    assert_eq!(bots::run(&zero, |_| {}).expect("bots ran").connected, 0);
}

#[test]
fn bots_with_stun_send_their_learned_reply_address() {
    let host = net::start(HostConfig::default());
    let cfg = BotConfig {
        servers: host.addrs.clone(),
        clients: 5,
        duration: Duration::from_secs(1),
        connect_rate: 100.0,
        seed: 3,
        stun: Some(host.addrs[0]),
        ..BotConfig::default()
    };
    let s = bots::run(&cfg, |_| {}).expect("bots ran");
    net::sync(host.addrs[0]);
    let line = host.stop();
    assert_eq!(s.connected, 5, "{s:?}");
    assert!(s.snapshots_received > 0);
    assert!(line.contains("accepts=5"), "{line}");
}

/// A full server: the summary says how many were rejected and why (server full), and the
/// failed count is every bot that did not connect.
#[test]
fn rejected_bots_are_counted_by_reason() {
    let mut hc = HostConfig::default();
    hc.server.max_clients = 2;
    let host = net::start(hc);
    let cfg = BotConfig {
        servers: host.addrs.clone(),
        clients: 5,
        duration: Duration::from_secs(1),
        connect_rate: 100.0,
        seed: 5,
        ..BotConfig::default()
    };
    let s = bots::run(&cfg, |_| {}).expect("bots ran");
    drop(host);
    assert_eq!((s.connected, s.failed, s.rejected), (2, 3, 3), "{s:?}");
    assert_eq!(s.failures.rejected_full, 3, "{:?}", s.failures);
    let text = s.to_string();
    assert!(text.contains("3 rejected: server full"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
    assert_eq!(v["failures"]["rejected_full"], 3);
}

/// When the server goes away (BYE to everyone), every bot is dropped: the run ends then,
/// not at --seconds, and the dropped bots count as failed, as on the progress line.
#[test]
fn the_run_ends_when_every_bot_was_dropped() {
    let host = net::start(HostConfig::default());
    let stopper = host.stopper.clone();
    let cfg = BotConfig {
        servers: host.addrs.clone(),
        clients: 4,
        // Far longer than the test needs: the run must end by itself long before.
        duration: Duration::from_secs(600),
        connect_rate: 100.0,
        progress: Some(Duration::from_millis(20)),
        seed: 9,
        ..BotConfig::default()
    };
    let mut last_failed = 0;
    let s = bots::run(&cfg, |p| {
        if p.connected == 4 {
            stopper.stop();
        }
        last_failed = p.failed;
    })
    .expect("bots ran");
    drop(host);
    assert!(
        s.wall_s < 300.0,
        "the run went on after every bot was dropped"
    );
    assert_eq!((s.connected, s.dropped, s.failed), (4, 4, 4), "{s:?}");
    assert_eq!(s.failures.dropped_bye, 4, "{:?}", s.failures);
    assert!(last_failed <= s.failed);
}

/// The binary's exit status says whether every bot connected.
#[test]
fn exit_status_says_whether_every_bot_connected() {
    let bin = env!("CARGO_BIN_EXE_tickwire-bots");
    let run = |server: &str, extra: &[&str]| {
        let mut args = vec!["--server", server, "--seconds", "1", "--progress", "0"];
        args.extend_from_slice(extra);
        std::process::Command::new(bin)
            .args(&args)
            .output()
            .unwrap()
    };
    let mut hc = HostConfig::default();
    hc.server.max_clients = 2;
    let host = net::start(hc);
    let server = host.addrs[0].to_string();
    let all = run(&server, &["--clients", "2"]);
    assert_eq!(all.status.code(), Some(0), "{all:?}");
    let some = run(&server, &["--clients", "4"]);
    assert_eq!(some.status.code(), Some(3), "{some:?}");
    assert!(String::from_utf8_lossy(&some.stdout).contains("server full"));
    drop(host);
    let quiet = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let none = run(
        &quiet.local_addr().unwrap().to_string(),
        &["--clients", "2", "--connect-timeout-ms", "300"],
    );
    assert_eq!(none.status.code(), Some(4), "{none:?}");
    assert!(String::from_utf8_lossy(&none.stdout).contains("handshake timed out"));
    let v = std::process::Command::new(bin)
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("tickwire-bots "));
    let help = std::process::Command::new(bin)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("Exit status: 0 every bot connected"),
        "{help}"
    );
}

/// Against a `--require-ticket` server, bots with a lobby get tickets and play; bots
/// without are rejected for their ticket, and the summary says so.
#[test]
fn bots_log_in_to_the_lobby_for_tickets() {
    let mut hc = HostConfig::default();
    hc.server.require_ticket = true;
    hc.lobby = Some((
        "127.0.0.1:0".parse().unwrap(),
        tickwire::lobby::LobbyConfig::default(),
    ));
    let host = net::start(hc);
    let cfg = BotConfig {
        servers: host.addrs.clone(),
        clients: 5,
        duration: Duration::from_secs(1),
        connect_rate: 50.0,
        seed: 11,
        lobby: host.lobby,
        ..BotConfig::default()
    };
    let s = bots::run(&cfg, |_| {}).expect("bots ran");
    assert_eq!((s.connected, s.failed), (5, 0), "{s:?}");
    assert!(s.snapshots_received > 0);
    let without = BotConfig { lobby: None, ..cfg };
    let s = bots::run(&without, |_| {}).expect("bots ran");
    assert_eq!((s.connected, s.failed), (0, 5), "{s:?}");
    assert_eq!(s.failures.rejected_bad_ticket, 5, "{:?}", s.failures);
    net::sync(host.addrs[0]);
    let line = host.stop();
    assert!(line.contains("accepts=5"), "{line}");
}

#[test]
fn on_loopback_every_bot_has_an_ip_of_its_own_so_per_ip_limits_see_players() {
    // A server with its default per-IP limit (16 per match): 40 bots, each from an address
    // of 127.0.0.0/8 of its own (the default on loopback), all connect.
    let host = net::start(HostConfig::default());
    let cfg = BotConfig {
        servers: host.addrs.clone(),
        clients: 40,
        duration: Duration::from_secs(2),
        connect_rate: 200.0,
        seed: 5,
        ..BotConfig::default()
    };
    assert_eq!(cfg.source_ips.resolve(&cfg.servers), Ok(SourceIps::PerBot));
    let s = bots::run(&cfg, |_| {}).expect("bots ran");
    net::sync(host.addrs[0]);
    let line = host.stop();
    assert_eq!(s.connected, 40, "{s:?}");
    assert!(
        line.contains("accepts=40") && line.contains("rejects_per_ip=0"),
        "{line}"
    );

    // The same from one address: the limit holds them to 16.
    let host = net::start(HostConfig::default());
    let one = BotConfig {
        servers: host.addrs.clone(),
        source_ips: SourceIps::One,
        duration: Duration::from_secs(3),
        ..cfg
    };
    let s = bots::run(&one, |_| {}).expect("bots ran");
    net::sync(host.addrs[0]);
    let line = host.stop();
    assert!(s.connected <= 16, "{s:?}");
    assert!(s.rejected > 0, "{s:?}");
    assert!(!line.contains("rejects_per_ip=0 "), "{line}");
}

#[test]
fn source_ips_per_bot_are_distinct_loopback_addresses_and_need_a_loopback_server() {
    let lo: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let remote: std::net::SocketAddr = "192.0.2.1:9".parse().unwrap();
    let v6: std::net::SocketAddr = "[::1]:9".parse().unwrap();
    assert_eq!(SourceIps::Auto.resolve(&[lo, lo]), Ok(SourceIps::PerBot));
    assert_eq!(SourceIps::Auto.resolve(&[lo, remote]), Ok(SourceIps::One));
    assert_eq!(SourceIps::Auto.resolve(&[v6]), Ok(SourceIps::One));
    assert!(SourceIps::PerBot.resolve(&[remote]).is_err());
    assert!(SourceIps::PerBot.resolve(&[v6]).is_err());
    assert_eq!(SourceIps::One.resolve(&[lo]), Ok(SourceIps::One));
    let a: Vec<_> = (0..70_000)
        .map(|i| SourceIps::PerBot.bind_addr(i, &lo))
        .collect();
    assert_eq!(a[0], "127.1.0.1:0".parse().unwrap());
    assert_eq!(a[65_535], "127.2.0.0:0".parse().unwrap());
    let distinct: std::collections::HashSet<_> = a.iter().map(|s| s.ip()).collect();
    assert_eq!(distinct.len(), a.len());
    assert!(a.iter().all(|s| s.ip().is_loopback()));
    assert_eq!(
        SourceIps::One.bind_addr(3, &lo),
        "0.0.0.0:0".parse().unwrap()
    );
}
