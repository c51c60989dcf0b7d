//! tickwire: a real-time game server core.
//!
//! One thread, one `mio::Poll`: a UDP game port (handshake, sequence window, 60 Hz
//! snapshot ring, lag compensation), STUN and A2S on the same port, and a TCP lobby.
//! The wire contract is `docs/PROTOCOL.md`.
#![deny(missing_docs)]

pub mod client;
mod cookie;
pub mod game;
pub mod io;
pub mod limit;
mod link;
pub mod lobby;
pub mod proto;
pub mod query;
pub mod stun;
pub mod tickets;
#[allow(dead_code)] // used by the server, client and lobby timers as they move onto it
mod timers;
pub mod wire;

pub use game::Arena;
pub use io::{Host, HostConfig, ServerInfo, Stopper};
pub use proto::{Config, Game, Server};

/// Low-level pieces for tickwire's own tools, tests and benches: not a stable API.
#[cfg(feature = "internal")]
#[doc(hidden)]
pub mod internal {
    pub use crate::io::sys::{RecvBatch, SendBatch};
}
