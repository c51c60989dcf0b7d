//! `tickwire-fleet-players`: players of a fleet, end to end (docs/FLEET.md).

use clap::Parser;
use std::process::ExitCode;
use std::time::Duration;
use tickwire_tools::fleet::players::{run, PlayersConfig};

/// tickwire-fleet-players: N players that each log in to a matchmaker, ask for a match,
/// long-poll the ticket, connect to the assigned game server with the connect token and
/// play (walk, read snapshots) for --play-seconds after the last one started. Prints one
/// JSON summary on stdout: counts per step, players per server id, seats handed out twice
/// (must be 0), assignments per second, and the time from asking for a match to the
/// server's ACCEPT (p50, p99, max). Used by tools/fleet-e2e.sh.
///
/// Exit status: 0 every player connected and played; 1 some did not (see the summary);
/// 2 bad flags.
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
struct Cli {
    /// A matchmaker's base URL (http://HOST:PORT); repeat it to spread the players.
    #[arg(long = "matchmaker", required = true, value_name = "URL")]
    matchmakers: Vec<String>,
    /// How many players.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..=5000))]
    players: u64,
    /// The mode asked for (the servers' --map).
    #[arg(long, default_value = "arena")]
    mode: String,
    /// Players that start per second.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Seconds everyone plays after the last one started.
    #[arg(long, default_value_t = 2.0)]
    play_seconds: f64,
    /// Name prefix of the players (`{prefix}{i}`).
    #[arg(long, default_value = "p")]
    prefix: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::init();
    let ok = cli.rate.is_finite() && cli.rate > 0.0;
    if !ok || !cli.play_seconds.is_finite() || cli.play_seconds < 0.0 {
        eprintln!("tickwire-fleet-players: --rate is > 0 and --play-seconds >= 0");
        return ExitCode::from(2);
    }
    let cfg = PlayersConfig {
        matchmakers: cli
            .matchmakers
            .iter()
            .map(|u| u.trim_end_matches('/').to_string())
            .collect(),
        players: cli.players as usize,
        mode: cli.mode,
        rate: cli.rate,
        play: Duration::from_secs_f64(cli.play_seconds.min(86_400.0)),
        prefix: cli.prefix,
        ..PlayersConfig::default()
    };
    let s = run(&cfg);
    println!("{}", serde_json::to_string(&s).unwrap_or_default());
    if s.played == s.players && s.duplicate_seats == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
