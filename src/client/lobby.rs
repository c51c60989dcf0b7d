//! A blocking lobby client over `std::net::TcpStream` (PROTOCOL.md section 7), in plain
//! TCP or TLS 1.3 ([`LobbyClient::connect_tls`], trusting the CA certificates of a
//! [`TlsTrust`]); over TLS it can ask for a connect token ([`LobbyClient::token`]).
//!
//! It speaks through the server's own codec and frame layer, whose message types are
//! re-exported here ([`Request`], [`Message`], [`Status`], ...). Each request method sends one request and waits for its
//! RES; notifications that arrive meanwhile are queued and handed out by
//! [`LobbyClient::recv`].
//!
//! Requests go out with plain bodies (frame type 0) unless
//! [`LobbyClient::set_format`] says MessagePack (type 1), after which the server answers
//! and notifies in MessagePack too; answers of either type are parsed.
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
//!
//! Over TLS, with a self-signed certificate as the one CA to trust:
//!
//! ```no_run
//! use tickwire::client::lobby::{LobbyClient, TlsTrust};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let trust = TlsTrust::from_ca_file("lobby-cert.pem")?;
//! let mut c = LobbyClient::connect_tls("127.0.0.1:7778", &trust, "localhost")?;
//! c.login("ann")?;
//! let token = c.token(0)?; // for the lobby's own game server
//! println!("token for client {} expires at {}", token.client_id, token.expires);
//! # Ok(()) }
//! ```

use crate::lobby::frame::{self, MAX_FRAME};
use crate::lobby::msg::id;
use crate::lobby::ring::Ring;
use crate::lobby::tls::{certs_from_pem, read_pem_file};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use crate::lobby::game::baccarat::Side;
pub use crate::lobby::msg::{
    ErrorCode, Format, Full, Message, Payout, Request, RoomInfo, Status, UserInfo,
};
pub use crate::lobby::{PemKind, TlsFileError};
pub use crate::secure::ConnectToken;

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
    /// TLS failed: the handshake (an untrusted certificate, a name it does not carry, a
    /// server that does not speak TLS 1.3) or a record.
    Tls(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "lobby i/o: {e}"),
            Error::Refused(s) => write!(f, "refused: {s}"),
            Error::Server(c) => write!(f, "server error {} ({})", *c as u8, c.label()),
            Error::Protocol(s) => write!(f, "protocol: {s}"),
            Error::Closed => f.write_str("connection closed by the server"),
            Error::Tls(e) => write!(f, "TLS: {e}"),
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

/// The certificates a TLS [`LobbyClient`] trusts: the CA certificates of a PEM file (a
/// self-signed lobby certificate is its own CA). TLS 1.3 only. Cheap to clone.
#[derive(Clone)]
pub struct TlsTrust {
    config: Arc<ClientConfig>,
}

impl fmt::Debug for TlsTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsTrust(TLS 1.3)")
    }
}

impl TlsTrust {
    /// Trusts every certificate of the PEM file at `path` (at least one) as a CA.
    pub fn from_ca_file(path: impl AsRef<Path>) -> Result<TlsTrust, TlsFileError> {
        let path = path.as_ref();
        let pem = read_pem_file(PemKind::Ca, path)?;
        let mut roots = RootCertStore::empty();
        for cert in certs_from_pem(PemKind::Ca, path, &pem)? {
            roots.add(cert).map_err(|e| TlsFileError::Pem {
                kind: PemKind::Ca,
                path: path.to_path_buf(),
                what: format!("not a certificate that can be trusted ({e})"),
            })?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsFileError::Pem {
                kind: PemKind::Ca,
                path: path.to_path_buf(),
                what: e.to_string(),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsTrust {
            config: Arc::new(config),
        })
    }
}

/// A blocking connection to a lobby.
#[derive(Debug)]
pub struct LobbyClient {
    stream: TcpStream,
    /// Over TLS: the client's TLS state, shared with [`LobbyClient::try_clone`]s (each
    /// reads the socket without it, and takes it only to feed or drain it).
    tls: Option<Arc<Mutex<ClientConnection>>>,
    /// Over TLS: ciphertext read from the socket, on its way into rustls.
    cipher: Box<[u8]>,
    rx: Ring,
    scratch: Box<[u8]>,
    out: Box<[u8]>,
    pending: VecDeque<Message>,
    timeout: Duration,
    /// The body format of the requests it sends.
    format: Format,
}

impl LobbyClient {
    /// Connects to a lobby.
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<LobbyClient> {
        LobbyClient::from_stream(TcpStream::connect(addr)?)
    }

    /// Connects to a lobby that serves TLS 1.3, checking its certificate against `trust`
    /// and `server_name` (a DNS name or an IP address the certificate carries). The
    /// handshake is done when this returns, within the request timeout (10 s).
    pub fn connect_tls(
        addr: impl ToSocketAddrs,
        trust: &TlsTrust,
        server_name: &str,
    ) -> Result<LobbyClient, Error> {
        LobbyClient::from_stream_tls(TcpStream::connect(addr)?, trust, server_name)
    }

    /// [`LobbyClient::connect_tls`] over a stream already connected (with socket options
    /// of the caller's choosing).
    pub fn from_stream_tls(
        stream: TcpStream,
        trust: &TlsTrust,
        server_name: &str,
    ) -> Result<LobbyClient, Error> {
        let name = ServerName::try_from(server_name.to_string()).map_err(|e| {
            Error::Tls(format!(
                "{server_name:?} is not a DNS name or an IP address: {e}"
            ))
        })?;
        let conn = ClientConnection::new(trust.config.clone(), name)
            .map_err(|e| Error::Tls(e.to_string()))?;
        let mut c = LobbyClient::from_stream(stream)?;
        c.cipher = vec![0; MAX_FRAME].into_boxed_slice();
        c.handshake(conn)?;
        Ok(c)
    }

    /// Runs the TLS handshake on the blocking socket, bounded by the request timeout.
    fn handshake(&mut self, mut conn: ClientConnection) -> Result<(), Error> {
        let deadline = Instant::now() + self.timeout;
        while conn.is_handshaking() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Io(ErrorKind::TimedOut.into()));
            }
            self.stream.set_read_timeout(Some(left))?;
            self.stream.set_write_timeout(Some(left))?;
            match conn.complete_io(&mut self.stream) {
                Ok((0, 0)) if conn.is_handshaking() => return Err(Error::Closed),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::InvalidData => {
                    let mut what = e.to_string();
                    if what.contains("CaUsedAsEndEntity") {
                        what.push_str(
                            " (the lobby's certificate is marked as a CA, basicConstraints \
                             CA:TRUE: a self-signed lobby certificate must say CA:FALSE)",
                        );
                    }
                    return Err(Error::Tls(what));
                }
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Err(Error::Closed),
                Err(e) => return Err(e.into()),
            }
        }
        self.stream.set_write_timeout(None)?;
        self.tls = Some(Arc::new(Mutex::new(conn)));
        Ok(())
    }

    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Wraps a connected stream (plain TCP).
    pub fn from_stream(stream: TcpStream) -> io::Result<LobbyClient> {
        stream.set_nodelay(true)?;
        Ok(LobbyClient {
            stream,
            tls: None,
            cipher: Box::default(),
            rx: Ring::with_capacity(2 * MAX_FRAME),
            scratch: vec![0; MAX_FRAME].into_boxed_slice(),
            out: vec![0; MAX_FRAME].into_boxed_slice(),
            pending: VecDeque::new(),
            timeout: DEFAULT_TIMEOUT,
            format: Format::Plain,
        })
    }

    /// A second handle on the same connection with its own buffers, e.g. for a reader
    /// thread. Only one of the two should receive.
    pub fn try_clone(&self) -> io::Result<LobbyClient> {
        let mut c = LobbyClient::from_stream(self.stream.try_clone()?)?;
        c.timeout = self.timeout;
        c.format = self.format;
        c.tls = self.tls.clone();
        c.cipher = vec![0; self.cipher.len()].into_boxed_slice();
        Ok(c)
    }

    /// The body format of the requests sent from now on: [`Format::Plain`] (type 0, the
    /// default) or [`Format::MsgPack`] (type 1). The server answers a connection in the
    /// format of its last request, notifications included; either is parsed here. Set it
    /// on each [`LobbyClient::try_clone`] that sends, or before cloning.
    pub fn set_format(&mut self, format: Format) {
        self.format = format;
    }

    /// The body format of the requests sent.
    pub fn format(&self) -> Format {
        self.format
    }

    /// How long request methods wait for their RES (10 s by default).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The underlying stream (for timeouts and shutdown; over TLS it carries the
    /// encrypted records, so write nothing to it directly).
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

    /// Logs in with a session of the fleet's matchmaker (`POST /v1/login`,
    /// docs/FLEET.md): SESSION_LOGIN_REQ, over TLS only, to a lobby of a secure server of
    /// the same fleet. The user's name is the session's.
    pub fn login_session(&mut self, session: &str) -> Result<Login, Error> {
        match self.call(Request::SessionLogin { session })? {
            Message::SessionLoginRes { user, ticket, .. } => Ok(Login { user, ticket }),
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

    /// Asks for a connect token for `scope` (0, or the lobby's own server id: the token is
    /// then scoped to that server). Only a TLS lobby with a token issuer gives one: plain
    /// TCP, no issuer and another scope are [`Error::Refused`] with 10 bad request.
    pub fn token(&mut self, scope: u64) -> Result<ConnectToken, Error> {
        match self.call(Request::TokenReq { scope })? {
            Message::TokenRes { token: Some(t), .. } => Ok(t),
            Message::TokenRes { token: None, .. } => Err(Error::Protocol(
                "TOKEN_RES with result 0 and an all-zero token".into(),
            )),
            m => Err(unexpected(&m)),
        }
    }

    /// Opens a baccarat table in your room, each round's betting lasting `bet_ms`
    /// (1000..=60000). The room (you too) then gets
    /// [`Message::RoundOpenNtf`] from [`LobbyClient::recv`].
    pub fn open_table(&mut self, bet_ms: u16) -> Result<(), Error> {
        self.call(Request::TableOpen { bet_ms }).map(drop)
    }

    /// Bets `amount` chips on `side` in this round of your room's table; returns your chips
    /// after the stake was taken.
    pub fn bet(&mut self, side: Side, amount: u32) -> Result<u32, Error> {
        let side = side as u8;
        match self.call(Request::Bet { side, amount })? {
            Message::BetRes { chips, .. } => Ok(chips),
            m => Err(unexpected(&m)),
        }
    }

    /// Your chips.
    pub fn chips(&mut self) -> Result<u32, Error> {
        match self.call(Request::Chips)? {
            Message::ChipsRes { chips, .. } => Ok(chips),
            m => Err(unexpected(&m)),
        }
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
            .emit_as(&mut self.out, self.format)
            .map_err(|_| Error::Protocol(format!("{req:?} does not fit a frame")))?;
        let LobbyClient {
            stream, tls, out, ..
        } = self;
        write_all(stream, tls.as_deref(), &out[..n])
    }

    /// Writes raw bytes (for tests of the server's input checks; over TLS they are
    /// encrypted like any frame).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        write_all(&mut self.stream, self.tls.as_deref(), bytes)
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
                Err(e) if self.tls.is_none() && looks_like_tls(&self.rx) => {
                    return Err(Error::Protocol(format!(
                        "bad header ({}): the server answers in TLS; connect with TLS",
                        e.label()
                    )))
                }
                Err(e) => return Err(Error::Protocol(format!("bad header: {}", e.label()))),
            }
            if let Some(tls) = &self.tls {
                // Plaintext rustls holds (all of it once the ring's frames are out: the
                // ring always has room for one frame, and rustls gets at most one
                // `cipher` of ciphertext at a time).
                let space = self.rx.write_slice();
                match lock(tls)?.reader().read(space) {
                    Ok(0) if space.is_empty() => {
                        return Err(Error::Protocol("a frame longer than the ring".into()))
                    }
                    Ok(0) => return Err(Error::Closed),
                    Ok(n) => {
                        self.rx.commit(n);
                        continue;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Err(Error::Closed),
                    Err(e) => return Err(e.into()),
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.stream.set_read_timeout(Some(left))?;
            let into = match self.tls {
                Some(_) => &mut self.cipher[..],
                None => self.rx.write_slice(),
            };
            match self.stream.read(into) {
                Ok(0) if self.tls.is_some() => {
                    // TCP closed: rustls says whether close_notify came first.
                    if let Some(tls) = &self.tls {
                        let _ = lock(tls)?.read_tls(&mut &[][..]);
                    }
                }
                Ok(n) if self.tls.is_some() => self.feed_tls(n)?,
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

impl LobbyClient {
    /// Hands `n` bytes of `cipher` to rustls, and writes what it wants to send back.
    fn feed_tls(&mut self, n: usize) -> Result<(), Error> {
        let Some(tls) = &self.tls else {
            return Ok(());
        };
        let mut c = lock(tls)?;
        let mut rest = &self.cipher[..n];
        while !rest.is_empty() {
            c.read_tls(&mut rest)?;
            c.process_new_packets()
                .map_err(|e| Error::Tls(e.to_string()))?;
        }
        while c.wants_write() {
            c.write_tls(&mut self.stream)?;
        }
        Ok(())
    }
}

/// Whether the bytes held start like a TLS record (alert or handshake, version 3.x): what
/// a TLS lobby sends a plain client.
fn looks_like_tls(rx: &Ring) -> bool {
    let mut head = [0u8; 2];
    rx.copy_out(0, &mut head) && matches!(head, [0x15 | 0x16, 0x03])
}

/// The shared TLS state; a poisoned lock (a thread panicked holding it) is a dead
/// connection.
fn lock(tls: &Mutex<ClientConnection>) -> Result<MutexGuard<'_, ClientConnection>, Error> {
    tls.lock()
        .map_err(|_| Error::Tls("the TLS state was poisoned by a panic".into()))
}

/// Writes `bytes` to the socket, through TLS when there is TLS.
fn write_all(
    stream: &mut TcpStream,
    tls: Option<&Mutex<ClientConnection>>,
    bytes: &[u8],
) -> Result<(), Error> {
    let Some(tls) = tls else {
        stream.write_all(bytes)?;
        return Ok(());
    };
    let mut c = lock(tls)?;
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = c.writer().write(rest)?;
        rest = &rest[n..];
        while c.wants_write() {
            c.write_tls(stream)?;
        }
        if n == 0 && !c.wants_write() {
            return Err(Error::Tls("rustls takes no more plaintext".into()));
        }
    }
    Ok(())
}

fn unexpected(m: &Message) -> Error {
    Error::Protocol(format!("unexpected {m:?}"))
}
