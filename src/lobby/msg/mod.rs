//! The lobby message codec, both directions (PROTOCOL.md section 7).
//!
//! The server parses [`Request`]s in place and writes answers with [`Writer`]; the client
//! writes the same [`Request`]s and parses the answers as [`Message`]s. Every parse is a
//! checked cursor ([`Reader`]): a short body, bad UTF-8 or trailing bytes are
//! [`ErrorCode::BadBody`], never a panic. Bodies are plain (frame type 0) or MessagePack
//! (type 1, [`Format`]): `parse` reads the format the frame's type says, `emit_as` writes
//! either. Every writer returns [`Full`] on a short buffer;
//! none panics or cuts silently (a room list is cut to one frame, as the protocol says).
//!
//! Every message is written once, in the table below: its id, its name, its fields in wire
//! order, and for a request the answer it gets. The ids ([`id`]), both enums, their parse and
//! emit, and the zeroed answer of a refused request are generated from it (`table.rs`).

pub use super::cursor::{Format, Full, Reader, Writer};
use super::frame::{Header, HEADER_LEN};
use crate::secure::ConnectToken;
use crate::tickets::Name;
use arrayvec::ArrayString;

#[macro_use]
mod table;
mod codes;

pub use codes::{ErrorCode, Status};
use table::Field;

messages! {
    exchanges {
        /// Log in with a name.
        LOGIN_REQ = 10 => Login {
            /// The name to log in with.
            name: &'a str,
        }
        /// Answer to LOGIN_REQ.
        answer LOGIN_RES = 11 => LoginRes {
            /// Your user id (0 unless ok).
            user: u32,
            /// Your game-port ticket (0 unless ok).
            ticket: u64,
        }

        /// List the rooms.
        ROOM_LIST_REQ = 20 => RoomList
        /// Answer to ROOM_LIST_REQ.
        answer ROOM_LIST_RES = 21 => RoomListRes {
            /// The rooms that fit in one frame.
            rooms: Vec<RoomInfo>,
        }

        /// Create a room and enter it.
        ROOM_CREATE_REQ = 22 => RoomCreate {
            /// The room's title.
            title: &'a str,
            /// Most users (capped at the server's limit, at most 100).
            max: u8,
        }
        /// Answer to ROOM_CREATE_REQ.
        answer ROOM_CREATE_RES = 23 => RoomCreateRes {
            /// The new room (0 unless ok).
            room: u32,
        }

        /// Enter a room.
        ROOM_ENTER_REQ = 24 => RoomEnter {
            /// The room id.
            room: u32,
        }
        /// Answer to ROOM_ENTER_REQ.
        answer ROOM_ENTER_RES = 25 => RoomEnterRes {
            /// The room (0 unless ok).
            room: u32,
            /// Everyone in it after entering, you included.
            users: Vec<UserInfo>,
        }

        /// Leave your room.
        ROOM_LEAVE_REQ = 27 => RoomLeave
        /// Answer to ROOM_LEAVE_REQ.
        answer ROOM_LEAVE_RES = 28 => RoomLeaveRes {}

        /// Say something to your room.
        ROOM_CHAT_REQ = 30 => RoomChat {
            /// What to say.
            msg: &'a str,
        }
        /// Answer to ROOM_CHAT_REQ.
        answer ROOM_CHAT_RES = 31 => RoomChatRes {}

        /// Say something to one user.
        WHISPER_REQ = 40 => Whisper {
            /// The target's name.
            to: &'a str,
            /// What to say.
            msg: &'a str,
        }
        /// Answer to WHISPER_REQ.
        answer WHISPER_RES = 41 => WhisperRes {}

        /// Invite a user to your room.
        INVITE_REQ = 43 => Invite {
            /// The target's name.
            to: &'a str,
        }
        /// Answer to INVITE_REQ.
        answer INVITE_RES = 44 => InviteRes {}

        /// Log in with a session from the fleet's matchmaker (`POST /v1/login`,
        /// docs/FLEET.md) instead of a bare name: over TLS, to a lobby that holds the fleet
        /// key (docs/LOBBY.md, "Logging in with a matchmaker session").
        SESSION_LOGIN_REQ = 14 => SessionLogin {
            /// The session's text, as the matchmaker gave it.
            session: &'a str,
        }
        /// Answer to SESSION_LOGIN_REQ: as LOGIN_RES.
        answer SESSION_LOGIN_RES = 15 => SessionLoginRes {
            /// Your user id (0 unless ok).
            user: u32,
            /// Your game-port ticket (0 unless ok).
            ticket: u64,
        }

        /// Ask for a connect token to the lobby's game server (PROTOCOL.md section 8.4;
        /// answered only over TLS, by a lobby with a token issuer).
        TOKEN_REQ = 12 => TokenReq {
            /// The server the token is for: 0, or the lobby's own `--server-id`.
            scope: u64,
        }
        /// Answer to TOKEN_REQ: the 205-byte connect token, all zero (`None`) unless ok.
        answer TOKEN_RES = 13 => TokenRes {
            /// The token; `None` stands for 205 zero bytes.
            token: Option<ConnectToken>,
        }

        /// Open a baccarat table (the room's game) in your room (PROTOCOL.md section 7.1).
        TABLE_OPEN_REQ = 50 => TableOpen {
            /// How long each round's betting lasts, in ms (1000..=60000).
            bet_ms: u16,
        }
        /// Answer to TABLE_OPEN_REQ; the room then gets ROUND_OPEN_NTF.
        answer TABLE_OPEN_RES = 51 => TableOpenRes {}

        /// Bet on this round of your room's table.
        BET_REQ = 52 => Bet {
            /// 0 player, 1 banker, 2 tie.
            side: u8,
            /// How many chips (1..=your chips).
            amount: u32,
        }
        /// Answer to BET_REQ; the room then gets BET_NTF.
        answer BET_RES = 53 => BetRes {
            /// Your chips after the stake was taken (0 unless ok).
            chips: u32,
        }

        /// Ask for your chips.
        CHIPS_REQ = 55 => Chips
        /// Answer to CHIPS_REQ.
        answer CHIPS_RES = 56 => ChipsRes {
            /// Your chips (0 unless ok).
            chips: u32,
        }
    }
    unsolicited {
        /// Someone entered your room.
        ROOM_USER_ENTER_NTF = 26 => RoomUserEnterNtf {
            /// Who entered.
            user: u32,
            /// Their name.
            name: Name,
        }
        /// Someone left your room.
        ROOM_USER_LEAVE_NTF = 29 => RoomUserLeaveNtf {
            /// Who left.
            user: u32,
        }
        /// Someone said something in your room.
        ROOM_CHAT_NTF = 32 => RoomChatNtf {
            /// Who said it.
            user: u32,
            /// What.
            msg: Text,
        }
        /// Someone whispered to you.
        WHISPER_NTF = 42 => WhisperNtf {
            /// Who whispered.
            user: u32,
            /// Their name.
            name: Name,
            /// What.
            msg: Text,
        }
        /// Someone invited you to their room.
        INVITE_NTF = 45 => InviteNtf {
            /// The room you are invited to.
            room: u32,
            /// Who invited you.
            name: Name,
        }
        /// Server to client: your input was bad; the connection closes.
        ERROR = 99 => Error {
            /// Why.
            code: ErrorCode,
        }
        /// Someone in your room bet on this round.
        BET_NTF = 54 => BetNtf {
            /// Who bet.
            user: u32,
            /// On what: 0 player, 1 banker, 2 tie.
            side: u8,
            /// How many chips.
            amount: u32,
        }
        /// Your room's table dealt a round.
        ROUND_NTF = 57 => RoundNtf {
            /// The round.
            round: u32,
            /// The player's cards in the order dealt (0: no third card).
            player: [u8; 3],
            /// The banker's cards in the order dealt (0: no third card).
            banker: [u8; 3],
            /// 0 player, 1 banker, 2 tie.
            winner: u8,
            /// Every user who bet in the round.
            results: Vec<Payout>,
        }
        /// Your room's table opened a round: bets are taken for `bet_ms`.
        ROUND_OPEN_NTF = 58 => RoundOpenNtf {
            /// The round (1, 2, ...).
            round: u32,
            /// Betting closes this many ms after this notification.
            bet_ms: u16,
        }
    }
}

/// Longest room title, in bytes.
pub const MAX_TITLE: usize = 32;
/// Longest chat or whisper message, in bytes.
pub const MAX_TEXT: usize = 255;
/// Most users a room can hold.
pub const MAX_ROOM_USERS: u8 = 100;

/// A room title: 1..=32 bytes of UTF-8, stored inline.
pub type Title = ArrayString<MAX_TITLE>;
/// A chat or whisper message: 1..=255 bytes of UTF-8, stored inline.
pub type Text = ArrayString<MAX_TEXT>;

/// Whether LOGIN_REQ accepts `s` as a user name (the rules are in `lobby/name.rs`).
#[cfg(test)]
pub fn valid_name(s: &str) -> bool {
    super::name::accept(s).is_some()
}

/// Whether `s` is a valid room title: 1..=32 bytes, no control characters, not blank.
pub fn valid_title(s: &str) -> bool {
    (1..=MAX_TITLE).contains(&s.len()) && !s.chars().any(char::is_control) && !s.trim().is_empty()
}

/// One entry of ROOM_LIST_RES.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomInfo {
    /// The room id.
    pub room: u32,
    /// Its title.
    pub title: Title,
    /// Users in it now.
    pub users: u8,
    /// Most users it takes.
    pub max: u8,
}

/// One entry of ROOM_ENTER_RES.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserInfo {
    /// The user id.
    pub user: u32,
    /// The user's name.
    pub name: Name,
}

/// One entry of ROUND_NTF: a bettor's result over the round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payout {
    /// The user.
    pub user: u32,
    /// The net change of its chips over the round: what came back minus what it staked.
    pub delta: i32,
    /// Its chips after the round (0 if it has logged out).
    pub chips: u32,
}

/// Writes ROOM_LIST_RES in `format` with as many of `rooms` as fit in one frame; returns
/// the size. [`Full`] when `buf` is shorter than the frame would be.
pub fn write_room_list(
    buf: &mut [u8],
    format: Format,
    result: Status,
    rooms: impl IntoIterator<Item = RoomInfo>,
) -> Result<usize, Full> {
    let mut w = Writer::with_format(buf, id::ROOM_LIST_RES, format);
    w.begin(1 + <Vec<RoomInfo> as Field>::ELEMS)?;
    result.put(&mut w)?;
    table::put_rooms(&mut w, rooms)?;
    w.finish()
}

/// Writes ROOM_ENTER_RES in `format` listing `users`; returns the size. [`Full`] when they
/// do not fit in `buf` or one frame, or are more than the count holds (255).
pub fn write_room_enter(
    buf: &mut [u8],
    format: Format,
    result: Status,
    room: u32,
    users: impl IntoIterator<Item = UserInfo>,
) -> Result<usize, Full> {
    let mut w = Writer::with_format(buf, id::ROOM_ENTER_RES, format);
    w.begin(1 + <u32 as Field>::ELEMS + <Vec<UserInfo> as Field>::ELEMS)?;
    result.put(&mut w)?;
    room.put(&mut w)?;
    table::put_users(&mut w, users)?;
    w.finish()
}

/// Checks a whole frame's header (`known` ids only) and size; returns its id and a reader
/// over its body in the format of its type.
fn body(frame: &[u8], known: impl Fn(u16) -> bool) -> Result<(u16, Reader<'_>), ErrorCode> {
    let (head, body) = frame
        .split_first_chunk::<HEADER_LEN>()
        .ok_or(ErrorCode::Size)?;
    let h = Header::check(head, known)?;
    if h.size != frame.len() {
        return Err(ErrorCode::Size);
    }
    Ok((h.id, Reader::with_format(body, h.format)))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_msgpack;
