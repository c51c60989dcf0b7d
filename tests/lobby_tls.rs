//! The lobby over TLS 1.3 in a real host (PROTOCOL.md section 8.4): a self-signed
//! certificate made now with rcgen, the host on 127.0.0.1 port 0, the library's client
//! logging in, chatting and getting a connect token that opens under the fleet key; plain
//! TCP refused a token; garbage and a stalled handshake closed without disturbing anyone;
//! certificate and key file errors. Every wait is bounded.
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tickwire::client::lobby::{Error, LobbyClient, Message, Request, Status, TlsTrust};
use tickwire::lobby::{LobbyConfig, LobbyStats, LobbyTls, PemKind, TlsFileError};
use tickwire::secure::{Issuer, Key};
use tickwire::{Adapter, Arena, Host, HostConfig, HostView, Registrar, Stopper};

const PATIENCE: Duration = Duration::from_secs(20);
const PROTOCOL: u32 = 0x5457_0003;
const SERVER_ID: u64 = 42;

/// A directory of its own under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "tickwire-lobby-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1 and its key, as PEM files.
fn self_signed(dir: &TempDir) -> (PathBuf, PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("rcgen");
    (
        dir.write("cert.pem", ck.cert.pem()),
        dir.write("key.pem", ck.signing_key.serialize_pem()),
    )
}

/// Answers the lobby's stats on the host's thread.
struct Probe {
    asks: mpsc::Receiver<mpsc::Sender<LobbyStats>>,
}

impl Adapter<Arena> for Probe {
    fn register(&mut self, _reg: &mut Registrar<'_>) -> std::io::Result<()> {
        Ok(())
    }
    fn woken(&mut self, host: &HostView<'_, Arena>) {
        for reply in self.asks.try_iter() {
            let _ = reply.send(host.lobby().map(|l| l.stats()).unwrap_or_default());
        }
    }
}

/// A host with a lobby on its own thread; stopped when dropped.
struct Bg {
    lobby: SocketAddr,
    udp: SocketAddr,
    stopper: Stopper,
    ask: mpsc::Sender<mpsc::Sender<LobbyStats>>,
    waker: tickwire::AdapterWaker,
}

impl Bg {
    fn start(lobby: LobbyConfig) -> Bg {
        Bg::start_host(HostConfig {
            lobby: Some(("127.0.0.1:0".parse().unwrap(), lobby)),
            ..HostConfig::default()
        })
    }

    /// A host of `cfg` (with a lobby) on 127.0.0.1, any ports.
    fn start_host(mut cfg: HostConfig) -> Bg {
        cfg.bind = "127.0.0.1:0".parse().unwrap();
        cfg.stats_interval = None;
        let mut host = Host::bind(cfg, |i| Arena::new(i as u64)).expect("bind");
        let (ask, asks) = mpsc::channel();
        host.add_adapter(Box::new(Probe { asks })).expect("probe");
        let waker = host.adapter_waker(0).expect("waker");
        let lobby = host.lobby_addr().expect("a lobby");
        let udp = host.udp_addrs()[0];
        let stopper = host.stopper();
        std::thread::spawn(move || host.run().expect("run"));
        Bg {
            lobby,
            udp,
            stopper,
            ask,
            waker,
        }
    }

    fn stats(&self) -> LobbyStats {
        let (tx, rx) = mpsc::channel();
        self.ask.send(tx).expect("host gone");
        self.waker.wake().expect("wake");
        rx.recv_timeout(PATIENCE).expect("stats")
    }

    fn wait_for(&self, what: &str, f: impl Fn(&LobbyStats) -> bool) -> LobbyStats {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let s = self.stats();
            if f(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {s:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        self.stopper.stop();
    }
}

fn fleet() -> Key {
    Key::from_bytes([0x5a; 32])
}

/// A TLS lobby with a token issuer for [`SERVER_ID`]; login deadline `login`.
fn tls_lobby(dir: &TempDir, login: Duration) -> (Bg, TlsTrust) {
    let (cert, key) = self_signed(dir);
    let tls = LobbyTls::from_pem_files(&cert, &key).expect("tls");
    let bg = Bg::start(LobbyConfig {
        tls: Some(tls),
        issuer: Some(Issuer::new(fleet(), PROTOCOL)),
        server_id: SERVER_ID,
        login_deadline: login,
        ..LobbyConfig::default()
    });
    (bg, TlsTrust::from_ca_file(&cert).expect("trust"))
}

fn tls_client(bg: &Bg, trust: &TlsTrust) -> LobbyClient {
    LobbyClient::connect_tls(bg.lobby, trust, "localhost").expect("tls connect")
}

/// Reads until the server closes (EOF or reset) or [`PATIENCE`] passes; true if closed.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let deadline = Instant::now() + PATIENCE;
    let mut buf = [0; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    false
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_tls_client_logs_in_chats_and_gets_a_token_that_opens_under_the_fleet_key() {
    let dir = TempDir::new();
    let (bg, trust) = tls_lobby(&dir, Duration::from_secs(10));
    let mut ann = tls_client(&bg, &trust);
    assert!(ann.is_tls());
    let mut bob = tls_client(&bg, &trust);
    let a = ann.login("ann").expect("login");
    bob.login("bob").expect("login");
    let room = ann.create_room("lounge", 4).expect("create");
    bob.enter_room(room).expect("enter");
    ann.chat("over tls").expect("chat");
    let deadline = Instant::now() + PATIENCE;
    loop {
        match bob.recv(PATIENCE).expect("recv") {
            Some(Message::RoomChatNtf { user, msg }) => {
                assert_eq!((user, msg.as_str()), (a.user, "over tls"));
                break;
            }
            Some(_) => assert!(Instant::now() < deadline, "no chat"),
            None => panic!("no chat within {PATIENCE:?}"),
        }
    }
    assert_eq!(ann.echo(b"ping").expect("echo"), b"ping");

    let before = unix_now();
    let issuer = Issuer::new(fleet(), PROTOCOL);
    for scope in [0, SERVER_ID] {
        let t = ann.token(scope).expect("token");
        assert_eq!(t.client_id, u64::from(a.user));
        let c = issuer
            .open(&t)
            .expect("the token opens under the fleet key");
        assert_eq!(c.client_id, u64::from(a.user));
        assert_eq!(c.scope, SERVER_ID);
        assert_eq!(c.name.as_deref(), Some("ann"));
        assert!(
            (before + 29..=unix_now() + 31).contains(&c.expires),
            "expires {} at {before}",
            c.expires
        );
    }
    // Another server's scope: refused.
    assert!(matches!(
        ann.token(SERVER_ID + 1),
        Err(Error::Refused(Status::BadRequest))
    ));
    // Another key or protocol id does not open it.
    let t = ann.token(0).expect("token");
    assert!(Issuer::new(Key::from_bytes([1; 32]), PROTOCOL)
        .open(&t)
        .is_err());
    assert!(Issuer::new(fleet(), PROTOCOL + 1).open(&t).is_err());
    let s = bg.stats();
    assert_eq!(s.tokens_issued, 3);
    assert_eq!(s.tls_handshakes, 2);
    assert_eq!(s.tls_failed, 0);
}

/// End to end: the token the TLS lobby hands out admits its holder to the game port of
/// the same host in secure mode, once.
#[test]
fn a_lobby_token_admits_its_user_to_the_secure_game_port() {
    use tickwire::client::blocking::Connection;
    use tickwire::client::{ClientConfig, Event};
    use tickwire::secure::Secure;
    let dir = TempDir::new();
    let (cert, key) = self_signed(&dir);
    let bg = Bg::start_host(HostConfig {
        server: tickwire::Config {
            secure: Some(Secure::new(fleet(), SERVER_ID)),
            ..tickwire::Config::default()
        },
        lobby: Some((
            "127.0.0.1:0".parse().unwrap(),
            LobbyConfig {
                tls: Some(LobbyTls::from_pem_files(&cert, &key).unwrap()),
                issuer: Some(Issuer::new(
                    fleet(),
                    tickwire::Config::default().protocol_id,
                )),
                server_id: SERVER_ID,
                ..LobbyConfig::default()
            },
        )),
        ..HostConfig::default()
    });
    let trust = TlsTrust::from_ca_file(&cert).unwrap();
    let mut lc = tls_client(&bg, &trust);
    lc.login("ivy").unwrap();
    let token = lc.token(0).expect("token");
    let mut c =
        Connection::connect_with_token(bg.udp, ClientConfig::default(), token.clone(), PATIENCE)
            .expect("the lobby's token admits");
    assert!(c.client().is_secure());
    let end = Instant::now() + PATIENCE;
    let mut snapshot = false;
    while !snapshot && Instant::now() < end {
        snapshot = matches!(
            c.poll(Duration::from_millis(100)).unwrap(),
            Some(Event::Snapshot { .. })
        );
    }
    assert!(snapshot, "no sealed snapshot");
    // Once: the same token again is not admitted.
    let cfg = ClientConfig {
        connect_timeout: Duration::from_millis(500),
        ..ClientConfig::default()
    };
    let again = Connection::connect_with_token(bg.udp, cfg, token, Duration::from_millis(500));
    assert_eq!(again.err().map(|e| e.kind()), Some(ErrorKind::TimedOut));
}

#[test]
fn a_tls_client_not_logged_in_gets_3_and_a_zero_token() {
    let dir = TempDir::new();
    let (bg, trust) = tls_lobby(&dir, Duration::from_secs(10));
    let mut c = tls_client(&bg, &trust);
    c.send(&Request::TokenReq { scope: 0 }).unwrap();
    match c.recv(PATIENCE).expect("recv") {
        Some(Message::TokenRes {
            result: Status::NotLoggedIn,
            token: None,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(bg.stats().tokens_issued, 0);
}

#[test]
fn plain_tcp_token_req_gets_10_and_205_zero_bytes() {
    // A plain lobby that has an issuer still never sends keys in the clear.
    let bg = Bg::start(LobbyConfig {
        issuer: Some(Issuer::new(fleet(), PROTOCOL)),
        server_id: SERVER_ID,
        ..LobbyConfig::default()
    });
    let mut c = LobbyClient::connect(bg.lobby).expect("connect");
    c.login("cy").expect("login");
    assert!(matches!(
        c.token(0),
        Err(Error::Refused(Status::BadRequest))
    ));
    // The exact bytes, read off the socket.
    let mut s = TcpStream::connect(bg.lobby).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(&[0, 8, 0, 10, 0, 2, b'd', b'i']).unwrap(); // LOGIN_REQ "di"
    let mut login = [0; 18];
    s.read_exact(&mut login).unwrap();
    assert_eq!(login[..6], [0, 18, 0, 11, 0, 0]);
    s.write_all(&[0, 13, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        .unwrap(); // TOKEN_REQ 0
    let mut res = [0xff; 211];
    s.read_exact(&mut res).unwrap();
    assert_eq!(res[..6], [0, 211, 0, 13, 0, 10]);
    assert!(res[6..].iter().all(|&b| b == 0), "{res:?}");
    assert_eq!(bg.stats().tokens_issued, 0);
}

#[test]
fn garbage_and_a_stalled_handshake_are_closed_and_others_are_served() {
    let dir = TempDir::new();
    let (bg, trust) = tls_lobby(&dir, Duration::from_millis(300));

    // Not TLS at all: rustls refuses it, the lobby sends its alert and closes.
    let mut garbage = TcpStream::connect(bg.lobby).unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: lobby\r\n\r\n")
        .unwrap();
    assert!(closed_by_server(&mut garbage), "garbage not closed");
    bg.wait_for("the garbage counted", |s| s.tls_failed >= 1);

    // A plain lobby frame to a TLS lobby is garbage too.
    let mut plain = TcpStream::connect(bg.lobby).unwrap();
    plain.write_all(&[0, 8, 0, 10, 0, 2, b'e', b'd']).unwrap();
    assert!(closed_by_server(&mut plain), "plain frame not closed");

    // Half a real ClientHello, then nothing: the login deadline closes it.
    let mut hello = Vec::new();
    {
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let mut c =
            rustls::ClientConnection::new(Arc::new(cfg), "localhost".try_into().unwrap()).unwrap();
        while c.wants_write() {
            c.write_tls(&mut hello).unwrap();
        }
    }
    assert!(hello.len() > 100, "a ClientHello: {} bytes", hello.len());
    let mut stalled = TcpStream::connect(bg.lobby).unwrap();
    stalled.write_all(&hello[..hello.len() / 2]).unwrap();
    // Silence: nothing to answer yet.
    stalled
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut b = [0; 16];
    assert!(matches!(
        stalled.read(&mut b).map_err(|e| e.kind()),
        Err(ErrorKind::WouldBlock | ErrorKind::TimedOut)
    ));
    assert!(
        closed_by_server(&mut stalled),
        "stalled handshake not closed"
    );

    // A TCP connection that says nothing at all meets the same deadline.
    let mut silent = TcpStream::connect(bg.lobby).unwrap();
    assert!(
        closed_by_server(&mut silent),
        "silent connection not closed"
    );

    let s = bg.wait_for("every bad connection gone", |s| {
        s.conns == 0 && s.tls_unfinished >= 4
    });
    assert_eq!(s.tls_handshakes, 0);
    assert!(s.login_deadline_cut >= 2, "{s:?}");

    // And the lobby serves a real client as before.
    let mut ok = tls_client(&bg, &trust);
    ok.login("fay").expect("login");
    assert_eq!(ok.echo(b"still here").expect("echo"), b"still here");
    let t = ok.token(0).expect("token");
    assert_eq!(
        Issuer::new(fleet(), PROTOCOL).open(&t).unwrap().scope,
        SERVER_ID
    );
    let s = bg.stats();
    assert_eq!((s.tls_handshakes, s.conns), (1, 1));
}

#[test]
fn a_client_that_does_not_trust_the_certificate_fails_and_is_counted() {
    let dir = TempDir::new();
    let (bg, trust) = tls_lobby(&dir, Duration::from_secs(10));
    // Another self-signed certificate as the only CA: the client refuses the lobby's.
    let other = TempDir::new();
    let (other_cert, _) = self_signed(&other);
    let wrong = TlsTrust::from_ca_file(&other_cert).unwrap();
    match LobbyClient::connect_tls(bg.lobby, &wrong, "localhost") {
        Err(Error::Tls(e)) => assert!(e.contains("certificate"), "{e}"),
        other => panic!("{other:?}"),
    }
    // A name the certificate does not carry.
    match LobbyClient::connect_tls(bg.lobby, &trust, "lobby.example") {
        Err(Error::Tls(e)) => assert!(e.contains("certificate"), "{e}"),
        other => panic!("{other:?}"),
    }
    // The lobby saw both fail (the client's alert) and still serves; 127.0.0.1 is in the
    // certificate too.
    bg.wait_for("two failed handshakes", |s| {
        s.tls_failed >= 2 && s.conns == 0
    });
    let mut c = LobbyClient::connect_tls(bg.lobby, &trust, "127.0.0.1").expect("by ip");
    c.login("gus").expect("login");
}

#[test]
fn a_lobby_certificate_marked_as_a_ca_is_explained_to_the_client() {
    let dir = TempDir::new();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert, key) = (
        dir.write("ca.pem", cert.pem()),
        dir.write("ca-key.pem", key.serialize_pem()),
    );
    let bg = Bg::start(LobbyConfig {
        tls: Some(LobbyTls::from_pem_files(&cert, &key).unwrap()),
        ..LobbyConfig::default()
    });
    let trust = TlsTrust::from_ca_file(&cert).unwrap();
    match LobbyClient::connect_tls(bg.lobby, &trust, "localhost") {
        Err(Error::Tls(e)) => assert!(e.contains("must say CA:FALSE"), "{e}"),
        other => panic!("{other:?}"),
    }
}

/// Random bytes, some behind a real TLS record header and a ClientHello's first bytes,
/// each on a connection of its own: every one is closed (by rustls's verdict or the
/// login deadline), nothing panics, and the lobby still serves.
#[test]
fn random_bytes_instead_of_tls_close_only_their_connection() {
    use rand::{Rng, SeedableRng};
    let dir = TempDir::new();
    let (bg, trust) = tls_lobby(&dir, Duration::from_millis(300));
    let mut rng = rand::rngs::SmallRng::seed_from_u64(12);
    for i in 0..40 {
        let mut bytes = vec![0u8; rng.gen_range(1..3000)];
        rng.fill(&mut bytes[..]);
        let head: &[u8] = match i % 4 {
            // A handshake record header, then a ClientHello's type and a length.
            0 => &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc],
            // An alert record of nonsense.
            1 => &[0x15, 0x03, 0x03, 0x00, 0x02],
            // Application data before any handshake.
            2 => &[0x17, 0x03, 0x03, 0x00, 0x20],
            _ => &[],
        };
        bytes.splice(0..0, head.iter().copied());
        let mut s = TcpStream::connect(bg.lobby).unwrap();
        let _ = s.write_all(&bytes);
        assert!(closed_by_server(&mut s), "case {i} not closed");
    }
    let s = bg.wait_for("every connection gone", |s| s.conns == 0);
    assert_eq!(s.tls_unfinished, 40, "{s:?}");
    assert!(s.tls_failed >= 20, "{s:?}");
    let mut ok = tls_client(&bg, &trust);
    ok.login("hal").unwrap();
    assert_eq!(ok.echo(b"fine").unwrap(), b"fine");
}

/// The slow-reader rule holds through TLS: a member that stops reading is cut when its
/// send ring would overflow (rustls holds at most 16 KiB of records more), the talker is
/// unharmed, and no connection's queue ever passed the bound.
#[test]
fn a_tls_slow_reader_is_cut_and_memory_stays_bounded() {
    const BOUND: usize = 16 * 1024;
    let dir = TempDir::new();
    let (cert, key) = self_signed(&dir);
    let bg = Bg::start(LobbyConfig {
        tls: Some(LobbyTls::from_pem_files(&cert, &key).unwrap()),
        send_buffer_bytes: BOUND,
        user_msgs_per_sec: 0,
        ..LobbyConfig::default()
    });
    let trust = TlsTrust::from_ca_file(&cert).unwrap();
    let mut talker = tls_client(&bg, &trust);
    talker.login("talker").unwrap();
    let room = talker.create_room("den", 10).unwrap();
    // The sleeper asks for a small kernel receive buffer, enters, and never reads again.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&bg.lobby.into()).unwrap();
    let mut sleeper = LobbyClient::from_stream_tls(sock.into(), &trust, "localhost").unwrap();
    let sleeper_id = sleeper.login("sleeper").unwrap().user;
    sleeper.enter_room(room).unwrap();
    assert!(matches!(
        talker.recv(PATIENCE).unwrap(),
        Some(Message::RoomUserEnterNtf { .. })
    ));
    let msg = "z".repeat(255);
    let mut cut = false;
    for i in 0..200_000 {
        talker.chat(&msg).unwrap();
        while let Some(m) = talker.recv(Duration::ZERO).unwrap() {
            if m == (Message::RoomUserLeaveNtf { user: sleeper_id }) {
                cut = true;
            }
        }
        if cut {
            break;
        }
        if i % 256 == 0 {
            let s = bg.stats();
            assert!(s.send_queue_peak <= BOUND, "{s:?}");
        }
    }
    assert!(cut, "the sleeper was never cut off");
    let s = bg.stats();
    assert_eq!(s.slow_readers_cut, 1);
    assert!(s.send_queue_peak <= BOUND, "{s:?}");
    assert_eq!((s.conns, s.users), (1, 1));
    assert_eq!(talker.echo(b"ok").unwrap(), b"ok");
}

fn file_error(cert: &Path, key: &Path) -> String {
    match LobbyTls::from_pem_files(cert, key) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("{} and {} were accepted", cert.display(), key.display()),
    }
}

#[test]
fn certificate_and_key_file_errors_name_the_file_and_the_fault() {
    let dir = TempDir::new();
    let (cert, key) = self_signed(&dir);
    let missing = dir.0.join("missing.pem");
    let e = file_error(&missing, &key);
    assert!(
        e.contains("certificate file") && e.contains("missing.pem") && e.contains("cannot read"),
        "{e}"
    );
    let e = file_error(&cert, &missing);
    assert!(
        e.contains("private key file") && e.contains("missing.pem"),
        "{e}"
    );
    // The files swapped: no certificate in the key file, no key in the certificate file.
    let e = file_error(&key, &cert);
    assert!(
        e.contains("holds no PEM certificate") && e.contains("key.pem"),
        "{e}"
    );
    let e = file_error(&cert, &cert);
    assert!(
        e.contains("holds no PEM private key") && e.contains("cert.pem"),
        "{e}"
    );
    // Not PEM at all.
    let junk = dir.write("junk.pem", "hello\n");
    assert!(file_error(&junk, &key).contains("holds no PEM certificate"));
    // A PEM block whose base64 is broken.
    let broken = dir.write(
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    );
    let e = file_error(&broken, &key);
    assert!(
        e.contains("broken.pem") && e.contains("not a valid PEM file"),
        "{e}"
    );
    // A key that is not the certificate's.
    let other = TempDir::new();
    let (_, other_key) = self_signed(&other);
    let e = file_error(&cert, &other_key);
    assert!(
        e.contains("cannot be used together") && e.contains("cert.pem"),
        "{e}"
    );
    // A directory.
    let e = file_error(&dir.0, &key);
    assert!(e.contains("cannot read"), "{e}");
    // The error says which file through its fields too.
    match LobbyTls::from_pem_files(&cert, &missing) {
        Err(TlsFileError::Read { kind, path, .. }) => {
            assert_eq!((kind, path), (PemKind::PrivateKey, missing.clone()))
        }
        other => panic!("{other:?}"),
    }
    // And the CA file of a client.
    match TlsTrust::from_ca_file(&key) {
        Err(e) => assert!(e.to_string().contains("CA certificate file"), "{e}"),
        Ok(_) => panic!("a key accepted as a CA"),
    }
}
