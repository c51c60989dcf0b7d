//! The handshake (PROTOCOL.md section 2): HELLO checks, the stateless cookie and its
//! CHALLENGE, the resend of a lost ACCEPT, and admission.
//!
//! Admission is a decision returned by [`Admission::decide`], not code woven into the
//! receive path: a HELLO that passed the cookie check presents a [`Credential`], and the
//! decision is [`Decision::Admit`] (with the holder's lobby identity, if any) or
//! [`Decision::Reject`]. A new kind of credential (the connect token of PROTOCOL.md
//! section 8) is one more `Credential` variant and one more arm in `decide`; nothing
//! else in the core changes.

use super::{Game, Server, MAX_CLIENTS};
use crate::tickets::{Holder, Tickets};
use crate::wire::{
    Accept, Challenge, DropReason, Header, Hello, Kind, Packet, Reject, RejectReason, MAX_PAYLOAD,
};
use core::net::{IpAddr, SocketAddr};
use rand::Rng;
use std::time::Instant;

/// CHALLENGEs per second to one IP address (PROTOCOL.md section 2); bursts of twice as
/// many. The default of `Config::challenges_per_ip`.
pub(crate) const CHALLENGES_PER_IP: u32 = 10;

/// Entries of the per-IP CHALLENGE limiter: one exact bucket per destination IP in a fixed
/// set-associative table (see [`crate::limit`]); 96 KiB per match.
pub(crate) const CHALLENGE_ENTRIES: usize = 4096;

/// What a HELLO presents to be admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credential {
    /// Nothing (ticket field 0).
    None,
    /// A lobby ticket.
    Ticket(u64),
}

impl Credential {
    /// The credential a HELLO carries.
    pub(crate) fn of(hello: &Hello) -> Credential {
        match hello.ticket {
            0 => Credential::None,
            t => Credential::Ticket(t),
        }
    }
}

/// The admission decision for one HELLO.
#[derive(Debug, Clone)]
pub(crate) enum Decision {
    /// Take a slot; `holder` is who the lobby says it is.
    Admit {
        /// From a redeemed ticket.
        holder: Option<Holder>,
    },
    /// Send REJECT with this reason.
    Reject(RejectReason),
}

/// The admission policy: room, and which credentials are required and how they are checked.
pub(crate) struct Admission {
    /// The lobby's ticket table, if connected.
    pub(crate) tickets: Option<Tickets>,
    /// Only admit a HELLO with a valid credential.
    pub(crate) require_ticket: bool,
}

impl Admission {
    /// Decides on a HELLO presenting `cred` when `connected` of `max` slots are taken. A
    /// full server refuses before any credential is spent; a ticket is redeemed (used up)
    /// whether or not it is required, so its holder's name is known.
    /// `from_ip` of them are held from the HELLO's IP address, at most `max_per_ip`: over
    /// that is full too, and refused before any credential is spent as well.
    pub(crate) fn decide(
        &self,
        (connected, max): (usize, usize),
        (from_ip, max_per_ip): (usize, usize),
        cred: Credential,
    ) -> Decision {
        if connected >= max || from_ip >= max_per_ip {
            return Decision::Reject(RejectReason::Full);
        }
        let holder = match (cred, &self.tickets) {
            (Credential::Ticket(t), Some(tickets)) => tickets.redeem(t),
            _ => None,
        };
        if self.require_ticket && holder.is_none() {
            return Decision::Reject(RejectReason::BadTicket);
        }
        Decision::Admit { holder }
    }
}

/// Whether two addresses count as one host for the per-IP slot limit: the same IPv4
/// address (an IPv4-mapped IPv6 address is its IPv4 address), or the same IPv6 /64 (what
/// one subscriber is usually given), as the per-source rate limits count them.
fn same_host(a: IpAddr, b: IpAddr) -> bool {
    match (a.to_canonical(), b.to_canonical()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a == b,
        (IpAddr::V6(a), IpAddr::V6(b)) => a.octets()[..8] == b.octets()[..8],
        _ => false,
    }
}

impl<G: Game> Server<G> {
    /// A HELLO: checks, then CHALLENGE (no valid cookie), ACCEPT again (already connected
    /// from this source), REJECT, or a new client and its ACCEPT.
    pub(super) fn on_hello(
        &mut self,
        now: Instant,
        src: SocketAddr,
        p: &Packet<&[u8]>,
    ) -> Result<(), DropReason> {
        // HELLO carries neither SEQ nor ACK, so those fields mean nothing and are ignored.
        if p.qport() != 0 {
            return Err(DropReason::BadQport);
        }
        if self.secure.is_some() {
            // Secure mode admits only TOKEN_HELLO (PROTOCOL.md section 8).
            return Err(DropReason::SecureOnly);
        }
        let hello = Hello::parse(p.payload())?;
        if hello.protocol_id != self.cfg.protocol_id {
            return Err(DropReason::ProtocolId);
        }
        let reply = hello.reply.unwrap_or(src);
        if reply.is_ipv4() != src.is_ipv4() {
            // The socket that received this cannot send to the other family.
            return Err(DropReason::BadReplyAddr);
        }
        let now_us = self.time_us(now);
        if !self.cookies_valid((hello.cookie, hello.source_cookie), src, reply, now_us) {
            return self.challenge(now, now_us, src, reply);
        }
        // A connected client whose ACCEPT was lost gets the same ACCEPT again.
        if let Some(q) = self.connected_from(src) {
            self.queue_accept(q)?;
            self.stats.accept_resends += 1;
            return Ok(());
        }
        let (slots, per_ip) = self.occupancy(src);
        match self.admission.decide(slots, per_ip, Credential::of(&hello)) {
            Decision::Reject(reason) => {
                self.queue_control(reply, Kind::Reject, 0, 0, 0, Reject::LEN, |b| {
                    Reject { reason }.emit(b)
                })?;
                match reason {
                    RejectReason::Full if slots.0 < slots.1 => self.stats.rejects_per_ip += 1,
                    RejectReason::Full => self.stats.rejects_full += 1,
                    _ => self.stats.rejects_ticket += 1,
                }
                Ok(())
            }
            Decision::Admit { holder } => {
                let q = self.admit(now_us, src, reply, holder.map(|h| h.name));
                self.queue_accept(q)
            }
        }
    }

    /// The connected client whose slot is pinned to `src`, if any.
    pub(super) fn connected_from(&self, src: SocketAddr) -> Option<u8> {
        self.connected
            .iter()
            .copied()
            .find(|&q| self.peers[q as usize].src() == src)
    }

    /// `((connected, max), (from src's host, max per host))`: what the slot logic of
    /// section 2 decides on (a full server or host gets REJECT 1).
    pub(super) fn occupancy(&self, src: SocketAddr) -> ((usize, usize), (usize, usize)) {
        let from_ip = self
            .connected
            .iter()
            .filter(|&&q| same_host(self.peers[q as usize].src().ip(), src.ip()))
            .count();
        (
            (self.connected.len(), self.cfg.max_clients as usize),
            (from_ip, self.cfg.max_clients_per_ip as usize),
        )
    }

    /// Whether the HELLO proves that its sender receives at every address it must: the
    /// reply address, and the source too when that is another address (its slot is pinned
    /// to the source). A split HELLO carries the two cookies in either order: a client
    /// cannot tell which CHALLENGE came to which address, and each cookie is bound to the
    /// address it was sent to, so one cookie can never stand in for the other.
    /// `(cookie, source_cookie)` are the HELLO's (or TOKEN_HELLO's) two cookie fields.
    pub(super) fn cookies_valid(
        &self,
        (cookie, source_cookie): (u64, u64),
        src: SocketAddr,
        reply: SocketAddr,
        now_us: u64,
    ) -> bool {
        let (k, pid) = (&self.key, self.cfg.protocol_id);
        if reply == src {
            return k.check(&src, &reply, &reply, pid, now_us, cookie);
        }
        let at_reply = |c| k.check(&src, &reply, &reply, pid, now_us, c);
        let at_src = |c| k.check(&src, &reply, &src, pid, now_us, c);
        (at_reply(cookie) && at_src(source_cookie)) || (at_reply(source_cookie) && at_src(cookie))
    }

    /// Answers a HELLO without valid cookies: a CHALLENGE to the reply address and, when
    /// the source is another address, one to the source, each within the per-IP CHALLENGE
    /// limit. A CHALLENGE to a source that is not the reply address may not spend the last
    /// half of its IP's burst (one second's worth): a flood of HELLOs forged
    /// from a victim's address cannot use up the CHALLENGEs the victim's own HELLOs need.
    /// A HELLO that got no CHALLENGE at all is dropped as `ChallengeLimited`.
    pub(super) fn challenge(
        &mut self,
        now: Instant,
        now_us: u64,
        src: SocketAddr,
        reply: SocketAddr,
    ) -> Result<(), DropReason> {
        let mut sent = self.queue_challenge(now, now_us, src, reply, reply)?;
        if reply != src {
            sent |= self.queue_challenge(now, now_us, src, reply, src)?;
        }
        if sent {
            Ok(())
        } else {
            Err(DropReason::ChallengeLimited)
        }
    }

    /// Queues one CHALLENGE to `dst` if its IP is within the limit; returns whether it did.
    fn queue_challenge(
        &mut self,
        now: Instant,
        now_us: u64,
        src: SocketAddr,
        reply: SocketAddr,
        dst: SocketAddr,
    ) -> Result<bool, DropReason> {
        let allowed = if dst == reply {
            self.challenge_limit.allow(now, dst.ip())
        } else {
            self.challenge_limit
                .allow_keeping(now, dst.ip(), self.cfg.challenges_per_ip)
        };
        if !allowed {
            self.stats.challenges_limited += 1;
            return Ok(false);
        }
        let cookie = self
            .key
            .issue(&src, &reply, &dst, self.cfg.protocol_id, now_us);
        self.queue_control(dst, Kind::Challenge, 0, 0, 0, Challenge::LEN, |b| {
            Challenge { cookie }.emit(b)
        })?;
        self.stats.challenges += 1;
        Ok(true)
    }

    /// Gives a new client a slot (the caller queues its ACCEPT) and returns its qport.
    pub(super) fn admit(
        &mut self,
        now_us: u64,
        src: SocketAddr,
        reply: SocketAddr,
        name: Option<crate::tickets::Name>,
    ) -> u8 {
        let q = self.free_qport();
        let s0: u32 = self.forced_s0.take().unwrap_or_else(|| self.rng.gen());
        let tick = self.newest_tick.unwrap_or(0);
        self.peers[q as usize].connect(src, reply, s0, now_us, tick, name);
        self.connected.push(q);
        self.touch_idle(q, now_us);
        // ACCEPT is outstanding: the client must acknowledge something within the timeout.
        self.behind(q, now_us);
        self.stats.accepts += 1;
        // INFO is safe here: a join is behind the cookie, so it cannot be made at a high
        // rate from spoofed addresses. No allocation: the name is printed in place.
        log::info!(
            "client {} joined from {} (reply {}){}{}",
            q,
            src,
            reply,
            if name.is_some() { " as " } else { "" },
            name.as_ref().map_or("", |n| n.as_str())
        );
        self.game.connect(q, name.as_ref().map(|n| n.as_str()));
        q
    }

    /// A random free qport (the caller checked there is one).
    fn free_qport(&mut self) -> u8 {
        let start: u8 = self.rng.gen_range(1..=MAX_CLIENTS as u8);
        let mut q = start;
        loop {
            if !self.peers[q as usize].is_connected() {
                return q;
            }
            q = if q == 255 { 1 } else { q + 1 };
            if q == start {
                // Unreachable while connected.len() < max_clients <= 255.
                return q;
            }
        }
    }

    /// Queues client `q`'s ACCEPT (the same bytes when resent).
    pub(super) fn queue_accept(&mut self, q: u8) -> Result<(), DropReason> {
        let peer = &self.peers[q as usize];
        let (s0, tick, time_us) = peer.accept_fields();
        let accept = Accept {
            tick_hz: self.cfg.tick_hz,
            max_payload: MAX_PAYLOAD as u16,
            tick,
            time_us,
        };
        // PROTOCOL.md section 2: ACCEPT carries seq = S0 and ack = 1.
        self.queue_control(peer.reply(), Kind::Accept, s0, 1, q, Accept::LEN, |b| {
            accept.emit(b)
        })
    }

    /// Queues a handshake message (CHALLENGE, ACCEPT, REJECT) of `len` payload bytes that
    /// `payload` writes. `OutboxFull` is returned uncounted: the HELLO it answers is
    /// counted dropped for it.
    #[allow(clippy::too_many_arguments)]
    fn queue_control(
        &mut self,
        dst: SocketAddr,
        kind: Kind,
        seq: u32,
        ack: u32,
        qport: u8,
        len: usize,
        payload: impl FnOnce(&mut [u8]) -> Result<usize, crate::wire::BufferTooSmall>,
    ) -> Result<(), DropReason> {
        let header = Header {
            flags: kind.send_flags(kind == Kind::Accept),
            seq,
            ack,
            qport,
            kind: kind.to_u8(),
            len: len as u16,
        };
        let t = super::Transmit::new(dst, &header, payload, None);
        self.push(t, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::Name;

    #[test]
    fn full_refuses_before_a_ticket_is_spent() {
        let tickets = Tickets::new(4);
        let holder = Holder {
            name: Name::from("ann").unwrap(),
            user: 1,
        };
        let t = tickets.issue(holder).unwrap();
        let a = Admission {
            tickets: Some(tickets.clone()),
            require_ticket: true,
        };
        assert!(matches!(
            a.decide((2, 2), (0, 16), Credential::Ticket(t)),
            Decision::Reject(RejectReason::Full)
        ));
        assert!(tickets.is_valid(t), "not spent by a full server");
        assert!(matches!(
            a.decide((0, 2), (0, 16), Credential::None),
            Decision::Reject(RejectReason::BadTicket)
        ));
        assert!(
            matches!(
                a.decide((1, 2), (3, 3), Credential::Ticket(t)),
                Decision::Reject(RejectReason::Full)
            ),
            "over the per-IP limit is full, before the ticket is spent"
        );
        assert!(tickets.is_valid(t));
        match a.decide((1, 2), (2, 3), Credential::Ticket(t)) {
            Decision::Admit { holder: Some(h) } => assert_eq!(h.name.as_str(), "ann"),
            d => panic!("{d:?}"),
        }
        assert!(matches!(
            a.decide((1, 2), (0, 16), Credential::Ticket(t)),
            Decision::Reject(RejectReason::BadTicket)
        ));
        let open = Admission {
            tickets: None,
            require_ticket: false,
        };
        assert!(matches!(
            open.decide((0, 1), (0, 1), Credential::Ticket(9)),
            Decision::Admit { holder: None }
        ));
    }
}
