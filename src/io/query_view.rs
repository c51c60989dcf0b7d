//! What A2S queries see of a match: the [`QueryState`] of one [`Server`].

use crate::proto::{Game, Server};
use crate::query::QueryState;
use arrayvec::ArrayString;
use core::fmt::Write;
use std::time::Instant;

/// The server's public face in browsers: `--name`, `--map`.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// Server name.
    pub name: String,
    /// Map name.
    pub map: String,
    /// Game folder (short id).
    pub folder: String,
    /// Game description.
    pub game: String,
}

impl Default for ServerInfo {
    fn default() -> ServerInfo {
        ServerInfo {
            name: "tickwire".into(),
            map: "arena".into(),
            folder: "tickwire".into(),
            game: "tickwire arena".into(),
        }
    }
}

pub(crate) struct QueryView<'a, G> {
    pub server: &'a Server<G>,
    pub info: &'a ServerInfo,
    pub now: Instant,
    pub port: u16,
}

impl<G: Game> QueryState for QueryView<'_, G> {
    fn server_name(&self) -> &str {
        &self.info.name
    }
    fn map(&self) -> &str {
        &self.info.map
    }
    fn folder(&self) -> &str {
        &self.info.folder
    }
    fn game(&self) -> &str {
        &self.info.game
    }
    fn players(&self) -> u8 {
        self.server.client_count().min(255) as u8
    }
    fn max_players(&self) -> u8 {
        self.server.config().max_clients
    }
    fn for_each_player(&self, f: &mut dyn FnMut(&str, i32, f32)) {
        for p in self.server.players(self.now) {
            let score = self.server.game().score(p.id);
            let secs = p.connected_for.as_secs_f32();
            match p.name {
                Some(n) => f(n.as_str(), score, secs),
                None => {
                    let mut s = ArrayString::<16>::new();
                    let _ = write!(s, "player {}", p.id);
                    f(s.as_str(), score, secs);
                }
            }
        }
    }
    fn for_each_rule(&self, f: &mut dyn FnMut(&str, &str)) {
        let c = self.server.config();
        let mut v = ArrayString::<24>::new();
        let _ = write!(v, "{}", c.tick_hz);
        f("tick_hz", &v);
        v.clear();
        let _ = write!(v, "{}", c.max_clients);
        f("max_clients", &v);
        f("version", env!("CARGO_PKG_VERSION"));
        v.clear();
        let _ = write!(v, "{}", c.protocol_id);
        f("protocol_id", &v);
        f("require_ticket", if c.require_ticket { "1" } else { "0" });
        v.clear();
        let _ = write!(v, "{}", c.max_rewind.as_millis());
        f("max_rewind_ms", &v);
    }
    fn game_port(&self) -> Option<u16> {
        Some(self.port)
    }
}
