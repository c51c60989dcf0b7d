//! Baccarat tables in lobby rooms (PROTOCOL.md section 7.1) through the sans-IO core, with
//! injected time: rounds, the refusal order, leavers and entrants, 100 bettors at once with
//! every chip accounted for, the table stopping with its room, seeded replay.

use super::*;
use crate::lobby::msg::Payout;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A harness whose ticket table takes `users` logins.
fn lobby(users: usize) -> H {
    let tickets = Tickets::new(users);
    let cfg = LobbyConfig {
        max_conns_per_ip: users,
        ..LobbyConfig::default()
    };
    let mut core = LobbyCore::new(cfg, tickets.clone());
    core.set_game_seed(1);
    H {
        core,
        tickets,
        now: Instant::now(),
        closed: Vec::new(),
    }
}

impl H {
    /// Time passes by `d`; the lobby handles its timeouts.
    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.core.handle_timeout(self.now);
        self.pump();
    }

    fn enter(&mut self, id: usize, room: u32) {
        let m = self.req(id, Request::RoomEnter { room });
        assert_eq!(
            m.first().and_then(Message::result),
            Some(Status::Ok),
            "{m:?}"
        );
    }

    fn bet(&mut self, id: usize, side: u8, amount: u32) -> Vec<Message> {
        self.req(id, Request::Bet { side, amount })
    }

    /// The BET_RES of a bet (what was queued before is dropped).
    fn bet_status(&mut self, id: usize, side: u8, amount: u32) -> Status {
        self.take(id);
        let m = self.bet(id, side, amount);
        match m.first() {
            Some(Message::BetRes { result, chips }) => {
                if *result != Status::Ok {
                    assert_eq!((*chips, m.len()), (0, 1), "a refusal is zeroed, alone");
                }
                *result
            }
            other => panic!("{other:?}"),
        }
    }

    fn chips(&mut self, id: usize) -> u32 {
        match self.req(id, Request::Chips).as_slice() {
            [Message::ChipsRes {
                result: Status::Ok,
                chips,
            }] => *chips,
            other => panic!("{other:?}"),
        }
    }
}

/// A hand's value, read from the cards independently of the game's code.
fn hand_value(cards: [u8; 3]) -> u32 {
    let v = |c: u8| match c {
        0 => 0,
        c if (c - 1) % 13 + 1 >= 10 => 0,
        c => u32::from((c - 1) % 13 + 1),
    };
    cards.iter().map(|&c| v(c)).sum::<u32>() % 10
}

fn winner_of(player: [u8; 3], banker: [u8; 3]) -> u8 {
    let (p, b) = (hand_value(player), hand_value(banker));
    match () {
        _ if p > b => 0,
        _ if b > p => 1,
        _ => 2,
    }
}

/// The net result of `bets` (side, amount) when `winner` won, by the payout table.
fn net(bets: &[(u8, u32)], winner: u8) -> i64 {
    bets.iter()
        .map(|&(side, a)| {
            let a = i64::from(a);
            match (side, winner) {
                (0, 0) => a,
                (1, 1) => a * 19 / 20, // 0.95:1, rounded down
                (2, 2) => 8 * a,
                (0 | 1, 2) => 0, // push
                _ => -a,
            }
        })
        .sum()
}

/// The one ROUND_NTF in `m`.
fn round_ntf(m: &[Message]) -> (u32, [u8; 3], [u8; 3], u8, Vec<Payout>) {
    match m {
        [Message::RoundNtf {
            round,
            player,
            banker,
            winner,
            results,
        }] => (*round, *player, *banker, *winner, results.clone()),
        other => panic!("expected one ROUND_NTF, got {other:?}"),
    }
}

#[test]
fn a_table_opens_takes_bets_deals_and_opens_the_next_round() {
    let mut h = lobby(8);
    let (a, ua) = h.login("ann");
    let (b, ub) = h.login("bob");
    let room = h.create_room(a, "casino", 8);
    h.enter(b, room);
    h.take(a);
    // The opener hears its RES before the room hears of the round.
    assert_eq!(
        h.req(a, Request::TableOpen { bet_ms: 1000 }),
        [
            Message::TableOpenRes { result: Status::Ok },
            Message::RoundOpenNtf {
                round: 1,
                bet_ms: 1000
            }
        ]
    );
    assert_eq!(
        h.take(b),
        [Message::RoundOpenNtf {
            round: 1,
            bet_ms: 1000
        }]
    );
    assert_eq!(h.core.stats().tables, 1);
    assert_eq!(h.core.next_timeout(), Some(h.now + ms(1000)));
    // Chips are taken at bet time; everyone in the room hears of the bet.
    assert_eq!(
        h.bet(a, 1, 100),
        [
            Message::BetRes {
                result: Status::Ok,
                chips: 900
            },
            Message::BetNtf {
                user: ua,
                side: 1,
                amount: 100
            }
        ]
    );
    assert_eq!(
        h.take(b),
        [Message::BetNtf {
            user: ua,
            side: 1,
            amount: 100
        }]
    );
    assert_eq!(h.bet_status(b, 0, 50), Status::Ok);
    assert_eq!(h.bet_status(b, 2, 10), Status::Ok);
    assert_eq!(
        h.take(a),
        [
            Message::BetNtf {
                user: ub,
                side: 0,
                amount: 50
            },
            Message::BetNtf {
                user: ub,
                side: 2,
                amount: 10
            }
        ]
    );
    assert_eq!(h.chips(a), 900);
    assert_eq!(h.chips(b), 940);
    h.advance(ms(999));
    assert!(h.take(a).is_empty() && h.take(b).is_empty());
    h.advance(ms(1));
    let seen = h.take(b);
    assert_eq!(h.take(a), seen, "the room hears one ROUND_NTF");
    let (round, player, banker, winner, results) = round_ntf(&seen);
    assert_eq!(round, 1);
    assert_eq!(winner, winner_of(player, banker));
    let da = net(&[(1, 100)], winner);
    let db = net(&[(0, 50), (2, 10)], winner);
    assert_eq!(
        results,
        [
            Payout {
                user: ua,
                delta: da as i32,
                chips: (1000 + da) as u32
            },
            Payout {
                user: ub,
                delta: db as i32,
                chips: (1000 + db) as u32
            }
        ]
    );
    assert_eq!(i64::from(h.chips(a)), 1000 + da);
    assert_eq!(i64::from(h.chips(b)), 1000 + db);
    assert_eq!(h.core.table_ledger(room), Some(-(da + db)));
    // Between rounds: closed. 1000 ms after ROUND_NTF the next round opens.
    assert_eq!(h.bet_status(a, 0, 1), Status::BettingClosed);
    assert_eq!(h.core.next_timeout(), Some(h.now + ms(1000)));
    h.advance(ms(1000));
    assert_eq!(
        h.take(a),
        [Message::RoundOpenNtf {
            round: 2,
            bet_ms: 1000
        }]
    );
    assert_eq!(h.bet_status(a, 0, 1), Status::Ok);
    // A round nobody bet in is dealt all the same, listing nobody.
    h.advance(ms(2000));
    h.take(a);
    h.advance(ms(1000));
    h.take(b);
    h.advance(ms(1000));
    let (round, .., results) = round_ntf(&h.take(b));
    assert_eq!((round, results), (3, vec![]));
}

#[test]
fn bets_and_tables_are_refused_in_the_documented_order() {
    let mut h = lobby(8);
    // 3: not logged in.
    let anon = h.open();
    assert_eq!(h.bet_status(anon, 3, 0), Status::NotLoggedIn);
    for r in [Request::TableOpen { bet_ms: 1000 }, Request::Chips] {
        assert_eq!(status(&h.req(anon, r)), [Some(Status::NotLoggedIn)]);
    }
    // 7: not in a room (CHIPS needs only a login).
    let (a, _) = h.login("ann");
    assert_eq!(h.bet_status(a, 3, 0), Status::NotInRoom);
    assert_eq!(
        h.req(a, Request::TableOpen { bet_ms: 0 }),
        [Message::TableOpenRes {
            result: Status::NotInRoom
        }]
    );
    assert_eq!(h.chips(a), 1000);
    // 13: no table, whatever the bet.
    h.create_room(a, "den", 4);
    assert_eq!(h.bet_status(a, 3, 0), Status::NoTable);
    assert_eq!(h.bet_status(a, 0, 10), Status::NoTable);
    // bet ms outside 1000..=60000: 10; then 12 once a table is open.
    for bet_ms in [0, 999, 60001, u16::MAX] {
        let m = h.req(a, Request::TableOpen { bet_ms });
        assert_eq!(status(&m), [Some(Status::BadRequest)], "{bet_ms}");
    }
    assert_eq!(h.core.stats().tables, 0);
    assert_eq!(
        status(&h.req(a, Request::TableOpen { bet_ms: 60000 })),
        [Some(Status::Ok), None]
    );
    assert_eq!(
        status(&h.req(a, Request::TableOpen { bet_ms: 1000 })),
        [Some(Status::TableAlreadyOpen)]
    );
    // 10: bad side or amount 0, before anything else the game checks.
    assert_eq!(h.bet_status(a, 3, 10), Status::BadRequest);
    assert_eq!(h.bet_status(a, 255, 10), Status::BadRequest);
    assert_eq!(h.bet_status(a, 0, 0), Status::BadRequest);
    assert_eq!(h.bet_status(a, 3, 5000), Status::BadRequest);
    // 15: more than the chips.
    assert_eq!(h.bet_status(a, 0, 1001), Status::NotEnoughChips);
    assert_eq!(h.bet_status(a, 0, u32::MAX), Status::NotEnoughChips);
    assert_eq!(h.bet_status(a, 0, 1000), Status::Ok);
    // 10: that side again this round (before 15: the chips are gone now).
    assert_eq!(h.bet_status(a, 0, 5), Status::BadRequest);
    assert_eq!(h.bet_status(a, 1, 5), Status::NotEnoughChips);
    assert_eq!(h.chips(a), 0);
    // 14: betting closed, from the instant it closes; 10 still comes first.
    h.advance(ms(59_999));
    h.take(a);
    h.now += ms(1); // not handled yet: the deadline alone closes betting
    assert_eq!(h.bet_status(a, 1, 5), Status::BettingClosed);
    assert_eq!(h.bet_status(a, 3, 5), Status::BadRequest);
    h.advance(ms(0));
    let (.., results) = round_ntf(&h.take(a));
    assert_eq!(results.len(), 1);
    assert_eq!(h.bet_status(a, 1, 5000), Status::BettingClosed);
    assert_eq!(h.bet_status(a, 0, 0), Status::BadRequest);
    // Nothing else ever went out: no ERROR, no stray message.
    assert_eq!(h.core.stats().errors, [0; 4]);
}

#[test]
fn a_member_who_leaves_mid_round_forfeits_and_is_listed() {
    let mut h = lobby(8);
    let (a, ua) = h.login("ann");
    let (b, ub) = h.login("bob");
    let (c, uc) = h.login("cy");
    let room = h.create_room(a, "den", 8);
    h.enter(b, room);
    h.enter(c, room);
    h.req(a, Request::TableOpen { bet_ms: 5000 });
    assert_eq!(h.bet_status(b, 0, 100), Status::Ok);
    assert_eq!(h.bet_status(b, 2, 50), Status::Ok);
    assert_eq!(h.bet_status(c, 1, 200), Status::Ok);
    assert_eq!(h.bet_status(a, 1, 10), Status::Ok);
    // bob leaves the room; cy's connection closes (cy logs out).
    h.take(b);
    assert_eq!(status(&h.req(b, Request::RoomLeave)), [Some(Status::Ok)]);
    h.core.peer_closed(c);
    h.pump();
    let told: Vec<_> = h
        .take(a)
        .into_iter()
        .filter(|m| matches!(m, Message::RoomUserLeaveNtf { .. }))
        .collect();
    assert_eq!(
        told,
        [
            Message::RoomUserLeaveNtf { user: ub },
            Message::RoomUserLeaveNtf { user: uc }
        ]
    );
    h.advance(ms(5000));
    let (_, player, banker, winner, results) = round_ntf(&h.take(a));
    assert!(h.take(b).is_empty(), "bob is not in the room any more");
    assert_eq!(winner, winner_of(player, banker));
    let da = net(&[(1, 10)], winner);
    assert_eq!(
        results,
        [
            Payout {
                user: ub,
                delta: -150,
                chips: 850
            },
            Payout {
                user: uc,
                delta: -200,
                chips: 0
            },
            Payout {
                user: ua,
                delta: da as i32,
                chips: (1000 + da) as u32
            },
        ]
    );
    assert_eq!(h.chips(b), 850, "the stakes stay with the house");
    assert_eq!(h.core.table_ledger(room), Some(350 - da));
    // bob comes back next round and plays as anyone.
    h.advance(ms(1000));
    h.enter(b, room);
    assert_eq!(h.take(b), []);
    assert_eq!(h.bet_status(b, 0, 850), Status::Ok);
}

#[test]
fn a_member_who_comes_back_mid_round_cannot_bet_a_side_twice() {
    let mut h = lobby(8);
    let (a, _) = h.login("ann");
    let (b, ub) = h.login("bob");
    let room = h.create_room(a, "den", 8);
    h.enter(b, room);
    h.req(a, Request::TableOpen { bet_ms: 5000 });
    assert_eq!(h.bet_status(b, 0, 100), Status::Ok);
    h.req(b, Request::RoomLeave);
    h.enter(b, room);
    h.take(b);
    assert_eq!(h.bet_status(b, 0, 100), Status::BadRequest);
    assert_eq!(h.bet_status(b, 1, 100), Status::Ok);
    h.take(a);
    h.advance(ms(5000));
    let (.., winner, results) = round_ntf(&h.take(a));
    let live = net(&[(1, 100)], winner);
    assert_eq!(
        results,
        [Payout {
            user: ub,
            delta: (live - 100) as i32,
            chips: (900 + live) as u32
        }]
    );
}

#[test]
fn an_entrant_hears_the_time_left_to_bet() {
    let mut h = lobby(8);
    let (a, _) = h.login("ann");
    let (b, _) = h.login("bob");
    let (c, _) = h.login("cy");
    let room = h.create_room(a, "den", 8);
    h.req(a, Request::TableOpen { bet_ms: 10_000 });
    h.advance(ms(2500));
    let m = h.req(b, Request::RoomEnter { room });
    assert!(matches!(m[0], Message::RoomEnterRes { .. }), "{m:?}");
    assert_eq!(
        m[1..],
        [Message::RoundOpenNtf {
            round: 1,
            bet_ms: 7500
        }]
    );
    h.advance(ms(7500));
    h.take(a);
    // Between rounds: nothing until the next round opens, then the usual NTF.
    let m = h.req(c, Request::RoomEnter { room });
    assert_eq!(m.len(), 1, "{m:?}");
    h.advance(ms(1000));
    assert_eq!(
        h.take(c),
        [Message::RoundOpenNtf {
            round: 2,
            bet_ms: 10_000
        }]
    );
}

#[test]
fn a_hundred_members_bet_at_once_and_every_chip_is_accounted_for() {
    const N: usize = 100;
    let mut h = lobby(N + 1);
    let users: Vec<(usize, u32)> = (0..N).map(|i| h.login(&format!("p{i}"))).collect();
    let room = h.create_room(users[0].0, "hall", 100);
    for &(id, _) in &users[1..] {
        h.enter(id, room);
    }
    let mut chips = vec![1000u32; N];
    h.req(users[0].0, Request::TableOpen { bet_ms: 1000 });
    let mut rng = StdRng::seed_from_u64(9);
    for round in 1..=12u32 {
        for &(id, _) in &users {
            h.take(id);
        }
        let mut bets: Vec<Vec<(u8, u32)>> = vec![Vec::new(); N];
        // Everyone bets within the same instant, in a shuffled order, sides at random.
        for _ in 0..3 * N {
            let i = rng.gen_range(0..N);
            let side = rng.gen_range(0..3u8);
            let amount = rng.gen_range(0..=chips[i] + 20);
            let (id, _) = users[i];
            let want = if amount == 0 || bets[i].iter().any(|&(s, _)| s == side) {
                Status::BadRequest
            } else if amount > chips[i] {
                Status::NotEnoughChips
            } else {
                Status::Ok
            };
            assert_eq!(h.bet_status(id, side, amount), want);
            if want == Status::Ok {
                chips[i] -= amount;
                bets[i].push((side, amount));
            }
        }
        h.advance(ms(1000));
        let first = h.take(users[0].0);
        for &(id, _) in &users[1..] {
            let m = h.take(id);
            assert_eq!(m.last(), first.last(), "everyone hears the same ROUND_NTF");
        }
        let (r, player, banker, winner, results) = round_ntf(&first[first.len() - 1..]);
        assert_eq!((r, winner), (round, winner_of(player, banker)));
        let bettors = bets.iter().filter(|b| !b.is_empty()).count();
        assert_eq!(results.len(), bettors);
        for p in &results {
            let i = users.iter().position(|&(_, u)| u == p.user).unwrap();
            let staked: u32 = bets[i].iter().map(|&(_, a)| a).sum();
            let d = net(&bets[i], winner);
            assert_eq!(i64::from(p.delta), d, "user {} round {round}", p.user);
            chips[i] = u32::try_from(i64::from(chips[i] + staked) + d).unwrap();
            assert_eq!(p.chips, chips[i]);
        }
        let held: i64 = users
            .iter()
            .map(|&(_, u)| i64::from(h.core.user_chips(u).unwrap()))
            .sum();
        let house = h.core.table_ledger(room).unwrap();
        assert_eq!(
            held + house,
            1000 * N as i64,
            "round {round}: no chip made or lost"
        );
        h.advance(ms(1000));
    }
    assert_eq!(h.core.stats().errors, [0; 4]);
    assert!(h.closed.is_empty(), "{:?}", h.closed);
}

#[test]
fn the_table_stops_when_the_room_empties() {
    let mut h = lobby(8);
    let (a, _) = h.login("ann");
    let (b, _) = h.login("bob");
    let room = h.create_room(a, "den", 8);
    h.enter(b, room);
    h.req(a, Request::TableOpen { bet_ms: 1000 });
    h.bet_status(b, 0, 100);
    assert_eq!(h.core.next_timeout(), Some(h.now + ms(1000)));
    h.req(a, Request::RoomLeave);
    h.core.peer_closed(b);
    h.pump();
    let s = h.core.stats();
    assert_eq!((s.rooms, s.tables), (0, 0));
    // Only the connections' own deadlines are left (idle: minutes away).
    assert!(h.core.next_timeout().unwrap() > h.now + Duration::from_secs(60));
    h.take(a);
    h.advance(ms(5000));
    assert!(h.take(a).is_empty());
    // A new room with the same members starts with no table.
    let room2 = h.create_room(a, "den", 8);
    assert_ne!(room2, room);
    assert_eq!(h.bet_status(a, 0, 1), Status::NoTable);
    // The round's lost stake is gone with the table: ann kept all hers.
    assert_eq!(h.chips(a), 1000);
}

#[test]
fn a_seeded_lobby_replays_its_tables() {
    let play = |seed: u64| {
        let mut h = lobby(4);
        h.core.set_game_seed(seed);
        let (a, _) = h.login("ann");
        h.create_room(a, "den", 2);
        h.req(a, Request::TableOpen { bet_ms: 1000 });
        let mut out = Vec::new();
        for _ in 0..30 {
            h.bet_status(a, 1, 1);
            h.advance(ms(1000));
            out.extend(h.take(a));
            h.advance(ms(1000));
        }
        out
    };
    let one = play(5);
    assert_eq!(one.len(), 30);
    assert!(one.iter().all(|m| matches!(m, Message::RoundNtf { .. })));
    assert_eq!(one, play(5));
    assert_ne!(one, play(6));
}
