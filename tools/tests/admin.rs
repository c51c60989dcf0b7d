//! `tickwire serve --admin ADDR`: see who is connected and kick a player, on real sockets
//! against the real binary.
#[path = "support/killed.rs"]
mod killed;
use killed::Killed;

#[path = "../../tests/common/mod.rs"]
mod common;

use common::net::{NetClient, PATIENCE};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use tickwire::wire::Kind;
use tickwire_tools::common::first_line;

/// A server with the admin endpoint: it, its game address and its admin address.
fn server(extra: &[&str]) -> (Killed, SocketAddr, SocketAddr) {
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(["serve", "--bind", "127.0.0.1:0", "--lobby", "off"])
            .args(["--admin", "127.0.0.1:0", "--stats-interval-ms", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (line, _) = first_line(BufReader::new(child.0.stdout.take().unwrap()), PATIENCE).unwrap();
    let mut udp = None;
    let mut admin = None;
    for word in line.split_whitespace() {
        match word.split_once('=') {
            Some(("udp", a)) => udp = Some(a.parse().unwrap()),
            Some(("admin", a)) => admin = Some(a.parse().unwrap()),
            _ => {}
        }
    }
    (child, udp.expect(&line), admin.expect(&line))
}

/// One operator connection.
struct Operator {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Operator {
    fn new(at: SocketAddr) -> Operator {
        let w = TcpStream::connect(at).unwrap();
        w.set_read_timeout(Some(PATIENCE)).unwrap();
        let r = BufReader::new(w.try_clone().unwrap());
        Operator { w, r }
    }

    /// Sends `line` and returns the reply's lines up to and with its `ok`/`error` line.
    fn ask(&mut self, line: &str) -> Vec<String> {
        self.w.write_all(format!("{line}\n").as_bytes()).unwrap();
        self.read_reply()
    }

    fn read_reply(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut l = String::new();
            let n = self.r.read_line(&mut l).unwrap();
            assert!(n > 0, "closed after {lines:?}");
            let l = l.trim_end().to_string();
            let last = l.starts_with("ok") || l.starts_with("error");
            lines.push(l);
            if last {
                return lines;
            }
        }
    }

    /// Whether the server closed the connection within the patience: end of stream, or a
    /// reset (closing with unread bytes, as after a line too long, resets).
    fn closed(&mut self) -> bool {
        let mut l = String::new();
        match self.r.read_line(&mut l) {
            Ok(n) => n == 0,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

#[test]
fn players_lists_who_is_connected_and_kick_disconnects_one() {
    let (_server, udp, admin) = server(&[]);
    let mut op = Operator::new(admin);
    assert_eq!(op.ask("players"), ["ok 0 player(s)"]);

    let mut a = NetClient::new(udp);
    a.connect();
    let mut b = NetClient::new(udp);
    b.connect();
    assert!(a.wait_for(Kind::Snapshot, PATIENCE).is_some());
    assert!(b.wait_for(Kind::Snapshot, PATIENCE).is_some());

    let listed = op.ask("players");
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(listed[2], "ok 2 player(s)");
    let line_a = format!(
        "player match=0 qport={} addr={} rtt_ms=",
        a.c.qport, a.c.src
    );
    assert!(
        listed
            .iter()
            .any(|l| l.starts_with(&line_a) && l.ends_with(" name=-")),
        "{listed:?} lacks {line_a}"
    );

    let kicked = op.ask(&format!("kick 0 {}", a.c.qport));
    assert_eq!(kicked, [format!("ok kicked match 0 qport {}", a.c.qport)]);
    assert!(
        a.wait_for(Kind::Bye, PATIENCE).is_some(),
        "the kicked player gets BYE"
    );

    let listed = op.ask("players");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed[0].contains(&format!("qport={} ", b.c.qport)),
        "{listed:?}"
    );
    assert!(
        b.wait_for(Kind::Snapshot, PATIENCE).is_some(),
        "the other one plays on"
    );

    let again = op.ask(&format!("kick 0 {}", a.c.qport));
    assert!(again[0].starts_with("error no player"), "{again:?}");
    assert!(op.ask("kick 5 1")[0].starts_with("error no player"));
}

#[test]
fn bad_requests_get_an_error_and_long_lines_close() {
    let (_server, _udp, admin) = server(&[]);
    let mut op = Operator::new(admin);
    for bad in [
        "bogus",
        "kick",
        "kick 0",
        "kick x 1",
        "kick 0 300",
        "players now",
    ] {
        let r = op.ask(bad);
        assert_eq!(r.len(), 1, "{bad}: {r:?}");
        assert!(r[0].starts_with("error"), "{bad}: {r:?}");
    }
    assert!(op.ask("help")[0].starts_with("ok commands:"));
    assert_eq!(op.ask("quit"), ["ok bye"]);
    assert!(op.closed());

    let mut op = Operator::new(admin);
    op.w.write_all(&[b'x'; 2000]).unwrap();
    assert_eq!(op.read_reply(), ["error line too long"]);
    assert!(op.closed());
    // The endpoint still serves others.
    assert_eq!(Operator::new(admin).ask("players"), ["ok 0 player(s)"]);
}

#[test]
fn one_operator_too_many_is_told_busy() {
    let (_server, _udp, admin) = server(&[]);
    let mut ops: Vec<Operator> = (0..tickwire_tools::admin::MAX_CONNS)
        .map(|_| Operator::new(admin))
        .collect();
    for op in &mut ops {
        assert_eq!(op.ask("players"), ["ok 0 player(s)"]);
    }
    let mut extra = Operator::new(admin);
    assert_eq!(extra.read_reply(), ["error busy"]);
    assert!(extra.closed());
    drop(ops.pop());
    // A freed place is taken again (the server notices the close when it reads it).
    let end = std::time::Instant::now() + PATIENCE;
    loop {
        let mut op = Operator::new(admin);
        if op.read_reply_or_busy() {
            break;
        }
        assert!(std::time::Instant::now() < end, "no place freed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

impl Operator {
    /// Asks `players`: `true` when answered, `false` when told busy.
    fn read_reply_or_busy(&mut self) -> bool {
        let _ = self.w.write_all(b"players\n");
        match self.read_reply().as_slice() {
            [one] if one == "error busy" => false,
            [one] => {
                assert_eq!(one, "ok 0 player(s)");
                true
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn admin_is_off_by_default_and_a_port_means_loopback() {
    let cfg = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .arg("serve")
            .args(args)
            .arg("--print-config")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(cfg(&[]).contains("\n# admin = (not set"));
    assert!(cfg(&["--admin", "[::1]:7779"]).contains("\nadmin = \"[::1]:7779\"\n"));
    // A bare port listens on 127.0.0.1.
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--lobby",
                "off",
                "--admin",
                "0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (line, _) = first_line(BufReader::new(child.0.stdout.take().unwrap()), PATIENCE).unwrap();
    let admin: SocketAddr = line
        .trim()
        .rsplit_once(" admin=")
        .expect(&line)
        .1
        .parse()
        .unwrap();
    assert_eq!(admin.ip(), std::net::Ipv4Addr::LOCALHOST, "{line}");
    assert_eq!(Operator::new(admin).ask("players"), ["ok 0 player(s)"]);
}
