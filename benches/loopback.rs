//! End-to-end receive path over 127.0.0.1: a `Host` in its own thread, a few handshaken
//! sockets flooding it with INPUTs (advancing seqs) through `sendmmsg`. Reports datagrams
//! per second through the host's receive path and per CPU-second of the host thread.
//!
//! Bounded: three rounds of one second. Not a criterion benchmark (`harness = false`, plain
//! `main`): the figure of interest is a rate over a fixed interval, not a per-call time.
//! `cargo bench --bench loopback`.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tickwire::client::{Client, ClientConfig, Event};
use tickwire::internal::SendBatch;
use tickwire::wire::{flags, Header, HEADER_LEN};
use tickwire::{Arena, Host, HostConfig};

const SOCKETS: usize = 4;
const BATCH: usize = 64;
const ROUND: Duration = Duration::from_secs(1);
const ROUNDS: usize = 3;

fn thread_cpu() -> Duration {
    // SAFETY: getrusage writes one rusage we own.
    let mut u: libc::rusage = unsafe { core::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Handshakes `sock` with the server; returns (qport, next seq, newest server seq).
fn handshake(sock: &UdpSocket) -> (u8, u32, u32) {
    let mut c = Client::new(ClientConfig::default(), Instant::now());
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        while let Some(n) = c.poll_transmit(Instant::now(), &mut buf) {
            sock.send(&buf[..n]).unwrap();
        }
        if let Ok(n) = sock.recv(&mut buf) {
            if let Some(Event::Connected { qport, .. }) =
                c.handle_datagram(Instant::now(), &buf[..n])
            {
                return (qport, c.next_seq(), c.server_seq());
            }
        }
        let _ = c.handle_timeout(Instant::now());
    }
    panic!("no ACCEPT from the loopback host");
}

fn round(n: usize) -> (u64, u64, u64, Duration, Duration) {
    let (tx, rx) = mpsc::channel();
    let host = std::thread::spawn(move || {
        let cfg = HostConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            stats_interval: None,
            ..HostConfig::default()
        };
        let mut host = Host::bind(cfg, |_| Arena::new(n as u64)).expect("bind");
        tx.send((host.udp_addrs()[0], host.stopper())).unwrap();
        let c0 = thread_cpu();
        host.run().expect("run");
        let cpu = thread_cpu() - c0;
        let s = host.merged_stats();
        (s.datagrams_in, s.dropped(), cpu)
    });
    let (server, stopper): (SocketAddr, _) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let mut socks: Vec<(UdpSocket, u8, u32, u32)> = (0..SOCKETS)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.connect(server).unwrap();
            let (q, seq, ack) = handshake(&s);
            s.set_nonblocking(true).unwrap();
            (s, q, seq, ack)
        })
        .collect();
    let mut bufs = vec![[0u8; HEADER_LEN + 2]; BATCH];
    let mut batch = SendBatch::new(BATCH, false);
    let mut sent = 0u64;
    let t0 = Instant::now();
    while t0.elapsed() < ROUND {
        for (s, qport, seq, ack) in socks.iter_mut() {
            for b in bufs.iter_mut() {
                let _ = Header {
                    flags: flags::SEQ | flags::ACK,
                    seq: *seq,
                    ack: *ack,
                    qport: *qport,
                    kind: 0x10,
                    len: 2,
                }
                .emit(&mut b[..]);
                b[HEADER_LEN] = 1;
                *seq = seq.wrapping_add(1);
            }
            for b in &bufs {
                // SAFETY: bufs outlives the flush below.
                unsafe { batch.push(server, b, &[]) };
            }
            sent += batch.flush(s.as_raw_fd()).sent as u64;
        }
    }
    // Let the host drain what is queued, then stop it.
    std::thread::sleep(Duration::from_millis(50));
    let wall = t0.elapsed();
    stopper.stop();
    let (received, dropped, cpu) = host.join().expect("host thread");
    (sent, received, dropped, wall, cpu)
}

fn main() {
    println!("loopback receive path: {SOCKETS} handshaken sockets flooding INPUTs with sendmmsg ({BATCH}/call), {ROUNDS} rounds of {ROUND:?}");
    for r in 0..ROUNDS {
        let (sent, received, dropped, wall, cpu) = round(r);
        let secs = wall.as_secs_f64();
        println!(
            "round {r}: sent {sent} received {received} ({:.1}%, {dropped} dropped by the core) | {:.0} datagrams/s through the host | host thread cpu {:.3} s = {:.0} datagrams per cpu-second",
            100.0 * received as f64 / sent.max(1) as f64,
            received as f64 / secs,
            cpu.as_secs_f64(),
            received as f64 / cpu.as_secs_f64().max(1e-9),
        );
    }
}
