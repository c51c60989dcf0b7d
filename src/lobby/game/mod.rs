//! Games that live in a lobby room: the [`RoomGame`] trait (the lobby's counterpart of the
//! game port's [`Game`](crate::Game)), the [`RoomCx`] the lobby lends a game while it runs,
//! the [`RoomGames`] factory a launcher plugs in, and the first game, [`baccarat`]
//! (PROTOCOL.md section 7.1).
//!
//! A room holds at most one game, opened by TABLE_OPEN_REQ. The game runs on the lobby's
//! event loop: it is called when it opens, when a request addressed to it arrives (BET_REQ),
//! when a member enters or leaves, and when its own deadline passes. It never reads the
//! clock: [`RoomCx::now`] is the `now` the lobby was given. It ends when its room empties
//! (the room and the game are dropped together).
//!
//! Chips belong to the lobby's users (1000 at login, [`STARTING_CHIPS`]); a game reads
//! and changes them through [`RoomCx::chips`] and [`RoomCx::set_chips`].

pub mod baccarat;

use super::msg::{Message, Request, Status};
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

/// Chips every user holds at login.
pub const STARTING_CHIPS: u32 = 1000;

/// A turn-based game in one lobby room.
///
/// Every method runs on the lobby's thread, never concurrently, and must not block (the
/// `Send + Sync` bounds only let a host holding the lobby move between threads and show
/// its state to others). Only
/// [`RoomGame::opened`], [`RoomGame::request`] and [`RoomGame::timeout`] are required.
///
/// # Example
///
/// A game that counts down: it tells the room each second how many are left, then stops
/// setting a deadline. It takes no requests.
///
/// ```
/// use std::time::Duration;
/// use tickwire::lobby::game::{RoomCx, RoomGame, RoomGames, TableOpen};
/// use tickwire::client::lobby::{Message, Request, Status};
///
/// struct Countdown(u32);
///
/// impl RoomGame for Countdown {
///     fn opened(&mut self, cx: &mut RoomCx<'_>) {
///         cx.set_deadline(Some(cx.now() + Duration::from_secs(1)));
///     }
///     fn request(&mut self, _: &mut RoomCx<'_>, _user: u32, _: &Request<'_>) -> Result<(), Status> {
///         Err(Status::BadRequest)
///     }
///     fn timeout(&mut self, cx: &mut RoomCx<'_>) {
///         self.0 = self.0.saturating_sub(1);
///         cx.broadcast(&Message::RoundOpenNtf { round: self.0, bet_ms: 0 });
///         let next = (self.0 > 0).then(|| cx.now() + Duration::from_secs(1));
///         cx.set_deadline(next);
///     }
/// }
///
/// // Every TABLE_OPEN_REQ now opens a countdown from 3; a bet ms of 0 is refused.
/// let games = RoomGames::new(|open: TableOpen| match open.bet_ms {
///     0 => Err(Status::BadRequest),
///     _ => Ok(Box::new(Countdown(3)) as Box<dyn RoomGame>),
/// });
/// let cfg = tickwire::lobby::LobbyConfig { room_games: games, ..Default::default() };
/// # let _ = cfg;
/// ```
pub trait RoomGame: Send + Sync {
    /// The table was opened: TABLE_OPEN_RES has been sent to the opener; the room has not
    /// heard of it yet (a game tells it here, e.g. with ROUND_OPEN_NTF, and sets its first
    /// deadline).
    fn opened(&mut self, cx: &mut RoomCx<'_>);

    /// A request addressed to the room's game (BET_REQ) from `user`, a member. Answer it
    /// with its RES through [`RoomCx::send`] and return `Ok(())`, or return the status to
    /// refuse it with: the lobby then sends the RES with every later field zeroed.
    fn request(&mut self, cx: &mut RoomCx<'_>, user: u32, req: &Request<'_>) -> Result<(), Status>;

    /// The game's deadline ([`RoomCx::set_deadline`]) has passed; it is cleared before this
    /// call, so a game that wants another sets it again.
    fn timeout(&mut self, cx: &mut RoomCx<'_>);

    /// `user` entered the room (after ROOM_ENTER_RES and the others' ROOM_USER_ENTER_NTF).
    /// Nothing by default.
    fn joined(&mut self, _cx: &mut RoomCx<'_>, _user: u32) {}

    /// `user` left the room, or logged out (after the others' ROOM_USER_LEAVE_NTF; the
    /// room still has members: a game whose room empties is dropped instead). Nothing by
    /// default.
    fn left(&mut self, _cx: &mut RoomCx<'_>, _user: u32) {}

    /// The chips the game has taken from users minus those it has given back (the house's
    /// result): for accounting, and for tests that check no chip is made or lost. 0 by
    /// default.
    fn ledger(&self) -> i64 {
        0
    }
}

/// What TABLE_OPEN_REQ asks for, given to the [`RoomGames`] factory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableOpen {
    /// The room the table opens in.
    pub room: u32,
    /// The request's `bet ms`.
    pub bet_ms: u16,
    /// A seed for the game's randomness: drawn from the lobby's room-game stream, itself
    /// derived from the host's seed (so a seeded host replays every shoe), or from OS
    /// entropy when the host has none.
    pub seed: u64,
}

/// The factory TABLE_OPEN_REQ calls: it makes the room's game, or refuses with a status
/// (baccarat refuses a `bet ms` outside 1000..=60000 with 10 bad request). The lobby has
/// already checked that the opener is in a room (7) and that the room has no table (12).
///
/// [`LobbyConfig::room_games`](super::LobbyConfig::room_games) holds one; the default,
/// [`RoomGames::baccarat`], opens a [`baccarat::Baccarat`] table. A launcher plugs in its
/// own game with [`RoomGames::new`].
#[derive(Clone)]
pub struct RoomGames(Arc<MakeGame>);

/// The factory function behind [`RoomGames`].
type MakeGame = dyn Fn(TableOpen) -> Result<Box<dyn RoomGame>, Status> + Send + Sync;

impl RoomGames {
    /// A factory calling `make` for every TABLE_OPEN_REQ.
    pub fn new(
        make: impl Fn(TableOpen) -> Result<Box<dyn RoomGame>, Status> + Send + Sync + 'static,
    ) -> RoomGames {
        RoomGames(Arc::new(make))
    }

    /// Baccarat tables (PROTOCOL.md section 7.1): the default.
    pub fn baccarat() -> RoomGames {
        RoomGames::new(|open| {
            let game = baccarat::Baccarat::new(open.bet_ms, open.seed)?;
            Ok(Box::new(game) as Box<dyn RoomGame>)
        })
    }

    /// Makes the game TABLE_OPEN_REQ asks for, or the status to refuse it with.
    pub fn make(&self, open: TableOpen) -> Result<Box<dyn RoomGame>, Status> {
        (self.0)(open)
    }
}

impl Default for RoomGames {
    fn default() -> RoomGames {
        RoomGames::baccarat()
    }
}

impl fmt::Debug for RoomGames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoomGames(..)")
    }
}

/// What a [`RoomCx`] reaches in the lobby: implemented by the lobby core.
pub(crate) trait Host {
    /// Queues `m` for `user` if it is a member of `room`; `false` if not.
    fn send_member(&mut self, room: u32, user: u32, m: &Message) -> bool;
    /// Queues `m` for every member of `room` (encoded once).
    fn send_room(&mut self, room: u32, m: &Message);
    /// Calls `f` with the user id of every member of `room`, in the order they entered.
    fn members(&self, room: u32, f: &mut dyn FnMut(u32));
    /// The chips of a logged-in user.
    fn chips(&self, user: u32) -> Option<u32>;
    /// Sets the chips of `user` if it is a member of `room`; `false` if not.
    fn set_chips(&mut self, room: u32, user: u32, chips: u32) -> bool;
}

/// What the lobby lends a [`RoomGame`] while it runs: the time, its room's members, sending
/// to them, their chips and the game's own deadline.
pub struct RoomCx<'a> {
    host: &'a mut dyn Host,
    room: u32,
    now: Instant,
    deadline: Option<Instant>,
}

impl<'a> RoomCx<'a> {
    /// A context for the game of `room`, whose deadline is `deadline` now.
    pub(crate) fn new(
        host: &'a mut dyn Host,
        room: u32,
        now: Instant,
        deadline: Option<Instant>,
    ) -> RoomCx<'a> {
        RoomCx {
            host,
            room,
            now,
            deadline,
        }
    }

    /// The deadline as the game left it.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The lobby's time now (the game never reads a clock).
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The room the game lives in.
    pub fn room(&self) -> u32 {
        self.room
    }

    /// Sets (`Some`) or clears (`None`) the game's one deadline: when it passes,
    /// [`RoomGame::timeout`] is called. A deadline at or before now fires at the lobby's
    /// next timeout handling, not during this call.
    pub fn set_deadline(&mut self, at: Option<Instant>) {
        self.deadline = at;
    }

    /// Queues `m` for one member of the room; `false` (nothing sent) when `user` is not in
    /// the room. A member whose send buffer cannot take it is cut as a slow reader, as for
    /// any message.
    pub fn send(&mut self, user: u32, m: &Message) -> bool {
        self.host.send_member(self.room, user, m)
    }

    /// Queues `m` for every member of the room, encoded once.
    pub fn broadcast(&mut self, m: &Message) {
        self.host.send_room(self.room, m);
    }

    /// Calls `f` with the user id of every member, in the order they entered.
    pub fn for_each_member(&self, mut f: impl FnMut(u32)) {
        self.host.members(self.room, &mut f);
    }

    /// Whether `user` is in the room.
    pub fn is_member(&self, user: u32) -> bool {
        let mut found = false;
        self.for_each_member(|u| found |= u == user);
        found
    }

    /// The chips of any logged-in user (`None`: nobody is logged in with that id).
    pub fn chips(&self, user: u32) -> Option<u32> {
        self.host.chips(user)
    }

    /// Sets a member's chips; `false` (nothing changed) when `user` is not in the room.
    pub fn set_chips(&mut self, user: u32, chips: u32) -> bool {
        self.host.set_chips(self.room, user, chips)
    }
}

impl fmt::Debug for RoomCx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomCx")
            .field("room", &self.room)
            .field("now", &self.now)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
