//! `tickwire token`: the fleet key and connect tokens from the command line (PROTOCOL.md
//! section 8.1), for operators, scripts and backends that would rather run a binary than
//! link the library's [`Issuer`].
//!
//! - `keygen FILE` writes a new fleet key file (64 hex digits and a newline, mode 0600).
//! - `mint` mints one connect token from a key file and prints it as [text](to_text).
//! - `inspect` prints what a token holds; with the key file, also its sealed part.
//!
//! The token text is the 205 token bytes as 410 lowercase hex digits and a newline.
//! [`read_token`] reads that, or the 205 raw bytes, so a token file written by another
//! backend works too.

use clap::{Args, Subcommand};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tickwire::secure::{ConnectToken, Issuer, Key, TokenError, TOKEN_LEN};
use tickwire::Name;

/// The exit status of a token command that could not read or write a file (a key file
/// refused for its mode or its format, an output file that exists).
pub const EXIT_FILE: u8 = 1;
/// The exit status of `inspect` when its input is not a token (not 410 hex digits, not
/// 205 bytes).
pub const EXIT_NOT_A_TOKEN: u8 = 3;
/// The exit status of `inspect --token-key` when the token does not open under that key
/// and protocol id (or its clear fields do not match its sealed ones).
pub const EXIT_DOES_NOT_OPEN: u8 = 4;

/// Most bytes `inspect` and [`read_token`] read: a token's text is 411.
const MAX_INPUT: u64 = 4096;

/// The longest `--lifetime` (a day). A server remembers every token it redeemed until the
/// token expires, so long-lived tokens only fill that memory; 30 s is the protocol's
/// default.
const MAX_LIFETIME: u64 = 86_400;

/// The `tickwire token` subcommands (their `--help` texts; the overview and the exit
/// statuses are on `tickwire token --help`, in the server binary).
#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Write a new fleet key file: 32 random bytes from the operating system as 64 hex
    /// digits and a newline, mode 0600. Refuses to overwrite a file. Prints where it wrote,
    /// never the key.
    ///
    /// Exit status: 0 written; 1 the file exists or cannot be written; 2 bad flags.
    Keygen(Keygen),
    /// Mint a connect token from a fleet key file, as a backend would after authenticating
    /// a user, and print it as 410 hex digits and a newline (or write that to --out). The
    /// token holds the connection keys: hand it to its client over TLS only.
    ///
    /// Exit status: 0 minted; 1 the key file was refused (its mode, its format) or --out
    /// exists or cannot be written; 2 bad flags.
    Mint(Mint),
    /// Print what a connect token holds: its clear fields, and with --token-key what its
    /// sealed part holds and whether it opens under that key. The connection keys are
    /// printed only with --show-keys.
    ///
    /// Exit status: 0 read (and, with --token-key, it opens); 1 a file cannot be read or
    /// the key file was refused; 2 bad flags; 3 the input is not a token; 4 the token does
    /// not open under that key and protocol id.
    Inspect(Inspect),
}

/// `tickwire token keygen`.
#[derive(Args, Debug)]
pub struct Keygen {
    /// Where to write the key file (it must not exist).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

/// `tickwire token mint`.
#[derive(Args, Debug)]
pub struct Mint {
    /// The fleet key file (mode 0600, as `tickwire token keygen` writes it).
    #[arg(long, value_name = "FILE")]
    token_key: PathBuf,

    /// The client id: unique per issued token stream (a user id, a session id).
    #[arg(long, value_name = "N")]
    client_id: u64,

    /// The server that admits the token: the `--server-id` it was started with, or 0 for
    /// any server of the fleet. Scope every token to the one server you assign: a scope-0
    /// token captured from the wire could be redeemed on a second server.
    #[arg(long, value_name = "N", default_value_t = 0)]
    scope: u64,

    /// The user's name, carried sealed to the server (1 to 16 bytes of UTF-8; none by
    /// default).
    #[arg(long, value_parser = parse_name)]
    name: Option<String>,

    /// The application protocol id: must be the servers' --protocol-id.
    #[arg(long, value_name = "N", default_value_t = 0)]
    protocol_id: u32,

    /// Seconds the token lives (1..=86400). A server remembers each token it redeemed until
    /// it expires, so keep it short: the client only needs time to reach the server.
    #[arg(long, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=MAX_LIFETIME))]
    lifetime: u64,

    /// Write the token text to this new file (mode 0600; refuses to overwrite) instead of
    /// stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,

    /// The time the token is minted at, unix seconds (default: the system clock). Its
    /// expiry is this plus --lifetime.
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
}

/// `tickwire token inspect`.
#[derive(Args, Debug)]
pub struct Inspect {
    /// The fleet key file: open the sealed part and print the scope, the name and whether
    /// the token opens (exit 4 when it does not).
    #[arg(long, value_name = "FILE")]
    token_key: Option<PathBuf>,

    /// The protocol id the seal is checked against (with --token-key).
    #[arg(long, value_name = "N", default_value_t = 0)]
    protocol_id: u32,

    /// Also print the two connection keys (anyone holding them can speak for the client).
    #[arg(long)]
    show_keys: bool,

    /// The time the expiry is compared with, unix seconds (default: the system clock).
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,

    /// The token: a file holding its text (410 hex digits) or its 205 raw bytes, or `-`
    /// for stdin.
    #[arg(value_name = "TOKEN_FILE_OR_-")]
    token: PathBuf,
}

/// `--name`: what a token can carry.
fn parse_name(s: &str) -> Result<String, String> {
    match Name::from(s) {
        Ok(_) if !s.is_empty() => Ok(s.to_string()),
        _ => Err(format!(
            "a name is 1 to 16 bytes of UTF-8; {:?} is {} bytes",
            s,
            s.len()
        )),
    }
}

/// Runs a token command; its messages go to stdout and its errors to stderr.
pub fn run(cmd: TokenCmd) -> ExitCode {
    let r = match cmd {
        TokenCmd::Keygen(k) => keygen(&k),
        TokenCmd::Mint(m) => mint(&m),
        TokenCmd::Inspect(i) => inspect(&i),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            eprintln!("tickwire token: {msg}");
            ExitCode::from(code)
        }
    }
}

type Outcome = Result<(), (u8, String)>;

fn keygen(k: &Keygen) -> Outcome {
    Key::generate()
        .write_file(&k.file)
        .map_err(|e| (EXIT_FILE, e.to_string()))?;
    println!(
        "wrote a new fleet key to {} (mode 0600): give it to every server \
         (`tickwire serve --secure --token-key FILE`) and every token issuer of the fleet",
        k.file.display()
    );
    Ok(())
}

fn mint(m: &Mint) -> Outcome {
    let key = Key::read_file(&m.token_key).map_err(|e| (EXIT_FILE, e.to_string()))?;
    let issuer = Issuer::new(key, m.protocol_id).with_lifetime(Duration::from_secs(m.lifetime));
    let now = m.now.unwrap_or_else(unix_now);
    let token = issuer.mint(m.client_id, m.scope, m.name.as_deref().unwrap_or(""), now);
    let text = zeroize::Zeroizing::new(to_text(&token));
    match &m.out {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .map_err(|e| (EXIT_FILE, format!("cannot write the token to stdout: {e}")))?;
        }
        Some(path) => {
            write_new_private(path, text.as_bytes()).map_err(|e| (EXIT_FILE, e))?;
            println!(
                "wrote a connect token for client {} (expires {}) to {} (mode 0600)",
                token.client_id,
                token.expires,
                path.display()
            );
        }
    }
    Ok(())
}

fn inspect(i: &Inspect) -> Outcome {
    // The key first: a refused key file is a file error whatever the token is.
    let issuer = match &i.token_key {
        Some(p) => Some(Issuer::new(
            Key::read_file(p).map_err(|e| (EXIT_FILE, e.to_string()))?,
            i.protocol_id,
        )),
        None => None,
    };
    let token = read_token(&i.token)?;
    let now = i.now.unwrap_or_else(unix_now);
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<11} {v}\n"));
    line("client id", token.client_id.to_string());
    line(
        "expires",
        format!("{} (unix), {}", token.expires, from_now(token.expires, now)),
    );
    line("nonce", hex(&token.nonce()));
    let mut verdict = Ok(());
    match &issuer {
        None => line(
            "sealed",
            "not opened (give --token-key FILE to check it and see the scope and name)".into(),
        ),
        Some(issuer) => match issuer.open(&token) {
            Ok(c) => {
                line(
                    "sealed",
                    format!(
                        "opens under this key and protocol id {}",
                        issuer.protocol_id()
                    ),
                );
                line(
                    "scope",
                    match c.scope {
                        0 => "0 (any server of the fleet)".to_string(),
                        s => format!("{s} (only the server started with --server-id {s})"),
                    },
                );
                line(
                    "name",
                    match &c.name {
                        Some(n) => format!("{:?}", n.as_str()),
                        None => "(none)".into(),
                    },
                );
            }
            Err(e) => {
                line("sealed", format!("does NOT open: {e}"));
                verdict = Err((EXIT_DOES_NOT_OPEN, e.to_string()));
            }
        },
    }
    if i.show_keys {
        line("c2s key", hex(token.c2s.as_bytes()));
        line("s2c key", hex(token.s2c.as_bytes()));
    } else {
        line("keys", "not shown (--show-keys prints them)".into());
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush());
    verdict
}

/// "in N s", "expired N s ago".
fn from_now(expires: u64, now: u64) -> String {
    if expires > now {
        format!("in {} s", expires - now)
    } else {
        format!("expired {} s ago (a server refuses it)", now - expires)
    }
}

/// The system clock in unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Lowercase hex.
fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * b.len());
    for &x in b {
        s.push(DIGITS[usize::from(x >> 4)] as char);
        s.push(DIGITS[usize::from(x & 15)] as char);
    }
    s
}

/// A token's text: its 205 bytes as 410 lowercase hex digits and a newline.
pub fn to_text(token: &ConnectToken) -> String {
    let mut bytes = token.to_bytes();
    let mut s = hex(&bytes);
    zeroize::Zeroize::zeroize(&mut bytes);
    s.push('\n');
    s
}

/// A token from its text (410 hex digits, either case, surrounding whitespace ignored) or
/// its 205 raw bytes.
pub fn parse_token(input: &[u8]) -> Result<ConnectToken, String> {
    if input.len() == TOKEN_LEN {
        return ConnectToken::parse(input).map_err(|e| e.to_string());
    }
    let text = input.trim_ascii();
    if text.len() != 2 * TOKEN_LEN {
        return Err(format!(
            "a connect token is {} hex digits (what `tickwire token mint` prints) or {} raw \
             bytes; this is {} bytes",
            2 * TOKEN_LEN,
            TOKEN_LEN,
            input.len()
        ));
    }
    let mut bytes = zeroize::Zeroizing::new([0u8; TOKEN_LEN]);
    for (i, pair) in text.chunks_exact(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        match (digit(pair[0]), digit(pair[1])) {
            (Some(hi), Some(lo)) => bytes[i] = (hi * 16 + lo) as u8,
            _ => {
                return Err(format!(
                    "a connect token's text is hex digits only; byte {} is not one",
                    2 * i + usize::from(digit(pair[0]).is_some())
                ))
            }
        }
    }
    ConnectToken::parse(&bytes[..]).map_err(|e: TokenError| e.to_string())
}

/// Reads a token from a file or, for `-`, from stdin (at most 4 KiB); errors carry the exit
/// status (1 cannot read, 3 not a token).
pub fn read_token(path: &Path) -> Result<ConnectToken, (u8, String)> {
    let what = if path == Path::new("-") {
        "stdin".to_string()
    } else {
        path.display().to_string()
    };
    let mut buf = zeroize::Zeroizing::new(Vec::with_capacity(512));
    let r = if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(MAX_INPUT + 1)
            .read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_INPUT + 1).read_to_end(&mut buf))
    };
    r.map_err(|e| (EXIT_FILE, format!("cannot read {what}: {e}")))?;
    if buf.len() as u64 > MAX_INPUT {
        return Err((
            EXIT_NOT_A_TOKEN,
            format!("{what} is longer than {MAX_INPUT} bytes: not a connect token"),
        ));
    }
    parse_token(&buf).map_err(|e| (EXIT_NOT_A_TOKEN, format!("{what}: {e}")))
}

/// Writes `bytes` to a new file of mode 0600; refuses to overwrite one.
fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => format!(
            "{} exists: refusing to overwrite it (remove it first)",
            path.display()
        ),
        _ => format!("cannot create {}: {e}", path.display()),
    })?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_raw_bytes_are_read_too() {
        let issuer = Issuer::new(Key::from_bytes([7; 32]), 5);
        let t = issuer.mint(42, 9, "ann", 1_800_000_000);
        let text = to_text(&t);
        assert_eq!(text.len(), 2 * TOKEN_LEN + 1);
        assert!(text.ends_with('\n'));
        assert_eq!(parse_token(text.as_bytes()).unwrap(), t);
        assert_eq!(parse_token(text.to_uppercase().as_bytes()).unwrap(), t);
        assert_eq!(parse_token(&t.to_bytes()).unwrap(), t);
    }

    #[test]
    fn malformed_text_is_refused_with_where() {
        let t = Issuer::new(Key::from_bytes([7; 32]), 0).mint(1, 0, "", 0);
        let mut text = to_text(&t).into_bytes();
        text[3] = b'g';
        assert!(parse_token(&text).unwrap_err().contains("byte 3"));
        assert!(parse_token(b"abc").unwrap_err().contains("410 hex digits"));
        assert!(parse_token(&[]).is_err());
    }

    #[test]
    fn names_are_checked_as_a_token_carries_them() {
        assert!(parse_name("ann").is_ok());
        assert!(parse_name("sixteen_bytes_ok").is_ok());
        assert!(parse_name("seventeen_bytes_x").is_err());
        assert!(parse_name("").is_err());
    }

    #[test]
    fn expiry_reads_both_ways() {
        assert_eq!(from_now(130, 100), "in 30 s");
        assert!(from_now(100, 100).starts_with("expired 0 s ago"));
    }
}
