//! tickwire: a real-time game server core.
//!
//! One thread, one `mio::Poll`: a UDP game port (handshake, sequence window, 60 Hz
//! snapshot ring, lag compensation), STUN and A2S on the same port, and a TCP lobby.
//! The wire contract is `docs/PROTOCOL.md`.
#![deny(missing_docs)]

pub mod client;
pub mod game;
pub mod io;
pub mod limit;
pub mod lobby;
pub mod proto;
pub mod query;
pub mod stun;
pub mod tickets;
pub mod wire;

pub use game::Arena;
pub use io::{Host, HostConfig, ServerInfo, Stopper};
pub use proto::{Config, Game, Server};
