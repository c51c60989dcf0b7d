//! What a server counts ([`Stats`]) and reports per player ([`PlayerInfo`]).

use super::{PeerStats, PlayerId, RewindStats};
use crate::tickets::Name;
use crate::wire::{DropCounts, DropReason};
use core::net::SocketAddr;
use core::time::Duration;

/// Counters of one server.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Game datagrams received (valid or not).
    pub datagrams_in: u64,
    /// Their bytes.
    pub bytes_in: u64,
    /// Datagrams queued for sending.
    pub datagrams_out: u64,
    /// Their bytes.
    pub bytes_out: u64,
    /// Drops by [`DropReason`]: received datagrams that were dropped, and datagrams the
    /// server could not queue (`outbox_full`).
    pub drops: DropCounts,
    /// CHALLENGEs sent.
    pub challenges: u64,
    /// CHALLENGEs not sent: their destination IP was over its limit.
    pub challenges_limited: u64,
    /// Clients accepted.
    pub accepts: u64,
    /// ACCEPTs sent again to a client whose first one was lost.
    pub accept_resends: u64,
    /// REJECTs for a full server.
    pub rejects_full: u64,
    /// REJECTs (reason 1, full) for an IP address at `Config::max_clients_per_ip`.
    pub rejects_per_ip: u64,
    /// REJECTs for a bad or used ticket.
    pub rejects_ticket: u64,
    /// Clients dropped for silence.
    pub timeouts: u64,
    /// Clients dropped for acknowledging none of the server's datagrams for the timeout.
    pub unacked_drops: u64,
    /// Clients that said BYE.
    pub byes: u64,
    /// Sequence numbers skipped by clients and never seen since (loss).
    pub lost: u64,
    /// Client datagrams that arrived after a newer one (reordered: dropped, not lost).
    pub late: u64,
    /// Ticks run.
    pub ticks: u64,
    /// Ticks skipped because the caller fell far behind.
    pub ticks_skipped: u64,
    /// Ticks whose snapshot did not fit its ring slot.
    pub snapshot_overflows: u64,
    /// Rewind outcomes.
    pub rewinds: RewindStats,
    /// Game datagrams queued to one player ([`Context::send`](super::Context::send)); also
    /// counted in `datagrams_out`.
    pub game_sent: u64,
}

impl Stats {
    /// Adds another server's counters to these (for totals over several matches).
    pub fn merge(&mut self, o: &Stats) {
        self.datagrams_in += o.datagrams_in;
        self.bytes_in += o.bytes_in;
        self.datagrams_out += o.datagrams_out;
        self.bytes_out += o.bytes_out;
        self.drops.merge(&o.drops);
        self.challenges += o.challenges;
        self.challenges_limited += o.challenges_limited;
        self.accepts += o.accepts;
        self.accept_resends += o.accept_resends;
        self.rejects_full += o.rejects_full;
        self.rejects_per_ip += o.rejects_per_ip;
        self.rejects_ticket += o.rejects_ticket;
        self.timeouts += o.timeouts;
        self.unacked_drops += o.unacked_drops;
        self.byes += o.byes;
        self.lost += o.lost;
        self.late += o.late;
        self.ticks += o.ticks;
        self.ticks_skipped += o.ticks_skipped;
        self.snapshot_overflows += o.snapshot_overflows;
        self.rewinds.ok += o.rewinds.ok;
        self.game_sent += o.game_sent;
        for (a, b) in self
            .rewinds
            .refused
            .iter_mut()
            .zip(o.rewinds.refused.iter())
        {
            *a += b;
        }
    }

    /// Total drops over all reasons: `drops.total()`.
    pub fn dropped(&self) -> u64 {
        self.drops.total()
    }

    /// Drops for one reason: `drops.get(d)`.
    pub fn drop_count(&self, d: DropReason) -> u64 {
        self.drops.get(d)
    }
}

/// A connected player, as reported by [`Server::players`](super::Server::players).
#[derive(Debug, Clone, Copy)]
pub struct PlayerInfo {
    /// Its id (qport).
    pub id: PlayerId,
    /// The lobby name, if it came with a ticket.
    pub name: Option<Name>,
    /// In secure mode, the client id of the connect token that admitted it (what a
    /// matchmaker that minted the token knows it by); `None` for a plain client.
    pub client_id: Option<u64>,
    /// Where its datagrams come from.
    pub addr: SocketAddr,
    /// How long it has been connected.
    pub connected_for: Duration,
    /// Smoothed round-trip time, once measured.
    pub rtt: Option<Duration>,
    /// Newest sequence number received from it (its start sequence until it sends).
    pub newest_seq: u32,
    /// Its counters.
    pub stats: PeerStats,
}
