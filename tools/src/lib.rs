//! tickwire's binaries and their shared code: the server's admin endpoint ([`admin`]) with
//! its Prometheus exposition ([`metrics`]) and what it knows of the loops ([`monitor`]),
//! the load generator's engine ([`bots`]), the
//! lobby benchmark ([`lobby_bench`]), the lobby flags of the server's command line
//! ([`lobby_args`]), its configuration file ([`config_file`]), logging ([`logging`]),
//! the `tickwire token` subcommands ([`token_cmd`]), the fleet on Redis ([`fleet`]: the
//! server registry, the matchmaker's booking and sessions), the matchmaker ([`matchmaker`])
//! and the helpers every tool uses ([`common`]). The binaries are in
//! `src/bin/`; the impairment model of the netem proxy is its own crate, `tickwire-netem`
//! (`tools/netem`).

pub mod admin;
#[cfg(feature = "agones")]
pub mod agones;
pub mod bots;
pub mod common;
pub mod config_file;
pub mod fleet;
pub mod lobby_args;
pub mod lobby_bench;
pub mod logging;
pub mod matchmaker;
pub mod metrics;
pub mod monitor;
pub mod token_cmd;
