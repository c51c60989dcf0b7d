//! The lobby message codec, both directions (PROTOCOL.md section 7).
//!
//! The server parses [`Request`]s in place and writes answers with [`Writer`]; the client
//! writes the same [`Request`]s and parses the answers as [`Message`]s. Every parse is a
//! checked cursor ([`Reader`]): a short body, bad UTF-8 or trailing bytes are
//! [`ErrorCode::BadBody`], never a panic.

pub use super::cursor::{Full, Reader, Writer};
use super::frame::{Header, HEADER_LEN};
use crate::tickets::Name;
use arrayvec::ArrayString;

/// Message ids.
pub mod id {
    /// Both directions: the same frame back.
    pub const ECHO: u16 = 1;
    /// Log in with a name.
    pub const LOGIN_REQ: u16 = 10;
    /// Answer to LOGIN_REQ.
    pub const LOGIN_RES: u16 = 11;
    /// List the rooms.
    pub const ROOM_LIST_REQ: u16 = 20;
    /// Answer to ROOM_LIST_REQ.
    pub const ROOM_LIST_RES: u16 = 21;
    /// Create a room and enter it.
    pub const ROOM_CREATE_REQ: u16 = 22;
    /// Answer to ROOM_CREATE_REQ.
    pub const ROOM_CREATE_RES: u16 = 23;
    /// Enter a room.
    pub const ROOM_ENTER_REQ: u16 = 24;
    /// Answer to ROOM_ENTER_REQ.
    pub const ROOM_ENTER_RES: u16 = 25;
    /// Someone entered your room.
    pub const ROOM_USER_ENTER_NTF: u16 = 26;
    /// Leave your room.
    pub const ROOM_LEAVE_REQ: u16 = 27;
    /// Answer to ROOM_LEAVE_REQ.
    pub const ROOM_LEAVE_RES: u16 = 28;
    /// Someone left your room.
    pub const ROOM_USER_LEAVE_NTF: u16 = 29;
    /// Say something to your room.
    pub const ROOM_CHAT_REQ: u16 = 30;
    /// Answer to ROOM_CHAT_REQ.
    pub const ROOM_CHAT_RES: u16 = 31;
    /// Someone said something in your room.
    pub const ROOM_CHAT_NTF: u16 = 32;
    /// Say something to one user.
    pub const WHISPER_REQ: u16 = 40;
    /// Answer to WHISPER_REQ.
    pub const WHISPER_RES: u16 = 41;
    /// Someone whispered to you.
    pub const WHISPER_NTF: u16 = 42;
    /// Invite a user to your room.
    pub const INVITE_REQ: u16 = 43;
    /// Answer to INVITE_REQ.
    pub const INVITE_RES: u16 = 44;
    /// Someone invited you to their room.
    pub const INVITE_NTF: u16 = 45;
    /// Server to client: your input was bad; the connection closes.
    pub const ERROR: u16 = 99;

    /// Whether a client may send `id`.
    pub fn is_request(id: u16) -> bool {
        matches!(
            id,
            ECHO | LOGIN_REQ
                | ROOM_LIST_REQ
                | ROOM_CREATE_REQ
                | ROOM_ENTER_REQ
                | ROOM_LEAVE_REQ
                | ROOM_CHAT_REQ
                | WHISPER_REQ
                | INVITE_REQ
        )
    }

    /// Whether a server may send `id`.
    pub fn is_message(id: u16) -> bool {
        matches!(
            id,
            ECHO | LOGIN_RES
                | ROOM_LIST_RES
                | ROOM_CREATE_RES
                | ROOM_ENTER_RES
                | ROOM_USER_ENTER_NTF
                | ROOM_LEAVE_RES
                | ROOM_USER_LEAVE_NTF
                | ROOM_CHAT_RES
                | ROOM_CHAT_NTF
                | WHISPER_RES
                | WHISPER_NTF
                | INVITE_RES
                | INVITE_NTF
                | ERROR
        )
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

/// The body of ERROR (id 99): why the server closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ErrorCode {
    /// 1: the frame size is outside 5..=4096.
    Size = 1,
    /// 2: the frame type is not 0.
    Type = 2,
    /// 3: the id is unknown, or not one this side may receive.
    UnknownId = 3,
    /// 4: the body does not parse (short, bad UTF-8, trailing bytes).
    BadBody = 4,
}

impl ErrorCode {
    /// Every code, in counter order.
    pub const ALL: [ErrorCode; 4] = [
        ErrorCode::Size,
        ErrorCode::Type,
        ErrorCode::UnknownId,
        ErrorCode::BadBody,
    ];

    /// Decodes a code byte.
    pub fn from_u8(b: u8) -> Option<ErrorCode> {
        ErrorCode::ALL.get(usize::from(b).wrapping_sub(1)).copied()
    }

    /// A short snake_case label, for logs and stats.
    pub fn label(self) -> &'static str {
        match self {
            ErrorCode::Size => "size",
            ErrorCode::Type => "type",
            ErrorCode::UnknownId => "unknown_id",
            ErrorCode::BadBody => "bad_body",
        }
    }
}

/// The `result` field of every RES.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Status {
    /// 0
    Ok = 0,
    /// 1: another user has this name.
    NameTaken = 1,
    /// 2: the name is empty, longer than 16 bytes, or has control characters.
    BadName = 2,
    /// 3: this request needs a login.
    NotLoggedIn = 3,
    /// 4: this connection is logged in already.
    AlreadyLoggedIn = 4,
    /// 5: no room has this id.
    NoSuchRoom = 5,
    /// 6: the room holds its maximum.
    RoomFull = 6,
    /// 7: this request needs you in a room.
    NotInRoom = 7,
    /// 8: leave your room first.
    AlreadyInRoom = 8,
    /// 9: nobody is logged in with this name.
    NoSuchUser = 9,
    /// 10: a field is out of range (empty text, bad title, max 0, inviting yourself).
    BadRequest = 10,
    /// 11: a server limit is reached (users or rooms).
    ServerFull = 11,
}

impl Status {
    /// Every status, by value.
    pub const ALL: [Status; 12] = [
        Status::Ok,
        Status::NameTaken,
        Status::BadName,
        Status::NotLoggedIn,
        Status::AlreadyLoggedIn,
        Status::NoSuchRoom,
        Status::RoomFull,
        Status::NotInRoom,
        Status::AlreadyInRoom,
        Status::NoSuchUser,
        Status::BadRequest,
        Status::ServerFull,
    ];

    /// Decodes a result byte.
    pub fn from_u8(b: u8) -> Option<Status> {
        Status::ALL.get(usize::from(b)).copied()
    }

    /// A short description.
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NameTaken => "name taken",
            Status::BadName => "bad name",
            Status::NotLoggedIn => "not logged in",
            Status::AlreadyLoggedIn => "already logged in",
            Status::NoSuchRoom => "no such room",
            Status::RoomFull => "room full",
            Status::NotInRoom => "not in a room",
            Status::AlreadyInRoom => "already in a room",
            Status::NoSuchUser => "no such user",
            Status::BadRequest => "bad request",
            Status::ServerFull => "server full",
        }
    }
}

impl core::fmt::Display for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.label())
    }
}

/// Whether `s` is a valid user name: 1..=16 bytes, no control characters, not blank.
pub fn valid_name(s: &str) -> bool {
    (1..=crate::tickets::MAX_NAME).contains(&s.len())
        && !s.chars().any(char::is_control)
        && !s.trim().is_empty()
}

/// Whether `s` is a valid room title: 1..=32 bytes, no control characters, not blank.
pub fn valid_title(s: &str) -> bool {
    (1..=MAX_TITLE).contains(&s.len()) && !s.chars().any(char::is_control) && !s.trim().is_empty()
}

/// A request, client to server, borrowing its strings from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// 1: any bytes, sent back.
    Echo(&'a [u8]),
    /// 10
    Login {
        /// The name to log in with.
        name: &'a str,
    },
    /// 20
    RoomList,
    /// 22
    RoomCreate {
        /// The room's title.
        title: &'a str,
        /// Most users (capped at the server's limit, at most 100).
        max: u8,
    },
    /// 24
    RoomEnter {
        /// The room id.
        room: u32,
    },
    /// 27
    RoomLeave,
    /// 30
    RoomChat {
        /// What to say.
        msg: &'a str,
    },
    /// 40
    Whisper {
        /// The target's name.
        to: &'a str,
        /// What to say.
        msg: &'a str,
    },
    /// 43
    Invite {
        /// The target's name.
        to: &'a str,
    },
}

impl<'a> Request<'a> {
    /// Parses a whole frame (header included, already checked by
    /// [`Header::check`](super::frame::Header::check)).
    pub fn parse(frame: &'a [u8]) -> Result<Request<'a>, ErrorCode> {
        let (head, body) = frame
            .split_first_chunk::<HEADER_LEN>()
            .ok_or(ErrorCode::Size)?;
        let h = Header::check(head, id::is_request)?;
        if h.size != frame.len() {
            return Err(ErrorCode::Size);
        }
        let mut r = Reader::new(body);
        let req = match h.id {
            id::ECHO => Request::Echo(r.rest()),
            id::LOGIN_REQ => Request::Login { name: r.str()? },
            id::ROOM_LIST_REQ => Request::RoomList,
            id::ROOM_CREATE_REQ => Request::RoomCreate {
                title: r.str()?,
                max: r.u8()?,
            },
            id::ROOM_ENTER_REQ => Request::RoomEnter { room: r.u32()? },
            id::ROOM_LEAVE_REQ => Request::RoomLeave,
            id::ROOM_CHAT_REQ => Request::RoomChat { msg: r.str()? },
            id::WHISPER_REQ => Request::Whisper {
                to: r.str()?,
                msg: r.str()?,
            },
            id::INVITE_REQ => Request::Invite { to: r.str()? },
            _ => return Err(ErrorCode::UnknownId),
        };
        r.end()?;
        Ok(req)
    }

    /// The message id.
    pub fn id(&self) -> u16 {
        match self {
            Request::Echo(_) => id::ECHO,
            Request::Login { .. } => id::LOGIN_REQ,
            Request::RoomList => id::ROOM_LIST_REQ,
            Request::RoomCreate { .. } => id::ROOM_CREATE_REQ,
            Request::RoomEnter { .. } => id::ROOM_ENTER_REQ,
            Request::RoomLeave => id::ROOM_LEAVE_REQ,
            Request::RoomChat { .. } => id::ROOM_CHAT_REQ,
            Request::Whisper { .. } => id::WHISPER_REQ,
            Request::Invite { .. } => id::INVITE_REQ,
        }
    }

    /// Writes the frame into `buf`; returns its size. [`Full`] when a string is longer
    /// than 255 bytes or the frame longer than [`MAX_FRAME`](super::frame::MAX_FRAME).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Full> {
        let mut w = Writer::new(buf, self.id());
        match *self {
            Request::Echo(b) => w.bytes(b).map(drop)?,
            Request::Login { name } => w.str(name).map(drop)?,
            Request::RoomList | Request::RoomLeave => {}
            Request::RoomCreate { title, max } => w.str(title)?.u8(max).map(drop)?,
            Request::RoomEnter { room } => w.u32(room).map(drop)?,
            Request::RoomChat { msg } => w.str(msg).map(drop)?,
            Request::Whisper { to, msg } => w.str(to)?.str(msg).map(drop)?,
            Request::Invite { to } => w.str(to).map(drop)?,
        }
        w.finish()
    }
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

/// Writes ROOM_LIST_RES with as many of `rooms` as fit in one frame; returns the size.
pub fn write_room_list(
    buf: &mut [u8],
    result: Status,
    rooms: impl IntoIterator<Item = RoomInfo>,
) -> Result<usize, Full> {
    let mut w = Writer::new(buf, id::ROOM_LIST_RES);
    w.u8(result as u8)?;
    let count_at = w.pos();
    w.u16(0)?;
    let mut count: u16 = 0;
    for r in rooms {
        let mark = w.pos();
        let fit = (|| {
            w.u32(r.room)?
                .str(&r.title)?
                .u8(r.users)?
                .u8(r.max)
                .map(drop)
        })();
        if fit.is_err() || count == u16::MAX {
            w.truncate(mark);
            break;
        }
        count += 1;
    }
    w.patch_u16(count_at, count);
    w.finish()
}

/// Writes ROOM_ENTER_RES listing `users` (at most 255 fit the count); returns the size.
pub fn write_room_enter(
    buf: &mut [u8],
    result: Status,
    room: u32,
    users: impl IntoIterator<Item = UserInfo>,
) -> Result<usize, Full> {
    let mut w = Writer::new(buf, id::ROOM_ENTER_RES);
    w.u8(result as u8)?.u32(room)?;
    let count_at = w.pos();
    w.u8(0)?;
    let mut count: u8 = 0;
    for u in users {
        if count == u8::MAX {
            break;
        }
        w.u32(u.user)?.str(&u.name)?;
        count += 1;
    }
    w.patch_u8(count_at, count);
    w.finish()
}

/// A message, server to client: every RES, every NTF, ECHO and ERROR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// 1: the echoed body.
    Echo(Vec<u8>),
    /// 11
    LoginRes {
        /// Result.
        result: Status,
        /// Your user id (0 unless ok).
        user: u32,
        /// Your game-port ticket (0 unless ok).
        ticket: u64,
    },
    /// 21
    RoomListRes {
        /// Result.
        result: Status,
        /// The rooms that fit in one frame.
        rooms: Vec<RoomInfo>,
    },
    /// 23
    RoomCreateRes {
        /// Result.
        result: Status,
        /// The new room (0 unless ok).
        room: u32,
    },
    /// 25
    RoomEnterRes {
        /// Result.
        result: Status,
        /// The room (0 unless ok).
        room: u32,
        /// Everyone in it after entering, you included.
        users: Vec<UserInfo>,
    },
    /// 26
    RoomUserEnterNtf {
        /// Who entered.
        user: u32,
        /// Their name.
        name: Name,
    },
    /// 28
    RoomLeaveRes {
        /// Result.
        result: Status,
    },
    /// 29
    RoomUserLeaveNtf {
        /// Who left.
        user: u32,
    },
    /// 31
    RoomChatRes {
        /// Result.
        result: Status,
    },
    /// 32
    RoomChatNtf {
        /// Who said it.
        user: u32,
        /// What.
        msg: Text,
    },
    /// 41
    WhisperRes {
        /// Result.
        result: Status,
    },
    /// 42
    WhisperNtf {
        /// Who whispered.
        user: u32,
        /// Their name.
        name: Name,
        /// What.
        msg: Text,
    },
    /// 44
    InviteRes {
        /// Result.
        result: Status,
    },
    /// 45
    InviteNtf {
        /// The room you are invited to.
        room: u32,
        /// Who invited you.
        name: Name,
    },
    /// 99: the server closes the connection.
    Error {
        /// Why.
        code: ErrorCode,
    },
}

impl Message {
    /// Parses a whole frame (header included).
    pub fn parse(frame: &[u8]) -> Result<Message, ErrorCode> {
        let (head, body) = frame
            .split_first_chunk::<HEADER_LEN>()
            .ok_or(ErrorCode::Size)?;
        let h = Header::check(head, id::is_message)?;
        if h.size != frame.len() {
            return Err(ErrorCode::Size);
        }
        let mut r = Reader::new(body);
        let status = |r: &mut Reader| Status::from_u8(r.u8()?).ok_or(ErrorCode::BadBody);
        let msg = match h.id {
            id::ECHO => Message::Echo(r.rest().to_vec()),
            id::LOGIN_RES => Message::LoginRes {
                result: status(&mut r)?,
                user: r.u32()?,
                ticket: r.u64()?,
            },
            id::ROOM_LIST_RES => {
                let result = status(&mut r)?;
                let n = r.u16()?;
                let mut rooms = Vec::with_capacity(usize::from(n).min(body.len() / 7));
                for _ in 0..n {
                    rooms.push(RoomInfo {
                        room: r.u32()?,
                        title: r.array_str()?,
                        users: r.u8()?,
                        max: r.u8()?,
                    });
                }
                Message::RoomListRes { result, rooms }
            }
            id::ROOM_CREATE_RES => Message::RoomCreateRes {
                result: status(&mut r)?,
                room: r.u32()?,
            },
            id::ROOM_ENTER_RES => {
                let result = status(&mut r)?;
                let room = r.u32()?;
                let n = r.u8()?;
                let mut users = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    users.push(UserInfo {
                        user: r.u32()?,
                        name: r.array_str()?,
                    });
                }
                Message::RoomEnterRes {
                    result,
                    room,
                    users,
                }
            }
            id::ROOM_USER_ENTER_NTF => Message::RoomUserEnterNtf {
                user: r.u32()?,
                name: r.array_str()?,
            },
            id::ROOM_LEAVE_RES => Message::RoomLeaveRes {
                result: status(&mut r)?,
            },
            id::ROOM_USER_LEAVE_NTF => Message::RoomUserLeaveNtf { user: r.u32()? },
            id::ROOM_CHAT_RES => Message::RoomChatRes {
                result: status(&mut r)?,
            },
            id::ROOM_CHAT_NTF => Message::RoomChatNtf {
                user: r.u32()?,
                msg: r.array_str()?,
            },
            id::WHISPER_RES => Message::WhisperRes {
                result: status(&mut r)?,
            },
            id::WHISPER_NTF => Message::WhisperNtf {
                user: r.u32()?,
                name: r.array_str()?,
                msg: r.array_str()?,
            },
            id::INVITE_RES => Message::InviteRes {
                result: status(&mut r)?,
            },
            id::INVITE_NTF => Message::InviteNtf {
                room: r.u32()?,
                name: r.array_str()?,
            },
            id::ERROR => Message::Error {
                code: ErrorCode::from_u8(r.u8()?).ok_or(ErrorCode::BadBody)?,
            },
            _ => return Err(ErrorCode::UnknownId),
        };
        r.end()?;
        Ok(msg)
    }

    /// The message id.
    pub fn id(&self) -> u16 {
        match self {
            Message::Echo(_) => id::ECHO,
            Message::LoginRes { .. } => id::LOGIN_RES,
            Message::RoomListRes { .. } => id::ROOM_LIST_RES,
            Message::RoomCreateRes { .. } => id::ROOM_CREATE_RES,
            Message::RoomEnterRes { .. } => id::ROOM_ENTER_RES,
            Message::RoomUserEnterNtf { .. } => id::ROOM_USER_ENTER_NTF,
            Message::RoomLeaveRes { .. } => id::ROOM_LEAVE_RES,
            Message::RoomUserLeaveNtf { .. } => id::ROOM_USER_LEAVE_NTF,
            Message::RoomChatRes { .. } => id::ROOM_CHAT_RES,
            Message::RoomChatNtf { .. } => id::ROOM_CHAT_NTF,
            Message::WhisperRes { .. } => id::WHISPER_RES,
            Message::WhisperNtf { .. } => id::WHISPER_NTF,
            Message::InviteRes { .. } => id::INVITE_RES,
            Message::InviteNtf { .. } => id::INVITE_NTF,
            Message::Error { .. } => id::ERROR,
        }
    }

    /// The result of a RES, `None` for NTF, ECHO and ERROR.
    pub fn result(&self) -> Option<Status> {
        match *self {
            Message::LoginRes { result, .. }
            | Message::RoomListRes { result, .. }
            | Message::RoomCreateRes { result, .. }
            | Message::RoomEnterRes { result, .. }
            | Message::RoomLeaveRes { result }
            | Message::RoomChatRes { result }
            | Message::WhisperRes { result }
            | Message::InviteRes { result } => Some(result),
            _ => None,
        }
    }

    /// Writes the frame into `buf` (at least [`MAX_FRAME`](super::frame::MAX_FRAME) bytes
    /// for room lists); returns its size. A room list longer than one frame is cut to what fits.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Full> {
        let mut w = Writer::new(buf, self.id());
        match self {
            Message::RoomListRes { result, rooms } => {
                return write_room_list(buf, *result, rooms.iter().copied())
            }
            Message::RoomEnterRes {
                result,
                room,
                users,
            } => return write_room_enter(buf, *result, *room, users.iter().copied()),
            Message::Echo(b) => w.bytes(b).map(drop)?,
            Message::LoginRes {
                result,
                user,
                ticket,
            } => w.u8(*result as u8)?.u32(*user)?.u64(*ticket).map(drop)?,
            Message::RoomCreateRes { result, room } => w.u8(*result as u8)?.u32(*room).map(drop)?,
            Message::RoomUserEnterNtf { user, name } => w.u32(*user)?.str(name).map(drop)?,
            Message::RoomLeaveRes { result }
            | Message::RoomChatRes { result }
            | Message::WhisperRes { result }
            | Message::InviteRes { result } => w.u8(*result as u8).map(drop)?,
            Message::RoomUserLeaveNtf { user } => w.u32(*user).map(drop)?,
            Message::RoomChatNtf { user, msg } => w.u32(*user)?.str(msg).map(drop)?,
            Message::WhisperNtf { user, name, msg } => {
                w.u32(*user)?.str(name)?.str(msg).map(drop)?
            }
            Message::InviteNtf { room, name } => w.u32(*room)?.str(name).map(drop)?,
            Message::Error { code } => w.u8(*code as u8).map(drop)?,
        }
        w.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lobby::frame::MAX_FRAME;

    fn frame_of(r: Request) -> Vec<u8> {
        let mut buf = [0; MAX_FRAME];
        let n = r.emit(&mut buf).unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn golden_login() {
        let f = frame_of(Request::Login { name: "ann" });
        assert_eq!(f, [0, 9, 0, 10, 0, 3, b'a', b'n', b'n']);
        assert_eq!(Request::parse(&f), Ok(Request::Login { name: "ann" }));
        let mut buf = [0; MAX_FRAME];
        let res = Message::LoginRes {
            result: Status::Ok,
            user: 7,
            ticket: 0x0102030405060708,
        };
        let n = res.emit(&mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            [0, 18, 0, 11, 0, 0, 0, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(Message::parse(&buf[..n]), Ok(res));
    }

    #[test]
    fn every_request_round_trips() {
        let all = [
            Request::Echo(b"hi"),
            Request::Echo(b""),
            Request::Login { name: "bob" },
            Request::RoomList,
            Request::RoomCreate { title: "t", max: 4 },
            Request::RoomEnter { room: 9 },
            Request::RoomLeave,
            Request::RoomChat { msg: "yo" },
            Request::Whisper { to: "a", msg: "b" },
            Request::Invite { to: "c" },
        ];
        for r in all {
            assert_eq!(Request::parse(&frame_of(r)), Ok(r), "{r:?}");
        }
    }

    #[test]
    fn every_message_round_trips() {
        let name = Name::from("zed").unwrap();
        let all = [
            Message::Echo(b"x".to_vec()),
            Message::LoginRes {
                result: Status::NameTaken,
                user: 0,
                ticket: 0,
            },
            Message::RoomListRes {
                result: Status::Ok,
                rooms: vec![RoomInfo {
                    room: 3,
                    title: Title::from("lounge").unwrap(),
                    users: 2,
                    max: 8,
                }],
            },
            Message::RoomCreateRes {
                result: Status::Ok,
                room: 3,
            },
            Message::RoomEnterRes {
                result: Status::Ok,
                room: 3,
                users: vec![UserInfo { user: 1, name }],
            },
            Message::RoomUserEnterNtf { user: 1, name },
            Message::RoomLeaveRes {
                result: Status::NotInRoom,
            },
            Message::RoomUserLeaveNtf { user: 1 },
            Message::RoomChatRes { result: Status::Ok },
            Message::RoomChatNtf {
                user: 1,
                msg: Text::from("hello").unwrap(),
            },
            Message::WhisperRes {
                result: Status::NoSuchUser,
            },
            Message::WhisperNtf {
                user: 1,
                name,
                msg: Text::from("psst").unwrap(),
            },
            Message::InviteRes {
                result: Status::ServerFull,
            },
            Message::InviteNtf { room: 3, name },
            Message::Error {
                code: ErrorCode::BadBody,
            },
        ];
        let mut buf = [0; MAX_FRAME];
        for m in all {
            let n = m.emit(&mut buf).unwrap();
            assert_eq!(Message::parse(&buf[..n]).as_ref(), Ok(&m));
        }
    }

    #[test]
    fn bad_bodies_are_bad_body() {
        let bad: [&[u8]; 6] = [
            &[0, 6, 0, 10, 0, 3],                   // string longer than the body
            &[0, 9, 0, 10, 0, 2, b'a', b'b', b'c'], // trailing byte
            &[0, 8, 0, 10, 0, 2, 0xC3, 0x28],       // bad UTF-8
            &[0, 6, 0, 20, 0, 0],                   // ROOM_LIST_REQ with a body
            &[0, 8, 0, 24, 0, 0, 0, 1],             // short u32
            &[0, 7, 0, 40, 0, 1, b'a'],             // WHISPER_REQ without msg
        ];
        for f in bad {
            assert_eq!(Request::parse(f), Err(ErrorCode::BadBody), "{f:?}");
        }
        assert_eq!(
            Request::parse(&[0, 5, 0, 11, 0]),
            Err(ErrorCode::UnknownId),
            "a response id is not a request"
        );
        assert_eq!(Request::parse(&[0, 6, 0, 1, 0]), Err(ErrorCode::Size));
    }

    #[test]
    fn room_list_cuts_to_one_frame() {
        let title = Title::from(&"t".repeat(MAX_TITLE)).unwrap();
        let rooms = (0..500).map(|room| RoomInfo {
            room,
            title,
            users: 1,
            max: 100,
        });
        let mut buf = [0; MAX_FRAME];
        let n = write_room_list(&mut buf, Status::Ok, rooms).unwrap();
        let Ok(Message::RoomListRes { rooms, .. }) = Message::parse(&buf[..n]) else {
            panic!("does not parse");
        };
        let each = 4 + 1 + MAX_TITLE + 2;
        assert_eq!(rooms.len(), (MAX_FRAME - HEADER_LEN - 3) / each);
        assert!(n <= MAX_FRAME && n + each > MAX_FRAME);
    }

    #[test]
    fn names_and_titles() {
        assert!(valid_name("ann"));
        assert!(valid_name("ñandú"));
        assert!(!valid_name(""));
        assert!(!valid_name("   "));
        assert!(!valid_name("a\nb"));
        assert!(!valid_name("seventeen-bytes!!"));
        assert!(valid_title(&"x".repeat(32)));
        assert!(!valid_title(&"x".repeat(33)));
    }
}
