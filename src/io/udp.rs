//! The per-match socket driver: receive with `recvmmsg`, demultiplex to the game core, STUN
//! (RFC 5389, and RFC 3489 requests by their shape) and A2S, and flush the core's transmits with `sendmmsg`.
//!
//! Hot path: nothing here allocates. The batches and reply buffers are allocated once in
//! [`Udp::new`] and shared by every match of the loop.

use super::query_view::{QueryView, ServerInfo};
use super::report::{lateness_histogram, record};
use super::sys::{self, RecvBatch, SendBatch};
use crate::proto::{Game, Server};
use crate::query::{Query, QueryOut};
use crate::stun::{self, Stun};
use crate::wire::{demux, Demux, Kind, Packet, HEADER_LEN};
use hdrhistogram::Histogram;
use mio::net::UdpSocket;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Datagrams read per `recvmmsg` call.
const RECV_BATCH: usize = 64;
/// Datagrams queued per `sendmmsg` flush.
const SEND_BATCH: usize = 1024;
/// Size of the STUN reply buffer (more than [`crate::stun::MAX_RESPONSE_LEN`]).
const STUN_OUT: usize = 1200;
const _: () = assert!(STUN_OUT >= crate::stun::MAX_RESPONSE_LEN);

/// One match: its socket and its core.
pub(super) struct Match<G> {
    pub(super) socket: UdpSocket,
    pub(super) addr: SocketAddr,
    pub(super) server: Server<G>,
    /// Readable and not yet drained to WouldBlock (with [`Receive::Batched`]: a drain is
    /// due and not done yet).
    ///
    /// [`Receive::Batched`]: super::Receive::Batched
    pub(super) pending: bool,
    /// With [`Receive::Batched`](super::Receive::Batched): when the socket is drained next.
    pub(super) drain_at: Instant,
    /// With [`Receive::Batched`](super::Receive::Batched): whether the drain at `drain_at`
    /// is the one before the tick (whose length the loop learns).
    pub(super) lead_drain: bool,
    /// The latest instant handed to the core (a datagram's arrival time is never earlier).
    pub(super) core_now: Instant,
}

/// The I/O shell's own counters ([`IoStats`](super::IoStats) is their public snapshot).
pub(super) struct Counters {
    pub(super) recv_errors: u64,
    pub(super) send_dropped: u64,
    pub(super) recv_budget_hits: u64,
    pub(super) unknown_events: u64,
    pub(super) refused_draining: u64,
    /// Tick start lateness in microseconds, since start.
    pub(super) tick_lateness: Histogram<u64>,
    /// Polls that could block, and polls that did not because a tick was near.
    pub(super) wakeups: u64,
    pub(super) spin_polls: u64,
    /// Datagrams handed to the core at their kernel arrival time.
    pub(super) rx_stamped: u64,
}

impl Counters {
    pub(super) fn new() -> Counters {
        Counters {
            recv_errors: 0,
            send_dropped: 0,
            recv_budget_hits: 0,
            unknown_events: 0,
            refused_draining: 0,
            tick_lateness: lateness_histogram(),
            wakeups: 0,
            spin_polls: 0,
            rx_stamped: 0,
        }
    }

    /// Records a tick that started `late_us` late.
    pub(super) fn tick_started(&mut self, late_us: u64) {
        record(&mut self.tick_lateness, late_us);
    }
}

/// What one receive turn of a match needs to know about the loop.
pub(super) struct Turn<'a> {
    /// Most datagrams to read.
    pub(super) budget: usize,
    /// Stop after the batch during which this instant passes (the earliest tick due).
    pub(super) tick_due: Option<Instant>,
    /// What A2S shows.
    pub(super) info: &'a ServerInfo,
    /// Whether HELLOs reach the core (not while draining).
    pub(super) admitting: bool,
}

/// The receive and send buffers and the STUN and A2S responders of one loop.
pub(super) struct Udp {
    recv: RecvBatch,
    send: SendBatch,
    stun: Stun,
    query: Query,
    /// Reply buffers for STUN and A2S, allocated once.
    stun_out: Box<[u8]>,
    query_out: QueryOut,
}

impl Udp {
    /// Buffers for sockets of one family (`v6`: IPv4 destinations are mapped);
    /// `timestamps`: the sockets stamp arrivals, and datagrams reach the core at their
    /// arrival time.
    pub(super) fn new(v6: bool, stun: Stun, query: Query, timestamps: bool) -> Udp {
        Udp {
            recv: match timestamps {
                true => RecvBatch::with_timestamps(RECV_BATCH),
                false => RecvBatch::new(RECV_BATCH),
            },
            send: SendBatch::new(SEND_BATCH, v6),
            stun,
            query,
            stun_out: vec![0u8; STUN_OUT].into_boxed_slice(),
            query_out: QueryOut::new(),
        }
    }

    /// Reads `m`'s socket until WouldBlock, the budget, or the batch in which the earliest
    /// tick falls due (a tick never waits for more than one batch). Game datagrams go to the
    /// core; STUN and A2S are answered at once. The core's replies go out with the
    /// broadcasts, in chunks, from the host's timers.
    pub(super) fn receive<G: Game>(&mut self, m: &mut Match<G>, turn: &Turn, c: &mut Counters) {
        let budget = turn.budget.max(1);
        let fd = m.socket.as_raw_fd();
        let mut done = 0;
        while done < budget {
            match self.recv.recv(fd) {
                Ok(n) => {
                    done += n;
                    let read_at = Instant::now();
                    // One reading of the clock that stamps arrivals, for the whole batch.
                    let real = self.recv.arrival_ns(0).map(|_| sys::realtime_ns());
                    for k in 0..n {
                        let Some((src, data, _truncated)) = self.recv.get(k) else {
                            continue;
                        };
                        let stamp = self.recv.arrival_ns(k);
                        c.rx_stamped += u64::from(stamp.is_some());
                        let now = arrived(read_at, real, stamp, m.core_now);
                        m.core_now = now;
                        match demux(data) {
                            // An RFC 3489 Binding Request has no magic cookie, so the demux
                            // calls it a game datagram; no valid one has its shape.
                            Demux::Game if stun::is_classic_request(data) => {
                                match self.stun.handle_classic(now, src, data, &mut self.stun_out) {
                                    Ok(len) => reply(m, src, &self.stun_out[..len], c),
                                    Err(d) => m.server.count_drop(d),
                                }
                            }
                            Demux::Game if !turn.admitting && is_hello(data) => {
                                // Draining: admit nobody, answer nothing.
                                c.refused_draining += 1;
                            }
                            Demux::Game => {
                                // A dropped datagram is counted by the core, by reason.
                                let _ = m.server.handle_datagram(now, src, data);
                            }
                            Demux::Stun => {
                                match self.stun.handle(now, src, data, &mut self.stun_out) {
                                    Ok(len) => reply(m, src, &self.stun_out[..len], c),
                                    Err(d) => m.server.count_drop(d),
                                }
                            }
                            Demux::Query => {
                                let view = QueryView {
                                    server: &m.server,
                                    info: turn.info,
                                    now,
                                    port: m.addr.port(),
                                };
                                match self
                                    .query
                                    .handle(now, src, data, &view, &mut self.query_out)
                                {
                                    Ok(()) => {
                                        for p in self.query_out.packets() {
                                            reply(m, src, p, c);
                                        }
                                    }
                                    Err(d) => m.server.count_drop(d),
                                }
                            }
                        }
                    }
                    if turn.tick_due.is_some_and(|t| read_at >= t) {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    m.pending = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // ECONNREFUSED and friends report an earlier send; they never stop us.
                    c.recv_errors += 1;
                    log::debug!("recvmmsg on {}: {e}", m.addr);
                    done += 1;
                }
            }
        }
        c.recv_budget_hits += 1;
    }

    /// Sends everything the match has queued.
    pub(super) fn flush<G: Game>(&mut self, m: &mut Match<G>, c: &mut Counters) {
        self.flush_some(m, c, usize::MAX);
    }

    /// Sends up to `max` of the match's queued transmits and reports them sent.
    pub(super) fn flush_some<G: Game>(&mut self, m: &mut Match<G>, c: &mut Counters, max: usize) {
        let batch = &mut self.send;
        let fd = m.socket.as_raw_fd();
        let queued = m.server.transmits();
        let n = queued.len().min(max);
        for t in &queued[..n] {
            if batch.is_full() {
                c.send_dropped += batch.flush(fd).dropped as u64;
            }
            // SAFETY: the transmits and the ring are not touched until the flush below (or
            // the one above, when the batch fills) has returned.
            unsafe { batch.push(t.dst, t.head(), m.server.body(t)) };
        }
        if !batch.is_empty() {
            c.send_dropped += batch.flush(fd).dropped as u64;
        }
        m.server.sent(n);
    }
}

/// When a datagram read at `read_at` arrived: its kernel stamp `stamp` (realtime ns) taken
/// back onto the monotonic clock through `real`, the realtime clock read with `read_at`;
/// never later than `read_at` (a stamp from the future is a clock step) nor earlier than
/// `floor`, the latest instant the core has been given (so the core never sees time go
/// back). Without a stamp, `read_at`.
fn arrived(read_at: Instant, real: Option<i128>, stamp: Option<i128>, floor: Instant) -> Instant {
    let (Some(real), Some(stamp)) = (real, stamp) else {
        return read_at.max(floor);
    };
    let waited = u64::try_from(real - stamp).unwrap_or(0);
    read_at
        .checked_sub(Duration::from_nanos(waited))
        .unwrap_or(read_at)
        .max(floor)
        .min(read_at.max(floor))
}

/// Whether a game datagram is a HELLO (the kind byte; the core checks the rest).
fn is_hello(data: &[u8]) -> bool {
    data.len() >= HEADER_LEN && Packet::new_unchecked(data).kind_raw() == Kind::Hello.to_u8()
}

/// Sends one STUN or A2S reply at once (they are rare and rate-limited; game traffic goes
/// through the batches).
fn reply<G>(m: &Match<G>, dst: SocketAddr, bytes: &[u8], c: &mut Counters) {
    let dst = match (dst, m.addr) {
        (SocketAddr::V4(a), SocketAddr::V6(_)) => {
            SocketAddr::new(a.ip().to_ipv6_mapped().into(), a.port())
        }
        (d, _) => d,
    };
    if let Err(e) = m.socket.send_to(bytes, dst) {
        log::debug!("reply to {dst}: {e}");
        c.send_dropped += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_time_is_the_stamp_within_bounds() {
        let t0 = Instant::now();
        let read_at = t0 + Duration::from_millis(10);
        let r = 1_000_000_000_000i128;
        let real = Some(r);
        // Stamped 3 ms before the read.
        let at = arrived(read_at, real, Some(r - 3_000_000), t0);
        assert_eq!(read_at - at, Duration::from_millis(3));
        // Before the floor: the floor.
        let at = arrived(read_at, real, Some(r - 50_000_000), t0);
        assert_eq!(at, t0);
        // From the future (a clock step): the read time.
        let at = arrived(read_at, real, Some(r + 5_000_000), t0);
        assert_eq!(at, read_at);
        // No stamp: the read time.
        assert_eq!(arrived(read_at, None, None, t0), read_at);
        assert_eq!(
            arrived(t0, None, None, read_at),
            read_at,
            "never before the floor"
        );
    }

    #[test]
    fn hello_is_told_by_its_kind_byte() {
        let mut d = [0u8; HEADER_LEN];
        d[10] = Kind::Hello.to_u8();
        assert!(is_hello(&d));
        assert!(!is_hello(&d[..HEADER_LEN - 1]));
        d[10] = Kind::Keepalive.to_u8();
        assert!(!is_hello(&d));
        assert!(!is_hello(&[]));
    }
}
