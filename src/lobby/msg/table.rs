//! The machinery behind the lobby's message table: [`messages!`] expands the one table in
//! [`super`] into the ids, [`Request`](super::Request), [`Message`](super::Message) and their
//! codecs; [`Field`] says how each field type is read and written.
//!
//! Adding a message is one entry in the table (and a [`Field`] impl if it brings a new field
//! type); the parse, emit, id and answer dispatch all follow from it.

use super::super::cursor::{Full, Reader, Writer};
use super::{ErrorCode, Payout, RoomInfo, Status, UserInfo};
use crate::secure::{ConnectToken, TOKEN_LEN};
use arrayvec::ArrayString;

/// A field of a lobby body: how it is read from a [`Reader`] and written to a [`Writer`].
/// Fields are read and written in the order the table lists them.
pub(super) trait Field<'a>: Sized {
    /// Reads the field; a short or bad body is [`ErrorCode::BadBody`].
    fn get(r: &mut Reader<'a>) -> Result<Self, ErrorCode>;
    /// Writes the field; [`Full`] when it does not fit.
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full>;
}

impl Field<'_> for u8 {
    fn get(r: &mut Reader<'_>) -> Result<u8, ErrorCode> {
        r.u8()
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.u8(*self).map(drop)
    }
}

impl Field<'_> for u32 {
    fn get(r: &mut Reader<'_>) -> Result<u32, ErrorCode> {
        r.u32()
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.u32(*self).map(drop)
    }
}

impl Field<'_> for u64 {
    fn get(r: &mut Reader<'_>) -> Result<u64, ErrorCode> {
        r.u64()
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.u64(*self).map(drop)
    }
}

/// A string borrowed from the frame (requests, parsed in place).
impl<'a> Field<'a> for &'a str {
    fn get(r: &mut Reader<'a>) -> Result<&'a str, ErrorCode> {
        r.str()
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.str(self).map(drop)
    }
}

/// A string stored inline (names, titles, texts of messages): too long is a bad body.
impl<const N: usize> Field<'_> for ArrayString<N> {
    fn get(r: &mut Reader<'_>) -> Result<ArrayString<N>, ErrorCode> {
        r.array_str()
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.str(self).map(drop)
    }
}

impl Field<'_> for Status {
    fn get(r: &mut Reader<'_>) -> Result<Status, ErrorCode> {
        Status::from_u8(r.u8()?).ok_or(ErrorCode::BadBody)
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.u8(*self as u8).map(drop)
    }
}

impl Field<'_> for ErrorCode {
    fn get(r: &mut Reader<'_>) -> Result<ErrorCode, ErrorCode> {
        ErrorCode::from_u8(r.u8()?).ok_or(ErrorCode::BadBody)
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.u8(*self as u8).map(drop)
    }
}

/// TOKEN_RES's token: 205 bytes, all zero for none (a refused request).
impl Field<'_> for Option<ConnectToken> {
    fn get(r: &mut Reader<'_>) -> Result<Option<ConnectToken>, ErrorCode> {
        let mut b = r.array::<TOKEN_LEN>()?;
        let t = match b.iter().all(|&x| x == 0) {
            true => None,
            false => Some(ConnectToken::parse(&b).map_err(|_| ErrorCode::BadBody)?),
        };
        zeroize::Zeroize::zeroize(&mut b);
        Ok(t)
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        let mut b = self.as_ref().map_or([0; TOKEN_LEN], ConnectToken::to_bytes);
        let r = w.bytes(&b).map(drop);
        zeroize::Zeroize::zeroize(&mut b);
        r
    }
}

impl Field<'_> for RoomInfo {
    fn get(r: &mut Reader<'_>) -> Result<RoomInfo, ErrorCode> {
        Ok(RoomInfo {
            room: r.u32()?,
            title: r.array_str()?,
            users: r.u8()?,
            max: r.u8()?,
        })
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.u32(self.room)?
            .str(&self.title)?
            .u8(self.users)?
            .u8(self.max)
            .map(drop)
    }
}

impl Field<'_> for UserInfo {
    fn get(r: &mut Reader<'_>) -> Result<UserInfo, ErrorCode> {
        Ok(UserInfo {
            user: r.u32()?,
            name: r.array_str()?,
        })
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.u32(self.user)?.str(&self.name).map(drop)
    }
}

/// ROOM_LIST_RES's list: `count u16` then the rooms, as many as fit in one frame.
impl Field<'_> for Vec<RoomInfo> {
    fn get(r: &mut Reader<'_>) -> Result<Vec<RoomInfo>, ErrorCode> {
        let n = r.u16()?;
        // An entry takes at least 7 bytes: a lying count cannot reserve more than the body.
        let mut rooms = Vec::with_capacity(usize::from(n).min(r.remaining() / 7));
        for _ in 0..n {
            rooms.push(RoomInfo::get(r)?);
        }
        Ok(rooms)
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        put_rooms(w, self.iter().copied())
    }
}

/// ROOM_ENTER_RES's list: `count u8` then the users.
impl Field<'_> for Vec<UserInfo> {
    fn get(r: &mut Reader<'_>) -> Result<Vec<UserInfo>, ErrorCode> {
        let n = r.u8()?;
        let mut users = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            users.push(UserInfo::get(r)?);
        }
        Ok(users)
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        put_users(w, self.iter().copied())
    }
}

/// Writes `count u16` and as many of `rooms` as fit in one frame (PROTOCOL.md: the list is
/// cut to one frame). [`Full`] when the caller's buffer, not the frame, is what ran out.
pub(super) fn put_rooms(
    w: &mut Writer<'_>,
    rooms: impl IntoIterator<Item = RoomInfo>,
) -> Result<(), Full> {
    let count_at = w.pos();
    w.u16(0)?;
    let mut count: u16 = 0;
    for r in rooms {
        let mark = w.pos();
        if r.put(w).is_err() || count == u16::MAX {
            if !w.is_frame_sized() {
                return Err(Full);
            }
            w.truncate(mark);
            break;
        }
        count += 1;
    }
    w.patch_u16(count_at, count)
}

/// Writes `count u8` and every one of `users`: [`Full`] when they do not fit the frame or
/// the count (more than 255).
pub(super) fn put_users(
    w: &mut Writer<'_>,
    users: impl IntoIterator<Item = UserInfo>,
) -> Result<(), Full> {
    let count_at = w.pos();
    w.u8(0)?;
    let mut count: u8 = 0;
    for u in users {
        count = count.checked_add(1).ok_or(Full)?;
        u.put(w)?;
    }
    w.patch_u8(count_at, count)
}

// ---- Room-game fields (PROTOCOL.md section 7.1) -------------------------------------
//
// Built only from the cursor's primitives (u8, u16, u32 and their writers), so that a
// format-aware cursor carries them over. For MessagePack (frame type 1), the integrator
// adapts the two composite ones: `[u8; 3]` (a card triple, here three u8 in a row) and
// `Vec<Payout>` (ROUND_NTF's list, here `count u8` then the entries), to the list
// primitives. `i32` is written as the u32 of the same bits (big-endian two's complement).

impl Field<'_> for u16 {
    fn get(r: &mut Reader<'_>) -> Result<u16, ErrorCode> {
        r.u16()
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.u16(*self).map(drop)
    }
}

/// ROUND_NTF's delta: big-endian two's complement, 4 bytes.
impl Field<'_> for i32 {
    fn get(r: &mut Reader<'_>) -> Result<i32, ErrorCode> {
        r.u32().map(|v| v as i32)
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.u32(*self as u32).map(drop)
    }
}

/// ROUND_NTF's cards of one side: 3 bytes, 0 for no card.
impl Field<'_> for [u8; 3] {
    fn get(r: &mut Reader<'_>) -> Result<[u8; 3], ErrorCode> {
        Ok([r.u8()?, r.u8()?, r.u8()?])
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.u8(self[0])?.u8(self[1])?.u8(self[2]).map(drop)
    }
}

impl Field<'_> for Payout {
    fn get(r: &mut Reader<'_>) -> Result<Payout, ErrorCode> {
        Ok(Payout {
            user: r.u32()?,
            delta: i32::get(r)?,
            chips: r.u32()?,
        })
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.u32(self.user)?;
        self.delta.put(w)?;
        w.u32(self.chips).map(drop)
    }
}

/// Bytes of one [`Payout`] in a plain body.
const PAYOUT_LEN: usize = 12;

/// ROUND_NTF's list: `count u8` then the entries. [`Full`] when they do not fit the frame
/// or the count (more than 255).
impl Field<'_> for Vec<Payout> {
    fn get(r: &mut Reader<'_>) -> Result<Vec<Payout>, ErrorCode> {
        let n = r.u8()?;
        // A lying count cannot reserve more than the body holds.
        let mut out = Vec::with_capacity(usize::from(n).min(r.remaining() / PAYOUT_LEN));
        for _ in 0..n {
            out.push(Payout::get(r)?);
        }
        Ok(out)
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        let count = u8::try_from(self.len()).map_err(|_| Full)?;
        w.u8(count)?;
        self.iter().try_for_each(|p| p.put(w))
    }
}

#[cfg(test)]
impl Sample for u16 {
    fn sample() -> u16 {
        4
    }
}

// ---- end of the room-game fields ------------------------------------------------------

/// A value of each field type, for tests that must cover every request of the table.
#[cfg(test)]
pub(super) trait Sample {
    fn sample() -> Self;
}

#[cfg(test)]
impl Sample for u8 {
    fn sample() -> u8 {
        2
    }
}

#[cfg(test)]
impl Sample for u32 {
    fn sample() -> u32 {
        1
    }
}

#[cfg(test)]
impl Sample for u64 {
    fn sample() -> u64 {
        3
    }
}

#[cfg(test)]
impl Sample for &'static str {
    fn sample() -> &'static str {
        "a"
    }
}

/// Expands the lobby's message table (see [`super`]) into:
///
/// - `mod id`: one constant per message, `is_request` and `is_message`;
/// - `enum Request<'a>`: ECHO and every exchange's request, with `parse`, `emit`, `id`,
///   `answer_id` and `answer` (its RES with every later field zeroed);
/// - `enum Message`: ECHO, every exchange's answer (each starts with `result: Status`) and
///   every unsolicited message, with `parse`, `emit`, `id` and `result`.
///
/// ECHO, the one message that travels both ways, is written here rather than in the table.
macro_rules! messages {
    (
        exchanges {
            $(
                $(#[$qdoc:meta])*
                $QID:ident = $qv:literal => $Q:ident $({
                    $($(#[$qfdoc:meta])* $qf:ident: $qt:ty,)*
                })?
                $(#[$sdoc:meta])*
                answer $SID:ident = $sv:literal => $S:ident {
                    $($(#[$sfdoc:meta])* $sf:ident: $st:ty,)*
                }
            )*
        }
        unsolicited {
            $(
                $(#[$ndoc:meta])*
                $NID:ident = $nv:literal => $N:ident {
                    $($(#[$nfdoc:meta])* $nf:ident: $nt:ty,)*
                }
            )*
        }
    ) => {
        /// Message ids.
        pub mod id {
            /// Both directions: the same frame back.
            pub const ECHO: u16 = 1;
            $(
                $(#[$qdoc])*
                pub const $QID: u16 = $qv;
                $(#[$sdoc])*
                pub const $SID: u16 = $sv;
            )*
            $(
                $(#[$ndoc])*
                pub const $NID: u16 = $nv;
            )*

            /// Whether a client may send `id`.
            pub fn is_request(id: u16) -> bool {
                matches!(id, ECHO $(| $QID)*)
            }

            /// Whether a server may send `id`.
            pub fn is_message(id: u16) -> bool {
                matches!(id, ECHO $(| $SID)* $(| $NID)*)
            }
        }

        /// A request, client to server, borrowing its strings from the frame.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Request<'a> {
            /// ECHO (1): any bytes, sent back.
            Echo(&'a [u8]),
            $(
                $(#[$qdoc])*
                #[doc = concat!("\n\n`", stringify!($QID), "` (", stringify!($qv), ").")]
                $Q $({ $($(#[$qfdoc])* $qf: $qt,)* })?,
            )*
        }

        impl<'a> Request<'a> {
            /// Parses a whole frame (header included, already checked by the frame layer).
            pub fn parse(frame: &'a [u8]) -> Result<Request<'a>, ErrorCode> {
                let (msg_id, mut r) = body(frame, id::is_request)?;
                let req = match msg_id {
                    id::ECHO => Request::Echo(r.rest()),
                    $(id::$QID => Request::$Q $({ $($qf: Field::get(&mut r)?,)* })?,)*
                    _ => return Err(ErrorCode::UnknownId),
                };
                r.end()?;
                Ok(req)
            }

            /// The message id.
            pub fn id(&self) -> u16 {
                match self {
                    Request::Echo(_) => id::ECHO,
                    $(Request::$Q { .. } => id::$QID,)*
                }
            }

            /// The id of the answer: ECHO for ECHO, else the request's RES.
            pub fn answer_id(&self) -> u16 {
                match self {
                    Request::Echo(_) => id::ECHO,
                    $(Request::$Q { .. } => id::$SID,)*
                }
            }

            /// The request's RES with `result` and every later field zeroed (PROTOCOL.md:
            /// counts 0, no entries); `None` for ECHO, whose answer is the frame itself.
            pub fn answer(&self, result: Status) -> Option<Message> {
                match self {
                    Request::Echo(_) => None,
                    $(Request::$Q { .. } => Some(Message::$S {
                        result,
                        $($sf: Default::default(),)*
                    }),)*
                }
            }

            /// Writes the frame into `buf`; returns its size. [`Full`] when a string is longer
            /// than 255 bytes, or the frame longer than `buf` or than a frame may be (4096
            /// bytes).
            pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Full> {
                let mut w = Writer::new(buf, self.id());
                match self {
                    Request::Echo(b) => {
                        w.bytes(b)?;
                    }
                    $(Request::$Q $({ $($qf,)* })? => { $($(Field::put($qf, &mut w)?;)*)? })*
                }
                w.finish()
            }
        }

        #[cfg(test)]
        impl Request<'static> {
            /// One request of every kind the table lists (not ECHO), with sample fields.
            pub(crate) fn samples() -> Vec<Request<'static>> {
                use $crate::lobby::msg::table::Sample;
                vec![$(Request::$Q $({ $($qf: Sample::sample(),)* })?,)*]
            }
        }

        /// A message, server to client: every RES, every NTF, ECHO and ERROR.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Message {
            /// ECHO (1): the echoed body.
            Echo(Vec<u8>),
            $(
                $(#[$sdoc])*
                #[doc = concat!("\n\n`", stringify!($SID), "` (", stringify!($sv), ").")]
                $S {
                    /// The result; when it is not ok, every later field is zero.
                    result: Status,
                    $($(#[$sfdoc])* $sf: $st,)*
                },
            )*
            $(
                $(#[$ndoc])*
                #[doc = concat!("\n\n`", stringify!($NID), "` (", stringify!($nv), ").")]
                $N { $($(#[$nfdoc])* $nf: $nt,)* },
            )*
        }

        impl Message {
            /// Parses a whole frame (header included).
            pub fn parse(frame: &[u8]) -> Result<Message, ErrorCode> {
                let (msg_id, mut r) = body(frame, id::is_message)?;
                let msg = match msg_id {
                    id::ECHO => Message::Echo(r.rest().to_vec()),
                    $(id::$SID => Message::$S {
                        result: Field::get(&mut r)?,
                        $($sf: Field::get(&mut r)?,)*
                    },)*
                    $(id::$NID => Message::$N { $($nf: Field::get(&mut r)?,)* },)*
                    _ => return Err(ErrorCode::UnknownId),
                };
                r.end()?;
                Ok(msg)
            }

            /// The message id.
            pub fn id(&self) -> u16 {
                match self {
                    Message::Echo(_) => id::ECHO,
                    $(Message::$S { .. } => id::$SID,)*
                    $(Message::$N { .. } => id::$NID,)*
                }
            }

            /// The result of a RES, `None` for NTF, ECHO and ERROR.
            pub fn result(&self) -> Option<Status> {
                match self {
                    $(Message::$S { result, .. } => Some(*result),)*
                    _ => None,
                }
            }

            /// Writes the frame into `buf`; returns its size. A room list longer than one
            /// frame is cut to what fits; [`Full`] when `buf` is shorter than the frame (give
            /// it 4096 bytes, the largest frame).
            pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Full> {
                let mut w = Writer::new(buf, self.id());
                match self {
                    Message::Echo(b) => {
                        w.bytes(b)?;
                    }
                    $(Message::$S { result, $($sf,)* } => {
                        Field::put(result, &mut w)?;
                        $(Field::put($sf, &mut w)?;)*
                    })*
                    $(Message::$N { $($nf,)* } => { $(Field::put($nf, &mut w)?;)* })*
                }
                w.finish()
            }
        }
    };
}
