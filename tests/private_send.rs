//! A game sends one player a datagram of its own (`Context::send`, issue 17 item 7): only
//! that player's client gets it, as `Event::Game`, sequenced like everything else the
//! server sends it; bad sends are refused without consuming a seq; nothing allocates.
//! Sans-IO: the server core and two sans-IO clients, injected time, no sockets.

#[path = "common/counting.rs"]
mod counting;

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tickwire::client::{Client, ClientConfig, Event, State};
use tickwire::wire::{Direction, DropReason, Kind, Packet, MAX_DATAGRAM, MAX_PAYLOAD};
use tickwire::{Config, Context, Game, PlayerId, SendError, Server, SnapshotWriter};

#[global_allocator]
static A: counting::Counting = counting::Counting;

/// Kind of a client's request: `[target qport, bytes...]`.
const WHISPER: u8 = 0x20;
/// Kind of what the target gets: the bytes.
const HEARD: u8 = 0x30;

/// A game that forwards a whisper to its target alone, and remembers how the send went.
#[derive(Default)]
struct Whispers {
    last: Option<Result<(), SendError>>,
}

impl Game for Whispers {
    fn knows_kind(&self, kind: u8) -> bool {
        kind == WHISPER
    }
    fn check_input(&self, _kind: u8, payload: &[u8]) -> bool {
        !payload.is_empty()
    }
    fn input(&mut self, cx: &mut Context<'_>, _player: PlayerId, _kind: u8, payload: &[u8]) {
        self.last = Some(cx.send(payload[0], HEARD, &payload[1..]));
    }
    fn step(&mut self, _tick: u32) {}
    fn snapshot(&self, w: &mut SnapshotWriter<'_>) {
        let _ = w.entity(&[1]);
    }
}

struct World {
    server: Server<Whispers>,
    clients: Vec<(SocketAddr, Client)>,
    now: Instant,
    out: Box<[u8; MAX_DATAGRAM]>,
}

impl World {
    fn new(n: usize) -> World {
        let now = Instant::now();
        let cfg = Config {
            seed: Some(17),
            ..Config::default()
        };
        let mut w = World {
            server: Server::new(cfg, Whispers::default(), now),
            clients: (0..n)
                .map(|i| {
                    let addr = SocketAddr::from(([10, 0, 0, 1 + i as u8], 5000));
                    (addr, Client::new(ClientConfig::default(), now))
                })
                .collect(),
            now,
            out: Box::new([0; MAX_DATAGRAM]),
        };
        for _ in 0..10 {
            w.pump();
        }
        for (_, c) in &w.clients {
            assert!(
                matches!(c.state(), State::Connected { .. }),
                "{:?}",
                c.state()
            );
        }
        w
    }

    fn qport(&self, i: usize) -> u8 {
        match self.clients[i].1.state() {
            State::Connected { qport, .. } => qport,
            s => panic!("client {i} is {s:?}"),
        }
    }

    /// Clients to server, the server's timers, then server to clients: each client's
    /// events, in order (a `Game` event with its payload).
    fn pump(&mut self) -> Vec<Vec<(Event, Vec<u8>)>> {
        for (addr, c) in &mut self.clients {
            while let Some(n) = c.poll_transmit(self.now, &mut self.out[..]) {
                let _ = self.server.handle_datagram(self.now, *addr, &self.out[..n]);
            }
        }
        self.server.handle_timeout(self.now);
        let mut events = vec![vec![]; self.clients.len()];
        let transmits = self.server.transmits().to_vec();
        for t in &transmits {
            let n = self.server.write_transmit(t, &mut self.out[..]).unwrap();
            let i = self.clients.iter().position(|(a, _)| *a == t.dst).unwrap();
            let c = &mut self.clients[i].1;
            if let Some(e) = c.handle_datagram(self.now, &self.out[..n]) {
                events[i].push((e, c.game_payload().to_vec()));
            }
        }
        self.server.sent(transmits.len());
        self.now += Duration::from_millis(17);
        events
    }

    fn games(events: &[(Event, Vec<u8>)]) -> Vec<(u8, Vec<u8>)> {
        events
            .iter()
            .filter_map(|(e, p)| match e {
                Event::Game { kind } => Some((*kind, p.clone())),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn a_private_datagram_reaches_only_its_player() {
    let mut w = World::new(3);
    let b = w.qport(1);
    let sent_before = w.server.stats().datagrams_out;
    w.clients[0].1.send_game(WHISPER, &[b, b'h', b'i']).unwrap();
    let events = w.pump();
    assert_eq!(w.server.game().last, Some(Ok(())));
    assert_eq!(World::games(&events[1]), [(HEARD, b"hi".to_vec())]);
    assert!(World::games(&events[0]).is_empty(), "{:?}", events[0]);
    assert!(World::games(&events[2]).is_empty(), "{:?}", events[2]);
    let s = w.server.stats();
    assert_eq!(s.game_sent, 1);
    assert!(s.datagrams_out > sent_before);
    // It took a seq of its own: the client saw no loss and no duplicate around it.
    for _ in 0..5 {
        w.pump();
    }
    let st = w.clients[1].1.stats();
    assert_eq!((st.lost, st.late, st.drops.total()), (0, 0, 0), "{st:?}");
}

#[test]
fn bad_sends_are_refused_and_queue_nothing() {
    let mut w = World::new(2);
    let b = w.qport(1);
    let now = w.now;
    let s = &mut w.server;
    assert_eq!(s.send(now, b, 0x05, b"x"), Err(SendError::NotGameKind));
    assert_eq!(s.send(now, 0, HEARD, b"x"), Err(SendError::NotConnected));
    let nobody = (1..=255u8)
        .find(|q| *q != b && *q != w.qport_of(0))
        .unwrap();
    assert_eq!(
        w.server.send(now, nobody, HEARD, b"x"),
        Err(SendError::NotConnected)
    );
    let big = vec![7u8; MAX_PAYLOAD + 1];
    assert_eq!(w.server.send(now, b, HEARD, &big), Err(SendError::TooLarge));
    assert!(w.server.transmits().is_empty());
    // Full-size payloads until the outbox's payload buffer is full: refused, counted under
    // outbox_full, and the seqs of those that went stay consecutive.
    let mut ok = 0;
    let r = loop {
        match w.server.send(now, b, HEARD, &big[..MAX_PAYLOAD]) {
            Ok(()) => ok += 1,
            Err(e) => break e,
        }
        assert!(ok < 1000, "never full");
    };
    assert_eq!(r, SendError::OutboxFull);
    assert_eq!(w.server.stats().drop_count(DropReason::OutboxFull), 1);
    assert_eq!(w.server.stats().game_sent, ok);
    let mut seqs = vec![];
    for t in w.server.transmits() {
        let n = w.server.write_transmit(t, &mut w.out[..]).unwrap();
        let p = Packet::new_checked(&w.out[..n], Direction::ToClient, |_| true).unwrap();
        assert_eq!(p.kind(), Some(Kind::Game(HEARD)));
        assert_eq!(p.payload(), &big[..MAX_PAYLOAD]);
        seqs.push(p.seq());
    }
    assert_eq!(seqs.len() as u64, ok);
    assert!(
        seqs.windows(2).all(|s| s[1] == s[0].wrapping_add(1)),
        "{seqs:?}"
    );
    // Once drained, there is room again, and the client takes every one in order.
    let events = w.pump_to_clients();
    assert_eq!(World::games(&events[1]).len() as u64, ok);
    assert_eq!(w.server.send(now, b, HEARD, b"again"), Ok(()));
}

#[test]
fn a_private_datagram_allocates_nothing() {
    let mut w = World::new(2);
    let b = w.qport(1);
    let mut wire = vec![];
    for i in 0..200u32 {
        let c = &mut w.clients[0].1;
        c.send_game(WHISPER, &[b, i as u8]).unwrap();
        let n = c.poll_transmit(w.now, &mut w.out[..]).unwrap();
        wire.push(w.out[..n].to_vec());
    }
    let src = w.clients[0].0;
    let mut delivered = 0;
    for d in &wire {
        let ((), allocs) = counting::counted(|| {
            w.server.handle_datagram(w.now, src, d).unwrap();
            for t in w.server.transmits() {
                let n = w.server.write_transmit(t, &mut w.out[..]).unwrap();
                if Packet::new_checked(&w.out[..n], Direction::ToClient, |_| true)
                    .is_ok_and(|p| p.kind() == Some(Kind::Game(HEARD)))
                {
                    delivered += 1;
                }
            }
            let n = w.server.transmits().len();
            w.server.sent(n);
        });
        assert_eq!(allocs, 0, "a private datagram allocated");
    }
    assert_eq!(delivered, 200);
}

impl World {
    fn qport_of(&self, i: usize) -> u8 {
        self.qport(i)
    }

    /// Server to clients only (no time passes, nothing from the clients).
    fn pump_to_clients(&mut self) -> Vec<Vec<(Event, Vec<u8>)>> {
        let mut events = vec![vec![]; self.clients.len()];
        let transmits = self.server.transmits().to_vec();
        for t in &transmits {
            let n = self.server.write_transmit(t, &mut self.out[..]).unwrap();
            let i = self.clients.iter().position(|(a, _)| *a == t.dst).unwrap();
            let c = &mut self.clients[i].1;
            if let Some(e) = c.handle_datagram(self.now, &self.out[..n]) {
                events[i].push((e, c.game_payload().to_vec()));
            }
        }
        self.server.sent(transmits.len());
        events
    }
}
