//! `tickwire serve --config FILE` and `--print-config`, on the real binary (printing the
//! configuration binds no socket).

use std::path::PathBuf;
use std::process::{Command, Output};

fn tickwire(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(args)
        .output()
        .unwrap()
}

/// A file under the target directory, unique to this test.
fn file(name: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("config_file");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `serve ARGS --print-config`, which must succeed: its stdout.
fn printed(args: &[&str]) -> String {
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    all.push("--print-config");
    let out = tickwire(&all);
    assert!(
        out.status.success(),
        "{all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The value line of `key` in a printed configuration.
fn value<'a>(cfg: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key} = ");
    cfg.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key} in\n{cfg}"))
}

#[test]
fn print_config_shows_every_flag_and_the_defaults() {
    let cfg = printed(&[]);
    assert_eq!(value(&cfg, "bind"), "\"0.0.0.0:7777\"");
    assert_eq!(value(&cfg, "tick-hz"), "60");
    assert_eq!(value(&cfg, "require-ticket"), "false");
    assert_eq!(value(&cfg, "lobby-max-conns"), "1024");
    assert!(cfg.contains("# lobby = "), "{cfg}");
    // Every flag of `serve --help` but the file itself, --print-config and help is a key.
    let help = String::from_utf8(tickwire(&["serve", "--help"]).stdout).unwrap();
    let mut checked = 0;
    for word in help.split_whitespace() {
        let Some(flag) = word.strip_prefix("--") else {
            continue;
        };
        let flag = flag.trim_end_matches([',', '.', ')', ':']);
        if ["config", "print-config", "help", ""].contains(&flag) || flag.contains(['=', ' ']) {
            continue;
        }
        if !flag.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            continue;
        }
        assert!(
            cfg.contains(&format!("\n{flag} = ")) || cfg.contains(&format!("\n# {flag} = ")),
            "--{flag} is not in --print-config:\n{cfg}"
        );
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} flags found in --help");
}

#[test]
fn file_values_apply() {
    let f = file(
        "apply.toml",
        "tick-hz = 30\nbind = \"127.0.0.1:9000\"\nrequire-ticket = true\n\
         lobby-max-conns = 77\nname = \"my server\"\n",
    );
    let cfg = printed(&["--config", f.to_str().unwrap()]);
    assert_eq!(value(&cfg, "tick-hz"), "30");
    assert_eq!(value(&cfg, "bind"), "\"127.0.0.1:9000\"");
    assert_eq!(value(&cfg, "require-ticket"), "true");
    assert_eq!(value(&cfg, "lobby-max-conns"), "77");
    assert_eq!(value(&cfg, "name"), "\"my server\"");
    assert_eq!(
        value(&cfg, "max-clients"),
        "255",
        "the rest keeps its defaults"
    );
}

#[test]
fn flags_override_the_file() {
    let f = file(
        "override.toml",
        "tick-hz = 30\nlobby-user-rate = 3\nmap = \"dust\"\n",
    );
    let cfg = printed(&[
        "--tick-hz",
        "20",
        "--config",
        f.to_str().unwrap(),
        "--lobby-user-rate=5",
    ]);
    assert_eq!(value(&cfg, "tick-hz"), "20");
    assert_eq!(value(&cfg, "lobby-user-rate"), "5");
    assert_eq!(
        value(&cfg, "map"),
        "\"dust\"",
        "what the flags leave, the file sets"
    );
}

#[test]
fn an_unknown_key_is_refused_by_name() {
    let f = file("unknown.toml", "tick-hz = 30\ntik-hz = 30\n");
    let out = tickwire(&["serve", "--config", f.to_str().unwrap(), "--print-config"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown key `tik-hz`"), "{err}");
}

#[test]
fn bad_values_in_the_file_are_refused_with_their_key() {
    for (text, key) in [
        ("tick-hz = 0\n", "`tick-hz`"),
        ("max-clients = 256\n", "`max-clients`"),
        ("require-ticket = \"yes\"\n", "`require-ticket`"),
        ("timeout-ms = 1.5\n", "`timeout-ms`"),
        ("config = \"other.toml\"\n", "`config`"),
        ("[lobby]\nmax-conns = 3\n", "`lobby`"),
        ("tick-hz = \n", "TOML"),
    ] {
        let f = file("bad.toml", text);
        let out = tickwire(&["serve", "--config", f.to_str().unwrap(), "--print-config"]);
        assert!(!out.status.success(), "{text:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key) || key == "TOML", "{text:?}: {err}");
        assert!(err.contains("bad.toml"), "{text:?}: {err}");
    }
}

#[test]
fn print_config_reads_back_to_the_same_configuration() {
    let first = printed(&[
        "--bind",
        "127.0.0.1:0",
        "--lobby",
        "off",
        "--tick-hz",
        "30",
        "--name",
        "quote \" and \\ back",
        "--require-ticket",
        "--lobby-send-buffer",
        "8192",
    ]);
    let f = file("roundtrip.toml", &first);
    let second = printed(&["--config", f.to_str().unwrap()]);
    assert_eq!(first, second);
    // And the defaults round-trip too (the lobby left unset).
    let defaults = printed(&[]);
    let f = file("defaults.toml", &defaults);
    assert_eq!(printed(&["--config", f.to_str().unwrap()]), defaults);
}

#[test]
fn secure_mode_is_set_from_the_file_and_checked_as_the_flags_are() {
    let f = file(
        "secure.toml",
        "secure = true\ntoken-key = \"/etc/tickwire/fleet.key\"\nserver-id = 4\n",
    );
    let cfg = printed(&["--config", f.to_str().unwrap()]);
    assert_eq!(value(&cfg, "secure"), "true");
    assert_eq!(value(&cfg, "token-key"), "\"/etc/tickwire/fleet.key\"");
    assert_eq!(value(&cfg, "server-id"), "4");
    // A file that turns secure mode on without a key is refused, as the flags are.
    let f = file("secure_no_key.toml", "secure = true\n");
    let out = tickwire(&["serve", "--config", f.to_str().unwrap(), "--print-config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--secure needs --token-key"));
}
