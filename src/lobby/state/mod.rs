//! The sans-IO lobby core: connections, sessions, users and rooms.
//!
//! [`LobbyCore`] never touches a socket and never reads the clock: the shell feeds it
//! bytes ([`LobbyCore::recv_space`], [`LobbyCore::received`]), takes bytes out
//! ([`LobbyCore::send_data`], [`LobbyCore::sent`]) and passes `now` in. Each connection
//! carries an opaque `T` (the shell's socket; `()` in tests) so that one slab holds it all.

use super::frame::{self, MAX_FRAME};
use super::msg::{
    self, id, valid_name, valid_title, ErrorCode, Message, Request, RoomInfo, Status, Text, Title,
    UserInfo,
};
use super::ring::Ring;
use super::{LobbyConfig, LobbyStats};
use crate::tickets::{Holder, Name, Tickets};
use log::{debug, info, warn};
use slab::Slab;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `max_conns` connections are open.
    TooManyConns,
    /// `max_conns_per_ip` connections are open from this address.
    TooManyFromIp,
}

/// Why a connection is being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed its side.
    PeerClosed,
    /// Reading or writing the socket failed.
    Io,
    /// The peer sent bad input; ERROR was queued.
    BadInput(ErrorCode),
    /// Its send buffer would have overflowed: it reads too slowly.
    SlowReader,
    /// No complete frame for `idle_timeout`.
    Idle,
    /// A started frame was not completed within `frame_deadline`.
    FrameDeadline,
    /// The lobby is shutting down.
    Shutdown,
}

impl CloseReason {
    /// Whether what is queued for the peer is still worth sending.
    pub fn flush(self) -> bool {
        !matches!(self, CloseReason::SlowReader | CloseReason::Io)
    }
}

#[derive(Debug)]
struct User {
    id: u32,
    name: Name,
    ticket: u64,
    room: Option<u32>,
}

#[derive(Debug)]
struct Conn<T> {
    io: T,
    ip: IpAddr,
    rx: Ring,
    tx: Ring,
    user: Option<User>,
    last_frame: Instant,
    frame_start: Option<Instant>,
    closing: Option<CloseReason>,
    dirty: bool,
}

#[derive(Debug)]
struct Room {
    title: Title,
    max: u8,
    members: Vec<usize>,
}

/// The lobby's state machine. See the module docs.
#[derive(Debug)]
pub struct LobbyCore<T> {
    cfg: LobbyConfig,
    tickets: Tickets,
    conns: Slab<Conn<T>>,
    per_ip: HashMap<IpAddr, usize>,
    users: HashMap<Name, usize>,
    rooms: BTreeMap<u32, Room>,
    next_user: u32,
    next_room: u32,
    dirty: VecDeque<usize>,
    closing: Vec<usize>,
    expired: Vec<(usize, CloseReason)>,
    scratch: Box<[u8]>,
    out: Box<[u8]>,
    stats: LobbyStats,
}

impl<T> LobbyCore<T> {
    /// An empty lobby. Memory for `cfg.max_conns` connections' slab entries is reserved
    /// now; each connection's buffers are allocated when it opens.
    pub fn new(cfg: LobbyConfig, tickets: Tickets) -> LobbyCore<T> {
        let cfg = cfg.sanitized();
        LobbyCore {
            conns: Slab::with_capacity(cfg.max_conns),
            per_ip: HashMap::with_capacity(cfg.max_conns),
            users: HashMap::with_capacity(cfg.max_conns),
            rooms: BTreeMap::new(),
            next_user: 1,
            next_room: 1,
            dirty: VecDeque::with_capacity(cfg.max_conns),
            closing: Vec::with_capacity(cfg.max_conns),
            expired: Vec::with_capacity(cfg.max_conns),
            scratch: vec![0; MAX_FRAME].into_boxed_slice(),
            out: vec![0; MAX_FRAME].into_boxed_slice(),
            stats: LobbyStats::default(),
            cfg,
            tickets,
        }
    }

    /// The configuration in force (after [`LobbyConfig::sanitized`]).
    pub fn config(&self) -> &LobbyConfig {
        &self.cfg
    }

    /// Admits a new connection from `ip`, or gives `io` back with the reason.
    pub fn open(&mut self, ip: IpAddr, io: T, now: Instant) -> Result<usize, (T, Refusal)> {
        if self.conns.len() >= self.cfg.max_conns {
            self.stats.refused_total += 1;
            return Err((io, Refusal::TooManyConns));
        }
        let n = self.per_ip.get(&ip).copied().unwrap_or(0);
        if n >= self.cfg.max_conns_per_ip {
            self.stats.refused_per_ip += 1;
            return Err((io, Refusal::TooManyFromIp));
        }
        self.per_ip.insert(ip, n + 1);
        self.stats.accepted += 1;
        Ok(self.conns.insert(Conn {
            io,
            ip,
            rx: Ring::with_capacity(self.cfg.recv_buffer_bytes),
            tx: Ring::with_capacity(self.cfg.send_buffer_bytes),
            user: None,
            last_frame: now,
            frame_start: None,
            closing: None,
            dirty: false,
        }))
    }

    /// Whether connection `id` is open.
    pub fn contains(&self, id: usize) -> bool {
        self.conns.contains(id)
    }

    /// The connection's `T`.
    pub fn io(&mut self, id: usize) -> Option<&mut T> {
        self.conns.get_mut(id).map(|c| &mut c.io)
    }

    /// The address a connection came from.
    pub fn peer_ip(&self, id: usize) -> Option<IpAddr> {
        self.conns.get(id).map(|c| c.ip)
    }

    /// Where to read the next bytes from the socket into, with its `T`: `None` when the
    /// connection is gone or closing (stop reading). The slice is never empty.
    pub fn recv_space(&mut self, id: usize) -> Option<(&mut T, &mut [u8])> {
        let c = self.conns.get_mut(id)?;
        if c.closing.is_some() {
            return None;
        }
        let space = c.rx.write_slice();
        if space.is_empty() {
            return None;
        }
        Some((&mut c.io, space))
    }

    /// `n` bytes were read into [`LobbyCore::recv_space`]: parse and handle every whole
    /// frame now held.
    pub fn received(&mut self, id: usize, n: usize, now: Instant) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        c.rx.commit(n);
        self.stats.bytes_in += n as u64;
        let mut rx = core::mem::take(&mut c.rx);
        let mut scratch = core::mem::take(&mut self.scratch);
        let mut completed = false;
        while self.conns.get(id).is_some_and(|c| c.closing.is_none()) {
            match frame::next(&rx, &mut scratch, id::is_request) {
                Ok(None) => break,
                Ok(Some(f)) => {
                    let size = f.len();
                    completed = true;
                    match Request::parse(f) {
                        Ok(req) => self.handle(id, req, f),
                        Err(code) => self.bad_input(id, code),
                    }
                    rx.consume(size);
                }
                Err(code) => self.bad_input(id, code),
            }
        }
        self.scratch = scratch;
        if let Some(c) = self.conns.get_mut(id) {
            if completed {
                c.last_frame = now;
            }
            c.frame_start = match (rx.is_empty(), c.frame_start) {
                (true, _) => None,
                (false, Some(t)) if !completed => Some(t),
                (false, _) => Some(now),
            };
            c.rx = rx;
        }
    }

    /// The peer closed its side (read returned 0).
    pub fn peer_closed(&mut self, id: usize) {
        self.close(id, CloseReason::PeerClosed);
    }

    /// The socket failed.
    pub fn io_error(&mut self, id: usize) {
        self.close(id, CloseReason::Io);
    }

    /// The first contiguous run of bytes queued for the peer, with its `T`; `None` when
    /// nothing is queued.
    pub fn send_data(&mut self, id: usize) -> Option<(&mut T, &[u8])> {
        let c = self.conns.get_mut(id)?;
        if c.tx.is_empty() {
            return None;
        }
        Some((&mut c.io, c.tx.read_slice()))
    }

    /// `n` bytes of [`LobbyCore::send_data`] were written to the socket.
    pub fn sent(&mut self, id: usize, n: usize) {
        if let Some(c) = self.conns.get_mut(id) {
            c.tx.consume(n);
            self.stats.bytes_out += n as u64;
        }
    }

    /// Bytes queued for connection `id`.
    pub fn queued(&self, id: usize) -> usize {
        self.conns.get(id).map_or(0, |c| c.tx.len())
    }

    /// A connection that got new bytes to send since the last call: write them out.
    pub fn pop_dirty(&mut self) -> Option<usize> {
        loop {
            let id = self.dirty.pop_front()?;
            if let Some(c) = self.conns.get_mut(id) {
                if c.dirty {
                    c.dirty = false;
                    return Some(id);
                }
            }
        }
    }

    /// A connection marked for closing, and why: flush it if the reason says so, then
    /// [`LobbyCore::remove`] it.
    pub fn pop_closing(&mut self) -> Option<(usize, CloseReason)> {
        loop {
            let id = self.closing.pop()?;
            if let Some(reason) = self.conns.get(id).and_then(|c| c.closing) {
                return Some((id, reason));
            }
        }
    }

    /// Marks a connection for closing (the first reason sticks).
    pub fn close(&mut self, id: usize, reason: CloseReason) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        if c.closing.is_some() {
            return;
        }
        c.closing = Some(reason);
        self.closing.push(id);
        match reason {
            CloseReason::SlowReader => self.stats.slow_readers_cut += 1,
            CloseReason::Idle => self.stats.idle_cut += 1,
            CloseReason::FrameDeadline => self.stats.frame_deadline_cut += 1,
            _ => {}
        }
    }

    /// Removes a connection: its user logs out and leaves its room, the room is told, the
    /// ticket is revoked. Returns its `T` to close.
    pub fn remove(&mut self, id: usize) -> Option<T> {
        if !self.conns.contains(id) {
            return None;
        }
        self.leave_room(id);
        let c = self.conns.remove(id);
        if let Some(u) = &c.user {
            self.users.remove(&u.name);
            self.tickets.revoke(u.ticket);
            info!("lobby: user {} {:?} logged out", u.id, u.name.as_str());
        }
        if let Some(n) = self.per_ip.get_mut(&c.ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&c.ip);
            }
        }
        Some(c.io)
    }

    /// Ids of every open connection.
    pub fn ids(&self) -> impl Iterator<Item = usize> + '_ {
        self.conns.iter().map(|(id, _)| id)
    }

    /// The earliest idle or frame deadline of any connection.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.conns
            .iter()
            .filter(|(_, c)| c.closing.is_none())
            .map(|(_, c)| self.deadline(c).0)
            .min()
    }

    fn deadline(&self, c: &Conn<T>) -> (Instant, CloseReason) {
        let idle = c.last_frame + self.cfg.idle_timeout;
        match c.frame_start {
            Some(t) if t + self.cfg.frame_deadline < idle => {
                (t + self.cfg.frame_deadline, CloseReason::FrameDeadline)
            }
            _ => (idle, CloseReason::Idle),
        }
    }

    /// Marks every connection whose deadline is at or before `now` for closing.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut expired = core::mem::take(&mut self.expired);
        for (id, c) in self.conns.iter().filter(|(_, c)| c.closing.is_none()) {
            let (at, reason) = self.deadline(c);
            if at <= now {
                expired.push((id, reason));
            }
        }
        for (id, reason) in expired.drain(..) {
            info!(
                "lobby: conn {id} from {:?}: {reason:?} deadline passed",
                self.peer_ip(id)
            );
            self.close(id, reason);
        }
        self.expired = expired;
    }

    /// Counters and gauges.
    pub fn stats(&self) -> LobbyStats {
        let mut s = self.stats.clone();
        s.conns = self.conns.len();
        s.users = self.users.len();
        s.rooms = self.rooms.len();
        s.send_queued = self.conns.iter().map(|(_, c)| c.tx.len()).sum();
        s.send_buffer_bytes = self.cfg.send_buffer_bytes;
        s
    }

    fn bad_input(&mut self, id: usize, code: ErrorCode) {
        self.stats.errors[code as usize - 1] += 1;
        warn!(
            "lobby: conn {id} from {:?}: bad input ({}), sending ERROR {} and closing",
            self.peer_ip(id),
            code.label(),
            code as u8
        );
        self.send(id, &Message::Error { code });
        self.close(id, CloseReason::BadInput(code));
    }

    /// Queues a frame already written to `self.out[..n]` for `to`; a full send buffer
    /// cuts `to` as a slow reader.
    fn queue(&mut self, to: usize, n: usize) {
        let Some(c) = self.conns.get_mut(to) else {
            return;
        };
        if c.closing.is_some() {
            // Closing connections hear nothing more: after ERROR, nothing else is sent.
            return;
        }
        if !c.tx.push(&self.out[..n]) {
            warn!(
                "lobby: conn {to} from {}: send buffer full ({} bytes), cutting slow reader",
                c.ip,
                c.tx.len()
            );
            self.close(to, CloseReason::SlowReader);
            return;
        }
        self.stats.msgs_out += 1;
        self.stats.send_queue_peak = self.stats.send_queue_peak.max(c.tx.len());
        if !c.dirty {
            c.dirty = true;
            self.dirty.push_back(to);
        }
    }

    fn send(&mut self, to: usize, m: &Message) {
        match m.emit(&mut self.out) {
            Ok(n) => self.queue(to, n),
            Err(_) => warn!("lobby: {m:?} does not fit a frame"),
        }
    }

    fn user(&self, id: usize) -> Option<&User> {
        self.conns.get(id)?.user.as_ref()
    }

    fn handle(&mut self, id: usize, req: Request, frame: &[u8]) {
        self.stats.msgs_in += 1;
        debug!("lobby: conn {id}: {req:?}");
        if let Request::Echo(_) = req {
            let n = frame.len();
            self.out[..n].copy_from_slice(frame);
            return self.queue(id, n);
        }
        if let Request::Login { name } = req {
            return self.login(id, name);
        }
        let Some(me) = self.user(id) else {
            let r = Status::NotLoggedIn;
            return self.answer(id, req, r);
        };
        let (me_id, me_name, my_room) = (me.id, me.name, me.room);
        match req {
            Request::Echo(_) | Request::Login { .. } => {}
            Request::RoomList => {
                let rooms = self.rooms.iter().map(|(&room, r)| RoomInfo {
                    room,
                    title: r.title,
                    users: u8::try_from(r.members.len()).unwrap_or(u8::MAX),
                    max: r.max,
                });
                if let Ok(n) = msg::write_room_list(&mut self.out, Status::Ok, rooms) {
                    self.queue(id, n);
                }
            }
            Request::RoomCreate { title, max } => {
                let title = Title::from(title).ok().filter(|t| valid_title(t));
                let r = match title {
                    _ if my_room.is_some() => Err(Status::AlreadyInRoom),
                    None => Err(Status::BadRequest),
                    Some(_) if max == 0 => Err(Status::BadRequest),
                    Some(_) if self.rooms.len() >= self.cfg.max_rooms => Err(Status::ServerFull),
                    Some(title) => Ok(title),
                };
                let title = match r {
                    Ok(t) => t,
                    Err(s) => return self.answer(id, req, s),
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
                    },
                );
                self.set_room(id, Some(room));
                info!("lobby: {me_name:?} created room {room} {title:?} (max {max})");
                self.send(
                    id,
                    &Message::RoomCreateRes {
                        result: Status::Ok,
                        room,
                    },
                );
            }
            Request::RoomEnter { room } => {
                let r = match self.rooms.get(&room) {
                    _ if my_room.is_some() => Status::AlreadyInRoom,
                    None => Status::NoSuchRoom,
                    Some(r) if r.members.len() >= usize::from(r.max) => Status::RoomFull,
                    Some(_) => Status::Ok,
                };
                if r != Status::Ok {
                    return self.answer(id, req, r);
                }
                let Some(members) = self.rooms.get_mut(&room).map(|r| {
                    r.members.push(id);
                    core::mem::take(&mut r.members)
                }) else {
                    return;
                };
                self.set_room(id, Some(room));
                let users = members.iter().filter_map(|&m| {
                    let u = self.conns.get(m)?.user.as_ref()?;
                    Some(UserInfo {
                        user: u.id,
                        name: u.name,
                    })
                });
                if let Ok(n) = msg::write_room_enter(&mut self.out, Status::Ok, room, users) {
                    self.queue(id, n);
                }
                let ntf = Message::RoomUserEnterNtf {
                    user: me_id,
                    name: me_name,
                };
                self.broadcast(&members, Some(id), &ntf);
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.members = members;
                }
            }
            Request::RoomLeave => {
                if my_room.is_none() {
                    return self.answer(id, req, Status::NotInRoom);
                }
                self.answer(id, req, Status::Ok);
                self.leave_room(id);
            }
            Request::RoomChat { msg } => {
                let Some(room) = my_room else {
                    return self.answer(id, req, Status::NotInRoom);
                };
                let Some(msg) = Text::from(msg).ok().filter(|m| !m.is_empty()) else {
                    return self.answer(id, req, Status::BadRequest);
                };
                self.answer(id, req, Status::Ok);
                let ntf = Message::RoomChatNtf { user: me_id, msg };
                self.broadcast_room(room, &ntf);
            }
            Request::Whisper { to, msg } => {
                let target = self.users.get(to).copied();
                let msg = Text::from(msg).ok().filter(|m| !m.is_empty());
                let (Some(target), Some(msg)) = (target, msg) else {
                    let r = if msg.is_none() {
                        Status::BadRequest
                    } else {
                        Status::NoSuchUser
                    };
                    return self.answer(id, req, r);
                };
                self.answer(id, req, Status::Ok);
                let ntf = Message::WhisperNtf {
                    user: me_id,
                    name: me_name,
                    msg,
                };
                self.send(target, &ntf);
            }
            Request::Invite { to } => {
                let target = self.users.get(to).copied();
                let r = match (my_room, target) {
                    (None, _) => Status::NotInRoom,
                    (_, None) => Status::NoSuchUser,
                    (_, Some(t)) if t == id => Status::BadRequest,
                    _ => Status::Ok,
                };
                self.answer(id, req, r);
                if let (Status::Ok, Some(room), Some(target)) = (r, my_room, target) {
                    let ntf = Message::InviteNtf {
                        room,
                        name: me_name,
                    };
                    self.send(target, &ntf);
                }
            }
        }
    }

    /// Sends `req`'s RES with `result` and every later field zeroed.
    fn answer(&mut self, id: usize, req: Request, result: Status) {
        let m = match req {
            Request::Echo(_) => return,
            Request::Login { .. } => Message::LoginRes {
                result,
                user: 0,
                ticket: 0,
            },
            Request::RoomList => Message::RoomListRes {
                result,
                rooms: Vec::new(),
            },
            Request::RoomCreate { .. } => Message::RoomCreateRes { result, room: 0 },
            Request::RoomEnter { .. } => Message::RoomEnterRes {
                result,
                room: 0,
                users: Vec::new(),
            },
            Request::RoomLeave => Message::RoomLeaveRes { result },
            Request::RoomChat { .. } => Message::RoomChatRes { result },
            Request::Whisper { .. } => Message::WhisperRes { result },
            Request::Invite { .. } => Message::InviteRes { result },
        };
        if result != Status::Ok {
            debug!("lobby: conn {id}: {:?} -> {result}", req);
        }
        self.send(id, &m);
    }

    fn login(&mut self, id: usize, name: &str) {
        let req = Request::Login { name };
        let valid = Name::from(name).ok().filter(|n| valid_name(n));
        let r = match valid {
            _ if self.user(id).is_some() => Err(Status::AlreadyLoggedIn),
            None => Err(Status::BadName),
            Some(n) if self.users.contains_key(&n) => Err(Status::NameTaken),
            Some(_) if self.users.len() >= self.cfg.max_conns => Err(Status::ServerFull),
            Some(n) => Ok(n),
        };
        let name = match r {
            Ok(n) => n,
            Err(s) => return self.answer(id, req, s),
        };
        let user = self.next_user;
        let ticket = match self.tickets.issue(Holder { user, name }) {
            Ok(t) => t,
            Err(_) => {
                warn!("lobby: ticket table full, refusing login of {name:?}");
                return self.answer(id, req, Status::ServerFull);
            }
        };
        self.next_user = self.next_user.wrapping_add(1).max(1);
        self.users.insert(name, id);
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
            });
        }
        self.send(
            id,
            &Message::LoginRes {
                result: Status::Ok,
                user,
                ticket,
            },
        );
    }

    fn set_room(&mut self, id: usize, room: Option<u32>) {
        if let Some(u) = self.conns.get_mut(id).and_then(|c| c.user.as_mut()) {
            u.room = room;
        }
    }

    /// Sends `m` to everyone in `room`. The member list is lent out meanwhile, not copied.
    fn broadcast_room(&mut self, room: u32, m: &Message) {
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
    fn leave_room(&mut self, id: usize) {
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
            self.rooms.remove(&room);
            return;
        }
        self.broadcast_room(room, &Message::RoomUserLeaveNtf { user });
    }

    /// Sends `m` to every one of `members` but `except`; encoded once.
    fn broadcast(&mut self, members: &[usize], except: Option<usize>, m: &Message) {
        let Ok(n) = m.emit(&mut self.out) else {
            return;
        };
        for &to in members.iter().filter(|&&to| Some(to) != except) {
            self.queue(to, n);
        }
    }
}
