//! `tickwire token keygen|mint|inspect` and `tickwire serve --secure`, on the real binary.
//! Every time is given with --now, so nothing here depends on the clock.
#[path = "../../tests/common/mod.rs"]
mod common;

use common::net::PATIENCE;
use std::io::{BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tickwire_tools::common::first_line;

fn tickwire(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An empty directory under the target directory, unique to `test`.
fn dir(test: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("token_cli")
        .join(test);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// A new key file at `d/name`.
fn keygen(d: &Path, name: &str) -> PathBuf {
    let k = d.join(name);
    let out = tickwire(&["token", "keygen", s(&k)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    k
}

#[test]
fn keygen_writes_an_owner_only_key_file_and_never_overwrites() {
    let d = dir("keygen");
    let k = d.join("fleet.key");
    let out = tickwire(&["token", "keygen", s(&k)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mode(&k), 0o600);
    let key = std::fs::read_to_string(&k).unwrap();
    assert_eq!(key.len(), 65);
    assert!(key.ends_with('\n'));
    assert!(key[..64].bytes().all(|b| b.is_ascii_hexdigit()));
    let said = text(&out.stdout);
    assert!(said.contains(s(&k)), "says where: {said}");
    assert!(!said.contains(&key[..64]), "never prints the key: {said}");

    let again = tickwire(&["token", "keygen", s(&k)]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("refusing to overwrite"));
    assert_eq!(
        std::fs::read_to_string(&k).unwrap(),
        key,
        "the key is untouched"
    );

    let other = keygen(&d, "other.key");
    assert_ne!(std::fs::read_to_string(other).unwrap(), key, "fresh keys");
}

/// `token mint --token-key KEY ARGS`: the token text on stdout.
fn mint(key: &Path, args: &[&str]) -> String {
    let mut all = vec!["token", "mint", "--token-key", s(key)];
    all.extend_from_slice(args);
    let out = tickwire(&all);
    assert!(out.status.success(), "{all:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// `token inspect ARGS`, the token given on stdin.
fn inspect_stdin(token: &str, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["token", "inspect"])
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    // A child that exits before reading (a refused key file) closes the pipe: not an error.
    let _ = child.stdin.take().unwrap().write_all(token.as_bytes());
    child.wait_with_output().unwrap()
}

/// The value of `field` in inspect's output.
fn field<'a>(out: &'a str, field: &str) -> &'a str {
    out.lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .filter(|rest| rest.starts_with(' '))
                .map(str::trim)
        })
        .unwrap_or_else(|| panic!("no {field} in\n{out}"))
}

#[test]
fn mint_then_inspect_round_trips_every_field() {
    let d = dir("roundtrip");
    let k = keygen(&d, "fleet.key");
    let token = mint(
        &k,
        &[
            "--client-id",
            "42",
            "--scope",
            "7",
            "--name",
            "ann",
            "--protocol-id",
            "99",
            "--lifetime",
            "60",
            "--now",
            "1800000000",
        ],
    );
    assert_eq!(token.len(), 411, "410 hex digits and a newline: {token:?}");
    assert!(token.ends_with('\n'));
    assert!(token[..410]
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));

    let out = inspect_stdin(
        &token,
        &[
            "--token-key",
            s(&k),
            "--protocol-id",
            "99",
            "--now",
            "1800000010",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let o = text(&out.stdout);
    assert_eq!(field(&o, "client id"), "42");
    assert_eq!(field(&o, "expires"), "1800000060 (unix), in 50 s");
    assert!(field(&o, "sealed").starts_with("opens"), "{o}");
    assert!(field(&o, "scope").starts_with("7 "), "{o}");
    assert_eq!(field(&o, "name"), "\"ann\"");
    // The nonce is bytes 80..92 of the token.
    assert_eq!(field(&o, "nonce"), &token[160..184]);
    // The connection keys (bytes 16..48 and 48..80) only with --show-keys.
    let (c2s, s2c) = (&token[32..96], &token[96..160]);
    assert!(!o.contains(c2s) && !o.contains(s2c), "keys printed:\n{o}");
    let shown = text(&inspect_stdin(&token, &["--show-keys", "--now", "0"]).stdout);
    assert_eq!(field(&shown, "c2s key"), c2s);
    assert_eq!(field(&shown, "s2c key"), s2c);

    // Without the key: the clear fields only, exit 0.
    let out = inspect_stdin(&token, &["--now", "1800000061"]);
    assert!(out.status.success());
    let o = text(&out.stdout);
    assert_eq!(field(&o, "client id"), "42");
    assert!(field(&o, "expires").contains("expired 1 s ago"), "{o}");
    assert!(field(&o, "sealed").starts_with("not opened"), "{o}");
    assert!(!o.contains("\nscope"), "no scope without the key:\n{o}");

    // Defaults: scope 0, no name, 30 s.
    let plain = mint(&k, &["--client-id", "1", "--now", "100"]);
    let o = text(&inspect_stdin(&plain, &["--token-key", s(&k), "--now", "100"]).stdout);
    assert!(field(&o, "scope").starts_with("0 (any server"), "{o}");
    assert_eq!(field(&o, "name"), "(none)");
    assert_eq!(field(&o, "expires"), "130 (unix), in 30 s");
}

#[test]
fn inspect_says_when_a_token_does_not_open() {
    let d = dir("wrong_key");
    let k = keygen(&d, "fleet.key");
    let other = keygen(&d, "other.key");
    let token = mint(&k, &["--client-id", "5", "--now", "1000"]);
    for args in [
        vec!["--token-key", s(&other)],
        // The right key, another protocol id: the seal covers it.
        vec!["--token-key", s(&k), "--protocol-id", "1"],
    ] {
        let out = inspect_stdin(&token, &args);
        assert_eq!(out.status.code(), Some(4), "{args:?}");
        let o = text(&out.stdout);
        assert!(field(&o, "sealed").starts_with("does NOT open"), "{o}");
        assert_eq!(field(&o, "client id"), "5", "the clear fields still show");
        assert!(text(&out.stderr).contains("does not open"));
    }
    // A changed expiry (bytes 8..16) breaks the seal too.
    let mut forged = token.clone().into_bytes();
    forged[31] = if forged[31] == b'0' { b'1' } else { b'0' };
    let out = inspect_stdin(
        std::str::from_utf8(&forged).unwrap(),
        &["--token-key", s(&k)],
    );
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn inspect_refuses_what_is_not_a_token() {
    for bad in ["", "abcd\n", &"zz".repeat(205)] {
        let out = inspect_stdin(bad, &[]);
        assert_eq!(out.status.code(), Some(3), "{bad:?}");
        assert!(text(&out.stderr).contains("stdin"), "{}", text(&out.stderr));
    }
    let out = tickwire(&["token", "inspect", "/nonexistent/token"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/token"));
}

#[test]
fn mint_out_writes_an_owner_only_file_and_never_overwrites() {
    let d = dir("mint_out");
    let k = keygen(&d, "fleet.key");
    let t = d.join("token.hex");
    let args = [
        "--client-id",
        "9",
        "--name",
        "bo",
        "--out",
        s(&t),
        "--now",
        "50",
    ];
    let said = mint(&k, &args);
    assert!(said.contains(s(&t)), "{said}");
    assert_eq!(mode(&t), 0o600);
    let token = std::fs::read_to_string(&t).unwrap();
    assert_eq!(token.len(), 411);
    assert!(
        !said.contains(&token[..410]),
        "the token goes to the file only"
    );
    let out = tickwire(&[
        "token",
        "inspect",
        "--token-key",
        s(&k),
        "--now",
        "50",
        s(&t),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(field(&text(&out.stdout), "name"), "\"bo\"");

    let mut all = vec!["token", "mint", "--token-key", s(&k)];
    all.extend_from_slice(&args);
    let again = tickwire(&all);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read_to_string(&t).unwrap(), token);
}

#[test]
fn mint_refuses_bad_keys_and_bad_flags() {
    let d = dir("mint_bad");
    let k = keygen(&d, "fleet.key");
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = tickwire(&["token", "mint", "--token-key", s(&k), "--client-id", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("chmod 600"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).unwrap();
    for args in [
        &["--name", "a-name-of-17-byte"][..],
        &["--lifetime", "0"],
        &["--lifetime", "86401"],
        &["--scope", "-1"],
    ] {
        let mut all = vec!["token", "mint", "--token-key", s(&k), "--client-id", "1"];
        all.extend_from_slice(args);
        let out = tickwire(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = tickwire(&["token", "mint", "--token-key", s(&k)]);
    assert_eq!(out.status.code(), Some(2), "--client-id is required");
}

#[test]
fn serve_refuses_a_key_file_others_can_read() {
    let d = dir("serve_mode");
    let k = keygen(&d, "fleet.key");
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = tickwire(&[
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--lobby",
        "off",
        "--secure",
        "--token-key",
        s(&k),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("mode 0644") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing was started");
    // A file that is not a key.
    let junk = d.join("junk.key");
    std::fs::write(&junk, "not a key\n").unwrap();
    std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = tickwire(&[
        "serve",
        "--lobby",
        "off",
        "--secure",
        "--token-key",
        s(&junk),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("64 hex digits"));
}

#[test]
fn serve_refuses_secure_flags_that_cannot_work() {
    let d = dir("serve_flags");
    let k = keygen(&d, "fleet.key");
    for (args, says) in [
        (&["--secure"][..], "--secure needs --token-key"),
        (&["--token-key", s(&k)], "give --secure too"),
        (&["--server-id", "3"], "--server-id"),
        (
            &["--secure", "--token-key", s(&k), "--require-ticket"],
            "do not combine",
        ),
    ] {
        let mut all = vec!["serve", "--bind", "127.0.0.1:0", "--lobby", "off"];
        all.extend_from_slice(args);
        let out = tickwire(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
        // --print-config checks them too, so a printed configuration is one that runs.
        all.push("--print-config");
        assert_eq!(tickwire(&all).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn print_config_shows_the_secure_settings_but_not_the_key() {
    let d = dir("print_config");
    let k = keygen(&d, "fleet.key");
    let key = std::fs::read_to_string(&k).unwrap();
    let out = tickwire(&[
        "serve",
        "--secure",
        "--token-key",
        s(&k),
        "--server-id",
        "12",
        "--print-config",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cfg = text(&out.stdout);
    assert!(cfg.contains("\nsecure = true\n"), "{cfg}");
    assert!(
        cfg.contains(&format!("\ntoken-key = \"{}\"\n", s(&k))),
        "{cfg}"
    );
    assert!(cfg.contains("\nserver-id = 12\n"), "{cfg}");
    assert!(!cfg.contains(&key[..64]), "the key is never printed");
    // It reads back: the same settings from the file.
    let f = d.join("secure.toml");
    std::fs::write(&f, &cfg).unwrap();
    let again = tickwire(&["serve", "--config", s(&f), "--print-config"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout), cfg);
    // Without secure mode, the settings are shown as off and unset.
    let plain = text(&tickwire(&["serve", "--print-config"]).stdout);
    assert!(plain.contains("\nsecure = false\n"), "{plain}");
    assert!(plain.contains("\n# token-key = (not set"), "{plain}");
    assert!(plain.contains("\n# server-id = (not set"), "{plain}");
}

/// Kills the server if the test fails before it stops it.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_secure_starts_and_says_so_without_the_key() {
    let d = dir("serve_secure");
    let k = keygen(&d, "fleet.key");
    let key = std::fs::read_to_string(&k).unwrap();
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(["serve", "--bind", "127.0.0.1:0", "--lobby", "off"])
            .args(["--secure", "--token-key", s(&k), "--server-id", "5"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (first, mut stdout) =
        first_line(BufReader::new(child.0.stdout.take().unwrap()), PATIENCE).unwrap();
    assert!(
        first.starts_with("tickwire listening udp=127.0.0.1:"),
        "{first:?}"
    );
    // SAFETY: signals the child we started.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("tickwire stopped"), "{rest}");
    let mut err = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let on: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("secure mode on"))
        .collect();
    assert_eq!(on.len(), 1, "one line says secure mode is on:\n{err}");
    assert!(
        on[0].contains("INFO") && on[0].contains("server id 5"),
        "{err}"
    );
    assert!(!err.contains(&key[..64]), "the key is never logged");
}

#[test]
fn help_documents_the_token_text_and_the_exit_statuses() {
    let top = text(&tickwire(&["token", "--help"]).stdout).replace('\n', " ");
    assert!(
        top.contains("410 lowercase hex digits and a newline"),
        "{top}"
    );
    assert!(top.contains("Exit status"), "{top}");
    for sub in ["keygen", "mint", "inspect"] {
        let out = tickwire(&["token", sub, "--help"]);
        assert!(out.status.success());
        assert!(text(&out.stdout).contains("Exit status"), "{sub}");
    }
    let serve = text(&tickwire(&["serve", "--help"]).stdout);
    for flag in ["--secure", "--token-key", "--server-id"] {
        assert!(serve.contains(flag), "serve --help lacks {flag}");
    }
    let top = text(&tickwire(&["--help"]).stdout);
    assert!(top.contains("Exit status of `serve`"), "{top}");
}
