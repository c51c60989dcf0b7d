//! tickwire: a real-time game server core.
//!
//! A UDP game port served by a hand-rolled `mio` loop: datagrams read into preallocated
//! buffers, headers parsed in place, dispatch by the one-byte qport to fixed per-client
//! state, a stateless handshake, a deadline tick that serializes the world once into a
//! ring of 60 snapshots and sends the same body to everyone, and lag compensation by
//! rewinding that ring. STUN and A2S answer on the same port; a TCP lobby runs on the same
//! loop. The wire contract is `docs/PROTOCOL.md`; `docs/ARCHITECTURE.md` maps the modules.
//!
//! # What is here
//!
//! | you want | use |
//! |---|---|
//! | a server in your launcher, sockets and all | [`Host`] with a [`HostConfig`] and a [`Game`] ([`Arena`] is the default) |
//! | your own I/O (an engine's sockets, a simulator) | [`Server`], the sans-IO core |
//! | a game of your own | implement [`Game`]; it gets a [`Context`] with the clock and [`Context::rewind`] |
//! | a client | [`client::Client`] (sans-IO) or [`client::blocking::Connection`] |
//! | the lobby | [`lobby::Lobby`] on your loop, or [`lobby::LobbyCore`] sans-IO; [`client::lobby::LobbyClient`] |
//! | to parse datagrams yourself | [`wire`]: checked header views and the drop reasons |
//! | hooks for metrics, a fleet registry, Agones | [`Adapter`] on a [`Host`] |
//! | secure mode: connect tokens, every datagram authenticated | [`secure::Secure`] in [`Config::secure`]; tokens from [`secure::Issuer`]; [`client::Client::with_token`] |
//!
//! # Driving a `Server` and a `Client`
//!
//! Both cores are state machines that take `now` from the caller and never touch a socket
//! (the drive contracts are written on [`Server`] and [`client::Client`]). One round of the
//! loop: feed every datagram that arrived, call `handle_timeout` once `poll_timeout` has
//! passed, then drain the output (the server's [`Server::transmits`] and [`Server::sent`],
//! the client's `poll_transmit` until `None`). Here the two talk in memory, with time
//! jumping from one deadline to the next, until the client holds a snapshot:
//!
//! ```
//! use std::time::Instant;
//! use tickwire::client::{Client, ClientConfig, Event};
//! use tickwire::{Arena, Config, Server};
//!
//! let t0 = Instant::now();
//! let mut server = Server::new(Config::default(), Arena::new(1), t0);
//! let mut client = Client::new(ClientConfig::default(), t0);
//! let client_addr = "127.0.0.1:50000".parse().unwrap();
//! let mut buf = [0u8; tickwire::wire::MAX_DATAGRAM];
//! let mut now = t0;
//! let mut snapshot = None;
//! while snapshot.is_none() {
//!     // Client -> server.
//!     while let Some(n) = client.poll_transmit(now, &mut buf) {
//!         let _ = server.handle_datagram(now, client_addr, &buf[..n]); // drops are counted
//!     }
//!     // Server -> client: send every queued datagram, then report how many went out.
//!     let queued = server.transmits().len();
//!     for i in 0..queued {
//!         let n = server.write_transmit(&server.transmits()[i], &mut buf).unwrap();
//!         if let Some(Event::Snapshot { tick, .. }) = client.handle_datagram(now, &buf[..n]) {
//!             snapshot = Some(tick);
//!         }
//!     }
//!     server.sent(queued);
//!     // Sleep until the earlier deadline (a real loop waits on its socket meanwhile).
//!     now = now.max(server.poll_timeout().min(client.poll_timeout()));
//!     server.handle_timeout(now);
//!     client.handle_timeout(now);
//! }
//! assert_eq!(server.client_count(), 1);
//! ```
//!
//! # Running a `Host`
//!
//! [`Host`] is the I/O shell: one thread, one `mio::Poll`, one UDP socket per match
//! (`recvmmsg`/`sendmmsg`, the snapshot body sent from the ring without a copy), an
//! absolute `timerfd` for the ticks, the optional lobby, signals and [`Adapter`]s. `run`
//! returns when a [`Stopper`] (or SIGINT, SIGTERM or SIGHUP with `handle_signals`) stops it, after a
//! BYE to every client, or when a drain ([`Stopper::drain`]) has emptied the matches:
//!
//! ```
//! use tickwire::{Arena, Host, HostConfig};
//!
//! let cfg = HostConfig {
//!     bind: "127.0.0.1:0".parse().unwrap(), // port 0: the kernel picks, udp_addrs() tells
//!     stats_interval: None,
//!     ..HostConfig::default()
//! };
//! let mut host = Host::bind(cfg, |match_index| Arena::new(match_index as u64))?;
//! println!("listening udp={}", host.udp_addrs()[0]);
//! let stopper = host.stopper(); // Clone + Send: stop from any thread
//! std::thread::spawn(move || stopper.stop());
//! host.run()?; // serves until stopped
//! println!("{}", host.summary());
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Errors and panics
//!
//! Nothing from the network can panic: untrusted bytes are read through checked views,
//! every rejected datagram is dropped with a [`wire::DropReason`] and counted, and every
//! writer returns [`wire::BufferTooSmall`] instead of panicking on a short buffer. A panic
//! inside tickwire is a bug. Setting up sockets returns `std::io::Error` with the address in
//! the message.
//!
//! Memory is allocated when a core is created; handling a datagram or a tick allocates
//! nothing (the tests count it with a counting allocator).
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
pub mod secure;
mod seed;
mod stun;
mod tickets;
mod timers;
pub mod wire;

pub use game::Arena;
pub use io::{
    Adapter, AdapterWaker, Host, HostConfig, HostView, IoStats, Loops, Receive, Registrar,
    RunState, ServerInfo, Stopper, TickPhase,
};
pub use proto::{
    Config, Context, Game, Past, PeerStats, PlayerId, PlayerInfo, RewindError, RewindStats,
    SendError, Server, SnapshotFull, SnapshotWriter, Stats, Transmit, MAX_CLIENTS, RING_LEN,
};
pub use tickets::{Holder, IssueError, Name, Tickets};

/// Low-level pieces for tickwire's own tools, tests and benches: not a stable API.
#[cfg(feature = "internal")]
#[doc(hidden)]
pub mod internal {
    pub use crate::io::sys::{allowed_cpus, RecvBatch, SendBatch};
    pub use crate::query::{Query, QueryOut, QueryState};
    pub use crate::stun::{binding_request, parse_binding_response, Stun};
    pub use crate::wire::demux::{demux, Demux};
    pub use crate::wire::msg::{
        Accept, Challenge, Hello, Reject, SecureAccept, SnapshotPrefix, TokenHello, MAX_PART_BODY,
    };
    pub use crate::wire::window::{SeqVerdict, SeqWindow, SEQ_WINDOW};

    /// The lobby's frame layer and message ids.
    pub mod lobby {
        pub use crate::lobby::frame::{next, pop, HEADER_LEN, MAX_FRAME};
        pub use crate::lobby::msg::id;
        pub use crate::lobby::ring::Ring;
    }
}
