//! The tickwire client library: connect to a server, send input, receive snapshots.
//!
//! [`Client`] is the sans-IO state machine (PROTOCOL.md sections 1-3): it takes `now` and
//! datagrams in and hands datagrams out, so it runs the same under a real socket, a
//! simulated network or a test script. [`blocking::Connection`] drives it over a
//! `std::net::UdpSocket` for simple launchers and tools. [`arena`] encodes the default
//! game's inputs and decodes its snapshots (section 4).

pub mod arena;
pub mod blocking;
mod conn;
mod snapshot;
mod stats;

pub use conn::{
    Client, ClientConfig, DisconnectReason, Event, SendError, State, SEND_QUEUE, SEQ_WINDOW,
};
pub use snapshot::{SnapshotParts, PART_MAX};
pub use stats::{ClientStats, RttStats, RTT_HIST_MAX_US, SENT_RING};
