//! A blocking lobby client over `std::net::TcpStream` (PROTOCOL.md section 7).
//!
//! It speaks through the server's own codec and frame layer, whose message types are
//! re-exported here ([`Request`], [`Message`], [`Status`], ...). Each request method sends one request and waits for its
//! RES; notifications that arrive meanwhile are queued and handed out by
//! [`LobbyClient::recv`].
//!
//! ```no_run
//! use tickwire::client::lobby::LobbyClient;
//! # fn main() -> Result<(), tickwire::client::lobby::Error> {
//! let mut c = LobbyClient::connect("127.0.0.1:7778")?;
//! let login = c.login("ann")?;
//! let room = c.create_room("lounge", 8)?;
//! c.chat("hello")?;
//! while let Some(m) = c.recv(std::time::Duration::from_secs(1))? {
//!     println!("{m:?}");
//! }
//! # let _ = (login, room); Ok(()) }
//! ```

use crate::lobby::frame::{self, MAX_FRAME};
use crate::lobby::msg::id;
use crate::lobby::ring::Ring;
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

pub use crate::lobby::msg::{ErrorCode, Full, Message, Request, RoomInfo, Status, UserInfo};

/// How long a request method waits for its RES by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What can go wrong in a lobby request.
#[derive(Debug)]
pub enum Error {
    /// The socket failed, or the RES did not come in time (`TimedOut`).
    Io(io::Error),
    /// The server answered with a non-zero result.
    Refused(Status),
    /// The server sent ERROR and closes the connection.
    Server(ErrorCode),
    /// The server sent something that does not parse, or not the expected RES.
    Protocol(String),
    /// The server closed the connection.
    Closed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "lobby i/o: {e}"),
            Error::Refused(s) => write!(f, "refused: {s}"),
            Error::Server(c) => write!(f, "server error {} ({})", *c as u8, c.label()),
            Error::Protocol(s) => write!(f, "protocol: {s}"),
            Error::Closed => f.write_str("connection closed by the server"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

/// What LOGIN_RES gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Login {
    /// Your user id.
    pub user: u32,
    /// Your one-use game-port ticket (HELLO's ticket field).
    pub ticket: u64,
}

/// A blocking connection to a lobby.
#[derive(Debug)]
pub struct LobbyClient {
    stream: TcpStream,
    rx: Ring,
    scratch: Box<[u8]>,
    out: Box<[u8]>,
    pending: VecDeque<Message>,
    timeout: Duration,
}

impl LobbyClient {
    /// Connects to a lobby.
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<LobbyClient> {
        LobbyClient::from_stream(TcpStream::connect(addr)?)
    }

    /// Wraps a connected stream.
    pub fn from_stream(stream: TcpStream) -> io::Result<LobbyClient> {
        stream.set_nodelay(true)?;
        Ok(LobbyClient {
            stream,
            rx: Ring::with_capacity(2 * MAX_FRAME),
            scratch: vec![0; MAX_FRAME].into_boxed_slice(),
            out: vec![0; MAX_FRAME].into_boxed_slice(),
            pending: VecDeque::new(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// A second handle on the same connection with its own buffers, e.g. for a reader
    /// thread. Only one of the two should receive.
    pub fn try_clone(&self) -> io::Result<LobbyClient> {
        let mut c = LobbyClient::from_stream(self.stream.try_clone()?)?;
        c.timeout = self.timeout;
        Ok(c)
    }

    /// How long request methods wait for their RES (10 s by default).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The underlying stream.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Logs in; the name is 1..=16 bytes.
    pub fn login(&mut self, name: &str) -> Result<Login, Error> {
        match self.call(Request::Login { name })? {
            Message::LoginRes { user, ticket, .. } => Ok(Login { user, ticket }),
            m => Err(unexpected(&m)),
        }
    }

    /// The rooms that fit in one frame.
    pub fn list_rooms(&mut self) -> Result<Vec<RoomInfo>, Error> {
        match self.call(Request::RoomList)? {
            Message::RoomListRes { rooms, .. } => Ok(rooms),
            m => Err(unexpected(&m)),
        }
    }

    /// Creates a room and enters it; returns its id.
    pub fn create_room(&mut self, title: &str, max: u8) -> Result<u32, Error> {
        match self.call(Request::RoomCreate { title, max })? {
            Message::RoomCreateRes { room, .. } => Ok(room),
            m => Err(unexpected(&m)),
        }
    }

    /// Enters a room; returns everyone in it, you included.
    pub fn enter_room(&mut self, room: u32) -> Result<Vec<UserInfo>, Error> {
        match self.call(Request::RoomEnter { room })? {
            Message::RoomEnterRes { users, .. } => Ok(users),
            m => Err(unexpected(&m)),
        }
    }

    /// Leaves your room.
    pub fn leave_room(&mut self) -> Result<(), Error> {
        self.call(Request::RoomLeave).map(drop)
    }

    /// Says something to your room (you get it back as a notification too).
    pub fn chat(&mut self, msg: &str) -> Result<(), Error> {
        self.call(Request::RoomChat { msg }).map(drop)
    }

    /// Says something to one user.
    pub fn whisper(&mut self, to: &str, msg: &str) -> Result<(), Error> {
        self.call(Request::Whisper { to, msg }).map(drop)
    }

    /// Invites a user to your room.
    pub fn invite(&mut self, to: &str) -> Result<(), Error> {
        self.call(Request::Invite { to }).map(drop)
    }

    /// Sends bytes (at most 4091) and returns what came back.
    pub fn echo(&mut self, data: &[u8]) -> Result<Vec<u8>, Error> {
        match self.call(Request::Echo(data))? {
            Message::Echo(b) => Ok(b),
            m => Err(unexpected(&m)),
        }
    }

    /// The next notification (or any message not claimed by a request method), waiting at
    /// most `timeout`; `Ok(None)` when none came.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<Message>, Error> {
        if let Some(m) = self.pending.pop_front() {
            return Ok(Some(m));
        }
        self.read_message(Instant::now() + timeout)
    }

    /// Sends a request without waiting for anything.
    pub fn send(&mut self, req: &Request) -> Result<(), Error> {
        let n = req
            .emit(&mut self.out)
            .map_err(|_| Error::Protocol(format!("{req:?} does not fit a frame")))?;
        self.stream.write_all(&self.out[..n])?;
        Ok(())
    }

    /// Writes raw bytes (for tests of the server's input checks).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.stream.write_all(bytes)?;
        Ok(())
    }

    /// Sends `req` and waits for its RES (or ECHO), queuing notifications.
    fn call(&mut self, req: Request) -> Result<Message, Error> {
        let want = req.answer_id();
        self.send(&req)?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let Some(m) = self.read_message(deadline)? else {
                return Err(Error::Io(ErrorKind::TimedOut.into()));
            };
            if let Message::Error { code } = m {
                return Err(Error::Server(code));
            }
            if m.id() != want {
                self.pending.push_back(m);
                continue;
            }
            return match m.result() {
                Some(Status::Ok) | None => Ok(m),
                Some(s) => Err(Error::Refused(s)),
            };
        }
    }

    /// Reads until one whole message is held or `deadline` passes.
    fn read_message(&mut self, deadline: Instant) -> Result<Option<Message>, Error> {
        loop {
            match frame::pop(
                &mut self.rx,
                &mut self.scratch,
                id::is_message,
                Message::parse,
            ) {
                Ok(Some(m)) => {
                    return m
                        .map(Some)
                        .map_err(|e| Error::Protocol(format!("bad frame: {}", e.label())))
                }
                Ok(None) => {}
                Err(e) => return Err(Error::Protocol(format!("bad header: {}", e.label()))),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(self.rx.write_slice()) {
                Ok(0) => return Err(Error::Closed),
                Ok(n) => self.rx.commit(n),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(None)
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn unexpected(m: &Message) -> Error {
    Error::Protocol(format!("unexpected {m:?}"))
}
