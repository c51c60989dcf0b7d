//! The rules of baccarat as pure functions, checked against independent statements of
//! them: card values, naturals, the third-card tableau (exhaustively), payouts, the shoe.

use super::baccarat::*;

/// A card of value `v` (0..=9): a ten for 0, else the spade of that rank. Suit `s` picks
/// another copy.
fn card_of(v: u8, s: u8) -> u8 {
    let rank = if v == 0 { 10 } else { v };
    s * 13 + rank
}

/// The tableau as casinos print it, written out by hand: for the banker's two-card total
/// (row), whether it draws when the player's third card has value 0..=9 (column), and in
/// the last column when the player stood. D draws, S stands.
const TABLEAU: [&str; 10] = [
    "DDDDDDDDDD D", // 0
    "DDDDDDDDDD D", // 1
    "DDDDDDDDDD D", // 2
    "DDDDDDDDSD D", // 3
    "SSDDDDDDSS D", // 4
    "SSSSDDDDSS D", // 5
    "SSSSSSDDSS S", // 6
    "SSSSSSSSSS S", // 7
    "SSSSSSSSSS S", // 8 (a natural: never reached, both stand)
    "SSSSSSSSSS S", // 9
];

fn table_says(banker: u8, player_third: Option<u8>) -> bool {
    let row = TABLEAU[usize::from(banker)].as_bytes();
    let col = player_third.map_or(11, usize::from);
    row[col] == b'D'
}

#[test]
fn card_values_ranks_and_suits() {
    for c in 1..=52u8 {
        let r = (c - 1) % 13 + 1;
        assert_eq!(rank(c), Some(r));
        assert_eq!(suit(c), Some((c - 1) / 13));
        let want = match r {
            1 => 1,
            2..=9 => r,
            _ => 0,
        };
        assert_eq!(value(c), want, "card {c}");
    }
    for c in [0u8, 53, 255] {
        assert_eq!((rank(c), suit(c), value(c)), (None, None, 0));
    }
    // Ace of the second suit, king of the last.
    assert_eq!((rank(14), suit(14)), (Some(1), Some(1)));
    assert_eq!((rank(52), suit(52)), (Some(13), Some(3)));
    assert_eq!(total(&[9, 8, 0]), 7); // 9 + 8 = 17
    assert_eq!(total(&[13, 10, 12]), 0);
    assert_eq!(total(&[1, 0, 0]), 1);
    assert!(natural(8) && natural(9) && !natural(7));
}

#[test]
fn the_tableau_matches_the_printed_table() {
    for b in 0..=7 {
        assert_eq!(
            banker_draws(b, None),
            table_says(b, None),
            "banker {b}, player stood"
        );
        for p in 0..=9 {
            assert_eq!(
                banker_draws(b, Some(p)),
                table_says(b, Some(p)),
                "banker {b}, third {p}"
            );
        }
    }
    for p in 0..=9 {
        assert_eq!(player_draws(p), p <= 5);
    }
}

/// Every player two-card hand by value x every banker two-card hand by value x every
/// third card of the shoe (and a fixed banker third card): the hand dealt is the one an
/// independent reading of the rules gives.
#[test]
fn every_deal_follows_the_rules_exhaustively() {
    let mut deals = 0u32;
    for (p1, p2, b1, b2) in (0..10u8).flat_map(|a| {
        (0..10u8)
            .flat_map(move |b| (0..10u8).flat_map(move |c| (0..10u8).map(move |d| (a, b, c, d))))
    }) {
        for third in 1..=52u8 {
            let btc = card_of(5, 3);
            let script = [
                card_of(p1, 0),
                card_of(b1, 1),
                card_of(p2, 2),
                card_of(b2, 3),
                third,
                btc,
            ];
            let mut i = 0;
            let hand = Hand::deal(|| {
                let c = script[i];
                i += 1;
                c
            });
            deals += 1;
            let (pt, bt) = ((p1 + p2) % 10, (b1 + b2) % 10);
            // The rules, read independently of the code under test.
            let (want_player, want_banker) = if pt >= 8 || bt >= 8 {
                ([script[0], script[2], 0], [script[1], script[3], 0])
            } else if pt <= 5 {
                let banker_third = table_says(bt, Some(value(third)));
                let b3 = if banker_third { btc } else { 0 };
                ([script[0], script[2], third], [script[1], script[3], b3])
            } else {
                let b3 = if bt <= 5 { third } else { 0 };
                ([script[0], script[2], 0], [script[1], script[3], b3])
            };
            assert_eq!(hand.player, want_player, "{p1} {p2} / {b1} {b2} / {third}");
            assert_eq!(hand.banker, want_banker, "{p1} {p2} / {b1} {b2} / {third}");
            let cards = want_player
                .iter()
                .chain(&want_banker)
                .filter(|&&c| c != 0)
                .count();
            assert_eq!(i, cards, "cards drawn");
            let (fp, fb) = (total(&want_player), total(&want_banker));
            let winner = if fp > fb {
                Side::Player
            } else if fb > fp {
                Side::Banker
            } else {
                Side::Tie
            };
            assert_eq!(hand.winner(), winner);
        }
    }
    assert_eq!(deals, 10_000 * 52);
}

#[test]
fn payouts_with_the_commission_rounded_down_and_pushes() {
    use Side::*;
    for stake in [1u32, 2, 7, 19, 20, 21, 99, 100, 101, 999, 1000, u32::MAX] {
        let s = u64::from(stake);
        // The banker's win: 95 % of the stake, whole chips only (19/20, floored).
        let banker_win = s * 19 / 20;
        assert_eq!(returned(Player, stake, Player), s + s);
        assert_eq!(returned(Banker, stake, Banker), s + banker_win);
        assert_eq!(returned(Tie, stake, Tie), s + 8 * s);
        assert_eq!(returned(Player, stake, Tie), s, "push");
        assert_eq!(returned(Banker, stake, Tie), s, "push");
        for (side, winner) in [
            (Player, Banker),
            (Banker, Player),
            (Tie, Player),
            (Tie, Banker),
        ] {
            assert_eq!(returned(side, stake, winner), 0);
        }
    }
    assert_eq!(returned(Banker, 1, Banker), 1); // wins 0.95, rounded down to 0
    assert_eq!(returned(Banker, 19, Banker), 19 + 18); // 18.05
    assert_eq!(returned(Banker, 20, Banker), 20 + 19);
    assert_eq!(returned(Banker, 100, Banker), 195);
    assert_eq!(returned(Banker, 1000, Banker), 1950);
    assert_eq!(Side::from_u8(3), None);
    assert_eq!(Side::from_u8(1), Some(Banker));
}

#[test]
fn a_shoe_is_eight_decks_and_reshuffles_below_52() {
    let mut shoe = Shoe::new(7);
    assert_eq!(shoe.remaining(), SHOE_CARDS);
    assert_eq!(SHOE_CARDS, 416);
    let mut count = [0u32; 53];
    for &c in shoe.cards() {
        count[usize::from(c)] += 1;
    }
    assert_eq!(count[0], 0);
    assert!(count[1..].iter().all(|&n| n == 8), "{count:?}");
    // Shuffled: not in the order it was built.
    let sorted: Vec<u8> = (0..SHOE_CARDS).map(|i| (i % 52) as u8 + 1).collect();
    assert_ne!(shoe.cards(), &sorted[..]);
    // Hands come from the top of the shoe, in order.
    let top: Vec<u8> = shoe.cards()[..6].to_vec();
    let h = shoe.deal();
    let used = 6 - usize::from(h.player[2] == 0) - usize::from(h.banker[2] == 0);
    assert_eq!(shoe.remaining(), SHOE_CARDS - used);
    assert_eq!(
        &[h.player[0], h.banker[0], h.player[1], h.banker[1]],
        &top[..4]
    );
    // Down to exactly 52: no reshuffle; below 52: the next hand reshuffles first.
    while shoe.remaining() > 52 {
        shoe.draw();
    }
    let before = shoe.cards()[..4].to_vec();
    let h = shoe.deal();
    assert_eq!(
        &[h.player[0], h.banker[0], h.player[1], h.banker[1]],
        &before[..]
    );
    assert!(shoe.remaining() < 52);
    let h = shoe.deal();
    let used = 6 - usize::from(h.player[2] == 0) - usize::from(h.banker[2] == 0);
    assert_eq!(
        shoe.remaining(),
        SHOE_CARDS - used,
        "reshuffled, a full shoe less one hand"
    );
    let mut count = [0u32; 53];
    for c in shoe
        .cards()
        .iter()
        .chain(h.player.iter())
        .chain(h.banker.iter())
    {
        count[usize::from(*c)] += 1;
    }
    assert!(
        count[1..].iter().all(|&n| n == 8),
        "the same multiset after the reshuffle"
    );
}

#[test]
fn a_seeded_shoe_replays() {
    let deal = |seed| {
        let mut s = Shoe::new(seed);
        (0..200).map(|_| s.deal()).collect::<Vec<_>>()
    };
    assert_eq!(deal(42), deal(42));
    assert_ne!(deal(42), deal(43));
}

#[test]
fn bet_ms_is_checked() {
    for ms in [0, 999, 60001, u16::MAX] {
        assert!(Baccarat::new(ms, 1).is_err(), "{ms}");
    }
    for ms in [1000, 30000, 60000] {
        assert!(Baccarat::new(ms, 1).is_ok(), "{ms}");
    }
}
