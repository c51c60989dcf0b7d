//! The host's settings ([`HostConfig`]) and the I/O shell's counters ([`IoStats`]).

use super::ServerInfo;
use crate::lobby::LobbyConfig;
use crate::proto::Config;
use std::net::SocketAddr;
use std::time::Duration;

/// Settings of the I/O shell.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Address of the first match's UDP port (`0.0.0.0:7777`).
    pub bind: SocketAddr,
    /// Independent matches on consecutive ports (1).
    pub matches: usize,
    /// The core's settings, shared by every match. Its [`Config::seed`] seeds the whole
    /// host: match `i`'s server gets `seed + i` (as always), the lobby tickets, the STUN
    /// limiter and the A2S responder each a stream derived from it; `None` draws all of
    /// them from OS entropy.
    pub server: Config,
    /// Socket send and receive buffer size asked of the kernel (8 MiB).
    pub socket_buffer: usize,
    /// Most datagrams read from one socket per wake-up (1024).
    pub recv_budget: usize,
    /// How often to log a stats line (`None` = never; 5 s by default).
    pub stats_interval: Option<Duration>,
    /// Stop cleanly on SIGINT, SIGTERM and SIGHUP (off for embedders, on in the binary).
    pub handle_signals: bool,
    /// With [`HostConfig::handle_signals`]: how long a SIGTERM drains for (no new client
    /// admitted, the host stops once its matches are empty or this has passed; see
    /// [`RunState::Draining`](super::RunState::Draining)). A second SIGTERM, or a SIGINT
    /// or SIGHUP at any time, stops at once. `Duration::ZERO` (the default): SIGTERM stops
    /// at once too.
    pub term_drain: Duration,
    /// Name, map and game shown to A2S server browsers. By default ([`ServerInfo::default`])
    /// the name `"tickwire"` and, for map and game, what the match's game says
    /// ([`Game::map_name`](crate::Game::map_name), [`Game::description`](crate::Game::description)):
    /// a game of your own is not advertised as the arena.
    pub info: ServerInfo,
    /// STUN answers per second per source IP (20).
    pub stun_limit: u32,
    /// A2S answers per second per source IP (20).
    pub query_limit: u32,
    /// The TCP lobby's address and settings; `None` (the default) runs no lobby. Logins
    /// issue tickets that every match redeems (`Config::require_ticket` makes them
    /// mandatory). `Some((addr, LobbyConfig::default()))` runs one with
    /// [`LobbyConfig::default`]: 1024 connections (16 per IP, at most half of them not
    /// logged in), 256 rooms of at most 100 users, a 300 s idle timeout, 10 s to complete a
    /// frame and 10 s to log in, 64 KiB send and 8 KiB receive buffers per connection, and
    /// 10 messages per second (bursts of 20) per user. The binary's lobby listens on the
    /// game port's address, port 7778.
    pub lobby: Option<(SocketAddr, LobbyConfig)>,
    /// How long before each tick the loop stops sleeping and spins on the clock to the
    /// deadline (polling without blocking, so ready I/O is still served at once); the
    /// timer is armed this much early. It hides the timer's wake-up latency at the cost of
    /// up to this much CPU per tick per match. `Duration::ZERO`: off, sleep to the
    /// deadline. Default [`HostConfig::DEFAULT_TICK_SPIN`].
    pub tick_spin: Duration,
    /// Run the loop's thread under `SCHED_FIFO` at this priority (1..=99) when the
    /// process may (CAP_SYS_NICE or RLIMIT_RTPRIO); when it may not, a warning says why and
    /// the loop runs with normal scheduling. `None` (the default): normal scheduling.
    pub realtime: Option<u8>,
    /// When the loop reads the game sockets ([`Receive`]; default
    /// [`HostConfig::DEFAULT_RECEIVE`]).
    pub receive: Receive,
    /// Pin the loop's thread to this CPU (an index as `taskset` numbers them); a CPU the
    /// process may not use is a warning, not an error. `None` (the default): not pinned.
    pub pin_cpu: Option<usize>,
    /// When the matches of a loop tick relative to each other ([`TickPhase`]; default
    /// [`HostConfig::DEFAULT_TICK_PHASE`]).
    pub tick_phase: TickPhase,
}

/// When the matches of a host tick relative to each other.
///
/// Every match ticks at the same rate; what this sets is their phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickPhase {
    /// Spread evenly over one tick period (match `i` of `n` is `i/n` of a period later):
    /// each match's tick and broadcast have the loop to themselves, so a snapshot leaves
    /// right after its tick, at the cost of one wake-up (and one spin) per match per period.
    Staggered,
    /// One deadline for every match: the loop wakes once (with [`Receive::Batched`]: twice)
    /// per period, drains every socket, ticks every match, then sends every broadcast in
    /// large batches. Less CPU and fewer wake-ups; the last match's snapshots leave after
    /// the others' (about 3 us per client before them on loopback here).
    Aligned,
}

/// When a loop reads its game sockets.
///
/// An INPUT is applied at the next tick whenever it is read, so reading it the moment it
/// arrives buys nothing: [`Receive::Batched`] lets datagrams wait in the kernel and reads
/// them in one drain per match just before its tick (started ahead of the tick spin by
/// what the loop learnt such a drain takes, and once more at the deadline), plus one drain in the middle of each tick period for handshakes,
/// STUN and A2S. The loop then wakes about twice per tick instead of for every burst of
/// datagrams. Each datagram carries its kernel arrival time (`SO_TIMESTAMPNS`), and that,
/// not the time it was read, is what RTT samples, lag compensation and timeouts see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receive {
    /// Read a socket as soon as it is readable (one wake-up per burst of datagrams).
    Immediate,
    /// Read each socket just before its match's tick and every `interval` (at most half
    /// a tick period is sensible: it bounds how long a handshake, STUN or A2S request
    /// waits).
    Batched {
        /// The longest a datagram waits in the kernel between two drains of its socket.
        interval: Duration,
    },
}

impl HostConfig {
    /// The default [`HostConfig::tick_spin`]: 200 us, chosen from measurements on a
    /// virtual machine whose timer wake-ups come 50-150 us late (BENCHMARKS.md, "Ticks on
    /// time").
    pub const DEFAULT_TICK_SPIN: Duration = Duration::from_micros(200);

    /// The default [`HostConfig::tick_phase`]: [`TickPhase::Aligned`]. In the 1000-client
    /// arena (8 matches on one loop) it costs about 0.7x the CPU of staggered clocks and
    /// wakes the loop 2 times per period instead of 8 (BENCHMARKS.md, "Loops per core, ticks on time").
    pub const DEFAULT_TICK_PHASE: TickPhase = TickPhase::Aligned;

    /// The default [`HostConfig::receive`]: [`Receive::Batched`], drained every 8.3 ms
    /// (half the default 60 Hz period) besides the drain before each tick. In the
    /// 1000-client arena it costs about a quarter less server CPU per client-tick than
    /// [`Receive::Immediate`] and half the wake-ups (BENCHMARKS.md, "Loops per core, ticks on time").
    pub const DEFAULT_RECEIVE: Receive = Receive::Batched {
        interval: Duration::from_nanos(8_333_333),
    };
}

impl Default for HostConfig {
    fn default() -> HostConfig {
        HostConfig {
            bind: SocketAddr::from(([0, 0, 0, 0], 7777)),
            matches: 1,
            server: Config::default(),
            socket_buffer: 8 << 20,
            recv_budget: 1024,
            stats_interval: Some(Duration::from_secs(5)),
            handle_signals: false,
            term_drain: Duration::ZERO,
            info: ServerInfo::default(),
            stun_limit: crate::stun::DEFAULT_LIMIT_PER_SEC,
            query_limit: crate::query::DEFAULT_LIMIT_PER_SEC,
            lobby: None,
            tick_spin: HostConfig::DEFAULT_TICK_SPIN,
            realtime: None,
            receive: HostConfig::DEFAULT_RECEIVE,
            pin_cpu: None,
            tick_phase: HostConfig::DEFAULT_TICK_PHASE,
        }
    }
}

/// Counters of the I/O shell, as of the call that returned them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoStats {
    /// `recvmmsg` errors other than WouldBlock (ICMP port unreachable and the like).
    pub recv_errors: u64,
    /// Datagrams the kernel would not take (send buffer full) or refused.
    pub send_dropped: u64,
    /// Times a socket's receive budget ran out before it was drained.
    pub recv_budget_hits: u64,
    /// Events for a token no source was registered under (logged at debug level).
    pub unknown_events: u64,
    /// HELLOs dropped unanswered while draining (or in the last turn before a stop).
    pub refused_draining: u64,
    /// Tick start lateness since start, median, in microseconds.
    pub tick_late_p50_us: u64,
    /// Tick start lateness since start, 99th percentile, in microseconds.
    pub tick_late_p99_us: u64,
    /// Tick start lateness since start, 99.9th percentile, in microseconds.
    pub tick_late_p999_us: u64,
    /// Tick start lateness since start, worst, in microseconds.
    pub tick_late_max_us: u64,
    /// Ticks started (all matches).
    pub ticks: u64,
    /// Times the loop slept in `epoll_wait` and woke up (polls that could block).
    pub wakeups: u64,
    /// Polls that did not block because a tick was due within
    /// [`HostConfig::tick_spin`] (the spin).
    pub spin_polls: u64,
    /// Datagrams handed to the core at their kernel arrival time rather than when read
    /// ([`Receive::Batched`]).
    pub rx_stamped: u64,
}
