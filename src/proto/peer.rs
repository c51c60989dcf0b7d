//! Fixed-size per-client state: one [`Peer`] per qport, allocated at start-up.

use super::game::RewindBudget;
use crate::tickets::Name;
use crate::wire::{seq_newer, SeqWindow};
use core::net::SocketAddr;

/// How many sent sequence numbers keep their send time, for RTT samples.
pub(crate) const SEND_TIMES: usize = 256;

/// One client slot.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub connected: bool,
    /// Source address of the accepted HELLO; the only one accepted.
    pub src: SocketAddr,
    /// Where everything for this client goes.
    pub reply: SocketAddr,
    /// Start sequence number (ACCEPT's seq).
    pub s0: u32,
    /// Last seq the server sent to this client.
    pub send_seq: u32,
    /// The client's sequence numbers received (newest starts at `s0`).
    pub window: SeqWindow,
    /// Whether anything was received since ACCEPT (ACK goes out from then on).
    pub received_any: bool,
    pub last_recv_us: u64,
    pub connected_at_us: u64,
    pub accept_tick: u32,
    pub accept_time_us: u64,
    pub name: Option<Name>,
    /// Newest of our seqs the client acknowledged.
    pub acked: u32,
    pub acked_any: bool,
    /// Low 32 bits of the send time (µs) of seq `s`, at `s % SEND_TIMES`.
    pub send_times: [u32; SEND_TIMES],
    pub srtt_us: Option<u64>,
    pub rttvar_us: u64,
    pub budget: RewindBudget,
    pub stats: PeerStats,
}

/// Per-client counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Valid datagrams received.
    pub received: u64,
    /// Sequence numbers skipped and never seen since (lost).
    pub lost: u64,
    /// Sequence numbers that arrived after a newer one (dropped as late; not lost).
    pub late: u64,
    /// Datagrams dropped as duplicate, old or far ahead.
    pub out_of_window: u64,
    /// Datagrams sent.
    pub sent: u64,
}

impl Peer {
    pub fn empty() -> Peer {
        let any: SocketAddr = SocketAddr::from(([0, 0, 0, 0], 0));
        Peer {
            connected: false,
            src: any,
            reply: any,
            s0: 0,
            send_seq: 0,
            window: SeqWindow::new(0),
            received_any: false,
            last_recv_us: 0,
            connected_at_us: 0,
            accept_tick: 0,
            accept_time_us: 0,
            name: None,
            acked: 0,
            acked_any: false,
            send_times: [0; SEND_TIMES],
            srtt_us: None,
            rttvar_us: 0,
            budget: RewindBudget::default(),
            stats: PeerStats::default(),
        }
    }

    /// Takes the next outgoing seq and records its send time.
    pub fn next_seq(&mut self, now_us: u64) -> u32 {
        self.send_seq = self.send_seq.wrapping_add(1);
        self.send_times[self.send_seq as usize % SEND_TIMES] = now_us as u32;
        self.stats.sent += 1;
        self.send_seq
    }

    /// Whether `ack` names a seq this server could have sent (ACCEPT's `s0` or later, and
    /// not beyond the last one sent).
    pub fn ack_valid(&self, ack: u32) -> bool {
        !seq_newer(ack, self.send_seq) && !seq_newer(self.s0, ack)
    }

    /// Takes a new ack into account, sampling RTT from its send time (RFC 6298 smoothing).
    pub fn on_ack(&mut self, ack: u32, now_us: u64) {
        if self.acked_any && !seq_newer(ack, self.acked) {
            return;
        }
        self.acked = ack;
        self.acked_any = true;
        if ack == self.s0 || self.send_seq.wrapping_sub(ack) as usize >= SEND_TIMES {
            return;
        }
        let sent = self.send_times[ack as usize % SEND_TIMES];
        let sample = u64::from((now_us as u32).wrapping_sub(sent));
        match self.srtt_us {
            None => {
                self.srtt_us = Some(sample);
                self.rttvar_us = sample / 2;
            }
            Some(srtt) => {
                self.rttvar_us = (3 * self.rttvar_us + srtt.abs_diff(sample)) / 4;
                self.srtt_us = Some((7 * srtt + sample) / 8);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_from_acks() {
        let mut p = Peer::empty();
        p.s0 = u32::MAX - 1;
        p.send_seq = p.s0;
        let a = p.next_seq(1_000);
        let b = p.next_seq(2_000);
        assert_eq!(a, u32::MAX);
        assert_eq!(b, 0);
        assert!(p.ack_valid(p.s0));
        assert!(p.ack_valid(b));
        assert!(!p.ack_valid(1));
        assert!(!p.ack_valid(p.s0.wrapping_sub(1)));
        p.on_ack(a, 51_000);
        assert_eq!(p.srtt_us, Some(50_000));
        p.on_ack(a, 90_000); // not newer: no sample
        assert_eq!(p.srtt_us, Some(50_000));
        p.on_ack(b, 12_000);
        assert_eq!(p.srtt_us, Some((7 * 50_000 + 10_000) / 8));
    }
}
