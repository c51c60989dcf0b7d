//! The two one-byte codes of the lobby: [`ErrorCode`] (the body of ERROR) and [`Status`]
//! (the `result` of every RES), each written once as a table.

/// Declares a `#[repr(u8)]` code enum from one table of `Variant = value => "label"`, with
/// its `ALL`, `from_u8` and `label` (the `drops!` macro of `wire` is the model).
macro_rules! codes {
    (
        $(#[$doc:meta])*
        pub enum $T:ident {
            $($(#[$vdoc:meta])* $V:ident = $n:literal => $label:literal,)*
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $T {
            $($(#[$vdoc])* $V = $n,)*
        }

        impl $T {
            /// Every value, in wire order.
            pub const ALL: [$T; [$($n),*].len()] = [$($T::$V),*];

            /// Decodes a code byte.
            pub fn from_u8(b: u8) -> Option<$T> {
                match b {
                    $($n => Some($T::$V),)*
                    _ => None,
                }
            }

            /// A short label, for logs and stats.
            pub fn label(self) -> &'static str {
                match self {
                    $($T::$V => $label,)*
                }
            }
        }
    };
}

codes! {
    /// The body of ERROR (id 99): why the server closes the connection.
    pub enum ErrorCode {
        /// 1: the frame size is outside 5..=4096.
        Size = 1 => "size",
        /// 2: the frame type is not 0.
        Type = 2 => "type",
        /// 3: the id is unknown, or not one this side may receive.
        UnknownId = 3 => "unknown_id",
        /// 4: the body does not parse (short, bad UTF-8, trailing bytes).
        BadBody = 4 => "bad_body",
    }
}

codes! {
    /// The `result` field of every RES.
    pub enum Status {
        /// 0
        Ok = 0 => "ok",
        /// 1: another user has this name.
        NameTaken = 1 => "name taken",
        /// 2: the name is empty, longer than 16 bytes, or has control characters.
        BadName = 2 => "bad name",
        /// 3: this request needs a login.
        NotLoggedIn = 3 => "not logged in",
        /// 4: this connection is logged in already.
        AlreadyLoggedIn = 4 => "already logged in",
        /// 5: no room has this id.
        NoSuchRoom = 5 => "no such room",
        /// 6: the room holds its maximum.
        RoomFull = 6 => "room full",
        /// 7: this request needs you in a room.
        NotInRoom = 7 => "not in a room",
        /// 8: leave your room first.
        AlreadyInRoom = 8 => "already in a room",
        /// 9: nobody is logged in with this name.
        NoSuchUser = 9 => "no such user",
        /// 10: a field is out of range (empty text, bad title, max 0, inviting yourself).
        BadRequest = 10 => "bad request",
        /// 11: a server limit is reached (users or rooms).
        ServerFull = 11 => "server full",
        /// 12: the room has a table already.
        TableAlreadyOpen = 12 => "table already open",
        /// 13: the room has no table.
        NoTable = 13 => "no table",
        /// 14: the round takes no bets now.
        BettingClosed = 14 => "betting closed",
        /// 15: the bet is more than your chips.
        NotEnoughChips = 15 => "not enough chips",
        /// 16: SESSION_LOGIN_REQ's session is forged, from another fleet, or expired.
        BadSession = 16 => "bad session",
    }
}

impl core::fmt::Display for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_decode_their_own_byte_and_nothing_else() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_u8(c as u8), Some(c));
        }
        for s in Status::ALL {
            assert_eq!(Status::from_u8(s as u8), Some(s));
        }
        assert_eq!(ErrorCode::from_u8(0), None);
        assert_eq!(ErrorCode::from_u8(5), None);
        assert_eq!(Status::from_u8(17), None);
        assert_eq!(ErrorCode::BadBody.label(), "bad_body");
        assert_eq!(Status::NotInRoom.to_string(), "not in a room");
    }
}
