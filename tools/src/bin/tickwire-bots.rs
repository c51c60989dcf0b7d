//! `tickwire-bots`: a load generator. Runs N simulated arena players from one process on
//! one thread; the engine is `tickwire_tools::bots`, this is its command line.

use clap::{Parser, ValueEnum};
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;
use tickwire::client::ClientConfig;
use tickwire::secure::{Issuer, Key};
use tickwire_tools::bots::{self, BotConfig, SourceIps, Tokens};
use tickwire_tools::common::{secs_or_off, stop_on_signals};

/// tickwire-bots: N simulated players (one thread, one socket and one sans-IO client each)
/// that connect, walk, fire, keep alive and measure what they receive.
///
/// A progress line goes to stderr while it runs; the summary goes to stdout at the end
/// (human-readable, or one JSON object with --json), with why each failed bot failed
/// (rejected and why, handshake timeout, dropped). SIGINT/SIGTERM end the run early and
/// still print the summary; so does every bot having failed or been dropped.
///
/// Secure mode (a `tickwire serve --secure` server): --token-key FILE mints every bot's
/// connect token locally from the fleet key, as a backend would; --token-file FILE
/// connects one bot with a token from `tickwire token mint`. A secure server drops a token
/// it refuses without an answer, so such a bot ends as a handshake timeout.
///
/// Exit status: 0 every bot connected and none was dropped before the end; 3 some bots
/// failed to connect or were dropped (the summary says why); 4 no bot connected at all;
/// 1 the run could not start (sockets, file descriptors, no server); 2 bad flags, or a
/// refused --token-key or --token-file.
#[derive(Parser, Debug)]
#[command(name = "tickwire-bots", version, about, long_about)]
struct Cli {
    /// Server game port(s): repeat the flag or give a comma-separated list. Bot i goes to
    /// the (i mod count)-th address. With --matches K, the server must run K matches
    /// (`tickwire serve --matches K`).
    #[arg(long, value_delimiter = ',', required = true)]
    server: Vec<SocketAddr>,

    /// Each --server address stands for K matches on K consecutive ports from it (the
    /// layout of `tickwire serve --matches K`); the bots are spread over all of them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    matches: u16,

    /// Number of simulated players (100; 1 with --token-file).
    #[arg(long, value_name = "N")]
    clients: Option<usize>,

    /// Length of the whole run in seconds, ramp-up included.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,

    /// INPUT datagrams per second per bot (0 = none). The walking direction changes at
    /// random about every fourth INPUT.
    #[arg(long, default_value_t = 10.0)]
    input_hz: f64,

    /// FIRE datagrams per second per bot (0 = none), naming the newest snapshot tick and
    /// time the bot received, aimed at random. The server allows 30 rewinds/s by default.
    #[arg(long, default_value_t = 1.0)]
    fire_hz: f64,

    /// Protocol id sent in HELLO (and sealed into minted tokens); must match the server's
    /// --protocol-id.
    #[arg(long, default_value_t = 0)]
    protocol_id: u32,

    /// Bots that start connecting per second, so thousands do not burst at once.
    #[arg(long, default_value_t = 500.0)]
    connect_rate: f64,

    /// Give up a handshake after this many milliseconds without ACCEPT.
    #[arg(long, default_value_t = 5000)]
    connect_timeout_ms: u64,

    /// Print the summary as one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,

    /// Interval of the progress line on stderr in seconds (0 = none).
    #[arg(long, default_value_t = 1.0)]
    progress: f64,

    /// Kernel receive buffer per bot socket in bytes (0 = the system default).
    #[arg(long, default_value_t = 0)]
    socket_buffer: usize,

    /// Which local address each bot's socket binds: `per-bot` gives bot i the address
    /// 127.1.0.0 + i + 1 (every 127.0.0.0/8 address is this host on Linux), so that a
    /// loopback server's per-IP limits (--max-clients-per-ip, --challenges-per-ip) see one
    /// player per IP, as on the internet; `one` lets the system pick (every bot from one
    /// address); `auto` is per-bot when every --server is IPv4 loopback, else one.
    #[arg(long, value_enum, default_value_t = SourceArg::Auto)]
    source_ips: SourceArg,

    /// Ask this STUN server (a tickwire game port answers STUN) for each bot's public
    /// address first, and send it as HELLO's reply address.
    #[arg(long)]
    stun: Option<std::net::SocketAddr>,

    /// For a `tickwire serve --require-ticket` server: each bot logs in to this lobby (TCP
    /// ADDR:PORT, name `b<seed>-<i>`) when it starts and sends the ticket it gets in HELLO.
    /// A bot holds its lobby connection until its handshake ends; the server's
    /// --lobby-max-conns-per-ip (16 by default) bounds how many may be connecting at once
    /// from one IP, so keep --connect-rate modest.
    #[arg(long, conflicts_with_all = ["token_key", "token_file"])]
    lobby: Option<std::net::SocketAddr>,

    /// Secure mode: every bot mints its own connect token from this fleet key file (mode
    /// 0600, the server's --token-key) when it starts connecting, as a backend would:
    /// client id = the bot's index, scope --server-id, name `b<seed>-<i>`, valid for 30 s.
    #[arg(long, value_name = "FILE", conflicts_with = "token_file")]
    token_key: Option<std::path::PathBuf>,

    /// The scope of the tokens minted with --token-key (or asked for with --token-lobby):
    /// the server's --server-id (0: a token any server of the fleet admits, which is what a
    /// server without --server-id wants; from a lobby, 0 means its own server).
    #[arg(long, value_name = "N", default_value_t = 0)]
    server_id: u64,

    /// Secure mode: connect one bot with the connect token in this file (the text
    /// `tickwire token mint` prints, or the 205 raw bytes). A token admits one connection,
    /// so more bots are refused.
    #[arg(long, value_name = "FILE")]
    token_file: Option<std::path::PathBuf>,

    /// Secure mode, end to end: every bot logs in to the TLS lobby at this ADDR:PORT (the
    /// server's --lobby with --lobby-tls-cert/--lobby-tls-key), asks it for a connect token
    /// (TOKEN_REQ, scope --server-id or 0 for the lobby's own server), closes the lobby
    /// connection and connects with the token. Needs --ca. A bot whose login or token
    /// request fails counts as "lobby login failed".
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["token_key", "token_file", "lobby"], requires = "ca")]
    token_lobby: Option<std::net::SocketAddr>,

    /// The CA certificate file (PEM) to trust for --token-lobby: the lobby's own
    /// certificate when it is self-signed.
    #[arg(long, value_name = "FILE")]
    ca: Option<std::path::PathBuf>,

    /// The name the lobby's certificate must carry for --token-lobby (default: the
    /// address's IP).
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,

    /// Seed of the random walk and aim (0 = from the clock).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// The bots' tokens from --token-key or --token-file, and how many bots to run.
fn tokens(cli: &Cli) -> Result<(Option<Tokens>, usize), String> {
    if cli.server_id != 0 && cli.token_key.is_none() && cli.token_lobby.is_none() {
        return Err(
            "--server-id is the scope of secure-mode tokens: it needs --token-key or --token-lobby"
                .into(),
        );
    }
    if let Some(path) = &cli.token_key {
        let key = Key::read_file(path).map_err(|e| e.to_string())?;
        let issuer = Issuer::new(key, cli.protocol_id);
        let t = Tokens::Mint {
            issuer,
            scope: cli.server_id,
        };
        return Ok((Some(t), cli.clients.unwrap_or(100)));
    }
    if let Some(addr) = cli.token_lobby {
        let ca = cli.ca.as_ref().ok_or("--token-lobby needs --ca FILE")?;
        let trust =
            tickwire::client::lobby::TlsTrust::from_ca_file(ca).map_err(|e| e.to_string())?;
        let t = Tokens::Lobby {
            addr,
            trust,
            server_name: cli
                .server_name
                .clone()
                .unwrap_or_else(|| addr.ip().to_string()),
            scope: cli.server_id,
        };
        return Ok((Some(t), cli.clients.unwrap_or(100)));
    }
    if let Some(path) = &cli.token_file {
        let n = cli.clients.unwrap_or(1);
        if n > 1 {
            return Err(format!(
                "--token-file holds one connect token, which admits one connection: it \
                 connects one bot, not --clients {n} (mint a token per bot with --token-key)"
            ));
        }
        let token = tickwire_tools::token_cmd::read_token(path).map_err(|(_, e)| e)?;
        return Ok((Some(Tokens::One(token)), n));
    }
    Ok((None, cli.clients.unwrap_or(100)))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (tokens, clients) = match tokens(&cli) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tickwire-bots: {e}");
            return ExitCode::from(2);
        }
    };
    let stop = stop_on_signals("tickwire-bots");
    let seed = if cli.seed != 0 {
        cli.seed
    } else {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    };
    let cfg = BotConfig {
        servers: bots::consecutive(&cli.server, cli.matches),
        clients,
        duration: secs_or_off(cli.seconds).unwrap_or(Duration::ZERO),
        input_hz: cli.input_hz,
        fire_hz: cli.fire_hz,
        protocol_id: cli.protocol_id,
        connect_rate: cli.connect_rate,
        progress: secs_or_off(cli.progress),
        seed,
        client: ClientConfig {
            connect_timeout: Duration::from_millis(cli.connect_timeout_ms),
            ..BotConfig::default().client
        },
        socket_buffer: (cli.socket_buffer > 0).then_some(cli.socket_buffer),
        stop: Some(stop),
        stun: cli.stun,
        lobby: cli.lobby,
        tokens,
        source_ips: match cli.source_ips {
            SourceArg::Auto => SourceIps::Auto,
            SourceArg::One => SourceIps::One,
            SourceArg::PerBot => SourceIps::PerBot,
        },
    };
    if let Err(e) = cfg.source_ips.resolve(&cfg.servers) {
        eprintln!("tickwire-bots: --source-ips per-bot: {e}");
        return ExitCode::from(2);
    }
    let tty = std::io::stderr().is_terminal();
    let result = bots::run(&cfg, |p| {
        let mut err = std::io::stderr().lock();
        // On a terminal the line updates in place; in a log, one line per interval.
        let _ = if tty {
            write!(err, "\r\x1b[2K{p}")
        } else {
            writeln!(err, "{p}")
        };
        let _ = err.flush();
    });
    if tty && cfg.progress.is_some() {
        eprintln!();
    }
    match result {
        Ok(s) => {
            // A closed stdout (`| head`) is not worth a panic.
            let mut out = std::io::stdout().lock();
            let _ = if cli.json {
                writeln!(out, "{}", s.to_json())
            } else {
                writeln!(out, "{s}")
            };
            drop(out);
            if s.connected == 0 && s.clients > 0 {
                eprintln!("tickwire-bots: no bot connected");
                return ExitCode::from(4);
            }
            if s.failed > 0 {
                eprintln!(
                    "tickwire-bots: {} of {} bots failed or were dropped",
                    s.failed, s.clients
                );
                return ExitCode::from(3);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tickwire-bots: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--source-ips`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SourceArg {
    Auto,
    One,
    PerBot,
}
