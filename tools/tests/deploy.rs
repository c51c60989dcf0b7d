//! deploy/: the systemd unit runs the binary with flags it has, the example configuration
//! loads, and (where `systemd-analyze` exists) systemd accepts the unit.

use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn unit() -> String {
    std::fs::read_to_string(deploy().join("tickwire.service")).unwrap()
}

/// The value of `key=` in the unit's `[Service]` section (the last one given), joining
/// backslash-continued lines.
fn service(unit: &str, key: &str) -> Option<String> {
    let joined = unit.replace("\\\n", " ");
    let mut section = "";
    let mut found = None;
    for line in joined.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[Service]" {
            if let Some(v) = line.strip_prefix(key).and_then(|r| r.strip_prefix('=')) {
                found = Some(v.trim().to_string());
            }
        }
    }
    found
}

/// ExecStart's arguments after the program, with the installed configuration file replaced
/// by deploy/tickwire.toml.
fn exec_start_args() -> Vec<String> {
    let exec = service(&unit(), "ExecStart").expect("an ExecStart");
    let mut words = exec.split_whitespace();
    let program = words.next().unwrap();
    assert!(program.ends_with("/tickwire"), "ExecStart runs {program}");
    words
        .map(|w| {
            if w == "/etc/tickwire/tickwire.toml" {
                deploy().join("tickwire.toml").to_str().unwrap().to_string()
            } else {
                w.to_string()
            }
        })
        .collect()
}

#[test]
fn exec_start_runs_with_the_binarys_flags_and_the_example_config() {
    let args = exec_start_args();
    assert_eq!(args[0], "serve");
    assert!(
        args.iter().any(|a| a.ends_with("deploy/tickwire.toml")),
        "{args:?}"
    );
    let help = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        let name = flag.split('=').next().unwrap();
        assert!(
            help.contains(name),
            "{name} is not a flag of tickwire serve"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(&args)
        .arg("--print-config")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    let cfg = String::from_utf8(out.stdout).unwrap();
    assert!(
        cfg.contains("\nlog-format = \"json\"\n"),
        "ExecStart's flag wins: {cfg}"
    );
    assert!(cfg.contains("\nbind = \"0.0.0.0:7777\"\n"), "{cfg}");
}

#[test]
fn the_unit_stops_with_sigterm_restarts_on_failure_and_is_sandboxed() {
    let u = unit();
    for (key, want) in [
        ("KillSignal", "SIGTERM"),
        ("Restart", "on-failure"),
        ("DynamicUser", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("AmbientCapabilities", ""),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(service(&u, key).as_deref(), Some(want), "{key}");
    }
    let nofile: u64 = service(&u, "LimitNOFILE").unwrap().parse().unwrap();
    assert!(nofile >= 4096, "LimitNOFILE={nofile}");
    let kind = service(&u, "Type").unwrap();
    assert!(kind == "exec" || kind == "simple", "Type={kind}");
    // SIGHUP stops the server: a reload command would stop it instead of reloading.
    assert!(service(&u, "ExecReload").is_none());
}

/// `systemd-analyze verify` where it exists (it is not required): it must have nothing to
/// say about the unit, with ExecStart pointed at the binary under test.
#[test]
fn systemd_accepts_the_unit_where_it_can_check() {
    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze not found: not checked");
        return;
    };
    if !probe.status.success() {
        eprintln!("systemd-analyze does not run here: not checked");
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("deploy");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tickwire.service");
    let text = unit().replace("/usr/local/bin/tickwire", env!("CARGO_BIN_EXE_tickwire"));
    std::fs::write(&path, text).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let about_us: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("tickwire.service"))
        .collect();
    assert!(about_us.is_empty(), "systemd-analyze verify: {said}");
}
