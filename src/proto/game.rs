//! The [`Game`] trait: what a game plugs into the server core, and the context the core
//! lends it (the clock, lag-compensated rewind into the snapshot ring, and sending one
//! player a datagram of its own).

use super::outbox::{send_game, Outbox, SendError};
use super::peer::Peer;
use super::ring::{Ring, SnapshotWriter};
use super::Stats;
use core::net::IpAddr;
use core::time::Duration;

/// A player's id: its qport, 1..=255.
pub type PlayerId = u8;

/// A game that the server core runs. The core owns slots, sequence numbers, the tick clock
/// and the snapshot ring; the game owns the world.
///
/// Every method is called on the server's one thread, never concurrently. None may block.
/// Only [`Game::step`] and [`Game::snapshot`] are required: every other method has a
/// default that suits a game which does not care about it (no input kinds, nothing to do on
/// a join or a leave, score 0, a neutral identity in server browsers).
///
/// # Example
///
/// A game where each player sends one byte (kind `0x20`) and the world is every player's
/// last byte; a byte of 0 is answered to that player alone with [`Context::send`]:
///
/// ```
/// use tickwire::{Context, Game, PlayerId, SnapshotWriter};
///
/// const PICK: u8 = 0x20;
/// const PRIVATE: u8 = 0x21;
///
/// struct Picks([Option<u8>; 256]);
///
/// impl Game for Picks {
///     fn knows_kind(&self, kind: u8) -> bool {
///         kind == PICK
///     }
///     fn check_input(&self, _kind: u8, payload: &[u8]) -> bool {
///         payload.len() == 1
///     }
///     fn connect(&mut self, player: PlayerId, _name: Option<&str>) {
///         self.0[player as usize] = Some(0);
///     }
///     fn disconnect(&mut self, player: PlayerId) {
///         self.0[player as usize] = None;
///     }
///     fn input(&mut self, cx: &mut Context<'_>, player: PlayerId, _kind: u8, payload: &[u8]) {
///         self.0[player as usize] = Some(payload[0]);
///         if payload[0] == 0 {
///             // Only this player hears it; refused (and counted) if the outbox is full.
///             let _ = cx.send(player, PRIVATE, b"zero is not a colour");
///         }
///     }
///     fn step(&mut self, _tick: u32) {}
///     fn snapshot(&self, w: &mut SnapshotWriter<'_>) {
///         // Two bytes per entity: the client's decoder knows that size (entities carry
///         // no length of their own).
///         for (id, pick) in self.0.iter().enumerate() {
///             if let Some(p) = pick {
///                 let _ = w.entity(&[id as u8, *p]);
///             }
///         }
///     }
///     fn description(&self) -> &str {
///         "picks"
///     }
/// }
///
/// let server = tickwire::Server::new(
///     tickwire::Config::default(),
///     Picks([None; 256]),
///     std::time::Instant::now(),
/// );
/// assert_eq!(server.game().description(), "picks");
/// assert_eq!(server.game().map_name(), "");
/// ```
pub trait Game {
    /// Whether clients may send game kind `kind` (0x10..=0xFF). An unknown kind is dropped
    /// before anything else is looked at. By default none: a game that takes no input.
    fn knows_kind(&self, _kind: u8) -> bool {
        false
    }

    /// Whether `payload` has the right shape for `kind`. Called before the datagram's
    /// sequence number is accepted: a malformed payload never moves the window. By default
    /// every payload of a known kind passes, so [`Game::input`] must then treat it as
    /// untrusted bytes of any length up to the maximum payload.
    fn check_input(&self, _kind: u8, _payload: &[u8]) -> bool {
        true
    }

    /// A player joined. `name` is the lobby name when a ticket was presented. Nothing by
    /// default.
    fn connect(&mut self, _player: PlayerId, _name: Option<&str>) {}

    /// A player left (BYE, timeout, kick or server shutdown). Nothing by default.
    fn disconnect(&mut self, _player: PlayerId) {}

    /// A payload of one of the game's kinds from a connected player, after every check of
    /// the core. `cx` gives the time, lag-compensated rewind and [`Context::send`]. Ignored
    /// by default.
    fn input(&mut self, _cx: &mut Context<'_>, _player: PlayerId, _kind: u8, _payload: &[u8]) {}

    /// Advances the world by one tick.
    fn step(&mut self, tick: u32);

    /// Serializes the world. Called once per broadcast tick; every client gets these bytes.
    fn snapshot(&self, w: &mut SnapshotWriter<'_>);

    /// A player's score, shown by server queries. 0 by default.
    fn score(&self, _player: PlayerId) -> i32 {
        0
    }

    /// The map server browsers (A2S info) show, unless the host's
    /// [`ServerInfo::map`](crate::ServerInfo::map) names one. Empty by default; the arena
    /// says `"arena"`.
    fn map_name(&self) -> &str {
        ""
    }

    /// The game description server browsers (A2S info) show, unless the host's
    /// [`ServerInfo::game`](crate::ServerInfo::game) names one. `"tickwire game"` by
    /// default; the arena says `"tickwire arena"`.
    fn description(&self) -> &str {
        "tickwire game"
    }
}

/// Why a rewind was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RewindError {
    /// The ring slot holds another tick now (overwritten, or never written).
    Overwritten,
    /// The slot holds that tick, but with another time: the client made it up.
    Forged,
    /// Older than the rewind limit.
    TooOld,
    /// A tick the server has not run yet.
    Future,
    /// Further from what the client's measured RTT allows it to have seen than the
    /// plausibility tolerance.
    Implausible,
    /// The player used up its rewinds for this second.
    OverBudget,
}

impl RewindError {
    /// Every reason, in counter order.
    pub const ALL: [RewindError; 6] = [
        RewindError::Overwritten,
        RewindError::Forged,
        RewindError::TooOld,
        RewindError::Future,
        RewindError::Implausible,
        RewindError::OverBudget,
    ];

    /// A short snake_case label.
    pub fn label(self) -> &'static str {
        match self {
            RewindError::Overwritten => "overwritten",
            RewindError::Forged => "forged",
            RewindError::TooOld => "too_old",
            RewindError::Future => "future",
            RewindError::Implausible => "implausible",
            RewindError::OverBudget => "over_budget",
        }
    }
}

/// The world as it was serialized at a past tick.
#[derive(Debug, Clone, Copy)]
pub struct Past<'a> {
    ring: &'a Ring,
    index: usize,
    /// The tick.
    pub tick: u32,
    /// How many ticks back from the newest one.
    pub depth: u32,
}

impl<'a> Past<'a> {
    /// The snapshot's part bodies, in order, exactly as they were broadcast.
    pub fn parts(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let slot = self.ring.at(self.index);
        let n = slot.map_or(0, |s| s.parts());
        (0..n).filter_map(move |i| slot.map(|s| s.part(i)))
    }
}

/// Per-player rewind accounting, kept in the core's slot (reset when a client connects).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RewindBudget {
    /// Start of the current one-second window, server microseconds.
    pub window_start_us: u64,
    /// Rewinds granted in this window.
    pub used: u32,
    /// Whether this player counts in its IP's entry of [`RewindIps`] (joined at its first
    /// rewind, left when its slot is freed).
    pub joined: bool,
}

impl RewindBudget {
    /// Starts a new window at `now_us` when the current one is a second old.
    fn roll(&mut self, now_us: u64) -> bool {
        if now_us.saturating_sub(self.window_start_us) >= 1_000_000 {
            self.window_start_us = now_us;
            self.used = 0;
            return true;
        }
        false
    }
}

/// One source IP's rewinds, shared by its players and kept across their reconnects.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
struct IpBudget {
    /// The IPv4 address, or the IPv6 /64 (see [`crate::limit::Key`]).
    key: u64,
    budget: RewindBudget,
    /// Players from this IP counted in now (joined and still connected).
    players: u16,
    /// Most players counted in at once during the current window.
    peak: u16,
    /// 0: empty; 4 or 6: the key's family.
    tag: u8,
}

/// Rewind budgets per source IP (issue 11, item 7): a player's budget is also charged to
/// its IP, whose budget is `rewinds_per_sec` for each of the most players it had at once
/// in the current second. Reconnecting starts a fresh per-player budget but not a fresh IP
/// budget, so it gains nothing; players behind one NAT each keep their own share, and one
/// who leaves does not shrink the others' share before the second is over.
///
/// A fixed table of [`RewindIps::LEN`] exact entries in sets of [`RewindIps::WAYS`], the set
/// picked by a keyed hash (key from the server's seed), allocated once. An entry with
/// players counted in is never evicted (at most 255 of them, so a set overflows only if
/// more than 8 of the connected IPs hash to it: about 3 in 10 000 full servers); a player
/// whose IP finds no room falls back to its per-player budget alone.
pub(crate) struct RewindIps {
    entries: Box<[IpBudget]>,
    hasher: siphasher::sip::SipHasher13,
}

impl RewindIps {
    /// Entries in the table.
    pub const LEN: usize = 2048;
    /// Entries in one set.
    pub const WAYS: usize = 8;

    /// An empty table whose set hash is keyed by `(k0, k1)`.
    pub fn new(k0: u64, k1: u64) -> RewindIps {
        RewindIps {
            entries: vec![IpBudget::default(); Self::LEN].into_boxed_slice(),
            hasher: siphasher::sip::SipHasher13::new_with_keys(k0, k1),
        }
    }

    fn set(&mut self, key: crate::limit::Key) -> &mut [IpBudget] {
        use core::hash::Hasher;
        let mut h = self.hasher;
        h.write_u64(key.bits);
        h.write_u32(key.tag);
        let sets = (Self::LEN / Self::WAYS) as u64;
        let start = (h.finish() % sets) as usize * Self::WAYS;
        &mut self.entries[start..start + Self::WAYS]
    }

    /// The entry of `ip`, taking a free one for it if it has none at `now_us` (empty first,
    /// then the one whose window started longest ago, among those with no player counted
    /// in). `None` when its set is all taken by connected players.
    fn entry(&mut self, ip: IpAddr, now_us: u64) -> Option<&mut IpBudget> {
        let key = crate::limit::Key::of(ip);
        let set = self.set(key);
        let tag = key.tag as u8;
        if let Some(i) = set.iter().position(|e| e.tag == tag && e.key == key.bits) {
            return Some(&mut set[i]);
        }
        let victim = set
            .iter()
            .enumerate()
            .filter(|(_, e)| e.players == 0)
            .min_by_key(|(_, e)| match e.tag {
                0 => 0,
                _ => e.budget.window_start_us.saturating_add(1),
            })
            .map(|(i, _)| i)?;
        let e = &mut set[victim];
        *e = IpBudget {
            key: key.bits,
            budget: RewindBudget {
                window_start_us: now_us,
                used: 0,
                joined: false,
            },
            players: 0,
            peak: 0,
            tag,
        };
        Some(e)
    }

    /// A player from `ip` whose budget joined its entry has left.
    pub fn leave(&mut self, ip: IpAddr) {
        let key = crate::limit::Key::of(ip);
        let tag = key.tag as u8;
        if let Some(e) = self
            .set(key)
            .iter_mut()
            .find(|e| e.tag == tag && e.key == key.bits)
        {
            e.players = e.players.saturating_sub(1);
        }
    }
}

impl core::fmt::Debug for RewindIps {
    /// The shape only: neither the key nor the table.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RewindIps")
            .field("len", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// Counters of rewind outcomes.
#[derive(Debug, Clone, Default)]
pub struct RewindStats {
    /// Rewinds granted.
    pub ok: u64,
    /// Refused, by [`RewindError`] in [`RewindError::ALL`] order.
    pub refused: [u64; 6],
}

impl RewindStats {
    /// Refusals for one reason.
    pub fn refused_for(&self, e: RewindError) -> u64 {
        RewindError::ALL
            .iter()
            .position(|x| *x == e)
            .map_or(0, |i| self.refused[i])
    }

    /// All refusals.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().sum()
    }
}

/// What the core lends a game while it handles one input.
pub struct Context<'a> {
    pub(crate) now_us: u64,
    pub(crate) newest_tick: Option<u32>,
    pub(crate) ring: &'a Ring,
    pub(crate) max_rewind_us: u64,
    pub(crate) tolerance_us: u64,
    /// The most RTT the plausibility check believes ([`Config::max_rewind_rtt`](super::Config::max_rewind_rtt)).
    pub(crate) max_rtt_us: u64,
    pub(crate) rewinds_per_sec: u32,
    pub(crate) srtt_us: Option<u64>,
    /// The player whose input this is; its rewind budget is in its slot of `peers`.
    pub(crate) player: PlayerId,
    /// Every client slot: the rewind budget of `player`, and the sequence numbers of
    /// whoever [`Context::send`] writes to.
    pub(crate) peers: &'a mut [Peer],
    /// The player's source IP and the per-IP budgets.
    pub(crate) ip: IpAddr,
    pub(crate) ips: &'a mut RewindIps,
    /// The server's counters (rewind outcomes, and what `send` queues).
    pub(crate) stats: &'a mut Stats,
    pub(crate) depth: &'a mut hdrhistogram::Histogram<u64>,
    /// Where `send` queues.
    pub(crate) outbox: &'a mut Outbox,
    /// Players `send` queued a datagram to (bit `q`), for the server's liveness clock.
    pub(crate) sent_to: [u64; 4],
    /// Secure mode: `send` seals under the player's key.
    pub(crate) secure: bool,
}

/// The rewind budget in player `q`'s slot.
fn budget(peers: &mut [Peer], q: PlayerId) -> &mut RewindBudget {
    peers[q as usize].rewind_parts().1
}

impl<'a> Context<'a> {
    /// Server time now, microseconds since the server started.
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    /// The newest tick that was serialized, if any.
    pub fn newest_tick(&self) -> Option<u32> {
        self.newest_tick
    }

    /// The player's smoothed round-trip time, once measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.srtt_us.map(Duration::from_micros)
    }

    /// Queues one datagram of game kind `kind` (`0x10..=0xFF`) with `payload` to `player`
    /// alone, any connected player (not only the one whose input this is). It goes out
    /// with the next transmits, sequenced like everything the server sends that player
    /// (its next seq, the current ack), and its client delivers it as
    /// [`Event::Game`](crate::client::Event::Game). Unreliable, like a snapshot: a game
    /// that needs it delivered resends until the player's input says it arrived.
    ///
    /// The payload is copied into a buffer allocated with the server: nothing allocates.
    /// Queued datagrams count in [`Stats::datagrams_out`] and [`Stats::game_sent`].
    /// Refused, and nothing queued, when `kind` is a protocol kind, `player` is not
    /// connected, `payload` is longer than [`MAX_PAYLOAD`](crate::wire::MAX_PAYLOAD) (1171
    /// bytes in secure mode, where the tag takes 16), or the outbox has no room (counted
    /// under `outbox_full`).
    pub fn send(&mut self, player: PlayerId, kind: u8, payload: &[u8]) -> Result<(), SendError> {
        send_game(
            self.peers,
            self.outbox,
            self.stats,
            (self.now_us, self.secure),
            (player, kind, payload),
        )?;
        self.sent_to[player as usize / 64] |= 1 << (player % 64);
        Ok(())
    }

    /// Rewinds to the snapshot of `tick` stamped `time_us`, as a client saw it. Refused,
    /// and counted, when that tick is in the future, older than the rewind limit, no longer
    /// (or never) in the ring, stamped with another time, implausibly far from what the
    /// player's RTT allows, or over the player's rewind budget.
    pub fn rewind(&mut self, tick: u32, time_us: u64) -> Result<Past<'a>, RewindError> {
        let r = self.try_rewind(tick, time_us);
        match r {
            Ok(p) => {
                self.stats.rewinds.ok += 1;
                let _ = self.depth.record(u64::from(p.depth));
            }
            Err(e) => {
                let i = RewindError::ALL.iter().position(|x| *x == e).unwrap_or(0);
                self.stats.rewinds.refused[i] += 1;
            }
        }
        r
    }

    fn try_rewind(&mut self, tick: u32, time_us: u64) -> Result<Past<'a>, RewindError> {
        let newest = self.newest_tick.ok_or(RewindError::Overwritten)?;
        if crate::wire::seq_newer(tick, newest) || time_us > self.now_us {
            return Err(RewindError::Future);
        }
        let age = self.now_us - time_us;
        if age > self.max_rewind_us {
            return Err(RewindError::TooOld);
        }
        let ring: &'a Ring = self.ring;
        let slot = ring.slot(tick);
        if !slot.valid || slot.tick != tick {
            return Err(RewindError::Overwritten);
        }
        // The budget comes before the time check, and a forged time is charged: guessing
        // a snapshot's time (see `Ring::stamp`) costs a rewind per guess.
        if !self.budget_left() {
            return Err(RewindError::OverBudget);
        }
        if slot.time_us != time_us {
            self.charge();
            return Err(RewindError::Forged);
        }
        // A client sees tick T about half an RTT after T, and its shot arrives about half
        // an RTT later: the age of the named tick should be close to one RTT. An RTT above
        // the cap is not believed (a client can inflate it by holding back its acks).
        let rtt = self.srtt_us.unwrap_or(0).min(self.max_rtt_us);
        if age.abs_diff(rtt) > self.tolerance_us {
            return Err(RewindError::Implausible);
        }
        self.charge();
        Ok(Past {
            ring,
            index: ring.index(tick),
            tick,
            depth: newest.wrapping_sub(tick),
        })
    }

    /// Whether the player and its IP both have a rewind left this second (rolling their
    /// windows, and counting the player in at its IP on its first rewind).
    fn budget_left(&mut self) -> bool {
        let now = self.now_us;
        let per_sec = self.rewinds_per_sec;
        budget(self.peers, self.player).roll(now);
        if budget(self.peers, self.player).used >= per_sec {
            return false;
        }
        let joined = budget(self.peers, self.player).joined;
        let Some(e) = self.ips.entry(self.ip, now) else {
            // No room for this IP: the per-player budget alone.
            return true;
        };
        if !joined {
            e.players = e.players.saturating_add(1);
            budget(self.peers, self.player).joined = true;
        }
        if e.budget.roll(now) {
            e.peak = e.players;
        }
        e.peak = e.peak.max(e.players);
        e.budget.used < per_sec.saturating_mul(u32::from(e.peak.max(1)))
    }

    /// Charges one rewind to the player and to its IP.
    fn charge(&mut self) {
        budget(self.peers, self.player).used += 1;
        if budget(self.peers, self.player).joined {
            if let Some(e) = self.ips.entry(self.ip, self.now_us) {
                e.budget.used = e.budget.used.saturating_add(1);
            }
        }
    }
}
