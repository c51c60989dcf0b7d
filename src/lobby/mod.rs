//! The TCP lobby (PROTOCOL.md section 7): accounts, rooms, chat, whisper, invite, the
//! tickets that admit a player to the game port and, over TLS 1.3 with an [`Issuer`], the
//! connect tokens of secure mode (section 8.4, TOKEN_REQ), and games in a room
//! ([`game`]: the [`game::RoomGame`] trait, baccarat as section 7.1 defines it).
//!
//! Two layers:
//!
//! - a sans-IO core, [`LobbyCore`]: frame reassembly over fixed rings, the message codec
//!   (shared with the client, whose types are in [`crate::client::lobby`]), sessions,
//!   users and rooms. It takes `now` as an argument and never reads the clock;
//! - a thin mio shell, [`Lobby`]: the listener, accept limits, edge-triggered reads and
//!   writes drained until `WouldBlock`, and closing.
//!
//! Memory is bounded per connection and small when idle: a connection's buffers come from
//! a pool (`pool.rs`) and only while they hold bytes. Bytes read land in one staging
//! buffer shared by all; a connection keeps a receive buffer of `recv_buffer_bytes` only
//! while it holds part of a frame. Its send buffer starts at 4 KiB, doubles as needed up
//! to `send_buffer_bytes`, and goes back to the pool once written out. A peer that would
//! hold more than `send_buffer_bytes` unsent is cut off as a slow reader. Buffers given
//! back are wiped.

mod conn;
mod cursor;
pub(crate) mod frame;
pub mod game;
pub(crate) mod msg;
mod name;
mod pool;
pub(crate) mod ring;
mod state;
pub(crate) mod tls;

pub use conn::Lobby;
pub use state::{CloseReason, LobbyCore, Refusal};
pub use tls::{LobbyTls, PemKind, TlsFileError};

use crate::secure::Issuer;
use game::RoomGames;
use std::time::Duration;

/// Lobby limits and buffer sizes, TLS and token issuing.
#[derive(Debug, Clone)]
pub struct LobbyConfig {
    /// Most open connections; more are accepted and closed at once. Also the most
    /// logged-in users.
    pub max_conns: usize,
    /// Most open connections from one IP address.
    pub max_conns_per_ip: usize,
    /// Most rooms at once; ROOM_CREATE beyond answers 11 server full.
    pub max_rooms: usize,
    /// Cap on a room's `max` (at most 100).
    pub max_room_users: u8,
    /// A connection that completes no frame for this long is closed. ECHO keeps it alive.
    pub idle_timeout: Duration,
    /// A frame whose first byte has arrived must be complete within this (slowloris).
    pub frame_deadline: Duration,
    /// A connection must log in within this of being accepted, or it is closed.
    pub login_deadline: Duration,
    /// Percent of `max_conns` (1..=100, rounded up) that connections not logged in may
    /// hold. Beyond it, and when the table is full, a newcomer sheds the oldest connection
    /// not logged in (open at least 1 s), or is refused if there is none.
    pub unauthenticated_share: u8,
    /// Bound of each connection's send buffer (lent from 4 KiB up, only while it holds
    /// bytes); a peer that lets it fill is cut off.
    pub send_buffer_bytes: usize,
    /// Size of the receive buffer a connection is lent while it holds part of a frame (at
    /// least 4096, one whole frame).
    pub recv_buffer_bytes: usize,
    /// Most ROOM_CHAT, WHISPER, INVITE, ROOM_ENTER and ROOM_LEAVE requests (those that
    /// reach other users) and TOKEN_REQs (each mints a token) one logged-in user may send
    /// per second, on average (a token bucket per user); more are answered 10 bad request.
    /// 0: no limit.
    pub user_msgs_per_sec: u32,
    /// How many of those requests a user may send at once above that rate (the bucket's
    /// depth, at least 1).
    pub user_msg_burst: u32,
    /// Serve TLS 1.3 with this certificate and key instead of plain TCP (`None`, the
    /// default: plain TCP). Every connection then speaks TLS; a peer that does not is
    /// closed.
    pub tls: Option<LobbyTls>,
    /// The token issuer (the fleet key and protocol id of `tickwire serve --secure`):
    /// with it and [`LobbyConfig::tls`], TOKEN_REQ from a logged-in user is answered with a
    /// connect token. Without either, TOKEN_REQ gets 10 bad request.
    pub issuer: Option<Issuer>,
    /// The server the lobby issues tokens for (its `--server-id`; 0 = none, tokens of scope
    /// 0). A TOKEN_REQ for scope 0 or this id gets a token scoped to this id; any other
    /// scope gets 10 bad request: a lobby issues only for its own server.
    pub server_id: u64,
    /// The fleet's session checker (the fleet key of `tickwire serve --secure`): with it
    /// and [`LobbyConfig::tls`], SESSION_LOGIN_REQ logs a matchmaker's player in under
    /// the session's name, checked offline. Without either, SESSION_LOGIN_REQ gets 10.
    pub sessions: Option<crate::secure::Sessions>,
    /// The games TABLE_OPEN_REQ opens in a room: baccarat by default
    /// ([`RoomGames::baccarat`]); a launcher plugs in its own with [`RoomGames::new`].
    pub room_games: RoomGames,
}

impl Default for LobbyConfig {
    fn default() -> LobbyConfig {
        LobbyConfig {
            max_conns: 1024,
            max_conns_per_ip: 16,
            max_rooms: 256,
            max_room_users: msg::MAX_ROOM_USERS,
            idle_timeout: Duration::from_secs(300),
            frame_deadline: Duration::from_secs(10),
            login_deadline: Duration::from_secs(10),
            unauthenticated_share: 50,
            send_buffer_bytes: 64 * 1024,
            recv_buffer_bytes: 8 * 1024,
            user_msgs_per_sec: 10,
            user_msg_burst: 20,
            tls: None,
            issuer: None,
            server_id: 0,
            sessions: None,
            room_games: RoomGames::default(),
        }
    }
}

impl LobbyConfig {
    /// How many connections not logged in may be open at once: `unauthenticated_share`
    /// percent of `max_conns`, rounded up (at least 1).
    pub fn max_unauthenticated(&self) -> usize {
        let share = usize::from(self.unauthenticated_share.clamp(1, 100));
        self.max_conns.max(1).saturating_mul(share).div_ceil(100)
    }

    /// The config with every field forced into its valid range: room size 1..=100, send
    /// buffer at least one frame, receive ring at least one frame, counts at least 1.
    pub fn sanitized(mut self) -> LobbyConfig {
        self.max_conns = self.max_conns.max(1);
        self.max_conns_per_ip = self.max_conns_per_ip.max(1);
        self.max_room_users = self.max_room_users.clamp(1, msg::MAX_ROOM_USERS);
        self.send_buffer_bytes = self.send_buffer_bytes.max(frame::MAX_FRAME);
        self.recv_buffer_bytes = self.recv_buffer_bytes.max(frame::MAX_FRAME);
        self.user_msg_burst = self.user_msg_burst.max(1);
        self.unauthenticated_share = self.unauthenticated_share.clamp(1, 100);
        self
    }
}

/// Lobby counters (since start) and gauges (now).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LobbyStats {
    /// Open connections.
    pub conns: usize,
    /// Logged-in users.
    pub users: usize,
    /// Rooms.
    pub rooms: usize,
    /// Rooms with a game (a table) open.
    pub tables: usize,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections refused: `max_conns` reached.
    pub refused_total: u64,
    /// Connections refused: `max_conns_per_ip` reached.
    pub refused_per_ip: u64,
    /// Connections refused: as many not logged in as `unauthenticated_share` allows, and
    /// none of them old enough to shed.
    pub refused_unauthenticated: u64,
    /// Connections not logged in closed to make room for a newcomer.
    pub shed: u64,
    /// Connections accepted and closed at once because the process was out of file
    /// descriptors (EMFILE/ENFILE; the shell's spare descriptor took them).
    pub refused_no_fd: u64,
    /// Connections closed for not logging in within `login_deadline`.
    pub login_deadline_cut: u64,
    /// Requests handled.
    pub msgs_in: u64,
    /// Of those, the requests that came with a MessagePack body (frame type 1).
    pub msgpack_in: u64,
    /// Frames queued to peers.
    pub msgs_out: u64,
    /// Bytes read (of a TLS connection: plaintext).
    pub bytes_in: u64,
    /// Bytes written (of a TLS connection: plaintext).
    pub bytes_out: u64,
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// TLS connections closed because rustls refused what the peer sent (a failed
    /// handshake, bytes that are not TLS, a bad record); the alert rustls chose was sent.
    pub tls_failed: u64,
    /// TLS connections closed before their handshake completed, for any reason (refused,
    /// stalled past the login deadline or the idle timeout, or the peer went away).
    pub tls_unfinished: u64,
    /// Connect tokens issued (TOKEN_RES with result 0).
    pub tokens_issued: u64,
    /// ERRORs sent, by code: `errors[code - 1]`.
    pub errors: [u64; msg::ErrorCode::ALL.len()],
    /// Connections cut because their send buffer would overflow.
    pub slow_readers_cut: u64,
    /// ROOM_CHAT, WHISPER, INVITE, ROOM_ENTER and ROOM_LEAVE requests refused: the user
    /// was over its rate.
    pub rate_limited: u64,
    /// WHISPER and INVITE requests refused because the target's send buffer could not
    /// take the notification (the sender is refused; the target is not cut).
    pub target_full: u64,
    /// Connections closed for idleness.
    pub idle_cut: u64,
    /// Connections closed for not finishing a frame in time.
    pub frame_deadline_cut: u64,
    /// Bytes queued in all send buffers now.
    pub send_queued: usize,
    /// Most bytes ever queued for one connection.
    pub send_queue_peak: usize,
    /// The bound on each connection's send buffer.
    pub send_buffer_bytes: usize,
    /// Bytes of buffer storage lent to connections now (the shared staging buffer
    /// included): an idle connection holds none.
    pub buffer_bytes: usize,
    /// Buffers the pool has allocated since start (the rest were reused).
    pub buffers_allocated: u64,
}

#[cfg(test)]
mod tests;
