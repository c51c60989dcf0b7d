//! The requests of PROTOCOL.md section 7, one method each, and the dispatch to them.
//!
//! A handler sends its own successful RES (before any NTF it causes: the requester hears
//! first) and returns `Err(status)` to refuse; the dispatch then sends the request's RES
//! with that status and every later field zeroed ([`Request::answer`]). The room requests
//! are in `rooms.rs`.

use super::{Budget, LobbyCore, User, STARTING_CHIPS};
use crate::lobby::msg::{Message, Request, Status, Text};
use crate::lobby::name;
use crate::tickets::{Holder, Name};
use log::{debug, info, warn};
use std::time::Instant;

/// What a handler knows of the logged-in user who sent the request.
#[derive(Debug, Clone, Copy)]
pub(super) struct Me {
    /// The user id.
    pub(super) user: u32,
    /// The user's name.
    pub(super) name: Name,
    /// The room the user is in.
    pub(super) room: Option<u32>,
}

/// A handler's outcome: done (its answers are queued), or refused with a status.
pub(super) type Handled = Result<(), Status>;

impl<T> LobbyCore<T> {
    /// Handles one parsed request; `frame` is its whole frame (ECHO sends it back).
    pub(super) fn handle(&mut self, id: usize, req: Request, frame: &[u8], now: Instant) {
        self.stats.msgs_in += 1;
        debug!("lobby: conn {id}: {req:?}");
        // ECHO and LOGIN_REQ need no login; every other request does.
        let handled = match (req, self.me(id)) {
            (Request::Echo(_), _) => return self.echo(id, frame),
            (Request::Login { name }, _) => self.login(id, name, now, false),
            (Request::SessionLogin { session }, _) => self.session_login(id, session, now),
            (_, None) => Err(Status::NotLoggedIn),
            // What reaches other users is limited per second (docs/LOBBY.md): chat,
            // whisper, invite, and entering or leaving a room (the room is told); and
            // TOKEN_REQ, whose every answer costs fresh keys from the OS and a seal.
            (
                Request::RoomChat { .. }
                | Request::Whisper { .. }
                | Request::Invite { .. }
                | Request::RoomEnter { .. }
                | Request::RoomLeave
                | Request::TokenReq { .. },
                _,
            ) if !self.spend(id, now) => Err(Status::BadRequest),
            (Request::RoomList, Some(_)) => self.room_list(id),
            (Request::RoomCreate { title, max }, Some(me)) => self.room_create(id, me, title, max),
            (Request::RoomEnter { room }, Some(me)) => self.room_enter(id, me, room),
            (Request::RoomLeave, Some(me)) => self.room_leave(id, me),
            (Request::RoomChat { msg }, Some(me)) => self.room_chat(id, me, msg),
            (Request::Whisper { to, msg }, Some(me)) => self.whisper(id, me, to, msg),
            (Request::Invite { to }, Some(me)) => self.invite(id, me, to),
            (Request::TokenReq { scope }, Some(me)) => self.token(id, me, scope, now),
            (Request::TableOpen { bet_ms }, Some(me)) => self.table_open(id, me, bet_ms, now),
            (Request::Bet { .. }, Some(me)) => self.game_request(me, req, now),
            (Request::Chips, Some(_)) => self.chips(id),
        };
        if let Err(result) = handled {
            self.answer(id, req, result);
        }
    }

    /// Sends `req`'s RES with `result` and every later field zeroed.
    pub(super) fn answer(&mut self, id: usize, req: Request, result: Status) {
        let Some(m) = req.answer(result) else {
            return;
        };
        if result != Status::Ok {
            debug!("lobby: conn {id}: {req:?} -> {result}");
        }
        self.send(id, &m);
    }

    /// Spends one of the user's sends; `false` when it is over its rate (counted).
    fn spend(&mut self, id: usize, now: Instant) -> bool {
        let rate = self.rate;
        let ok = self
            .conns
            .get_mut(id)
            .and_then(|c| c.user.as_mut())
            .is_none_or(|u| u.budget.take(rate, now));
        if !ok {
            self.stats.rate_limited += 1;
        }
        ok
    }

    fn me(&self, id: usize) -> Option<Me> {
        self.user(id).map(|u| Me {
            user: u.id,
            name: u.name,
            room: u.room,
        })
    }

    /// ECHO: the same frame back.
    fn echo(&mut self, id: usize, frame: &[u8]) {
        let n = frame.len();
        match self.out.get_mut(..n) {
            Some(out) => out.copy_from_slice(frame),
            None => return warn!("lobby: conn {id}: an ECHO longer than a frame"),
        }
        self.queue(id, n);
    }

    /// SESSION_LOGIN_REQ: a session of the fleet's matchmaker, checked offline with the
    /// fleet key (no call out of the loop), logs in under its name as LOGIN_REQ does.
    /// Only over TLS (a session is a credential) and only with a session checker.
    fn session_login(&mut self, id: usize, session: &str, now: Instant) -> Handled {
        if self.user(id).is_some() {
            return Err(Status::AlreadyLoggedIn);
        }
        let checked = match &self.cfg.sessions {
            Some(s) if self.is_tls(id) => s.check(session, self.clock.unix_secs(now)),
            _ => return Err(Status::BadRequest),
        };
        match checked {
            Ok((name, _)) => self.login(id, &name, now, true),
            Err(e) => {
                info!("lobby: conn {id}: session login refused: {e}");
                Err(Status::BadSession)
            }
        }
    }

    /// LOGIN_REQ (and SESSION_LOGIN_REQ's name, `session`): a valid free name gets a user
    /// id and a game-port ticket.
    fn login(&mut self, id: usize, name: &str, now: Instant, session: bool) -> Handled {
        // The name as stored (NFKC) and its key (case and confusables folded): name.rs.
        let (name, key) = match name::accept(name) {
            _ if self.user(id).is_some() => return Err(Status::AlreadyLoggedIn),
            None => return Err(Status::BadName),
            Some((_, k)) if self.users.contains_key(&k) => return Err(Status::NameTaken),
            Some(_) if self.users.len() >= self.cfg.max_conns => return Err(Status::ServerFull),
            Some(nk) => nk,
        };
        let user = self.next_user;
        let Ok(ticket) = self.tickets.issue(Holder { user, name }) else {
            warn!("lobby: ticket table full, refusing login of {name:?}");
            return Err(Status::ServerFull);
        };
        self.next_user = self.next_user.wrapping_add(1).max(1);
        self.users.insert(key, id);
        self.by_user.insert(user, id);
        self.deadlines.logged_in(id);
        let budget = self
            .peer_ip(id)
            .map_or(Budget::new(now), |ip| self.budget_for(ip, now));
        if let Some(c) = self.conns.get_mut(id) {
            info!(
                "lobby: conn {id} from {} logged in as {user} {name:?}",
                c.ip
            );
            c.user = Some(User {
                id: user,
                name,
                ticket,
                room: None,
                budget,
                chips: STARTING_CHIPS,
            });
        }
        let res = match session {
            false => Message::LoginRes {
                result: Status::Ok,
                user,
                ticket,
            },
            true => Message::SessionLoginRes {
                result: Status::Ok,
                user,
                ticket,
            },
        };
        self.send(id, &res);
        Ok(())
    }

    /// TOKEN_REQ (PROTOCOL.md section 8.4): a connect token for this lobby's own server,
    /// only over TLS and only when the lobby has an issuer (otherwise 10 bad request, so
    /// connection keys never cross the network in the clear). The client id is the user
    /// id, the name the user's lobby name. Scope 0 or the configured server id gets a token
    /// scoped to the configured server id (0 when the server runs without `--server-id`);
    /// any other scope is another server's to grant: 10 (docs/LOBBY.md).
    fn token(&mut self, id: usize, me: Me, scope: u64, now: Instant) -> Handled {
        let server = self.cfg.server_id;
        let issuer = match &self.cfg.issuer {
            Some(i) if self.is_tls(id) && (scope == 0 || scope == server) => i,
            _ => return Err(Status::BadRequest),
        };
        let token = issuer.mint(
            u64::from(me.user),
            server,
            &me.name,
            self.clock.unix_secs(now),
        );
        info!(
            "lobby: conn {id}: token for user {} {:?}, scope {server}, expires {}",
            me.user,
            me.name.as_str(),
            token.expires
        );
        self.stats.tokens_issued += 1;
        let res = Message::TokenRes {
            result: Status::Ok,
            token: Some(token),
        };
        self.send(id, &res);
        Ok(())
    }

    /// The connection of the user a WHISPER or INVITE names: the one whose name has the
    /// same key (names are unique by key, so at most one).
    fn target(&self, to: &str) -> Option<usize> {
        self.users.get(&name::key(to)?).copied()
    }

    /// WHISPER_REQ: a non-empty text to a logged-in user.
    fn whisper(&mut self, id: usize, me: Me, to: &str, msg: &str) -> Handled {
        let target = self.target(to);
        let msg = Text::from(msg).ok().filter(|m| !m.is_empty());
        let (Some(target), Some(msg)) = (target, msg) else {
            return Err(if msg.is_none() {
                Status::BadRequest
            } else {
                Status::NoSuchUser
            });
        };
        let ntf = Message::WhisperNtf {
            user: me.user,
            name: me.name,
            msg,
        };
        self.notify_one(
            id,
            &Message::WhisperRes { result: Status::Ok },
            target,
            &ntf,
        )
    }

    /// INVITE_REQ: tells another logged-in user the room you are in.
    fn invite(&mut self, id: usize, me: Me, to: &str) -> Handled {
        let target = self.target(to);
        let (room, target) = match (me.room, target) {
            (None, _) => return Err(Status::NotInRoom),
            (_, None) => return Err(Status::NoSuchUser),
            (_, Some(t)) if t == id => return Err(Status::BadRequest),
            (Some(room), Some(t)) => (room, t),
        };
        let ntf = Message::InviteNtf {
            room,
            name: me.name,
        };
        self.notify_one(id, &Message::InviteRes { result: Status::Ok }, target, &ntf)
    }

    /// Answers `res` to `id`, then sends `ntf` to `target`; but when `ntf` does not fit
    /// `target`'s send buffer the request is refused, 11 server full: a flood of
    /// whispers or invites costs its sender, never cuts its target as a slow reader.
    fn notify_one(&mut self, id: usize, res: &Message, target: usize, ntf: &Message) -> Handled {
        let (res_format, ntf_format) = (self.format(id), self.format(target));
        let (Ok(res_len), Ok(n)) = (
            res.emit_as(&mut self.out, res_format),
            ntf.emit_as(&mut self.out, ntf_format),
        ) else {
            return Err(Status::BadRequest);
        };
        // Whispering yourself, your own answer goes first into the same buffer.
        let need = if target == id { res_len + n } else { n };
        if !self.fits(target, need) {
            self.stats.target_full += 1;
            debug!("lobby: conn {id}: target conn {target} cannot take {n} more bytes");
            return Err(Status::ServerFull);
        }
        self.send(id, res);
        self.send(target, ntf);
        Ok(())
    }
}
