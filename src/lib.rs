//! tickwire: a real-time game server core.
//!
//! One thread, one `mio::Poll`: a UDP game port (handshake, sequence window, 60 Hz
//! snapshot ring, lag compensation), STUN and A2S on the same port, and a TCP lobby.
//! The wire contract is `docs/PROTOCOL.md`.
#![deny(missing_docs)]

pub mod client;
pub mod lobby;
pub mod tickets;
pub mod wire;
