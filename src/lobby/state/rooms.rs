//! Rooms: the room requests (list, create, enter, leave, chat), membership, and the
//! fan-out of a message to a room, encoded once per body format its members speak.

use super::requests::{Handled, Me};
use super::{LobbyCore, Room};
use crate::lobby::msg::{
    self, id as msg_id, valid_title, Format, Message, RoomInfo, Status, Text, Title, UserInfo,
};
use log::{info, warn};

impl<T> LobbyCore<T> {
    /// ROOM_LIST_REQ: the rooms that fit in one frame.
    pub(super) fn room_list(&mut self, id: usize) -> Handled {
        let rooms = self.rooms.iter().map(|(&room, r)| RoomInfo {
            room,
            title: r.title,
            users: u8::try_from(r.members.len()).unwrap_or(u8::MAX),
            max: r.max,
        });
        let format = self.format(id);
        let emitted = msg::write_room_list(&mut self.out, format, Status::Ok, rooms);
        self.queue_emitted(id, emitted, msg_id::ROOM_LIST_RES);
        Ok(())
    }

    /// ROOM_CREATE_REQ: a new room with a valid title, its creator in it.
    pub(super) fn room_create(&mut self, id: usize, me: Me, title: &str, max: u8) -> Handled {
        let title = Title::from(title).ok().filter(|t| valid_title(t));
        let title = match title {
            _ if me.room.is_some() => return Err(Status::AlreadyInRoom),
            None => return Err(Status::BadRequest),
            Some(_) if max == 0 => return Err(Status::BadRequest),
            Some(_) if self.rooms.len() >= self.cfg.max_rooms => return Err(Status::ServerFull),
            Some(title) => title,
        };
        let room = self.next_room;
        self.next_room = self.next_room.wrapping_add(1).max(1);
        let mut members = Vec::with_capacity(usize::from(max));
        members.push(id);
        let max = max.min(self.cfg.max_room_users);
        self.rooms.insert(
            room,
            Room {
                title,
                max,
                members,
                table: None,
            },
        );
        self.set_room(id, Some(room));
        info!(
            "lobby: {:?} created room {room} {title:?} (max {max})",
            me.name
        );
        let res = Message::RoomCreateRes {
            result: Status::Ok,
            room,
        };
        self.send(id, &res);
        Ok(())
    }

    /// ROOM_ENTER_REQ: the entrant hears who is there (itself included), then the others
    /// hear of the entrant.
    pub(super) fn room_enter(&mut self, id: usize, me: Me, room: u32) -> Handled {
        match self.rooms.get(&room) {
            _ if me.room.is_some() => return Err(Status::AlreadyInRoom),
            None => return Err(Status::NoSuchRoom),
            Some(r) if r.members.len() >= usize::from(r.max) => return Err(Status::RoomFull),
            Some(_) => {}
        }
        let Some(members) = self.rooms.get_mut(&room).map(|r| {
            r.members.push(id);
            core::mem::take(&mut r.members)
        }) else {
            return Ok(());
        };
        self.set_room(id, Some(room));
        let users = members.iter().filter_map(|&m| {
            let u = self.conns.get(m)?.user.as_ref()?;
            Some(UserInfo {
                user: u.id,
                name: u.name,
            })
        });
        let format = self.format(id);
        let emitted = msg::write_room_enter(&mut self.out, format, Status::Ok, room, users);
        self.queue_emitted(id, emitted, msg_id::ROOM_ENTER_RES);
        let ntf = Message::RoomUserEnterNtf {
            user: me.user,
            name: me.name,
        };
        self.broadcast(&members, Some(id), &ntf);
        if let Some(r) = self.rooms.get_mut(&room) {
            r.members = members;
        }
        self.game_joined(room, me.user);
        Ok(())
    }

    /// ROOM_LEAVE_REQ: answered, then the room hears of it.
    pub(super) fn room_leave(&mut self, id: usize, me: Me) -> Handled {
        if me.room.is_none() {
            return Err(Status::NotInRoom);
        }
        self.send(id, &Message::RoomLeaveRes { result: Status::Ok });
        self.leave_room(id);
        Ok(())
    }

    /// ROOM_CHAT_REQ: a non-empty text to everyone in the room, the sender too.
    pub(super) fn room_chat(&mut self, id: usize, me: Me, msg: &str) -> Handled {
        let Some(room) = me.room else {
            return Err(Status::NotInRoom);
        };
        let Some(msg) = Text::from(msg).ok().filter(|m| !m.is_empty()) else {
            return Err(Status::BadRequest);
        };
        self.send(id, &Message::RoomChatRes { result: Status::Ok });
        let ntf = Message::RoomChatNtf { user: me.user, msg };
        self.broadcast_room(room, &ntf);
        Ok(())
    }

    fn set_room(&mut self, id: usize, room: Option<u32>) {
        if let Some(u) = self.conns.get_mut(id).and_then(|c| c.user.as_mut()) {
            u.room = room;
        }
    }

    /// Sends `m` to everyone in `room`. The member list is lent out meanwhile, not copied.
    pub(super) fn broadcast_room(&mut self, room: u32, m: &Message) {
        let Some(members) = self
            .rooms
            .get_mut(&room)
            .map(|r| core::mem::take(&mut r.members))
        else {
            return;
        };
        self.broadcast(&members, None, m);
        if let Some(r) = self.rooms.get_mut(&room) {
            r.members = members;
        }
    }

    /// Takes `id` out of its room; the others are told; an empty room disappears.
    pub(super) fn leave_room(&mut self, id: usize) {
        let Some(u) = self.conns.get_mut(id).and_then(|c| c.user.as_mut()) else {
            return;
        };
        let (Some(room), user) = (u.room.take(), u.id) else {
            return;
        };
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        r.members.retain(|&m| m != id);
        if r.members.is_empty() {
            info!("lobby: room {room} {:?} is empty, removed", r.title);
            let table = self.rooms.remove(&room).and_then(|r| r.table);
            self.table_dropped(room, table);
            return;
        }
        self.broadcast_room(room, &Message::RoomUserLeaveNtf { user });
        self.game_left(room, user);
    }

    /// Sends `m` to every one of `members` but `except`, encoded at most once per body
    /// format, and only for a format one of them speaks: the plain members first, then, if
    /// there are any, the MessagePack ones (each member's own frames keep their order).
    fn broadcast(&mut self, members: &[usize], except: Option<usize>, m: &Message) {
        if self.broadcast_in(Format::Plain, members, except, m) {
            self.broadcast_in(Format::MsgPack, members, except, m);
        }
    }

    /// Sends `m` in `format` to those of `members` but `except` who speak it, encoded when
    /// the first of them is found. Returns whether any member speaks another format.
    fn broadcast_in(
        &mut self,
        format: Format,
        members: &[usize],
        except: Option<usize>,
        m: &Message,
    ) -> bool {
        let mut n = None;
        let mut others = false;
        for &to in members.iter().filter(|&&to| Some(to) != except) {
            if self.format(to) != format {
                others = true;
                continue;
            }
            let size = match n {
                Some(size) => size,
                None => match m.emit_as(&mut self.out, format) {
                    Ok(size) => *n.insert(size),
                    Err(_) => {
                        warn!("lobby: message {} does not fit a frame", m.id());
                        return false;
                    }
                },
            };
            self.queue(to, size);
        }
        others
    }
}
