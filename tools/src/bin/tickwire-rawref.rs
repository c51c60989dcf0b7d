//! `tickwire-rawref`: bare-syscall reference figures for the end-to-end benchmark
//! (`tools/bench-e2e.sh`), so the server's numbers can be read against what the kernel
//! allows on the same machine in the same run.
//!
//! - `drain`: receive on one socket with `recvmmsg` (64 per call, the server's batch) and
//!   do nothing else; reports datagrams per CPU-second.
//! - `flood`: send as fast as possible with `sendmmsg` from a few sockets. With `--connect`
//!   each socket first completes the tickwire handshake and then sends INPUTs with
//!   advancing sequence numbers (the server's accept path), all written by the library
//!   client before the flood starts; without, header-valid KEEPALIVEs for qport 1. With
//!   `--token-key FILE`, each socket connects in secure mode with a token minted from that
//!   fleet key and floods sealed INPUTs, written the same way, so both floods run at the
//!   same rate.
//! - `bcast`: a bare `sendmmsg` broadcast, every tick, of `--parts` snapshot-sized
//!   datagrams (two pieces, header and shared body, as the server sends them) to each of
//!   `--clients` local sockets drained by a second thread; reports the sending thread's CPU
//!   time per client per tick.
//!
//! Each mode prints one line `rawref MODE key=value ...` on stdout.

use clap::{Parser, Subcommand};
use mio::net::UdpSocket as MioUdp;
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickwire::client::{Client, ClientConfig, Event};
use tickwire::internal::{RecvBatch, SendBatch};
use tickwire::wire::{flags, Header, HEADER_LEN, MAX_DATAGRAM};
use tickwire_tools::common::{
    cpu_time, pin_to_cpu, raise_fd_limit, secs, stop_on_signals, thread_cpu_time, unspecified,
};

/// tickwire-rawref: bare recvmmsg/sendmmsg reference measurements.
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// Drain one UDP socket with recvmmsg until --seconds pass or SIGTERM; print the count
    /// and the CPU time it took.
    Drain {
        /// Address to bind.
        #[arg(long)]
        bind: SocketAddr,
        /// How long to run.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Kernel receive buffer in bytes (the server's default: 8 MiB).
        #[arg(long, default_value_t = 8 << 20)]
        socket_buffer: usize,
    },
    /// Flood a UDP address with sendmmsg.
    Flood {
        /// Where to send.
        #[arg(long)]
        target: SocketAddr,
        /// Sending sockets (with --connect, each is one tickwire client; at most 255).
        #[arg(long, default_value_t = 4)]
        sockets: usize,
        /// How long to run.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Datagrams per sendmmsg call.
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Datagrams per second at most, over all sockets (0: as fast as it can). The
        /// receiver's CPU per datagram depends on the input rate (a busier receiver sleeps
        /// less and reads bigger batches), so comparisons run at one rate.
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// Handshake first and send INPUTs with advancing seqs (the server's accept path).
        #[arg(long)]
        connect: bool,
        /// Protocol id for --connect.
        #[arg(long, default_value_t = 0)]
        protocol_id: u32,
        /// Secure mode (implies --connect): each socket connects with a connect token
        /// minted from this fleet key file (as an issuer would, scope 0) and floods INPUTs
        /// sealed under its connection key, as a secure client sends them.
        #[arg(long, value_name = "FILE")]
        token_key: Option<std::path::PathBuf>,
    },
    /// Broadcast snapshot-sized datagrams to N local sockets at a tick rate.
    Bcast {
        /// Receiving sockets (clients).
        #[arg(long, default_value_t = 255)]
        clients: usize,
        /// Ticks per second.
        #[arg(long, default_value_t = 60)]
        hz: u32,
        /// Size of each datagram in bytes (header + body), at most 1200.
        #[arg(long, default_value_t = 1200)]
        size: usize,
        /// Datagrams per client per tick (snapshot parts).
        #[arg(long, default_value_t = 1)]
        parts: usize,
        /// How long to run.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// CPU to pin the sending thread to (default: leave as is).
        #[arg(long)]
        sender_cpu: Option<usize>,
        /// CPU to pin the draining thread to (default: leave as is).
        #[arg(long)]
        drain_cpu: Option<usize>,
    },
}

/// CPU seconds (user + sys) of this process or, with `thread`, of the calling thread.
fn cpu_s(thread: bool) -> f64 {
    let (u, s) = if thread {
        thread_cpu_time()
    } else {
        cpu_time()
    };
    (u + s).as_secs_f64()
}

fn pin(cpu: Option<usize>) {
    let Some(cpu) = cpu else { return };
    if let Err(e) = pin_to_cpu(cpu) {
        eprintln!("rawref: cannot pin to cpu {cpu}: {e}");
    }
}

fn stop_flag() -> Arc<AtomicBool> {
    stop_on_signals("rawref")
}

fn drain(bind: SocketAddr, seconds: f64, buffer: usize) -> io::Result<()> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(bind),
        socket2::Type::DGRAM,
        None,
    )?;
    let _ = s.set_recv_buffer_size(buffer);
    s.set_nonblocking(true)?;
    s.bind(&bind.into())?;
    let mut sock = MioUdp::from_std(s.into());
    println!("rawref listening udp={}", sock.local_addr()?);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut sock, Token(0), Interest::READABLE)?;
    let stop = stop_flag();
    let mut events = Events::with_capacity(8);
    let mut rx = RecvBatch::new(64);
    let mut count = 0u64;
    let mut bytes = 0u64;
    let mut first: Option<(Instant, f64)> = None;
    let end = Instant::now() + secs(seconds);
    let fd = sock.as_raw_fd();
    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
        let left = end.saturating_duration_since(Instant::now());
        match poll.poll(&mut events, Some(left.min(Duration::from_millis(100)))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        loop {
            match rx.recv(fd) {
                Ok(n) => {
                    first.get_or_insert_with(|| (Instant::now(), cpu_s(false)));
                    count += n as u64;
                    for i in 0..n {
                        if let Some((_, d, _)) = rx.get(i) {
                            bytes += d.len() as u64;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }
    let (t0, c0) = first.unwrap_or((Instant::now(), cpu_s(false)));
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_s(false) - c0;
    println!(
        "rawref drain datagrams={count} bytes={bytes} wall_s={wall:.3} cpu_s={cpu:.3} per_s={:.0} per_cpu_s={:.0}",
        count as f64 / wall.max(1e-9),
        count as f64 / cpu.max(1e-9)
    );
    Ok(())
}

/// Handshakes one socket; returns the connected client, its qport, next seq and the
/// server's seq. With `token`, in secure mode.
fn handshake(
    sock: &UdpSocket,
    protocol_id: u32,
    token: Option<tickwire::secure::ConnectToken>,
) -> io::Result<(Client, u8, u32, u32)> {
    let now = Instant::now();
    let cfg = ClientConfig {
        protocol_id,
        ..ClientConfig::default()
    };
    let mut c = match token {
        Some(t) => Client::with_token(cfg, t, now),
        None => Client::new(cfg, now),
    };
    sock.set_read_timeout(Some(Duration::from_millis(20)))?;
    let mut buf = [0u8; 2048];
    let end = now + Duration::from_secs(5);
    while Instant::now() < end {
        while let Some(n) = c.poll_transmit(Instant::now(), &mut buf) {
            sock.send(&buf[..n])?;
        }
        if let Ok(n) = sock.recv(&mut buf) {
            if let Some(Event::Connected { qport, .. }) =
                c.handle_datagram(Instant::now(), &buf[..n])
            {
                // Send the first KEEPALIVE the client queues, as a real client does.
                while let Some(n) = c.poll_transmit(Instant::now(), &mut buf) {
                    sock.send(&buf[..n])?;
                }
                let (next, server) = (c.next_seq(), c.server_seq());
                return Ok((c, qport, next, server));
            }
        }
        let _ = c.handle_timeout(Instant::now());
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, "no ACCEPT"))
}

#[allow(clippy::too_many_arguments)]
fn flood(
    target: SocketAddr,
    sockets: usize,
    seconds: f64,
    batch: usize,
    connect: bool,
    protocol_id: u32,
    token_key: Option<std::path::PathBuf>,
    rate: u64,
) -> io::Result<()> {
    let batch = batch.clamp(1, 1024);
    let pace = Pace::new(rate);
    let issuer = match &token_key {
        Some(path) => Some(tickwire::secure::Issuer::new(
            tickwire::secure::Key::read_file(path)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?,
            protocol_id,
        )),
        None => None,
    };
    let secure = issuer.is_some();
    let connect = connect || secure;
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut socks = Vec::new();
    let mut clients = Vec::new();
    for i in 0..sockets.clamp(1, 255) {
        let s = UdpSocket::bind(unspecified(&target))?;
        s.connect(target)?;
        let token = issuer.as_ref().map(|is| is.mint(i as u64, 0, "", unix_now));
        let (qport, seq, ack) = if connect {
            let (c, q, seq, ack) = handshake(&s, protocol_id, token)?;
            clients.push(c);
            (q, seq, ack)
        } else {
            (1, 1, 0)
        };
        s.set_nonblocking(true)?;
        socks.push((s, qport, seq, ack));
    }
    if connect {
        // Plain or sealed INPUTs from the library clients, all written before the flood.
        return flood_clients(target, socks, clients, (seconds, batch, pace), secure);
    }
    let stop = stop_flag();
    // INPUT (walk right) with SEQ|ACK, or a KEEPALIVE: 15 or 13 bytes.
    // Not handshaken: header-valid KEEPALIVEs for qport 1 (13 bytes), the bare reference.
    let (kind, flags, len) = (0x00u8, flags::SEQ | flags::ACK, 0u16);
    let size = HEADER_LEN + len as usize;
    let mut bufs = vec![[0u8; 16]; batch];
    let mut tx = SendBatch::new(batch, target.is_ipv6());
    let (mut sent, mut dropped) = (0u64, 0u64);
    let t0 = Instant::now();
    let c0 = cpu_s(false);
    let end = t0 + secs(seconds);
    'outer: while !stop.load(Ordering::Relaxed) && Instant::now() < end {
        for (s, qport, seq, ack) in socks.iter_mut() {
            for b in bufs.iter_mut() {
                let _ = Header {
                    flags,
                    seq: *seq,
                    ack: *ack,
                    qport: *qport,
                    kind,
                    len,
                }
                .emit(&mut b[..]);
                b[HEADER_LEN] = 1;
                b[HEADER_LEN + 1] = 0;
                *seq = seq.wrapping_add(1);
            }
            for b in &bufs {
                // SAFETY: bufs is not touched until the flush below returns.
                unsafe { tx.push(target, &b[..size], &[]) };
            }
            let r = tx.flush(s.as_raw_fd());
            sent += r.sent as u64;
            dropped += r.dropped as u64;
            pace.wait(t0, sent + dropped);
            if stop.load(Ordering::Relaxed) {
                break 'outer;
            }
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    println!(
        "rawref flood datagrams={sent} refused={dropped} wall_s={wall:.3} cpu_s={:.3} per_s={:.0} connect={connect}",
        cpu_s(false) - c0,
        sent as f64 / wall.max(1e-9)
    );
    Ok(())
}

/// The handshaken flood: each socket's library client writes its INPUTs (walk right), as
/// a client sends them (sealed in secure mode), all of them before the flood starts, so
/// the plain and the secure flood run at the same rate (sealing on the fly would make the
/// flooder, not the server, the limit); then `batch` per `sendmmsg` call.
fn flood_clients(
    target: SocketAddr,
    socks: Vec<(UdpSocket, u8, u32, u32)>,
    mut clients: Vec<Client>,
    (seconds, batch, pace): (f64, usize, Pace),
    secure: bool,
) -> io::Result<()> {
    const SLOT: usize = 32;
    // Enough for the fastest plain flood seen here (~600 k/s), capped at 4 M datagrams.
    let total = ((seconds * 700_000.0) as usize).clamp(batch, 4_000_000);
    let per_sock = total.div_ceil(socks.len()).max(batch);
    let now = Instant::now();
    let mut sealed: Vec<Vec<u8>> = Vec::with_capacity(socks.len());
    // Each slot: the datagram (an INPUT: 15 bytes, 31 sealed; a KEEPALIVE: 13, 29 sealed),
    // its length in the slot's last byte.
    for c in clients.iter_mut() {
        let mut b = vec![0u8; per_sock * SLOT];
        for k in 0..per_sock {
            let _ = c.send_game(0x10, &[1, 0]);
            let mut one = [0u8; 64];
            let n = c.poll_transmit(now, &mut one).unwrap_or(0).min(SLOT - 1);
            b[k * SLOT..k * SLOT + n].copy_from_slice(&one[..n]);
            b[k * SLOT + SLOT - 1] = n as u8;
        }
        sealed.push(b);
    }
    let stop = stop_flag();
    let mut tx = SendBatch::new(batch, target.is_ipv6());
    let (mut sent, mut dropped) = (0u64, 0u64);
    let mut at = 0usize;
    let t0 = Instant::now();
    let c0 = cpu_s(false);
    let end = t0 + secs(seconds);
    'outer: while !stop.load(Ordering::Relaxed) && Instant::now() < end {
        if at + batch > per_sock {
            eprintln!("tickwire-rawref: the pre-sealed datagrams ran out before --seconds");
            break;
        }
        for ((s, ..), b) in socks.iter().zip(&sealed) {
            for k in at..at + batch {
                // SAFETY: `sealed` is not touched until the flush below returns.
                let n = b[k * SLOT + SLOT - 1] as usize;
                unsafe { tx.push(target, &b[k * SLOT..k * SLOT + n], &[]) };
            }
            let r = tx.flush(s.as_raw_fd());
            sent += r.sent as u64;
            dropped += r.dropped as u64;
            pace.wait(t0, sent + dropped);
            if stop.load(Ordering::Relaxed) {
                break 'outer;
            }
        }
        at += batch;
    }
    let wall = t0.elapsed().as_secs_f64();
    println!(
        "rawref flood datagrams={sent} refused={dropped} wall_s={wall:.3} cpu_s={:.3} per_s={:.0} connect=true secure={secure}",
        cpu_s(false) - c0,
        sent as f64 / wall.max(1e-9)
    );
    Ok(())
}

/// Holds a flood to `rate` datagrams per second (0: no limit).
#[derive(Debug, Clone, Copy)]
struct Pace {
    rate: u64,
}

impl Pace {
    fn new(rate: u64) -> Pace {
        Pace { rate }
    }

    /// Waits until `sent` datagrams since `t0` are within the rate.
    fn wait(&self, t0: Instant, sent: u64) {
        if self.rate == 0 {
            return;
        }
        let due = t0 + Duration::from_secs_f64(sent as f64 / self.rate as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn bcast(
    clients: usize,
    hz: u32,
    size: usize,
    parts: usize,
    seconds: f64,
    sender_cpu: Option<usize>,
    drain_cpu: Option<usize>,
) -> io::Result<()> {
    let clients = clients.max(1);
    let parts = parts.clamp(1, 16);
    let size = size.clamp(HEADER_LEN + 14, MAX_DATAGRAM);
    let hz = hz.clamp(1, 10_000);
    let _ = raise_fd_limit(clients as u64 + 64);
    let mut dsts = Vec::with_capacity(clients);
    let mut socks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let s = MioUdp::bind("127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!()))?;
        dsts.push(s.local_addr()?);
        socks.push(s);
    }
    let done = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let drainer = {
        let done = done.clone();
        let received = received.clone();
        std::thread::spawn(move || -> io::Result<()> {
            pin(drain_cpu);
            let mut poll = Poll::new()?;
            for (i, s) in socks.iter_mut().enumerate() {
                poll.registry().register(s, Token(i), Interest::READABLE)?;
            }
            let mut events = Events::with_capacity(1024);
            let mut rx = RecvBatch::new(8);
            while !done.load(Ordering::Relaxed) {
                poll.poll(&mut events, Some(Duration::from_millis(50)))?;
                for ev in events.iter() {
                    let Some(s) = socks.get(ev.token().0) else {
                        continue;
                    };
                    while let Ok(n) = rx.recv(s.as_raw_fd()) {
                        received.fetch_add(n as u64, Ordering::Relaxed);
                        if n < 8 {
                            break;
                        }
                    }
                }
            }
            Ok(())
        })
    };
    pin(sender_cpu);
    let stop = stop_flag();
    let sender = UdpSocket::bind("127.0.0.1:0")?;
    let sref = socket2::SockRef::from(&sender);
    let _ = sref.set_send_buffer_size(8 << 20);
    sender.set_nonblocking(true)?;
    let body = vec![0x5Au8; size - 27];
    let heads: Vec<[u8; 27]> = (0..clients * parts).map(|i| [i as u8; 27]).collect();
    let mut tx = SendBatch::new(1024, false);
    let period = Duration::from_nanos(1_000_000_000 / u64::from(hz));
    let t0 = Instant::now();
    let c0 = cpu_s(true);
    let end = t0 + secs(seconds);
    let (mut ticks, mut sent, mut dropped, mut late_max) = (0u64, 0u64, 0u64, Duration::ZERO);
    while !stop.load(Ordering::Relaxed) {
        let due = t0 + period * ticks as u32;
        if due >= end {
            break;
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else {
            late_max = late_max.max(now - due);
        }
        for (i, dst) in dsts.iter().enumerate() {
            for p in 0..parts {
                if tx.is_full() {
                    let r = tx.flush(sender.as_raw_fd());
                    sent += r.sent as u64;
                    dropped += r.dropped as u64;
                }
                // SAFETY: heads and body outlive every flush.
                unsafe { tx.push(*dst, &heads[i * parts + p], &body) };
            }
        }
        let r = tx.flush(sender.as_raw_fd());
        sent += r.sent as u64;
        dropped += r.dropped as u64;
        ticks += 1;
    }
    let cpu = cpu_s(true) - c0;
    let wall = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(100));
    done.store(true, Ordering::Relaxed);
    let _ = drainer.join();
    let per = cpu / (clients as f64 * ticks.max(1) as f64);
    println!(
        "rawref bcast clients={clients} hz={hz} size={size} parts={parts} ticks={ticks} sent={sent} refused={dropped} received={} wall_s={wall:.3} sender_cpu_s={cpu:.3} us_per_client_tick={:.3} late_max_us={}",
        received.load(Ordering::Relaxed),
        per * 1e6,
        late_max.as_micros()
    );
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.mode {
        Mode::Drain {
            bind,
            seconds,
            socket_buffer,
        } => drain(bind, seconds, socket_buffer),
        Mode::Flood {
            target,
            sockets,
            seconds,
            batch,
            connect,
            protocol_id,
            token_key,
            rate,
        } => flood(
            target,
            sockets,
            seconds,
            batch,
            connect,
            protocol_id,
            token_key,
            rate,
        ),
        Mode::Bcast {
            clients,
            hz,
            size,
            parts,
            seconds,
            sender_cpu,
            drain_cpu,
        } => bcast(clients, hz, size, parts, seconds, sender_cpu, drain_cpu),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickwire-rawref: {e}");
            ExitCode::FAILURE
        }
    }
}
