//! The lobby's side of room games (PROTOCOL.md section 7.1): TABLE_OPEN_REQ, the requests
//! routed to a room's game (BET_REQ), CHIPS_REQ, the games' deadlines, and the [`Host`] a
//! game's [`RoomCx`] reaches the lobby through.
//!
//! The games' deadlines are one ordered set of `(deadline, room)`: the earliest is its
//! first entry, so [`LobbyCore::next_timeout`] stays O(1) (amortized, a B-tree's first) and
//! setting or clearing one is O(log rooms).

use super::requests::{Handled, Me};
use super::{LobbyCore, Table};
use crate::lobby::game::{Host, RoomCx, RoomGame, TableOpen};
use crate::lobby::msg::{Message, Request, Status};
use log::info;
use rand::Rng;
use std::time::Instant;

impl<T> LobbyCore<T> {
    /// TABLE_OPEN_REQ: in a room (7) with no table (12), a game the factory makes (it may
    /// refuse: baccarat's `bet ms` outside 1000..=60000 is 10). TABLE_OPEN_RES goes to the
    /// opener first, then the game opens (its ROUND_OPEN_NTF reaches the room).
    pub(super) fn table_open(&mut self, id: usize, me: Me, bet_ms: u16, now: Instant) -> Handled {
        let Some(room) = me.room else {
            return Err(Status::NotInRoom);
        };
        match self.rooms.get(&room) {
            Some(r) if r.table.is_some() => return Err(Status::TableAlreadyOpen),
            Some(_) => {}
            None => return Err(Status::NotInRoom),
        }
        let open = TableOpen {
            room,
            bet_ms,
            seed: self.game_rng.gen(),
        };
        let game = self.cfg.room_games.make(open)?;
        if let Some(r) = self.rooms.get_mut(&room) {
            r.table = Some(Table {
                game: None,
                deadline: None,
            });
        }
        info!(
            "lobby: {:?} opened a table in room {room} (bet {bet_ms} ms)",
            me.name
        );
        self.send(id, &Message::TableOpenRes { result: Status::Ok });
        self.run_game(room, now, Some(game), |g, cx| g.opened(cx));
        Ok(())
    }

    /// A request for the room's game (BET_REQ): in a room (7) with a table (13); the game
    /// answers or refuses.
    pub(super) fn game_request(&mut self, me: Me, req: Request, now: Instant) -> Handled {
        let Some(room) = me.room else {
            return Err(Status::NotInRoom);
        };
        if self.rooms.get(&room).is_none_or(|r| r.table.is_none()) {
            return Err(Status::NoTable);
        }
        self.run_game(room, now, None, |g, cx| g.request(cx, me.user, &req))
            .unwrap_or(Err(Status::NoTable))
    }

    /// CHIPS_REQ: the user's chips (a login is all it needs).
    pub(super) fn chips(&mut self, id: usize) -> Handled {
        let chips = self.user(id).map_or(0, |u| u.chips);
        self.send(
            id,
            &Message::ChipsRes {
                result: Status::Ok,
                chips,
            },
        );
        Ok(())
    }

    /// `user` entered `room`: its game, if any, is told.
    pub(super) fn game_joined(&mut self, room: u32, user: u32) {
        if let Some(now) = self.last_now {
            self.run_game(room, now, None, |g, cx| g.joined(cx, user));
        }
    }

    /// `user` left `room`, which still has members: its game, if any, is told.
    pub(super) fn game_left(&mut self, room: u32, user: u32) {
        if let Some(now) = self.last_now {
            self.run_game(room, now, None, |g, cx| g.left(cx, user));
        }
    }

    /// `room` is gone (it emptied): its game's deadline goes with it.
    pub(super) fn table_dropped(&mut self, room: u32, table: Option<Table>) {
        if let Some(at) = table.and_then(|t| t.deadline) {
            self.game_deadlines.remove(&(at, room));
            info!("lobby: room {room} emptied, its table stops");
        }
    }

    /// The earliest deadline of any room's game.
    pub(super) fn next_game_timeout(&self) -> Option<Instant> {
        self.game_deadlines.first().map(|&(at, _)| at)
    }

    /// Calls [`RoomGame::timeout`] of every game whose deadline is at or before `now`, once
    /// each (a game that sets a deadline in the past is called again at the next handling).
    pub(super) fn handle_game_timeouts(&mut self, now: Instant) {
        let mut due = core::mem::take(&mut self.due_rooms);
        while let Some(&(at, room)) = self.game_deadlines.first() {
            if at > now {
                break;
            }
            self.game_deadlines.pop_first();
            if let Some(t) = self.rooms.get_mut(&room).and_then(|r| r.table.as_mut()) {
                t.deadline = None;
            }
            due.push(room);
        }
        for room in due.drain(..) {
            self.run_game(room, now, None, |g, cx| g.timeout(cx));
        }
        self.due_rooms = due;
    }

    /// Runs `f` on the game of `room` (or on `fresh`, installed as it), with a context; the
    /// game is lent out meanwhile and its deadline refiled after. `None` when the room has
    /// no table.
    fn run_game<R>(
        &mut self,
        room: u32,
        now: Instant,
        fresh: Option<Box<dyn RoomGame>>,
        f: impl FnOnce(&mut dyn RoomGame, &mut RoomCx<'_>) -> R,
    ) -> Option<R> {
        let table = self.rooms.get_mut(&room)?.table.as_mut()?;
        let before = table.deadline;
        let mut game = fresh.or_else(|| table.game.take())?;
        let mut cx = RoomCx::new(self, room, now, before);
        let r = f(game.as_mut(), &mut cx);
        let after = cx.deadline();
        match self.rooms.get_mut(&room).and_then(|r| r.table.as_mut()) {
            Some(t) => {
                t.game = Some(game);
                t.deadline = after;
            }
            None => {
                // The room went while the game ran (it cannot today: a game's calls never
                // remove a room); drop its deadline with it.
                if let Some(at) = before {
                    self.game_deadlines.remove(&(at, room));
                }
                return Some(r);
            }
        }
        if before != after {
            if let Some(at) = before {
                self.game_deadlines.remove(&(at, room));
            }
            if let Some(at) = after {
                self.game_deadlines.insert((at, room));
            }
        }
        Some(r)
    }

    /// The house's result of `room`'s game ([`RoomGame::ledger`]); `None` without a table.
    #[cfg(test)]
    pub(crate) fn table_ledger(&self, room: u32) -> Option<i64> {
        let t = self.rooms.get(&room)?.table.as_ref()?;
        t.game.as_ref().map(|g| g.ledger())
    }

    /// The chips of a logged-in user (tests).
    #[cfg(test)]
    pub(crate) fn user_chips(&self, user: u32) -> Option<u32> {
        Host::chips(self, user)
    }

    /// The connection of a logged-in user.
    fn conn_of(&self, user: u32) -> Option<usize> {
        self.by_user.get(&user).copied()
    }

    /// The connection of `user` if it is a member of `room`.
    fn member_conn(&self, room: u32, user: u32) -> Option<usize> {
        let c = self.conn_of(user)?;
        (self.user(c)?.room == Some(room)).then_some(c)
    }
}

impl<T> Host for LobbyCore<T> {
    fn send_member(&mut self, room: u32, user: u32, m: &Message) -> bool {
        let Some(c) = self.member_conn(room, user) else {
            return false;
        };
        self.send(c, m);
        true
    }

    fn send_room(&mut self, room: u32, m: &Message) {
        self.broadcast_room(room, m);
    }

    fn members(&self, room: u32, f: &mut dyn FnMut(u32)) {
        let Some(r) = self.rooms.get(&room) else {
            return;
        };
        for &c in &r.members {
            if let Some(u) = self.user(c) {
                f(u.id);
            }
        }
    }

    fn chips(&self, user: u32) -> Option<u32> {
        self.user(self.conn_of(user)?).map(|u| u.chips)
    }

    fn set_chips(&mut self, room: u32, user: u32, chips: u32) -> bool {
        let Some(c) = self.member_conn(room, user) else {
            return false;
        };
        match self.conns.get_mut(c).and_then(|c| c.user.as_mut()) {
            Some(u) => {
                u.chips = chips;
                true
            }
            None => false,
        }
    }
}
