//! deploy/agones/: the GameServer and the Fleet run the binary with flags it has, with
//! values it takes (`--print-config` reads them back), on the ports the manifests open,
//! with probes on the admin endpoint's paths and Agones health settings the server's pings
//! meet.

use serde_yaml::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn manifest(name: &str) -> Value {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/agones")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `v[k1][k2]...`, or a panic naming the path.
fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for k in path {
        cur = cur.get(*k).unwrap_or_else(|| panic!("no {k} in {path:?}"));
    }
    cur
}

fn int(v: &Value, path: &[&str]) -> i64 {
    at(v, path)
        .as_i64()
        .unwrap_or_else(|| panic!("{path:?} is not an integer"))
}

/// What `tickwire serve ARGS --print-config` says, as TOML.
fn effective(args: &[String]) -> toml::Table {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(args)
        .arg("--print-config")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    String::from_utf8(out.stdout).unwrap().parse().unwrap()
}

fn port_of(cfg: &toml::Table, key: &str) -> i64 {
    let addr: std::net::SocketAddr = cfg[key].as_str().unwrap().parse().unwrap();
    i64::from(addr.port())
}

/// Checks one GameServer spec (a GameServer's `spec`, a Fleet's `spec.template.spec`).
fn check_game_server(spec: &Value, what: &str) {
    let help = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();

    let containers = at(spec, &["template", "spec", "containers"])
        .as_sequence()
        .unwrap();
    assert_eq!(containers.len(), 1, "{what}: one container");
    let c = &containers[0];
    let command = at(c, &["command"]).as_sequence().unwrap();
    assert!(
        command[0].as_str().unwrap().ends_with("/tickwire"),
        "{what}"
    );
    let args: Vec<String> = at(c, &["args"])
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(args[0], "serve", "{what}");
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        let name = flag.split('=').next().unwrap();
        assert!(
            help.contains(&format!("{name} ")) || help.contains(&format!("{name}\n")),
            "{what}: {name} is not a flag of tickwire serve"
        );
    }
    assert!(args.iter().any(|a| a == "--agones"), "{what}: --agones");
    let cfg = effective(&args);
    assert_eq!(cfg["agones"].as_bool(), Some(true), "{what}");
    assert_eq!(
        cfg.get("matches").and_then(|m| m.as_integer()).unwrap_or(1),
        1
    );

    // The Agones ports: the game port (UDP) and the lobby (TCP), by container port.
    let ports = at(spec, &["ports"]).as_sequence().unwrap();
    let port = |name: &str| {
        ports
            .iter()
            .find(|p| at(p, &["name"]).as_str() == Some(name))
            .unwrap_or_else(|| panic!("{what}: no port {name}"))
    };
    let game = port("game");
    assert_eq!(at(game, &["protocol"]).as_str(), Some("UDP"), "{what}");
    assert_eq!(
        int(game, &["containerPort"]),
        port_of(&cfg, "bind"),
        "{what}"
    );
    let lobby = port("lobby");
    assert_eq!(at(lobby, &["protocol"]).as_str(), Some("TCP"), "{what}");
    assert_eq!(
        int(lobby, &["containerPort"]),
        port_of(&cfg, "lobby"),
        "{what}"
    );

    // The admin port: a container port, the probes' port, no public Agones port.
    let admin = port_of(&cfg, "admin");
    let cports = at(c, &["ports"]).as_sequence().unwrap();
    assert!(
        cports.iter().any(|p| int(p, &["containerPort"]) == admin),
        "{what}: the admin port {admin} is not a container port"
    );
    assert!(
        ports.iter().all(|p| int(p, &["containerPort"]) != admin),
        "{what}: the admin port must not be public"
    );
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(
            int(c, &[probe, "httpGet", "port"]),
            admin,
            "{what}: {probe}"
        );
        assert_eq!(
            at(c, &[probe, "httpGet", "path"]).as_str(),
            Some(path),
            "{what}: {probe}"
        );
    }
    // Liveness fails only after the server itself calls a loop stalled.
    let live = int(c, &["livenessProbe", "periodSeconds"])
        * int(c, &["livenessProbe", "failureThreshold"]);
    assert!(
        live as u64 > tickwire_tools::monitor::STALL.as_secs(),
        "{what}: liveness gives up after {live} s"
    );

    // Agones health: on, and the period longer than the server's ping interval.
    assert_eq!(at(spec, &["health", "disabled"]).as_bool(), Some(false));
    let period = int(spec, &["health", "periodSeconds"]);
    assert!(
        period > 2,
        "{what}: health.periodSeconds {period} must exceed the 2 s between pings"
    );
    assert!(int(spec, &["health", "failureThreshold"]) >= 1);

    // The drain fits in the grace period.
    let drain = cfg["drain-seconds"].as_integer().unwrap();
    let grace = int(spec, &["template", "spec", "terminationGracePeriodSeconds"]);
    assert!(
        grace > drain,
        "{what}: terminationGracePeriodSeconds {grace} <= --drain-seconds {drain}"
    );
}

#[test]
fn the_gameserver_manifest_matches_the_binary() {
    let gs = manifest("gameserver.yaml");
    assert_eq!(at(&gs, &["apiVersion"]).as_str(), Some("agones.dev/v1"));
    assert_eq!(at(&gs, &["kind"]).as_str(), Some("GameServer"));
    check_game_server(at(&gs, &["spec"]), "gameserver.yaml");
}

#[test]
fn the_fleet_manifest_matches_the_binary_and_the_gameserver() {
    let fleet = manifest("fleet.yaml");
    assert_eq!(at(&fleet, &["apiVersion"]).as_str(), Some("agones.dev/v1"));
    assert_eq!(at(&fleet, &["kind"]).as_str(), Some("Fleet"));
    assert!(int(&fleet, &["spec", "replicas"]) >= 1);
    let spec = at(&fleet, &["spec", "template", "spec"]);
    check_game_server(spec, "fleet.yaml");
    // The same server as gameserver.yaml.
    let gs = manifest("gameserver.yaml");
    let gs_spec = at(&gs, &["spec"]);
    for key in ["ports", "health"] {
        assert_eq!(at(spec, &[key]), at(gs_spec, &[key]), "{key}");
    }
    let args = |s: &Value| at(s, &["template", "spec", "containers"])[0]["args"].clone();
    assert_eq!(args(spec), args(gs_spec));
}

#[test]
fn agones_needs_the_feature_and_says_so() {
    if cfg!(feature = "agones") {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args([
            "serve",
            "--agones",
            "--bind",
            "127.0.0.1:0",
            "--lobby",
            "off",
        ])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--features agones"), "{stderr}");
}
