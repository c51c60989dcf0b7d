//! tickwire's binaries and their shared code: the load generator's engine ([`bots`]) and
//! the lobby flags of the server's command line ([`lobby_args`]). The binaries are in
//! `src/bin/`.

pub mod bots;
pub mod common;
pub mod lobby_args;
pub mod lobby_bench;
