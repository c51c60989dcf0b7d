//! The machinery behind the lobby's message table: [`messages!`] expands the one table in
//! [`super`] into the ids, [`Request`](super::Request), [`Message`](super::Message) and their
//! codecs; [`Field`] says how each field type is read and written.
//!
//! Adding a message is one entry in the table (and a [`Field`] impl if it brings a new field
//! type); the parse, emit, id and answer dispatch all follow from it, in both body formats
//! (plain and MessagePack, PROTOCOL.md section 7): a [`Field`] impl built from the cursors'
//! primitives reads and writes both (see `cursor.rs` for how a list is written).
//!
//! A new list type (`count u8, {a u32, b i32, c u32}*`, say) is two impls: the entry's,
//! whose `get` starts with `r.entry(3)?` and `put` with `w.entry(3)?`, then its fields; and
//! the list's, `Vec<Entry>`, with `const ELEMS: u32 = 2` (the count and the array of
//! entries are two elements of a MessagePack body) and [`get_list`] / [`put_list`] for the
//! count's width.

use super::super::cursor::{Count, Full, Reader, Writer};
use super::{ErrorCode, Payout, RoomInfo, Status, UserInfo};
use crate::secure::{ConnectToken, TOKEN_LEN};
use arrayvec::ArrayString;

/// A field of a lobby body: how it is read from a [`Reader`] and written to a [`Writer`].
/// Fields are read and written in the order the table lists them, in the cursor's format.
pub(super) trait Field<'a>: Sized {
    /// How many elements of a MessagePack body's top-level array the field takes: 1, or 2
    /// for a list (its count, then the array of its entries).
    const ELEMS: u32 = 1;
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

impl Field<'_> for u16 {
    fn get(r: &mut Reader<'_>) -> Result<u16, ErrorCode> {
        r.u16()
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.u16(*self).map(drop)
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

impl Field<'_> for i32 {
    fn get(r: &mut Reader<'_>) -> Result<i32, ErrorCode> {
        r.i32()
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.i32(*self).map(drop)
    }
}

/// `N` small numbers (cards): `N` bytes in plain, an array of `N` integers in MessagePack.
impl<const N: usize> Field<'_> for [u8; N] {
    fn get(r: &mut Reader<'_>) -> Result<[u8; N], ErrorCode> {
        r.array()
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.array(self).map(drop)
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

/// TOKEN_RES's token: 205 bytes (a `bin` in MessagePack), all zero for none (a refused
/// request).
impl Field<'_> for Option<ConnectToken> {
    fn get(r: &mut Reader<'_>) -> Result<Option<ConnectToken>, ErrorCode> {
        let mut b = r.bin::<TOKEN_LEN>()?;
        let t = match b.iter().all(|&x| x == 0) {
            true => None,
            false => Some(ConnectToken::parse(&b).map_err(|_| ErrorCode::BadBody)?),
        };
        zeroize::Zeroize::zeroize(&mut b);
        Ok(t)
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        let mut b = self.as_ref().map_or([0; TOKEN_LEN], ConnectToken::to_bytes);
        let r = w.bin(&b).map(drop);
        zeroize::Zeroize::zeroize(&mut b);
        r
    }
}

impl Field<'_> for RoomInfo {
    fn get(r: &mut Reader<'_>) -> Result<RoomInfo, ErrorCode> {
        r.entry(4)?;
        Ok(RoomInfo {
            room: r.u32()?,
            title: r.array_str()?,
            users: r.u8()?,
            max: r.u8()?,
        })
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.entry(4)?
            .u32(self.room)?
            .str(&self.title)?
            .u8(self.users)?
            .u8(self.max)
            .map(drop)
    }
}

impl Field<'_> for UserInfo {
    fn get(r: &mut Reader<'_>) -> Result<UserInfo, ErrorCode> {
        r.entry(2)?;
        Ok(UserInfo {
            user: r.u32()?,
            name: r.array_str()?,
        })
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.entry(2)?.u32(self.user)?.str(&self.name).map(drop)
    }
}

/// ROOM_LIST_RES's list: `count u16` then the rooms, as many as fit in one frame.
impl Field<'_> for Vec<RoomInfo> {
    const ELEMS: u32 = 2;
    fn get(r: &mut Reader<'_>) -> Result<Vec<RoomInfo>, ErrorCode> {
        // An entry takes at least 7 bytes plain, 5 in MessagePack.
        get_list(r, Count::U16, 5)
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        put_rooms(w, self.iter().copied())
    }
}

/// ROOM_ENTER_RES's list: `count u8` then the users.
impl Field<'_> for Vec<UserInfo> {
    const ELEMS: u32 = 2;
    fn get(r: &mut Reader<'_>) -> Result<Vec<UserInfo>, ErrorCode> {
        // An entry takes at least 5 bytes plain, 3 in MessagePack.
        get_list(r, Count::U8, 3)
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        put_users(w, self.iter().copied())
    }
}

/// Reads a list (its count of `count`'s width, then its entries, each a `T` whose `get`
/// reads its own [`Reader::entry`]). `min_entry`, the fewest bytes an entry takes in either
/// format, bounds what a lying count can reserve.
pub(super) fn get_list<'a, T: Field<'a>>(
    r: &mut Reader<'a>,
    count: Count,
    min_entry: usize,
) -> Result<Vec<T>, ErrorCode> {
    let n = r.list(count)?;
    let mut v = Vec::with_capacity(n.min(r.remaining() / min_entry.max(1)));
    for _ in 0..n {
        v.push(T::get(r)?);
    }
    Ok(v)
}

/// Writes a list of `items` (each a `T` whose `put` writes its own [`Writer::entry`]) with
/// a count of `count`'s width. With `cut`, the list is cut to what fits one frame and the
/// count (PROTOCOL.md: ROOM_LIST_RES); [`Full`] then only when the caller's buffer, not the
/// frame, is what ran out. Without, [`Full`] when they do not all fit.
pub(super) fn put_list<T: for<'x> Field<'x>>(
    w: &mut Writer<'_>,
    count: Count,
    items: impl IntoIterator<Item = T>,
    cut: bool,
) -> Result<(), Full> {
    let list = w.list(count)?;
    let mut n = 0;
    for item in items {
        let mark = w.pos();
        if n == count.max() || item.put(w).is_err() {
            if !cut || !w.is_frame_sized() {
                return Err(Full);
            }
            w.truncate(mark);
            break;
        }
        n += 1;
    }
    w.end_list(list, n)
}

/// Writes `count u16` and as many of `rooms` as fit in one frame (PROTOCOL.md: the list is
/// cut to one frame). [`Full`] when the caller's buffer, not the frame, is what ran out.
pub(super) fn put_rooms(
    w: &mut Writer<'_>,
    rooms: impl IntoIterator<Item = RoomInfo>,
) -> Result<(), Full> {
    put_list(w, Count::U16, rooms, true)
}

/// Writes `count u8` and every one of `users`: [`Full`] when they do not fit the frame or
/// the count (more than 255).
pub(super) fn put_users(
    w: &mut Writer<'_>,
    users: impl IntoIterator<Item = UserInfo>,
) -> Result<(), Full> {
    put_list(w, Count::U8, users, false)
}

// ---- Room-game fields (PROTOCOL.md section 7.1) -------------------------------------
//
// `i32` and `[u8; 3]` (a card triple: 3 bytes plain, an array of 3 integers in
// MessagePack) are the generic impls above.

/// One entry of ROUND_NTF's list: `user u32, delta i32, chips u32`.
impl Field<'_> for Payout {
    fn get(r: &mut Reader<'_>) -> Result<Payout, ErrorCode> {
        r.entry(3)?;
        Ok(Payout {
            user: r.u32()?,
            delta: r.i32()?,
            chips: r.u32()?,
        })
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        w.entry(3)?
            .u32(self.user)?
            .i32(self.delta)?
            .u32(self.chips)
            .map(drop)
    }
}

/// ROUND_NTF's list: `count u8` then the entries. [`Full`] when they do not fit the frame
/// or the count (more than 255).
impl Field<'_> for Vec<Payout> {
    const ELEMS: u32 = 2;
    fn get(r: &mut Reader<'_>) -> Result<Vec<Payout>, ErrorCode> {
        // An entry takes at least 12 bytes plain, 4 in MessagePack: a lying count cannot
        // reserve more than the body holds.
        get_list(r, Count::U8, 4)
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        put_list(w, Count::U8, self.iter().copied(), false)
    }
}

#[cfg(test)]
impl Sample for Payout {
    fn sample() -> Payout {
        Payout {
            user: 7,
            delta: -95,
            chips: 905,
        }
    }
}

// ---- end of the room-game fields ------------------------------------------------------

/// A value of each field type, for tests that must cover every message of the table.
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
impl Sample for u16 {
    fn sample() -> u16 {
        1000
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
impl Sample for i32 {
    fn sample() -> i32 {
        -95
    }
}

#[cfg(test)]
impl<const N: usize> Sample for [u8; N] {
    fn sample() -> [u8; N] {
        core::array::from_fn(|i| 52 - i as u8)
    }
}

#[cfg(test)]
impl Sample for &'static str {
    fn sample() -> &'static str {
        "a"
    }
}

#[cfg(test)]
impl<const N: usize> Sample for ArrayString<N> {
    fn sample() -> ArrayString<N> {
        ArrayString::from("zed").unwrap_or_default()
    }
}

#[cfg(test)]
impl Sample for Status {
    fn sample() -> Status {
        Status::Ok
    }
}

#[cfg(test)]
impl Sample for ErrorCode {
    fn sample() -> ErrorCode {
        ErrorCode::BadBody
    }
}

#[cfg(test)]
impl Sample for Option<ConnectToken> {
    fn sample() -> Option<ConnectToken> {
        let issuer = crate::secure::Issuer::new(crate::secure::Key::from_bytes([5; 32]), 1);
        Some(issuer.mint(4, 0, "ann", 1_800_000_000))
    }
}

#[cfg(test)]
impl Sample for RoomInfo {
    fn sample() -> RoomInfo {
        RoomInfo {
            room: 70_000,
            title: Sample::sample(),
            users: 2,
            max: 100,
        }
    }
}

#[cfg(test)]
impl Sample for UserInfo {
    fn sample() -> UserInfo {
        UserInfo {
            user: 300,
            name: Sample::sample(),
        }
    }
}

/// Two entries, for lists.
#[cfg(test)]
impl<T: Sample> Sample for Vec<T> {
    fn sample() -> Vec<T> {
        vec![T::sample(), T::sample()]
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
/// `parse` reads the body in the format of the frame's type; `emit` writes plain,
/// `emit_as` either format. In MessagePack a body is one array: its length is the sum of
/// the fields' [`Field::ELEMS`] (ECHO's is 1, its `bin`).
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
                    id::ECHO => {
                        r.begin(1)?;
                        Request::Echo(r.data()?)
                    }
                    $(id::$QID => {
                        r.begin(0 $($(+ <$qt as Field<'a>>::ELEMS)*)?)?;
                        Request::$Q $({ $($qf: Field::get(&mut r)?,)* })?
                    })*
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

            /// Writes the plain frame (type 0) into `buf`; returns its size. [`Full`] when a
            /// string is longer than 255 bytes, or the frame longer than `buf` or than a
            /// frame may be (4096 bytes).
            pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Full> {
                self.emit_as(buf, Format::Plain)
            }

            /// Writes the frame with its body in `format` into `buf`; returns its size.
            /// [`Full`] as for [`Request::emit`].
            pub fn emit_as(&self, buf: &mut [u8], format: Format) -> Result<usize, Full> {
                let mut w = Writer::with_format(buf, self.id(), format);
                match self {
                    Request::Echo(b) => {
                        w.begin(1)?.bin(b)?;
                    }
                    $(Request::$Q $({ $($qf,)* })? => {
                        w.begin(0 $($(+ <$qt as Field<'a>>::ELEMS)*)?)?;
                        $($(Field::put($qf, &mut w)?;)*)?
                    })*
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
                    id::ECHO => {
                        r.begin(1)?;
                        Message::Echo(r.data()?.to_vec())
                    }
                    $(id::$SID => {
                        r.begin(1 $(+ <$st as Field<'static>>::ELEMS)*)?;
                        Message::$S {
                            result: Field::get(&mut r)?,
                            $($sf: Field::get(&mut r)?,)*
                        }
                    })*
                    $(id::$NID => {
                        r.begin(0 $(+ <$nt as Field<'static>>::ELEMS)*)?;
                        Message::$N { $($nf: Field::get(&mut r)?,)* }
                    })*
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

            /// Writes the plain frame (type 0) into `buf`; returns its size. A room list
            /// longer than one frame is cut to what fits; [`Full`] when `buf` is shorter than
            /// the frame (give it 4096 bytes, the largest frame).
            pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Full> {
                self.emit_as(buf, Format::Plain)
            }

            /// Writes the frame with its body in `format` into `buf`; returns its size.
            /// [`Full`] as for [`Message::emit`].
            pub fn emit_as(&self, buf: &mut [u8], format: Format) -> Result<usize, Full> {
                let mut w = Writer::with_format(buf, self.id(), format);
                match self {
                    Message::Echo(b) => {
                        w.begin(1)?.bin(b)?;
                    }
                    $(Message::$S { result, $($sf,)* } => {
                        w.begin(1 $(+ <$st as Field<'static>>::ELEMS)*)?;
                        Field::put(result, &mut w)?;
                        $(Field::put($sf, &mut w)?;)*
                    })*
                    $(Message::$N { $($nf,)* } => {
                        w.begin(0 $(+ <$nt as Field<'static>>::ELEMS)*)?;
                        $(Field::put($nf, &mut w)?;)*
                    })*
                }
                w.finish()
            }
        }

        #[cfg(test)]
        impl Message {
            /// One message of every kind the table lists, and ECHO, with sample fields.
            pub(crate) fn samples() -> Vec<Message> {
                use $crate::lobby::msg::table::Sample;
                vec![
                    Message::Echo(b"echo".to_vec()),
                    $(Message::$S {
                        result: Sample::sample(),
                        $($sf: Sample::sample(),)*
                    },)*
                    $(Message::$N { $($nf: Sample::sample(),)* },)*
                ]
            }
        }
    };
}
