//! One baccarat round end to end over real sockets (127.0.0.1, port 0): two lobby clients
//! open a table, bet through the client library, and both hear the same ROUND_NTF, whose
//! results match their chips. Waits are bounded by PATIENCE; a bet that the machine's load
//! made miss its round (14 betting closed) is placed in the next one.

mod common;

use common::lobby::{TestLobby, PATIENCE};
use std::time::Instant;
use tickwire::client::lobby::{Error, LobbyClient, Message, Payout, Side, Status};
use tickwire::lobby::LobbyConfig;

/// The next message that `pick` takes, skipping the others; panics after [`PATIENCE`].
fn next<T>(c: &mut LobbyClient, mut pick: impl FnMut(&Message) -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out");
        if let Some(m) = c.recv(left).expect("recv") {
            if let Some(t) = pick(&m) {
                return t;
            }
        }
    }
}

fn round_open(m: &Message) -> Option<u32> {
    match m {
        Message::RoundOpenNtf { round, bet_ms } => {
            assert_eq!(*bet_ms, 1000);
            Some(*round)
        }
        _ => None,
    }
}

/// The net result of a bet of `amount` on `side` when `winner` won (0.95:1 rounded down
/// for the banker, 8:1 for a tie, pushes on a tie).
fn net(side: Side, amount: u32, winner: u8) -> i32 {
    let a = amount as i32;
    match (side as u8, winner) {
        (0, 0) => a,
        (1, 1) => a * 19 / 20,
        (2, 2) => 8 * a,
        (0 | 1, 2) => 0,
        _ => -a,
    }
}

#[test]
fn one_round_over_tcp() {
    let lobby = TestLobby::start(LobbyConfig::default());
    let (mut a, ua) = lobby.user("ann");
    let (mut b, ub) = lobby.user("bob");
    let room = a.create_room("casino", 4).unwrap();
    b.enter_room(room).unwrap();
    assert!(matches!(
        b.bet(Side::Player, 1),
        Err(Error::Refused(Status::NoTable))
    ));
    assert!(matches!(
        a.open_table(999),
        Err(Error::Refused(Status::BadRequest))
    ));
    a.open_table(1000).unwrap();
    assert!(matches!(
        b.open_table(1000),
        Err(Error::Refused(Status::TableAlreadyOpen))
    ));
    let r = next(&mut a, round_open);
    assert_eq!(next(&mut b, round_open), r);
    assert_eq!(r, 1);
    // Each bets once; a bet that a loaded machine delivered after betting closed (14) is
    // placed in the next round. Every ROUND_NTF until both are settled is checked.
    let mut players = [
        (&mut a, ua, Side::Banker, 100u32, None::<u32>, 1000u32),
        (&mut b, ub, Side::Player, 50u32, None::<u32>, 1000u32),
    ];
    let mut round = r;
    for _ in 0..10 {
        for (c, _, side, amount, landed, chips) in players.iter_mut() {
            if landed.is_none() {
                match c.bet(*side, *amount) {
                    Ok(left) => {
                        assert_eq!(left, *chips - *amount);
                        *landed = Some(round);
                    }
                    Err(Error::Refused(Status::BettingClosed)) => {}
                    Err(e) => panic!("bet: {e}"),
                }
            }
        }
        if players[1].4 == Some(round) {
            let c = &mut *players[1].0;
            assert!(matches!(
                c.bet(Side::Player, 1),
                Err(Error::Refused(Status::BadRequest | Status::BettingClosed))
            ));
            assert!(matches!(
                c.bet(Side::Tie, 5000),
                Err(Error::Refused(
                    Status::NotEnoughChips | Status::BettingClosed
                ))
            ));
        }
        let ntf = |m: &Message| match m {
            Message::RoundNtf { round: n, .. } if *n == round => Some(m.clone()),
            _ => None,
        };
        let seen = next(&mut *players[0].0, ntf);
        assert_eq!(
            next(&mut *players[1].0, ntf),
            seen,
            "the room hears one ROUND_NTF"
        );
        let Message::RoundNtf {
            winner, results, ..
        } = &seen
        else {
            unreachable!()
        };
        let mut want = Vec::new();
        for (_, user, side, amount, landed, chips) in players.iter_mut() {
            if *landed == Some(round) {
                let d = net(*side, *amount, *winner);
                *chips = (*chips as i32 + d) as u32;
                want.push(Payout {
                    user: *user,
                    delta: d,
                    chips: *chips,
                });
            }
        }
        assert_eq!(results, &want, "round {round}");
        round = next(&mut *players[0].0, round_open);
        assert_eq!(next(&mut *players[1].0, round_open), round);
        if players.iter().all(|p| p.4.is_some()) {
            break;
        }
    }
    assert!(players.iter().all(|p| p.4.is_some()), "both bets placed");
    let (ca, cb) = (players[0].5, players[1].5);
    assert_eq!(a.chips().unwrap(), ca);
    assert_eq!(b.chips().unwrap(), cb);
    assert!(round >= 2, "the next round opened 1000 ms after ROUND_NTF");
    assert_eq!(lobby.stats().tables, 1);
    drop((a, b));
    lobby.wait_for("the table to stop with its room", |s| {
        s.tables == 0 && s.rooms == 0
    });
    assert_eq!(lobby.stop().errors, [0; 4]);
}

/// A host with a lobby, seeded, running on its own thread until dropped.
struct SeededHost {
    lobby: std::net::SocketAddr,
    stopper: tickwire::Stopper,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SeededHost {
    fn start(seed: u64) -> SeededHost {
        let mut cfg = tickwire::HostConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            stats_interval: None,
            lobby: Some(("127.0.0.1:0".parse().unwrap(), LobbyConfig::default())),
            ..tickwire::HostConfig::default()
        };
        cfg.server.seed = Some(seed);
        let mut host = tickwire::Host::bind(cfg, |i| tickwire::Arena::new(i as u64)).expect("bind");
        let lobby = host.lobby_addr().expect("a lobby");
        let stopper = host.stopper();
        let thread = std::thread::spawn(move || host.run().expect("run"));
        SeededHost {
            lobby,
            stopper,
            thread: Some(thread),
        }
    }

    /// The cards of round 1 of a table opened in a fresh room.
    fn first_hand(&self) -> ([u8; 3], [u8; 3]) {
        let mut c = LobbyClient::connect(self.lobby).expect("connect");
        c.login("ann").expect("login");
        c.create_room("den", 2).expect("room");
        c.open_table(1000).expect("table");
        next(&mut c, |m| match m {
            Message::RoundNtf {
                round: 1,
                player,
                banker,
                results,
                ..
            } => {
                assert!(results.is_empty());
                Some((*player, *banker))
            }
            _ => None,
        })
    }
}

impl Drop for SeededHost {
    fn drop(&mut self) {
        self.stopper.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The host's seed reaches the lobby's tables (its room-games stream): the same seed deals
/// the same first hand, another seed another one.
#[test]
fn a_seeded_host_deals_the_same_shoe() {
    let hosts = [
        SeededHost::start(7),
        SeededHost::start(7),
        SeededHost::start(8),
    ];
    let hands: Vec<_> = std::thread::scope(|s| {
        let running: Vec<_> = hosts.iter().map(|h| s.spawn(|| h.first_hand())).collect();
        running
            .into_iter()
            .map(|t| t.join().expect("client"))
            .collect()
    });
    assert_eq!(hands[0], hands[1]);
    assert_ne!(hands[0], hands[2]);
}
