//! tickwire: a real-time game server core.
//!
//! One thread, one `mio::Poll`: a UDP game port (handshake, sequence window, 60 Hz
//! snapshot ring, lag compensation), STUN and A2S on the same port, and a TCP lobby.
//! The wire contract is `docs/PROTOCOL.md`.
#![deny(missing_docs)]

pub mod client;
mod cookie;
pub mod game;
mod io;
mod limit;
mod link;
pub mod lobby;
mod proto;
mod query;
mod seed;
mod stun;
mod tickets;
mod timers;
pub mod wire;

pub use game::Arena;
pub use io::{
    Adapter, AdapterWaker, Host, HostConfig, HostView, IoStats, Registrar, RunState, ServerInfo,
    Stopper,
};
pub use proto::{
    Config, Context, Game, Past, PeerStats, PlayerId, PlayerInfo, RewindError, RewindStats, Server,
    SnapshotFull, SnapshotWriter, Stats, Transmit, MAX_CLIENTS, RING_LEN,
};
pub use tickets::{Holder, IssueError, Name, Tickets};

/// Low-level pieces for tickwire's own tools, tests and benches: not a stable API.
#[cfg(feature = "internal")]
#[doc(hidden)]
pub mod internal {
    pub use crate::io::sys::{RecvBatch, SendBatch};
    pub use crate::query::{Query, QueryOut, QueryState};
    pub use crate::stun::{binding_request, parse_binding_response, Stun};
    pub use crate::wire::demux::{demux, Demux};
    pub use crate::wire::msg::{Accept, Challenge, Hello, Reject, SnapshotPrefix, MAX_PART_BODY};
    pub use crate::wire::window::{SeqVerdict, SeqWindow, SEQ_WINDOW};

    /// The lobby's frame layer and message ids.
    pub mod lobby {
        pub use crate::lobby::frame::{next, pop, HEADER_LEN, MAX_FRAME};
        pub use crate::lobby::msg::id;
        pub use crate::lobby::ring::Ring;
    }
}
