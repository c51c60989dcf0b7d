//! Baccarat (punto banco) in a lobby room, as PROTOCOL.md section 7.1 defines it: the card
//! encoding, the 8-deck [`Shoe`], the third-card tableau ([`player_draws`],
//! [`banker_draws`]) and the payouts ([`returned`]) as pure functions, and the
//! [`Baccarat`] table that runs the rounds.
//!
//! A round: ROUND_OPEN_NTF, then `bet ms` of betting (BET_REQ; each bet's stake is taken
//! from the bettor's chips at once), then the hand is dealt and ROUND_NTF sent with every
//! bettor's net change, then 1000 ms until the next ROUND_OPEN_NTF. docs/LOBBY.md has the
//! whole story, with the refusal order.

use super::{RoomCx, RoomGame};
use crate::lobby::msg::{Message, Payout, Request, Status};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::time::{Duration, Instant};

/// Cards in the shoe: 8 decks of 52.
pub const SHOE_CARDS: usize = 8 * 52;
/// The shoe is shuffled again before a hand when fewer cards than this remain.
pub const RESHUFFLE_BELOW: usize = 52;
/// The shortest and longest betting time a table takes, in ms.
pub const BET_MS: core::ops::RangeInclusive<u16> = 1000..=60000;
/// Time from ROUND_NTF to the next ROUND_OPEN_NTF.
pub const BETWEEN_ROUNDS: Duration = Duration::from_millis(1000);
/// Most users ROUND_NTF can list (its count is a `u8`): the 256th distinct bettor of a
/// round is refused with 11 server full.
pub const MAX_BETTORS: usize = u8::MAX as usize;

/// What a bet is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Side {
    /// 0: the player's hand wins.
    Player = 0,
    /// 1: the banker's hand wins.
    Banker = 1,
    /// 2: the hands tie.
    Tie = 2,
}

impl Side {
    /// Every side, in wire order.
    pub const ALL: [Side; 3] = [Side::Player, Side::Banker, Side::Tie];

    /// Decodes a side byte.
    pub fn from_u8(b: u8) -> Option<Side> {
        Side::ALL.get(usize::from(b)).copied()
    }

    /// `player`, `banker` or `tie`.
    pub fn label(self) -> &'static str {
        match self {
            Side::Player => "player",
            Side::Banker => "banker",
            Side::Tie => "tie",
        }
    }
}

/// A card's rank, 1 (ace) ..= 13 (king); `None` for 0 (no card) and values above 52.
pub fn rank(card: u8) -> Option<u8> {
    (1..=52).contains(&card).then(|| (card - 1) % 13 + 1)
}

/// A card's suit, 0..=3; `None` for 0 (no card) and values above 52. The protocol gives
/// the suits no names; `tickwire-chat` shows them as ♠ ♥ ♦ ♣.
pub fn suit(card: u8) -> Option<u8> {
    (1..=52).contains(&card).then(|| (card - 1) / 13)
}

/// A card's baccarat value: ace 1, 2..=9 their rank, tens and faces 0 (and 0 for no card).
pub fn value(card: u8) -> u8 {
    match rank(card) {
        Some(r) if r <= 9 => r,
        _ => 0,
    }
}

/// A hand's value: the sum of its cards' values mod 10 (0 entries are no card).
pub fn total(cards: &[u8]) -> u8 {
    cards.iter().map(|&c| value(c)).sum::<u8>() % 10
}

/// Whether a two-card total is a natural (8 or 9): both hands then stand.
pub fn natural(total: u8) -> bool {
    total >= 8
}

/// Whether the player, with a two-card total and no natural on the table, draws a third
/// card: on 0..=5, standing on 6 and 7.
pub fn player_draws(player: u8) -> bool {
    player <= 5
}

/// Whether the banker, with two-card total `banker` and no natural on the table, draws:
/// when the player stood (`None`), on 0..=5; when the player drew a third card of value
/// `p`, by the tableau: 0..=2 always; 3 unless `p` is 8; 4 on 2..=7; 5 on 4..=7; 6 on 6
/// and 7; never on 7.
pub fn banker_draws(banker: u8, player_third: Option<u8>) -> bool {
    let Some(p) = player_third else {
        return banker <= 5;
    };
    match banker {
        0..=2 => true,
        3 => p != 8,
        4 => (2..=7).contains(&p),
        5 => (4..=7).contains(&p),
        6 => (6..=7).contains(&p),
        _ => false,
    }
}

/// One dealt hand: each side's cards in the order dealt, 0 for no third card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hand {
    /// The player's cards.
    pub player: [u8; 3],
    /// The banker's cards.
    pub banker: [u8; 3],
}

impl Hand {
    /// Deals a hand with `draw` giving the next card of the shoe: player, banker, player,
    /// banker, then the third cards the rules call for (at most 6 cards in all).
    pub fn deal(mut draw: impl FnMut() -> u8) -> Hand {
        let mut h = Hand::default();
        h.player[0] = draw();
        h.banker[0] = draw();
        h.player[1] = draw();
        h.banker[1] = draw();
        let (p, b) = (h.player_total(), h.banker_total());
        if natural(p) || natural(b) {
            return h;
        }
        let mut third = None;
        if player_draws(p) {
            h.player[2] = draw();
            third = Some(value(h.player[2]));
        }
        if banker_draws(b, third) {
            h.banker[2] = draw();
        }
        h
    }

    /// The player's total.
    pub fn player_total(&self) -> u8 {
        total(&self.player)
    }

    /// The banker's total.
    pub fn banker_total(&self) -> u8 {
        total(&self.banker)
    }

    /// Who won: the higher total, or a tie.
    pub fn winner(&self) -> Side {
        let (p, b) = (self.player_total(), self.banker_total());
        match p.cmp(&b) {
            core::cmp::Ordering::Greater => Side::Player,
            core::cmp::Ordering::Less => Side::Banker,
            core::cmp::Ordering::Equal => Side::Tie,
        }
    }
}

/// What a bet of `stake` on `side` gives back when `winner` won, its stake included: a
/// player bet wins 1:1, a banker bet 0.95:1 rounded down to a whole chip, a tie bet 8:1;
/// on a tie, player and banker bets are pushed (the stake comes back); a losing bet gives
/// nothing.
pub fn returned(side: Side, stake: u32, winner: Side) -> u64 {
    let s = u64::from(stake);
    match (side, winner) {
        (Side::Player, Side::Player) => 2 * s,
        (Side::Banker, Side::Banker) => s + s * 95 / 100,
        (Side::Tie, Side::Tie) => 9 * s,
        (Side::Player | Side::Banker, Side::Tie) => s,
        _ => 0,
    }
}

/// The 8-deck shoe, drawn from a seeded generator (so a seeded host replays it).
#[derive(Debug)]
pub struct Shoe {
    cards: Box<[u8; SHOE_CARDS]>,
    next: usize,
    rng: StdRng,
}

impl Shoe {
    /// A shuffled shoe: every card 1..=52 eight times, in an order drawn from `seed`.
    pub fn new(seed: u64) -> Shoe {
        let mut cards = Box::new([0u8; SHOE_CARDS]);
        for (i, c) in cards.iter_mut().enumerate() {
            *c = (i % 52) as u8 + 1;
        }
        let mut shoe = Shoe {
            cards,
            next: 0,
            rng: StdRng::seed_from_u64(seed),
        };
        shoe.shuffle();
        shoe
    }

    /// Gathers every card back and shuffles them.
    pub fn shuffle(&mut self) {
        self.cards.shuffle(&mut self.rng);
        self.next = 0;
    }

    /// Cards not dealt yet.
    pub fn remaining(&self) -> usize {
        SHOE_CARDS - self.next
    }

    /// The cards not dealt yet, next first.
    pub fn cards(&self) -> &[u8] {
        &self.cards[self.next..]
    }

    /// The next card. Never runs dry: an empty shoe is shuffled first (a hand is dealt only
    /// after [`Shoe::deal`]'s reshuffle, so this never happens mid-hand).
    pub fn draw(&mut self) -> u8 {
        if self.next >= SHOE_CARDS {
            self.shuffle();
        }
        let c = self.cards[self.next];
        self.next += 1;
        c
    }

    /// Deals one hand, shuffling first when fewer than [`RESHUFFLE_BELOW`] cards remain.
    pub fn deal(&mut self) -> Hand {
        if self.remaining() < RESHUFFLE_BELOW {
            self.shuffle();
        }
        Hand::deal(|| self.draw())
    }
}

/// Where a table is in its round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Bets are taken until `close`.
    Betting {
        /// When betting closes and the hand is dealt.
        close: Instant,
    },
    /// The hand was dealt; the next round opens at the deadline.
    Dealt,
}

/// One user's bets in the current round.
#[derive(Debug, Clone, Copy)]
struct Entry {
    user: u32,
    /// Live stakes by side (0: no live bet on that side).
    stakes: [u32; 3],
    /// Sides bet on this round (a side is bet once, even by a user who left and came back).
    used: [bool; 3],
    /// Stakes forfeited by leaving the room mid-round.
    lost: u64,
}

/// A baccarat table: one round after another while its room has members.
#[derive(Debug)]
pub struct Baccarat {
    bet_ms: u16,
    shoe: Shoe,
    round: u32,
    phase: Phase,
    /// This round's bettors, in the order of their first bet; at most [`MAX_BETTORS`].
    entries: Vec<Entry>,
    /// ROUND_NTF's list, reused from round to round.
    payouts: Vec<Payout>,
    /// Chips taken from users minus chips given back.
    house: i64,
}

impl Baccarat {
    /// A table whose betting lasts `bet_ms` (1000..=60000, else 10 bad request), its shoe
    /// shuffled from `seed`.
    pub fn new(bet_ms: u16, seed: u64) -> Result<Baccarat, Status> {
        if !BET_MS.contains(&bet_ms) {
            return Err(Status::BadRequest);
        }
        Ok(Baccarat {
            bet_ms,
            shoe: Shoe::new(seed),
            round: 0,
            phase: Phase::Dealt,
            entries: Vec::with_capacity(MAX_BETTORS),
            payouts: Vec::with_capacity(MAX_BETTORS),
            house: 0,
        })
    }

    /// The current round (1 for the first; 0 before the table opened).
    pub fn round(&self) -> u32 {
        self.round
    }

    /// The shoe.
    pub fn shoe(&self) -> &Shoe {
        &self.shoe
    }

    /// Opens the next round: ROUND_OPEN_NTF to the room, betting closes `bet ms` later.
    fn open_round(&mut self, cx: &mut RoomCx<'_>) {
        self.round = self.round.wrapping_add(1);
        self.entries.clear();
        let close = cx.now() + Duration::from_millis(u64::from(self.bet_ms));
        self.phase = Phase::Betting { close };
        cx.broadcast(&Message::RoundOpenNtf {
            round: self.round,
            bet_ms: self.bet_ms,
        });
        cx.set_deadline(Some(close));
    }

    /// Deals the hand, settles every bet and sends ROUND_NTF; the next round opens 1000 ms
    /// later.
    fn deal(&mut self, cx: &mut RoomCx<'_>) {
        let hand = self.shoe.deal();
        let winner = hand.winner();
        let mut payouts = core::mem::take(&mut self.payouts);
        payouts.clear();
        for e in &self.entries {
            let live: u64 = e.stakes.iter().map(|&s| u64::from(s)).sum();
            let back: u64 = Side::ALL
                .iter()
                .zip(e.stakes)
                .filter(|&(_, s)| s > 0)
                .map(|(&side, s)| returned(side, s, winner))
                .sum();
            let chips = match cx.chips(e.user) {
                Some(c) if back > 0 => {
                    let new = u32::try_from(u64::from(c).saturating_add(back)).unwrap_or(u32::MAX);
                    // Only a member can hold live stakes (leaving forfeits them).
                    if cx.set_chips(e.user, new) {
                        self.house -= i64::from(new - c);
                    }
                    new
                }
                Some(c) => c,
                None => 0,
            };
            let delta = back as i64 - (live + e.lost) as i64;
            payouts.push(Payout {
                user: e.user,
                delta: delta.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
                chips,
            });
        }
        let ntf = Message::RoundNtf {
            round: self.round,
            player: hand.player,
            banker: hand.banker,
            winner: winner as u8,
            results: payouts,
        };
        cx.broadcast(&ntf);
        if let Message::RoundNtf { results, .. } = ntf {
            self.payouts = results;
        }
        self.entries.clear();
        self.phase = Phase::Dealt;
        cx.set_deadline(Some(cx.now() + BETWEEN_ROUNDS));
    }

    /// BET_REQ, after the lobby's checks (logged in, in a room, a table): side and amount
    /// (10), betting open (14), the side not bet yet this round (10), enough chips (15),
    /// room in ROUND_NTF's list (11).
    fn bet(&mut self, cx: &mut RoomCx<'_>, user: u32, side: u8, amount: u32) -> Result<(), Status> {
        let side = Side::from_u8(side)
            .filter(|_| amount > 0)
            .ok_or(Status::BadRequest)?;
        match self.phase {
            Phase::Betting { close } if cx.now() < close => {}
            _ => return Err(Status::BettingClosed),
        }
        let at = self.entries.iter().position(|e| e.user == user);
        if at.is_some_and(|i| self.entries[i].used[side as usize]) {
            return Err(Status::BadRequest);
        }
        let chips = cx.chips(user).unwrap_or(0);
        if amount > chips {
            return Err(Status::NotEnoughChips);
        }
        if at.is_none() && self.entries.len() >= MAX_BETTORS {
            return Err(Status::ServerFull);
        }
        if !cx.set_chips(user, chips - amount) {
            return Err(Status::NotInRoom);
        }
        self.house += i64::from(amount);
        let i = at.unwrap_or_else(|| {
            self.entries.push(Entry {
                user,
                stakes: [0; 3],
                used: [false; 3],
                lost: 0,
            });
            self.entries.len() - 1
        });
        if let Some(e) = self.entries.get_mut(i) {
            e.stakes[side as usize] = amount;
            e.used[side as usize] = true;
        }
        cx.send(
            user,
            &Message::BetRes {
                result: Status::Ok,
                chips: chips - amount,
            },
        );
        cx.broadcast(&Message::BetNtf {
            user,
            side: side as u8,
            amount,
        });
        Ok(())
    }
}

impl RoomGame for Baccarat {
    fn opened(&mut self, cx: &mut RoomCx<'_>) {
        self.open_round(cx);
    }

    fn request(&mut self, cx: &mut RoomCx<'_>, user: u32, req: &Request<'_>) -> Result<(), Status> {
        match *req {
            Request::Bet { side, amount } => self.bet(cx, user, side, amount),
            _ => Err(Status::BadRequest),
        }
    }

    fn timeout(&mut self, cx: &mut RoomCx<'_>) {
        match self.phase {
            Phase::Betting { .. } => self.deal(cx),
            Phase::Dealt => self.open_round(cx),
        }
    }

    /// An entrant during betting hears ROUND_OPEN_NTF with the time left to bet (so that
    /// "betting closes `bet ms` after ROUND_OPEN_NTF" holds for it too); between rounds,
    /// nothing until the next round opens.
    fn joined(&mut self, cx: &mut RoomCx<'_>, user: u32) {
        let Phase::Betting { close } = self.phase else {
            return;
        };
        let left = close.saturating_duration_since(cx.now());
        // Rounded up: a bet sent at once still arrives in time, as far as the time says.
        let ms = left.as_nanos().div_ceil(1_000_000);
        if ms == 0 {
            return;
        }
        let bet_ms = u16::try_from(ms).unwrap_or(u16::MAX);
        cx.send(
            user,
            &Message::RoundOpenNtf {
                round: self.round,
                bet_ms,
            },
        );
    }

    /// A leaver forfeits its live stakes (they stay with the house); it is still listed in
    /// ROUND_NTF, with their loss as its delta.
    fn left(&mut self, _cx: &mut RoomCx<'_>, user: u32) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.user == user) {
            e.lost += e.stakes.iter().map(|&s| u64::from(s)).sum::<u64>();
            e.stakes = [0; 3];
        }
    }

    fn ledger(&self) -> i64 {
        self.house
    }
}
