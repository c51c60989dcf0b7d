//! What A2S queries see of a match: the [`QueryState`] of one [`Server`].

use crate::proto::{Game, Server};
use crate::query::QueryState;
use arrayvec::ArrayString;
use core::fmt::Write;
use std::time::Instant;

/// The server's public face in browsers (A2S info): `--name`, `--map`.
///
/// The default is neutral: name `"tickwire"`, folder `"tickwire"`, and an empty map and
/// game, which mean "ask the game": A2S then shows [`Game::map_name`] and
/// [`Game::description`] of the match's game (the arena says `"arena"` and
/// `"tickwire arena"`; a game that does not override them shows an empty map and
/// `"tickwire game"`). Set a field to show that instead whatever the game says.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// Server name (`"tickwire"`).
    pub name: String,
    /// Map name; empty (the default): the game's [`Game::map_name`].
    pub map: String,
    /// Game folder, a short id (`"tickwire"`).
    pub folder: String,
    /// Game description; empty (the default): the game's [`Game::description`].
    pub game: String,
}

impl Default for ServerInfo {
    fn default() -> ServerInfo {
        ServerInfo {
            name: "tickwire".into(),
            map: String::new(),
            folder: "tickwire".into(),
            game: String::new(),
        }
    }
}

/// What A2S lists a player without a lobby name as: the same for everyone, so it tells
/// nothing about the slot (A2S's own index field already tells players apart).
pub(crate) const UNNAMED: &str = "player";

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
        match self.info.map.as_str() {
            "" => self.server.game().map_name(),
            m => m,
        }
    }
    fn folder(&self) -> &str {
        &self.info.folder
    }
    fn game(&self) -> &str {
        match self.info.game.as_str() {
            "" => self.server.game().description(),
            g => g,
        }
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
            // PROTOCOL.md section 5: the name of a player without a lobby name must not
            // reveal its qport (which would let a blind injector aim at a slot).
            f(p.name.as_ref().map_or(UNNAMED, |n| n.as_str()), score, secs);
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
        // Secure mode (PROTOCOL.md section 8): a browser can tell a client it needs a token.
        f("secure", if c.secure.is_some() { "1" } else { "0" });
        v.clear();
        let _ = write!(v, "{}", c.max_rewind.as_millis());
        f("max_rewind_ms", &v);
    }
    fn game_port(&self) -> Option<u16> {
        Some(self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::arena::Arena;
    use crate::proto::Config;
    use crate::wire::{Challenge, Hello, HEADER_LEN, MAX_DATAGRAM};
    use core::net::SocketAddr;

    /// Issue 11, item 2: no A2S player name gives away a qport (the old name was
    /// `player <qport>`).
    #[test]
    fn unnamed_players_do_not_reveal_their_qport() {
        let now = Instant::now();
        let mut s = Server::new(
            Config {
                seed: Some(3),
                ..Config::default()
            },
            Arena::new(1),
            now,
        );
        let mut out = [0u8; MAX_DATAGRAM];
        for i in 0..200u32 {
            let src = SocketAddr::from(((0x0A00_0001 + i).to_be_bytes(), 4000));
            s.handle_datagram(now, src, &Hello::test_datagram(0))
                .unwrap();
            let n = s.write_transmit(&s.transmits()[0], &mut out).unwrap();
            let cookie = Challenge::parse(&out[HEADER_LEN..n]).unwrap().cookie;
            s.sent(usize::MAX);
            s.handle_datagram(now, src, &Hello::test_datagram(cookie))
                .unwrap();
            s.sent(usize::MAX);
        }
        assert_eq!(s.client_count(), 200);
        let info = ServerInfo::default();
        let view = QueryView {
            server: &s,
            info: &info,
            now,
            port: 7777,
        };
        let qports: Vec<u8> = s.players(now).map(|p| p.id).collect();
        let mut names = Vec::new();
        view.for_each_player(&mut |name, _, _| names.push(name.to_string()));
        assert_eq!(names.len(), 200);
        for (name, q) in names.iter().zip(&qports) {
            assert!(!name.contains(&q.to_string()), "{name:?} reveals qport {q}");
            assert!(!name.bytes().any(|b| b.is_ascii_digit()), "{name:?}");
        }
        assert!(names.iter().all(|n| n == UNNAMED));
    }
}
