//! Microbenchmarks of the sans-IO lobby core with injected time: one ROOM_CHAT in a room of
//! 100 members, fanned out and written out (every member's send buffer drained, as the
//! shell does after each event), in plain and MessagePack bodies; and a connection's whole
//! life (accept, login, enter, chat, close). No sockets: what the kernel costs is in
//! `tickwire-lobby-bench`.
//!
//! `cargo bench --bench lobby`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;
use tickwire::client::lobby::{Format, Request};
use tickwire::lobby::{LobbyConfig, LobbyCore};
use tickwire::Tickets;

const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn cfg() -> LobbyConfig {
    LobbyConfig {
        max_conns_per_ip: 10_000,
        user_msgs_per_sec: 0,
        ..LobbyConfig::default()
    }
}

fn frame(r: Request, format: Format) -> Vec<u8> {
    let mut buf = vec![0; 4096];
    let n = r.emit_as(&mut buf, format).unwrap();
    buf.truncate(n);
    buf
}

fn feed(core: &mut LobbyCore<()>, id: usize, mut bytes: &[u8], now: Instant) {
    while !bytes.is_empty() {
        let Some((_, space)) = core.recv_space(id) else {
            return;
        };
        let n = space.len().min(bytes.len());
        space[..n].copy_from_slice(&bytes[..n]);
        core.received(id, n, now);
        bytes = &bytes[n..];
    }
}

/// Writes out everything queued, as the shell does; returns the bytes.
fn drain(core: &mut LobbyCore<()>) -> usize {
    let mut total = 0;
    while let Some(id) = core.pop_dirty() {
        while let Some((_, data)) = core.send_data(id) {
            let n = data.len();
            total += n;
            core.sent(id, n);
        }
    }
    total
}

/// A room of `n` logged-in members speaking `format`; returns the core and their ids.
fn room(n: usize, format: Format, now: Instant) -> (LobbyCore<()>, Vec<usize>) {
    let mut core = LobbyCore::new(cfg(), Tickets::new(1024));
    let mut ids = Vec::new();
    for i in 0..n {
        let id = core.open(IP, (), now).unwrap();
        let name = format!("m{i}");
        feed(
            &mut core,
            id,
            &frame(Request::Login { name: &name }, format),
            now,
        );
        let r = match i {
            0 => Request::RoomCreate {
                title: "hall",
                max: 100,
            },
            _ => Request::RoomEnter { room: 1 },
        };
        feed(&mut core, id, &frame(r, format), now);
        drain(&mut core);
        ids.push(id);
    }
    (core, ids)
}

fn fanout(c: &mut Criterion) {
    let now = Instant::now();
    let text = "m".repeat(100);
    for (label, format) in [("plain", Format::Plain), ("msgpack", Format::MsgPack)] {
        let (mut core, ids) = room(100, format, now);
        let chat = frame(Request::RoomChat { msg: &text }, format);
        feed(&mut core, ids[1], &chat, now);
        let out = drain(&mut core);
        assert!(
            out >= 100 * 100,
            "one chat reaches every member: {out} bytes"
        );
        let mut g = c.benchmark_group("lobby");
        g.throughput(Throughput::Elements(100));
        let mut k = 0;
        let (mut iters, mut bytes) = (0u64, 0usize);
        g.bench_function(format!("room_chat_100_members_{label}"), |b| {
            b.iter(|| {
                k = (k + 1) % ids.len();
                feed(&mut core, ids[k], black_box(&chat), now);
                let out = drain(&mut core);
                iters += 1;
                bytes += out;
                black_box(out)
            })
        });
        g.finish();
        // Every iteration fanned its chat out to all 100 members.
        assert!(
            bytes as u64 >= iters * 100 * 100,
            "{bytes} bytes out in {iters} chats: not every chat reached every member"
        );
    }
}

fn connection_life(c: &mut Criterion) {
    let now = Instant::now();
    let (mut core, _) = room(10, Format::Plain, now);
    let login = frame(Request::Login { name: "guest" }, Format::Plain);
    let enter = frame(Request::RoomEnter { room: 1 }, Format::Plain);
    let chat = frame(Request::RoomChat { msg: "hello" }, Format::Plain);
    c.bench_function("lobby/accept_login_enter_chat_close", |b| {
        b.iter(|| {
            let id = core.open(IP, (), now).unwrap();
            feed(&mut core, id, &login, now);
            feed(&mut core, id, &enter, now);
            feed(&mut core, id, &chat, now);
            let out = drain(&mut core);
            core.peer_closed(id);
            while let Some((id, _)) = core.pop_closing() {
                core.remove(id);
            }
            black_box(out + drain(&mut core))
        })
    });
}

criterion_group!(benches, fanout, connection_life);
criterion_main!(benches);
