//! The lobby runs out of file descriptors (issue 11 item 4) and recovers. A dedicated test
//! binary: it lowers this process's `RLIMIT_NOFILE` and fills the descriptor table, which
//! would disturb any other test running beside it.
//!
//! The burst of connections comes from a child process (this same binary, running only
//! [`burst_child`]), whose descriptors are its own: while the parent's table is full, the
//! lobby's `accept` fails with EMFILE. More connections arrive than the listener's queue
//! holds (1024, mio's backlog), so a lobby that leaves them queued never sees readiness
//! again. Bounded: a fixed number of connects with a fixed timeout each; nothing waits on a
//! clock for the outcome.

mod common;

use common::lobby::{TestLobby, PATIENCE};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;
use tickwire::client::lobby::LobbyClient;
use tickwire::lobby::LobbyConfig;

const CHILD_ENV: &str = "TICKWIRE_LOBBY_EMFILE_BURST";
/// More than the listener's queue (mio listens with a backlog of 1024).
const BURST: usize = 1100;

/// The child's part: a no-op unless [`the_lobby_accepts_again_after_running_out_of_fds`]
/// started this binary with the lobby's address in `CHILD_ENV`. Waits for one byte on
/// stdin, then connects `BURST` times, closing each connection at once.
#[test]
fn burst_child() {
    let Ok(addr) = std::env::var(CHILD_ENV) else {
        return;
    };
    let addr: SocketAddr = addr.parse().expect("address");
    let mut go = [0u8; 1];
    std::io::stdin().read_exact(&mut go).expect("go");
    let mut connected = 0;
    for _ in 0..BURST {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            connected += 1;
            drop(s);
        }
    }
    println!("burst connected {connected}");
}

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count() as u64
}

// rlim_t is u64 on 64-bit Linux.
fn set_soft_fd_limit(soft: u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write one rlimit we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
        r.rlim_cur = soft.min(r.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &r), 0);
    }
}

#[test]
fn the_lobby_accepts_again_after_running_out_of_fds() {
    let lobby = TestLobby::start(LobbyConfig::default());
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", "burst_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, lobby.addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the burst");
    // A small limit, then every descriptor under it taken: the lobby can accept nothing.
    set_soft_fd_limit(open_fds() + 64);
    let mut filler = Vec::new();
    while let Ok(f) = File::open("/dev/null") {
        filler.push(f);
        assert!(filler.len() < 1000, "the limit did not hold");
    }
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"!")
        .expect("go");
    let out = child.wait_with_output().expect("burst");
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("burst connected"), "{said}");
    // The burst is over and every descriptor is free again: a new login must succeed.
    drop(filler);
    let stats = lobby.stats();
    assert!(
        stats.refused_no_fd > 0,
        "the lobby never ran out: {stats:?}"
    );
    let mut c = LobbyClient::connect(lobby.addr).expect("connect");
    c.set_timeout(PATIENCE);
    c.login("after").expect("a login after the burst");
    assert_eq!(c.echo(b"ok").unwrap(), b"ok");
    eprintln!("{}; {stats:?}", said.trim());
    let s = lobby.wait_for("the burst closed", |s| s.conns == 1);
    assert_eq!(s.users, 1);
    lobby.stop();
}
