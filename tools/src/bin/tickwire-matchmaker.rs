//! `tickwire-matchmaker`: the fleet's API server (docs/FLEET.md).

use clap::Parser;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tickwire::secure::Key;
use tickwire_tools::logging::LogFormat;
use tickwire_tools::matchmaker::{Matchmaker, Settings};

/// tickwire-matchmaker: logs players in, books them a seat on a game server of the fleet
/// and hands them a connect token for it (HTTP/1.1 + JSON; docs/FLEET.md).
///
/// The game servers publish themselves in Redis (`tickwire serve --redis URL --secure
/// --server-id N`); any number of matchmakers share one Redis: a seat is booked by one
/// atomic Lua script, so none is booked twice. Tokens are minted with the fleet key
/// (--token-key) for the booked server (scope = its id).
///
/// Endpoints: POST /v1/login {"name"} -> {"session"}; POST /v1/match {"mode", "party"?}
/// (Authorization: Bearer SESSION) -> {"ticket"}; GET /v1/match/TICKET[?wait=SECONDS]
/// -> queued | assigned {addr, token, expires} | failed {why}; DELETE /v1/match/TICKET;
/// GET /v1/stats; GET /healthz.
///
/// Connect tokens travel only over TLS (--tls-cert, --tls-key); plain HTTP needs
/// --insecure-http, for development on a trusted network, and says so at start-up. The
/// first line on stdout is `tickwire-matchmaker listening https=ADDR` (or `http=ADDR`).
/// Exit status: 0 stopped by SIGINT or SIGTERM; 1 could not start (address in use);
/// 2 bad flags, an unreadable key or certificate.
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
struct Cli {
    /// TCP address to listen on (port 0: a free one, printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,

    /// The fleet registry: redis://[user:password@]host[:port][/db].
    #[arg(long, value_name = "URL")]
    redis: String,

    /// The fleet key file (`tickwire token keygen FILE`; mode 0600), the same as the
    /// servers' --token-key.
    #[arg(long, value_name = "FILE")]
    token_key: PathBuf,

    /// The application protocol id of the tokens (the servers' --protocol-id).
    #[arg(long, default_value_t = 0)]
    protocol_id: u32,

    /// PEM certificate chain for HTTPS (needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// PEM private key for HTTPS (needs --tls-cert).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Serve plain HTTP: connect tokens and sessions cross the network in the clear.
    /// Development only; said loudly at start-up.
    #[arg(long, conflicts_with = "tls_cert")]
    insecure_http: bool,

    /// Seconds a connect token (and the seat reserved for it) lives.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    token_seconds: u64,

    /// Seconds a login session lives.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    session_seconds: u64,

    /// Seconds a match request waits for a seat before it fails.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    queue_seconds: u64,

    /// Most match requests waiting for a seat; more get 503.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_queue: u64,

    /// Most tickets kept (waiting, or answered in the last minute); more get 503.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    max_tickets: u64,

    /// Most long-polls waiting at once; more are answered at once.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    max_waiters: u64,

    /// The longest long-poll, in seconds (`?wait=` is capped to it).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=300))]
    max_wait: u64,

    /// Largest party (seats in one request).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=255))]
    max_party: u32,

    /// How log lines are written on stderr: `text` or `json`.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tickwire_tools::logging::init(cli.log_format);
    if let Err(e) = tickwire_tools::fleet::check_url(&cli.redis) {
        eprintln!("tickwire-matchmaker: --redis {e}");
        return ExitCode::from(2);
    }
    let key = match Key::read_file(&cli.token_key) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("tickwire-matchmaker: {e}");
            return ExitCode::from(2);
        }
    };
    let tls = match (&cli.tls_cert, &cli.tls_key) {
        (Some(c), Some(k)) => match tickwire::lobby::LobbyTls::from_pem_files(c, k) {
            Ok(t) => {
                let mut cfg = (*t.server_config()).clone();
                cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
                Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
            }
            Err(e) => {
                eprintln!("tickwire-matchmaker: {e}");
                return ExitCode::from(2);
            }
        },
        _ if cli.insecure_http => None,
        _ => {
            eprintln!(
                "tickwire-matchmaker: connect tokens are handed out only over TLS: give \
                 --tls-cert FILE --tls-key FILE (or --insecure-http, for development)"
            );
            return ExitCode::from(2);
        }
    };
    let settings = Settings {
        redis: cli.redis.clone(),
        protocol_id: cli.protocol_id,
        token_lifetime: Duration::from_secs(cli.token_seconds),
        session_lifetime: Duration::from_secs(cli.session_seconds),
        queue_timeout: Duration::from_secs(cli.queue_seconds),
        max_queue: cli.max_queue as usize,
        max_tickets: cli.max_tickets as usize,
        max_waiters: cli.max_waiters as usize,
        max_wait: Duration::from_secs(cli.max_wait),
        max_party: cli.max_party,
        ..Settings::default()
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tickwire-matchmaker: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(cli.bind).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!(
                    "tickwire-matchmaker: cannot listen on tcp {}: {e}",
                    cli.bind
                );
                return ExitCode::FAILURE;
            }
        };
        let at = listener.local_addr().unwrap_or(cli.bind);
        let mm = match Matchmaker::start(settings, key) {
            Ok(mm) => mm,
            Err(e) => {
                eprintln!("tickwire-matchmaker: cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
        if tls.is_none() {
            log::warn!(
                "--insecure-http: PLAIN HTTP on {at}: sessions and connect tokens cross \
                 the network in the clear; anyone on the path can take a player's seat. \
                 Development only: give --tls-cert/--tls-key in production"
            );
        }
        log::info!(
            "matchmaker on {at}, fleet registry {}",
            tickwire_tools::fleet::redacted(&cli.redis)
        );
        {
            let mut out = std::io::stdout().lock();
            let scheme = if tls.is_some() { "https" } else { "http" };
            let _ = writeln!(out, "tickwire-matchmaker listening {scheme}={at}");
            let _ = out.flush();
        }
        let server = tokio::spawn(tickwire_tools::matchmaker::http::serve(listener, tls, mm));
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("tickwire-matchmaker: cannot watch SIGTERM: {e}");
                    return ExitCode::FAILURE;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        server.abort();
        log::info!("matchmaker stopped");
        ExitCode::SUCCESS
    })
}
