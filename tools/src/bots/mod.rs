//! The load generator's engine: many simulated arena players in one thread.
//!
//! [`run`] drives `clients` bots from one `mio::Poll` loop. Each bot has its own
//! non-blocking UDP socket (connected to its server, so the kernel filters strangers) and
//! its own sans-IO [`Client`](tickwire::client::Client). Bots start connecting staggered at
//! [`BotConfig::connect_rate`] per second, then walk (INPUT at [`BotConfig::input_hz`],
//! changing direction at random), fire (FIRE at [`BotConfig::fire_hz`], naming the newest
//! snapshot they received, aimed at random), keep alive, and measure. At the end every
//! connected bot says BYE and [`run`] returns a [`Summary`].
//!
//! In secure mode ([`BotConfig::tokens`]) each bot connects with a connect token
//! (PROTOCOL.md section 8), minted locally when the bot starts, as a backend would, or read
//! from a file for a single bot.
//!
//! Timers live in one binary heap of `(deadline, bot)` with lazy deletion: a bot is pushed
//! again only when its next deadline moves earlier, and a popped entry that is not the bot's
//! current deadline is skipped, so the heap holds about one entry per bot.
//!
//! Receiving reads each readable socket with `recvmmsg` into one shared batch. A short
//! batch means the socket was empty at that moment; on Linux every datagram that arrives
//! later raises a new edge-triggered event, so the bot does not call again just to see
//! `WouldBlock` (which would cost one extra system call per wake-up per bot).
//!
//! ```no_run
//! use tickwire_tools::bots::{self, BotConfig};
//! let cfg = BotConfig {
//!     servers: vec!["127.0.0.1:7777".parse().unwrap()],
//!     clients: 20,
//!     ..BotConfig::default()
//! };
//! let summary = bots::run(&cfg, |p| eprintln!("{p}")).unwrap();
//! println!("{summary}");
//! ```
mod engine;
mod summary;

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tickwire::client::ClientConfig;
use tickwire::secure::{ConnectToken, Issuer};

pub use engine::run;

pub use summary::{CpuUse, Failures, Percentiles, Progress, Summary, Traffic};

/// What the bots do and where.
#[derive(Debug, Clone)]
pub struct BotConfig {
    /// Server game ports; bot `i` goes to `servers[i % servers.len()]`.
    pub servers: Vec<SocketAddr>,
    /// How many bots.
    pub clients: usize,
    /// How long the whole run lasts, ramp-up included.
    pub duration: Duration,
    /// INPUT datagrams per second per bot (0 = none).
    pub input_hz: f64,
    /// FIRE datagrams per second per bot (0 = none).
    pub fire_hz: f64,
    /// Protocol id sent in HELLO.
    pub protocol_id: u32,
    /// Bots that start connecting per second (the ramp lasts `clients / connect_rate`).
    pub connect_rate: f64,
    /// How often the progress callback runs (`None` = never).
    pub progress: Option<Duration>,
    /// Seed of the bots' random walk and aim.
    pub seed: u64,
    /// Settings of every bot's [`Client`](tickwire::client::Client) (protocol id is taken from above).
    pub client: ClientConfig,
    /// Kernel receive buffer per bot socket, bytes (`None` = the system default).
    pub socket_buffer: Option<usize>,
    /// Set it from another thread (or a signal handler) to end the run early, cleanly.
    pub stop: Option<Arc<AtomicBool>>,
    /// A STUN server (any RFC 5389 server; a tickwire game port answers STUN): each bot
    /// asks it for its socket's public address before it starts, and puts that address in
    /// HELLO's reply field. The request is blocking, at socket creation.
    pub stun: Option<SocketAddr>,
    /// A tickwire lobby (for a `serve --require-ticket` server): each bot logs in there
    /// (blocking, when it starts; name `b<seed>-<i>`) and sends the ticket it gets in
    /// HELLO. It holds that lobby connection until its handshake ends, since logging out
    /// revokes an unused ticket; a failed login ends the bot (counted in the summary).
    pub lobby: Option<SocketAddr>,
    /// Secure mode: where each bot's connect token comes from (`None`: plain HELLO). Does
    /// not combine with [`BotConfig::lobby`] (tickets ride in plain HELLOs).
    pub tokens: Option<Tokens>,
    /// Which local address each bot's socket is bound to (see [`SourceIps`]).
    pub source_ips: SourceIps,
}

/// Which local address each bot's UDP socket is bound to.
///
/// A tickwire server limits what one IP address may hold (`--max-clients-per-ip`, 16 per
/// match by default) and how many CHALLENGEs it is sent (10 per second): a thousand bots
/// from 127.0.0.1 would mostly be refused. Every address of 127.0.0.0/8 is this host on
/// Linux, so on loopback each bot can come from an address of its own, as players do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceIps {
    /// [`SourceIps::PerBot`] when every server is an IPv4 loopback address, else
    /// [`SourceIps::One`].
    #[default]
    Auto,
    /// The system picks (every bot from the one address of the route to the server).
    One,
    /// Bot `i` binds 127.x.y.z, the `i + 1`-th address after 127.1.0.0 (127.1.0.1,
    /// 127.1.0.2, ...): up to 16 million bots, each its own IP. Needs IPv4 loopback servers.
    PerBot,
}

impl SourceIps {
    /// What [`SourceIps::Auto`] means for these servers; an error when
    /// [`SourceIps::PerBot`] is asked for with a server that is not IPv4 loopback.
    pub fn resolve(self, servers: &[SocketAddr]) -> Result<SourceIps, String> {
        let all_loopback = !servers.is_empty()
            && servers
                .iter()
                .all(|a| matches!(a, SocketAddr::V4(v4) if v4.ip().is_loopback()));
        match self {
            SourceIps::Auto if all_loopback => Ok(SourceIps::PerBot),
            SourceIps::Auto => Ok(SourceIps::One),
            SourceIps::PerBot if !all_loopback => Err(
                "a source IP per bot (127.1.0.1 and on) needs every server on IPv4 loopback \
                 (127.0.0.0/8)"
                    .into(),
            ),
            other => Ok(other),
        }
    }

    /// The address bot `i` binds (port 0) under `self` (already resolved), for `server`.
    pub fn bind_addr(self, i: usize, server: &SocketAddr) -> SocketAddr {
        match self {
            SourceIps::PerBot => {
                let n = 0x7f00_0000 | (0x01_0001u32.wrapping_add(i as u32) & 0x00ff_ffff);
                (std::net::Ipv4Addr::from(n), 0).into()
            }
            _ => crate::common::unspecified(server),
        }
    }
}

/// Where the bots' connect tokens come from in secure mode.
#[derive(Debug, Clone)]
pub enum Tokens {
    /// Every bot mints its own token when it starts connecting, as a backend would: client
    /// id = the bot's index, the given scope (the server's `--server-id`, or 0), name
    /// `b<seed mod 10^6>-<i>` (cut at 16 bytes), the issuer's lifetime from that moment.
    Mint {
        /// The fleet key and protocol id (and lifetime) to mint with.
        issuer: Issuer,
        /// The scope of every token.
        scope: u64,
    },
    /// One token, for the one bot of the run (a run of more bots is refused: a token
    /// admits one connection).
    One(ConnectToken),
    /// Every bot logs in to this TLS lobby (name `b<seed mod 10^6>-<i>`), asks it for a
    /// token with TOKEN_REQ (PROTOCOL.md section 8.4) and closes the lobby connection: a
    /// client as a real player is one, end to end.
    Lobby {
        /// The lobby's address.
        addr: std::net::SocketAddr,
        /// The CA certificates to trust (a self-signed lobby certificate).
        trust: tickwire::client::lobby::TlsTrust,
        /// The name the lobby's certificate must carry.
        server_name: String,
        /// The scope to ask for (0: the lobby's own server).
        scope: u64,
    },
}

impl Default for BotConfig {
    fn default() -> BotConfig {
        BotConfig {
            servers: Vec::new(),
            clients: 1,
            duration: Duration::from_secs(10),
            input_hz: 10.0,
            fire_hz: 1.0,
            protocol_id: 0,
            connect_rate: 500.0,
            progress: None,
            seed: 1,
            client: ClientConfig {
                // Several snapshot parts at most for 255 players; keeps memory per bot small.
                max_snapshot_parts: 4,
                ..ClientConfig::default()
            },
            socket_buffer: None,
            stop: None,
            stun: None,
            lobby: None,
            tokens: None,
            source_ips: SourceIps::Auto,
        }
    }
}

/// Expands `addr` into `matches` consecutive ports (the layout of `tickwire serve
/// --matches`). Ports past 65535 are left out.
pub fn consecutive(addrs: &[SocketAddr], matches: u16) -> Vec<SocketAddr> {
    let mut v = Vec::new();
    for a in addrs {
        for k in 0..matches.max(1) {
            if let Some(p) = a.port().checked_add(k) {
                v.push(SocketAddr::new(a.ip(), p));
            }
        }
    }
    v
}
