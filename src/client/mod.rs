//! The tickwire client library: connect to a server, send input, receive snapshots.
//!
//! [`Client`] is the sans-IO state machine (PROTOCOL.md sections 1-3): it takes `now` and
//! datagrams in and hands datagrams out, so it runs the same under a real socket, a
//! simulated network or a test script. [`blocking::Connection`] drives it over a
//! `std::net::UdpSocket` for simple launchers and tools. [`arena`] encodes the default
//! game's inputs and decodes its snapshots (section 4).
//!
//! Every buffer is allocated by [`Client::new`] (and [`Client::with_interpolation`] for
//! the interpolation buffer); handling and emitting datagrams and interpolating never
//! allocate (`tests/client_alloc.rs` counts).
//!
//! # How the client reads PROTOCOL.md
//!
//! Where the page is silent or ambiguous, the client does this:
//!
//! - **ACCEPT's `ack = 1`.** Read as the ack *field* holding 1 (the client has sent no
//!   seq yet, so it acknowledges nothing). The client ignores ACCEPT's ack field and
//!   accepts ACCEPT with or without the ACK flag.
//! - **Duplicate ACCEPT.** An ACCEPT with our qport and the same `S0` while connected is
//!   ignored (counted in `duplicate_accepts`, no event, no timer refresh). Any other ACCEPT
//!   after the first, and ACCEPT before a CHALLENGE, is dropped as unexpected.
//! - **First datagram after ACCEPT.** The client sends a KEEPALIVE at once (seq `S0 + 1`,
//!   ACK `S0`), so the server hears from the new client before the first keepalive period.
//! - **ACK from the client.** Every connected datagram except BYE carries ACK with the
//!   newest server seq; ACCEPT's `S0` counts as received, so that is from the first one
//!   on. BYE carries only DISCONNECT|SEQ (section 1's table) and an ack field of 0.
//! - **Server acks.** An ack of a seq the client never sent (newer than its last, or not
//!   after `S0`) does not drop the datagram; the ack is ignored and counted in
//!   `bad_acks`. RTT is sampled when an ack is newer than every earlier one; it includes
//!   the server's wait until its next datagram to us (up to one tick).
//! - **Which datagrams refresh the idle timeout.** Only server datagrams that pass every
//!   check and move the seq window (KEEPALIVE, SNAPSHOT, game kinds, BYE).
//! - **Reordering.** The window accepts only seqs newer than the newest, so a reordered
//!   datagram is dropped as old, exactly as section 3 says; for snapshots this means a
//!   part overtaken by a later datagram is lost to the reassembly and
//!   [`Event::Snapshot`], and its tick with it. With an interpolation buffer
//!   ([`Client::with_interpolation`]) a late snapshot part (older than the newest seq,
//!   never seen before: the window remembers the 64 seqs below the newest) is still
//!   counted late and dropped by the window, but the buffer keeps it for rendering, as
//!   section 3 allows; it refreshes no timer and carries no ack.
//! - **Snapshot parts.** Each part's body is kept as is, in part order; the client does
//!   not join them, because section 3 says each part is "decodable on its own". The arena
//!   decoder therefore reads each part as `count u8` + entries (see [`arena::players`]).
//!   A part whose tick is not newer than the last delivered or being assembled is stale;
//!   a newer tick abandons the incomplete one; parts of one tick must agree on part count
//!   and time.
//! - **CHALLENGE while challenged** (the cookie went stale) replaces the cookie and
//!   resends HELLO at once. ACCEPT and REJECT are believed only after a CHALLENGE (the
//!   server sends them only to a HELLO with a valid cookie); REJECT, CHALLENGE and ACCEPT
//!   are not believed once connected.
//! - **Client-side drops** that have no [`DropReason`](crate::wire::DropReason) reason (a well-formed
//!   datagram that makes no sense in the current state) are counted in `unexpected`.

pub mod arena;
pub mod blocking;
mod conn;
mod interp;
pub mod lobby;
mod snapshot;
mod stats;

pub use conn::{Client, ClientConfig, DisconnectReason, Event, SendError, State};
pub use interp::{
    BufferedSnapshot, InterpConfig, InterpStats, Interpolation, WINDOW as INTERP_WINDOW,
};
pub use snapshot::SnapshotParts;
pub use stats::{ClientStats, RttStats};
