//! The client's public API types: configuration, connection state, events and errors.

use core::net::SocketAddr;
use std::time::Duration;

use crate::wire::msg::RejectReason;

/// Settings of one client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    /// The application's protocol id; must match the server's (tickwire's default is 0).
    pub protocol_id: u32,
    /// The reply address sent in HELLO; `None` (family 0) = the datagram's source.
    pub reply: Option<SocketAddr>,
    /// Lobby ticket, 0 = none.
    pub ticket: u64,
    /// HELLO is resent this often until the server answers.
    pub hello_interval: Duration,
    /// The handshake gives up after this long without ACCEPT.
    pub connect_timeout: Duration,
    /// With nothing else to send, a KEEPALIVE goes out this long after the last datagram.
    pub keepalive_interval: Duration,
    /// The connection is dropped after this long without a valid server datagram.
    pub timeout: Duration,
    /// How many parts one snapshot may have; two buffers of this many 1173-byte parts are
    /// allocated up front. Ticks with more parts are not delivered.
    pub max_snapshot_parts: u8,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            protocol_id: 0,
            reply: None,
            ticket: 0,
            hello_interval: Duration::from_millis(250),
            connect_timeout: Duration::from_secs(5),
            keepalive_interval: Duration::from_millis(250),
            timeout: Duration::from_secs(5),
            max_snapshot_parts: 16,
        }
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The server sent BYE.
    Bye,
    /// We closed it with [`Client::disconnect`](super::Client::disconnect) (a BYE is sent if we were connected).
    Closed,
    /// Nothing valid arrived from the server for [`ClientConfig::timeout`].
    Timeout,
    /// No ACCEPT within [`ClientConfig::connect_timeout`].
    ConnectTimeout,
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Sending HELLO without a cookie.
    Connecting,
    /// Got a CHALLENGE; sending HELLO with its cookie.
    Challenged,
    /// Accepted.
    Connected {
        /// Our slot id on the server.
        qport: u8,
        /// The start sequence number from ACCEPT.
        s0: u32,
    },
    /// The server refused us.
    Rejected(RejectReason),
    /// The connection ended.
    Disconnected(DisconnectReason),
}

impl State {
    /// Whether the connection is up.
    pub fn is_connected(&self) -> bool {
        matches!(self, State::Connected { .. })
    }

    /// Whether the connection ended (rejected or disconnected) and nothing more will happen.
    pub fn is_closed(&self) -> bool {
        matches!(self, State::Rejected(_) | State::Disconnected(_))
    }
}

/// Something the application should know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// ACCEPT arrived.
    Connected {
        /// Our slot id.
        qport: u8,
        /// The server's tick rate.
        tick_hz: u16,
        /// The server's tick when it accepted us.
        tick: u32,
        /// The server's time then, microseconds since it started.
        server_time_us: u64,
    },
    /// A whole snapshot arrived; read it with [`Client::snapshot_parts`](super::Client::snapshot_parts).
    Snapshot {
        /// Its tick.
        tick: u32,
        /// The server time of that tick, microseconds since the server started.
        time_us: u64,
    },
    /// A game datagram from the server, sent to this player alone (the server's game
    /// calls [`Context::send`](crate::Context::send)); read its payload with
    /// [`Client::game_payload`](super::Client::game_payload).
    Game {
        /// Its kind, `0x10..=0xFF`.
        kind: u8,
    },
    /// The server refused us.
    Rejected(RejectReason),
    /// The connection ended.
    Disconnected(DisconnectReason),
}

/// Why [`Client::send_game`](super::Client::send_game) refused a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// Not connected (yet, or any more).
    NotConnected,
    /// The kind is a protocol kind (below `0x10`).
    NotGameKind,
    /// Longer than the server's max payload (from ACCEPT, at most 1187).
    TooLarge,
    /// [`Client::SEND_QUEUE`](super::Client::SEND_QUEUE) payloads are already waiting for `poll_transmit`.
    QueueFull,
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SendError::NotConnected => "not connected",
            SendError::NotGameKind => "not a game kind",
            SendError::TooLarge => "payload too large",
            SendError::QueueFull => "send queue full",
        })
    }
}

impl std::error::Error for SendError {}
