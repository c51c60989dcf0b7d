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
    /// Bytes queued per lobby connection before a slow reader is cut off (at least 4096,
    /// the largest lobby frame).
    #[arg(long = "lobby-send-buffer", default_value_t = 65_536, value_parser = parse_send_buffer)]
    pub send_buffer: usize,
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
            send_buffer_bytes: self.send_buffer,
            ..LobbyConfig::default()
        }
        .sanitized()
    }
}
