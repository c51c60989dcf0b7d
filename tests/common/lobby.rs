//! Runs a [`Lobby`] on its own `mio::Poll` in a thread until dropped. The ticket table is
//! an `Rc`, so it lives in that thread; tests reach it and the stats through commands.

use mio::{Events, Poll, Token, Waker};
use std::net::SocketAddr;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tickwire::client::lobby::LobbyClient;
use tickwire::lobby::{Lobby, LobbyConfig, LobbyStats};
use tickwire::{Holder, Tickets};

/// Generous bound for anything a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(20);

const WAKE: Token = Token(usize::MAX);

enum Cmd {
    Stats(Sender<LobbyStats>),
    TicketValid(u64, Sender<bool>),
    Redeem(u64, Sender<Option<Holder>>),
    Stop,
}

/// A lobby running in a thread.
pub struct TestLobby {
    /// Where it listens (127.0.0.1, a port the OS chose).
    pub addr: SocketAddr,
    tx: Sender<Cmd>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<LobbyStats>>,
}

impl TestLobby {
    pub fn start(cfg: LobbyConfig) -> TestLobby {
        let (tx, rx) = channel();
        let (ready_tx, ready_rx) = channel();
        let thread = std::thread::spawn(move || {
            let mut poll = Poll::new().expect("poll");
            let waker = Arc::new(Waker::new(poll.registry(), WAKE).expect("waker"));
            let tickets = Tickets::new(cfg.max_conns);
            let any = "127.0.0.1:0".parse().expect("addr");
            let mut lobby = Lobby::bind(any, cfg, tickets.clone()).expect("bind");
            lobby.register(poll.registry(), 0).expect("register");
            ready_tx.send((lobby.local_addr(), waker)).expect("ready");
            let mut events = Events::with_capacity(256);
            loop {
                let timeout = if lobby.has_pending() {
                    Some(std::time::Duration::ZERO)
                } else {
                    lobby
                        .next_timeout()
                        .map(|t| t.saturating_duration_since(Instant::now()))
                };
                if let Err(e) = poll.poll(&mut events, timeout) {
                    assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "{e}");
                }
                let now = Instant::now();
                for ev in events.iter() {
                    if ev.token() == WAKE {
                        continue;
                    }
                    assert!(lobby.owns(ev.token()), "stray token {:?}", ev.token());
                    lobby.handle_event(poll.registry(), ev, now);
                }
                lobby.run_pending(poll.registry(), now);
                if lobby.next_timeout().is_some_and(|t| t <= now) {
                    lobby.handle_timeout(poll.registry(), now);
                }
                while let Ok(cmd) = rx.try_recv() {
                    match cmd {
                        Cmd::Stats(r) => drop(r.send(lobby.stats())),
                        Cmd::TicketValid(t, r) => drop(r.send(tickets.is_valid(t))),
                        Cmd::Redeem(t, r) => drop(r.send(tickets.redeem(t))),
                        Cmd::Stop => {
                            lobby.shutdown(poll.registry());
                            return lobby.stats();
                        }
                    }
                }
            }
        });
        let (addr, waker) = ready_rx.recv_timeout(PATIENCE).expect("lobby start");
        TestLobby {
            addr,
            tx,
            waker,
            thread: Some(thread),
        }
    }

    fn ask<R>(&self, cmd: impl FnOnce(Sender<R>) -> Cmd) -> R {
        let (tx, rx) = channel();
        self.tx.send(cmd(tx)).expect("lobby thread gone");
        self.waker.wake().expect("wake");
        rx.recv_timeout(PATIENCE).expect("lobby thread answer")
    }

    pub fn stats(&self) -> LobbyStats {
        self.ask(Cmd::Stats)
    }

    pub fn ticket_valid(&self, ticket: u64) -> bool {
        self.ask(|r| Cmd::TicketValid(ticket, r))
    }

    pub fn redeem(&self, ticket: u64) -> Option<Holder> {
        self.ask(|r| Cmd::Redeem(ticket, r))
    }

    /// Polls the stats until `f` holds; panics after [`PATIENCE`].
    pub fn wait_for(&self, what: &str, f: impl Fn(&LobbyStats) -> bool) -> LobbyStats {
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

    pub fn client(&self) -> LobbyClient {
        let c = LobbyClient::connect(self.addr).expect("connect");
        c.stream()
            .set_write_timeout(Some(PATIENCE))
            .expect("write timeout");
        c
    }

    /// A logged-in client.
    pub fn user(&self, name: &str) -> (LobbyClient, u32) {
        let mut c = self.client();
        let login = c.login(name).expect("login");
        (c, login.user)
    }

    /// Stops the lobby thread; returns its last stats.
    pub fn stop(mut self) -> LobbyStats {
        self.stop_inner().expect("lobby thread")
    }

    fn stop_inner(&mut self) -> Option<LobbyStats> {
        let thread = self.thread.take()?;
        let _ = self.tx.send(Cmd::Stop);
        let _ = self.waker.wake();
        thread.join().ok()
    }
}

impl Drop for TestLobby {
    fn drop(&mut self) {
        self.stop_inner();
    }
}
