//! Lobby flags of the server's command line.

use std::time::Duration;
use tickwire::lobby::LobbyConfig;

/// Lobby flags, to flatten into the server's command line.
#[derive(Debug, Clone, clap::Args)]
pub struct LobbyArgs {
    /// Most open lobby connections (also the most logged-in users).
    #[arg(long = "lobby-max-conns", default_value_t = 1024)]
    pub max_conns: usize,
    /// Most open lobby connections from one IP address.
    #[arg(long = "lobby-max-conns-per-ip", default_value_t = 16)]
    pub max_conns_per_ip: usize,
    /// Most lobby rooms at once.
    #[arg(long = "lobby-max-rooms", default_value_t = 256)]
    pub max_rooms: usize,
    /// Close a lobby connection that completes no frame for this many milliseconds.
    #[arg(long = "lobby-idle-timeout-ms", default_value_t = 300_000)]
    pub idle_timeout_ms: u64,
    /// Close a lobby connection that takes longer than this many milliseconds to finish a
    /// frame it started.
    #[arg(long = "lobby-frame-deadline-ms", default_value_t = 10_000)]
    pub frame_deadline_ms: u64,
    /// Close a lobby connection that has not logged in this many milliseconds after it
    /// was accepted.
    #[arg(long = "lobby-login-deadline-ms", default_value_t = 10_000)]
    pub login_deadline_ms: u64,
    /// Percent of --lobby-max-conns that connections not logged in may hold (1..=100);
    /// beyond it, or when the lobby is full, a newcomer sheds the oldest of them.
    #[arg(long = "lobby-unauthenticated-share", default_value_t = 50)]
    pub unauthenticated_share: u8,
    /// Bytes queued per lobby connection before a slow reader is cut off (at least 4096,
    /// the largest lobby frame).
    #[arg(long = "lobby-send-buffer", default_value_t = 65_536, value_parser = parse_send_buffer)]
    pub send_buffer: usize,
    /// Requests that reach other users (chat, whisper, invite, room enter and leave) one
    /// lobby user may send per second on average; more get 10 bad request (0: no limit).
    #[arg(long = "lobby-user-rate", default_value_t = 10)]
    pub user_rate: u32,
    /// How many of those requests a lobby user may send at once above that rate.
    #[arg(long = "lobby-user-burst", default_value_t = 20)]
    pub user_burst: u32,
}

/// The largest lobby frame: a connection's send buffer must hold one.
const MIN_SEND_BUFFER: usize = 4096;

/// `--lobby-send-buffer`: refused below [`MIN_SEND_BUFFER`] instead of silently raised.
fn parse_send_buffer(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{e} (bytes)"))?;
    if n < MIN_SEND_BUFFER {
        return Err(format!(
            "{n} bytes cannot hold one lobby frame: give at least {MIN_SEND_BUFFER}"
        ));
    }
    Ok(n)
}

impl LobbyArgs {
    /// The configuration these flags describe.
    pub fn config(&self) -> LobbyConfig {
        LobbyConfig {
            max_conns: self.max_conns,
            max_conns_per_ip: self.max_conns_per_ip,
            max_rooms: self.max_rooms,
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            frame_deadline: Duration::from_millis(self.frame_deadline_ms),
            login_deadline: Duration::from_millis(self.login_deadline_ms),
            unauthenticated_share: self.unauthenticated_share,
            send_buffer_bytes: self.send_buffer,
            user_msgs_per_sec: self.user_rate,
            user_msg_burst: self.user_burst,
            ..LobbyConfig::default()
        }
        .sanitized()
    }
}
