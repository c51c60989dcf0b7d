//! Room fan-out: every user chats as fast as the server lets it, one thread drives them
//! all over non-blocking sockets.

use hdrhistogram::Histogram;
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};
use tickwire::client::lobby::Message;
use tickwire::client::lobby::{Format, Request, Status};
use tickwire::internal::lobby::id;
use tickwire::internal::lobby::Ring;
use tickwire::internal::lobby::{self as frame, MAX_FRAME};

use super::echo::new_hist;
use super::server::Server;
use super::{check_deadline, connect, Args, Res, DRAIN_TIMEOUT};
use crate::common::{cpu_time, nanos};

/// This process's CPU time (user + system) so far.
fn own_cpu() -> Duration {
    let (u, s) = cpu_time();
    u + s
}

pub(super) struct FanoutReport {
    pub(super) users: u32,
    pub(super) window: u32,
    pub(super) max_owed: u64,
    pub(super) chat_bytes: u8,
    pub(super) elapsed: Duration,
    /// ROOM_CHAT_RES ok received during the chatting.
    pub(super) chats: u64,
    /// ROOM_CHAT_NTF received during the chatting.
    pub(super) ntfs: u64,
    /// Both, once everything sent has been answered.
    pub(super) total_chats: u64,
    pub(super) total_ntfs: u64,
    /// Every accepted chat reached every member before [`DRAIN_TIMEOUT`].
    pub(super) drained: bool,
    pub(super) latency: Histogram<u64>,
    pub(super) server_cpu: Duration,
    pub(super) bench_cpu: Duration,
}

/// One user's connection during the chatting.
struct User {
    stream: MioStream,
    me: u32,
    rx: Ring,
    tx: Vec<u8>,
    tx_off: usize,
    /// Chats sent without a ROOM_CHAT_RES yet.
    unanswered: u32,
    /// Send times of chats whose own ROOM_CHAT_NTF has not come back yet, oldest first.
    in_flight: VecDeque<Instant>,
    /// ROOM_CHAT_NTFs read, from anyone.
    ntfs: u64,
}

/// What all users read, and the buffer their frames are read through.
struct Tally {
    /// ROOM_CHAT_RES ok.
    chats: u64,
    /// ROOM_CHAT_NTF.
    ntfs: u64,
    other: u64,
    /// From sending a chat to reading its own ROOM_CHAT_NTF, nanoseconds.
    latency: Histogram<u64>,
    scratch: Vec<u8>,
}

impl User {
    /// Writes what is queued until done or `WouldBlock`.
    fn flush(&mut self, i: usize) -> Res<()> {
        while self.tx_off < self.tx.len() {
            match self.stream.write(&self.tx[self.tx_off..]) {
                Ok(0) => return Err(format!("user {i}: the server stopped taking data")),
                Ok(n) => self.tx_off += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("user {i}: write: {e}")),
            }
        }
        self.tx.clear();
        self.tx_off = 0;
        Ok(())
    }

    /// Reads until `WouldBlock`, handling every whole frame.
    fn read(&mut self, i: usize, t: &mut Tally) -> Res<()> {
        loop {
            let space = self.rx.write_slice();
            if space.is_empty() {
                // Cannot happen: frames are consumed after every read.
                return Err(format!("user {i}: receive buffer full"));
            }
            match self.stream.read(space) {
                Ok(0) => {
                    return Err(format!(
                        "user {i}: the server closed the connection (cut as a slow reader?)"
                    ))
                }
                Ok(n) => self.rx.commit(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("user {i}: read: {e}")),
            }
            self.frames(i, t)?;
        }
    }

    fn frames(&mut self, i: usize, t: &mut Tally) -> Res<()> {
        loop {
            let f = match frame::next(&self.rx, &mut t.scratch, id::is_message) {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("user {i}: bad frame header ({})", e.label())),
            };
            let size = f.len();
            let m = Message::parse(f)
                .map_err(|e| format!("user {i}: bad frame body ({})", e.label()))?;
            self.rx.consume(size);
            match m {
                Message::RoomChatRes { result } => {
                    if result != Status::Ok {
                        return Err(format!("user {i}: ROOM_CHAT_RES {result}"));
                    }
                    if self.unanswered == 0 {
                        return Err(format!("user {i}: a ROOM_CHAT_RES nobody asked for"));
                    }
                    self.unanswered -= 1;
                    t.chats += 1;
                }
                Message::RoomChatNtf { user, .. } => {
                    t.ntfs += 1;
                    self.ntfs += 1;
                    if user == self.me {
                        let sent = self.in_flight.pop_front().ok_or_else(|| {
                            format!("user {i}: its own ROOM_CHAT_NTF before any chat")
                        })?;
                        let _ = t.latency.record(nanos(sent.elapsed()).max(1));
                    }
                }
                Message::Error { code } => {
                    return Err(format!(
                        "user {i}: the server sent ERROR {} ({})",
                        code as u8,
                        code.label()
                    ))
                }
                _ => t.other += 1,
            }
        }
    }
}

pub(super) fn measure_fanout(
    server: &mut Server,
    args: &Args,
    deadline: Instant,
) -> Res<FanoutReport> {
    let n = usize::from(args.users);
    let addr = server.lobby;

    // Setup with the blocking client: log in, one creates the room, the others enter.
    let mut clients = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    let mut room = 0;
    for i in 0..n {
        check_deadline(deadline, "the fan-out setup")?;
        let mut c = connect(addr)?;
        let login = c
            .login(&format!("bench{i}"))
            .map_err(|e| format!("user {i}: LOGIN: {e}"))?;
        if i == 0 {
            room = c
                .create_room("bench", args.users)
                .map_err(|e| format!("user 0: ROOM_CREATE: {e}"))?;
        } else {
            c.enter_room(room)
                .map_err(|e| format!("user {i}: ROOM_ENTER: {e}"))?;
        }
        ids.push(login.user);
        clients.push(c);
    }
    // One ECHO each after everyone has entered: every ROOM_USER_ENTER_NTF comes before it,
    // so after it the client's buffer holds nothing and the stream can change hands.
    let mut users = Vec::with_capacity(n);
    for (i, mut c) in clients.into_iter().enumerate() {
        c.echo(b"sync")
            .map_err(|e| format!("user {i}: ECHO: {e}"))?;
        let std = c
            .stream()
            .try_clone()
            .map_err(|e| format!("user {i}: dup: {e}"))?;
        drop(c);
        std.set_nonblocking(true)
            .map_err(|e| format!("user {i}: nonblocking: {e}"))?;
        users.push(User {
            stream: MioStream::from_std(std),
            me: ids[i],
            rx: Ring::with_capacity(64 * 1024),
            tx: Vec::with_capacity(MAX_FRAME),
            tx_off: 0,
            unanswered: 0,
            in_flight: VecDeque::new(),
            ntfs: 0,
        });
    }

    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    for (i, u) in users.iter_mut().enumerate() {
        poll.registry()
            .register(
                &mut u.stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| format!("user {i}: register: {e}"))?;
    }
    let text = "m".repeat(usize::from(args.chat_bytes));
    let mut chat = [0u8; MAX_FRAME];
    // With --msgpack every user's chats are type 1, so the server answers and notifies
    // each of them in MessagePack (PROTOCOL.md section 7).
    let format = match args.msgpack {
        true => Format::MsgPack,
        false => Format::Plain,
    };
    let chat_len = Request::RoomChat { msg: &text }
        .emit_as(&mut chat, format)
        .map_err(|_| "a chat does not fit a frame".to_string())?;
    let chat = &chat[..chat_len];
    // ROOM_CHAT_NTF: header, user u32, len u8, text.
    let ntf_len = (frame::HEADER_LEN + 4 + 1 + usize::from(args.chat_bytes)) as u64;
    let max_owed = (args.backlog_bytes / ntf_len).max(1);
    let mut sent: u64 = 0;
    let mut first = 0;

    let mut events = Events::with_capacity(1024);
    let mut counts = Tally {
        chats: 0,
        ntfs: 0,
        other: 0,
        latency: new_hist(),
        scratch: vec![0u8; MAX_FRAME],
    };
    let bench_cpu0 = own_cpu();
    let server_cpu0 = server.cpu()?;
    let start = Instant::now();
    let stop_at = start + Duration::from_secs_f64(args.seconds);
    type Snapshot = (Instant, u64, u64, Duration, Duration);
    let mut window_end: Option<Snapshot> = None;
    let mut drained = false;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err("the overall deadline passed during the fan-out".into());
        }
        if window_end.is_none() && now >= stop_at {
            let bench_cpu = own_cpu();
            let cpu = server.cpu()?;
            window_end = Some((now, counts.chats, counts.ntfs, cpu, bench_cpu));
        }
        if let Some((end, ..)) = window_end {
            if users
                .iter()
                .all(|u| u.unanswered == 0 && u.in_flight.is_empty())
                && counts.ntfs >= counts.chats * n as u64
            {
                drained = true;
                break;
            }
            if now >= end + DRAIN_TIMEOUT {
                break;
            }
        } else {
            // Chats sent that the slowest reader has not read yet.
            let owed = sent - users.iter().map(|u| u.ntfs).min().unwrap_or(0);
            let mut budget = max_owed.saturating_sub(owed);
            // Take turns at the budget: start one user further each time.
            first = (first + 1) % n;
            for j in 0..n {
                let i = (first + j) % n;
                let u = &mut users[i];
                let k = (args.window - u.unanswered).min(budget.min(u64::from(u32::MAX)) as u32);
                if k == 0 {
                    continue;
                }
                budget -= u64::from(k);
                sent += u64::from(k);
                for _ in 0..k {
                    u.tx.extend_from_slice(chat);
                    u.in_flight.push_back(now);
                }
                u.unanswered += k;
                u.flush(i)?;
            }
        }
        let wait = match window_end {
            None => stop_at.saturating_duration_since(now),
            Some(_) => Duration::from_millis(50),
        };
        match poll.poll(&mut events, Some(wait.min(Duration::from_millis(100)))) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        for ev in events.iter() {
            let i = ev.token().0;
            let Some(u) = users.get_mut(i) else { continue };
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                u.read(i, &mut counts)?;
            }
            if ev.is_writable() {
                u.flush(i)?;
            }
        }
    }
    let (end, chats, ntfs, server_cpu1, bench_cpu1) =
        window_end.ok_or("the fan-out ended before its window")?;
    Ok(FanoutReport {
        users: u32::from(args.users),
        window: args.window,
        max_owed,
        chat_bytes: args.chat_bytes,
        elapsed: end - start,
        chats,
        ntfs,
        total_chats: counts.chats,
        total_ntfs: counts.ntfs,
        drained,
        latency: counts.latency,
        server_cpu: server_cpu1.saturating_sub(server_cpu0),
        bench_cpu: bench_cpu1.saturating_sub(bench_cpu0),
    })
}
