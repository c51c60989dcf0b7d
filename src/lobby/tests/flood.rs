//! Floods aimed at another user (issue 11 item 6): per-user send rate, and a whisper or
//! invite that does not fit its target refused to the sender, on the core with injected
//! time.

use super::{status, Message, Request, Status, H};
use crate::lobby::LobbyConfig;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Reads up to `max` bytes of what is queued for `id`, as a socket would; returns them.
fn read_some(h: &mut H, id: usize, max: usize) -> usize {
    let mut read = 0;
    while read < max {
        let Some((_, data)) = h.core.send_data(id) else {
            break;
        };
        let n = data.len().min(max - read);
        h.core.sent(id, n);
        read += n;
    }
    read
}

/// The attack: one user whispers as fast as it can at a victim that reads at
/// 256 KiB/s. Before, the victim was cut as a slow reader within milliseconds.
#[test]
fn a_whisper_flood_is_limited_and_its_victim_stays_connected() {
    let cfg = LobbyConfig::default();
    let (rate, burst) = (cfg.user_msgs_per_sec, cfg.user_msg_burst);
    let mut h = H::new(cfg);
    let (mallory, _) = h.login("mallory");
    let (victim, _) = h.login("victim");
    h.pump();
    let msg = "w".repeat(255);
    let t0 = h.now;
    let (mut ok, mut limited) = (0u64, 0u64);
    // 2 s of 1 ms steps: 100 whispers a step (100 000/s), the victim reads 256 bytes.
    for _ in 0..2_000 {
        for _ in 0..100 {
            h.send(
                mallory,
                Request::Whisper {
                    to: "victim",
                    msg: &msg,
                },
            );
        }
        for m in h.take(mallory) {
            match m {
                Message::WhisperRes { result: Status::Ok } => ok += 1,
                Message::WhisperRes {
                    result: Status::BadRequest,
                } => limited += 1,
                other => panic!("{other:?}"),
            }
        }
        read_some(&mut h, victim, 256);
        h.pump();
        assert!(h.closed.is_empty(), "{:?}", h.closed);
        h.now += Duration::from_millis(1);
    }
    let elapsed = (h.now - t0).as_secs();
    assert!(ok <= u64::from(burst) + u64::from(rate) * elapsed, "{ok}");
    assert!(ok >= u64::from(rate) * (elapsed - 1), "{ok}");
    assert_eq!(ok + limited, 200_000);
    let s = h.core.stats();
    assert_eq!(
        (s.rate_limited, s.slow_readers_cut, s.conns),
        (limited, 0, 2)
    );
    // The victim got every whisper that was accepted, and is still served.
    let got = h
        .take(victim)
        .iter()
        .filter(|m| matches!(m, Message::WhisperNtf { .. }))
        .count() as u64;
    assert!(got <= ok);
    assert_eq!(
        h.req(victim, Request::Echo(b"fine")),
        [Message::Echo(b"fine".to_vec())]
    );
}

/// Many senders, each within its rate, against a victim that reads nothing: the victim's
/// send buffer fills, then the senders are refused (11) and the victim is not cut; once it
/// reads, whispers reach it again.
#[test]
fn a_whisper_its_target_cannot_take_is_refused_to_the_sender() {
    let mut h = H::new(LobbyConfig {
        send_buffer_bytes: 16 * 1024,
        ..LobbyConfig::default()
    });
    let (victim, _) = h.login("victim");
    let senders: Vec<usize> = (0..8).map(|i| h.login(&format!("s{i}")).0).collect();
    let msg = "w".repeat(255);
    let mut results = Vec::new();
    for &s in &senders {
        for _ in 0..20 {
            results.extend(status(&h.req(
                s,
                Request::Whisper {
                    to: "victim",
                    msg: &msg,
                },
            )));
        }
    }
    h.pump();
    assert!(h.closed.is_empty(), "{:?}", h.closed);
    assert!(h.core.queued(victim) <= 16 * 1024);
    let ok = results.iter().filter(|&&r| r == Some(Status::Ok)).count();
    let full = results
        .iter()
        .filter(|&&r| r == Some(Status::ServerFull))
        .count();
    assert_eq!(ok + full, 160);
    assert!(ok > 50 && full > 50, "{ok} {full}");
    let s = h.core.stats();
    assert_eq!((s.target_full, s.slow_readers_cut), (full as u64, 0));
    // INVITE is refused the same way.
    let room = h.create_room(senders[0], "den", 4);
    assert_eq!(room, 1);
    h.now += Duration::from_secs(10);
    let invites: Vec<_> = (0..10)
        .flat_map(|_| status(&h.req(senders[0], Request::Invite { to: "victim" })))
        .collect();
    let invited = invites.iter().filter(|&&r| r == Some(Status::Ok)).count();
    assert_eq!(
        invites.last(),
        Some(&Some(Status::ServerFull)),
        "{invites:?}"
    );
    h.pump();
    assert!(h.closed.is_empty(), "{:?}", h.closed);
    // The victim reads what was queued: every accepted whisper and invite is there, and
    // it is reachable again.
    let got = h.take(victim);
    assert_eq!(got.len(), ok + invited);
    assert_eq!(
        status(&h.req(
            senders[1],
            Request::Whisper {
                to: "victim",
                msg: "hi"
            }
        )),
        [Some(Status::Ok)]
    );
    assert_eq!(h.take(victim).len(), 1);
}

#[test]
fn chat_whisper_and_invite_share_one_budget_per_user() {
    let cfg = LobbyConfig::default();
    let burst = cfg.user_msg_burst as usize;
    let mut h = H::new(cfg);
    let (a, _) = h.login("ann");
    let (b, _) = h.login("bob");
    h.create_room(a, "den", 4);
    let mut results = Vec::new();
    for i in 0..3 * burst {
        let r = match i % 3 {
            0 => Request::RoomChat { msg: "x" },
            1 => Request::Whisper {
                to: "bob",
                msg: "x",
            },
            _ => Request::Invite { to: "bob" },
        };
        let out = h.req(a, r);
        results.push(out.iter().find_map(Message::result).unwrap());
    }
    let ok = results.iter().filter(|&&r| r == Status::Ok).count();
    assert_eq!(ok, burst);
    assert!(results[burst..].iter().all(|&r| r == Status::BadRequest));
    // Another user's budget is its own; ECHO and room requests are not limited.
    h.take(b);
    assert_eq!(
        status(&h.req(
            b,
            Request::Whisper {
                to: "ann",
                msg: "x"
            }
        )),
        [Some(Status::Ok)]
    );
    h.take(a);
    assert_eq!(
        h.req(a, Request::Echo(b"e")),
        [Message::Echo(b"e".to_vec())]
    );
    assert_eq!(status(&h.req(a, Request::RoomList)).len(), 1);
    // A tenth of a second later, one more.
    h.now += Duration::from_millis(100);
    assert_eq!(
        status(&h.req(a, Request::RoomChat { msg: "y" })),
        [Some(Status::Ok), None]
    );
    assert_eq!(h.core.stats().rate_limited, 2 * burst as u64);
}

/// One user entering and leaving a room in a loop floods every member with ENTER and
/// LEAVE notifications: limited like chat, so a member that reads nothing is not cut.
#[test]
fn entering_and_leaving_in_a_loop_is_limited() {
    let mut h = H::new(LobbyConfig {
        send_buffer_bytes: 16 * 1024,
        ..LobbyConfig::default()
    });
    let (victim, _) = h.login("victim");
    let room = h.create_room(victim, "den", 4);
    let (toggler, _) = h.login("toggler");
    let mut ok = 0;
    for i in 0..10_000 {
        let r = if i % 2 == 0 {
            Request::RoomEnter { room }
        } else {
            Request::RoomLeave
        };
        let out = h.req(toggler, r);
        ok += usize::from(out.first().and_then(Message::result) == Some(Status::Ok));
    }
    h.pump();
    assert!(h.closed.is_empty(), "{:?}", h.closed);
    assert_eq!(ok, 20);
    assert!(h.core.queued(victim) < 1024);
    assert_eq!(h.core.stats().slow_readers_cut, 0);
}

/// Logging out and in again does not refill the budget: the next login from the same
/// address inherits it, even after every connection from there has closed.
#[test]
fn reconnecting_does_not_refill_the_budget() {
    let cfg = LobbyConfig::default();
    let burst = cfg.user_msg_burst as usize;
    let mut h = H::new(cfg);
    let (victim, _) = h.login("victim");
    let whispers = |h: &mut H, id: usize, n: usize| {
        (0..n)
            .filter(|_| {
                let out = h.req(
                    id,
                    Request::Whisper {
                        to: "victim",
                        msg: "x",
                    },
                );
                status(&out) == [Some(Status::Ok)]
            })
            .count()
    };
    let (a, _) = h.login("mallory");
    assert_eq!(whispers(&mut h, a, 3 * burst), burst);
    // Log out (close), log in again from the same address at once: nothing more.
    h.core.close(a, crate::lobby::CloseReason::PeerClosed);
    h.pump();
    let (b, _) = h.login("mallory2");
    assert_eq!(whispers(&mut h, b, 3 * burst), 0);
    // Even with every connection from that address gone.
    h.core.close(b, crate::lobby::CloseReason::PeerClosed);
    h.core.close(victim, crate::lobby::CloseReason::PeerClosed);
    h.pump();
    assert_eq!(h.core.stats().conns, 0);
    h.login("victim");
    let (c, _) = h.login("mallory3");
    assert_eq!(whispers(&mut h, c, 3 * burst), 0);
    // The budget refills with time, at the rate, as for any user.
    h.now += Duration::from_millis(500);
    assert_eq!(whispers(&mut h, c, 3 * burst), 5);
    // Another address starts full.
    let other = IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9));
    let d = h.core.open(other, (), h.now).unwrap();
    assert_eq!(
        status(&h.req(d, Request::Login { name: "dora" })),
        [Some(Status::Ok)]
    );
    assert_eq!(whispers(&mut h, d, 3 * burst), burst);
}

/// The per-address table stays bounded when many addresses log in, spend, and leave.
#[test]
fn remembered_budgets_stay_bounded() {
    let mut h = H::new(LobbyConfig {
        max_conns: 8,
        ..LobbyConfig::default()
    });
    let (victim, _) = h.login("victim");
    for i in 0..1000u32 {
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let id = h.core.open(ip, (), h.now).unwrap();
        h.req(id, Request::Login { name: "m" });
        h.req(
            id,
            Request::Whisper {
                to: "victim",
                msg: "x",
            },
        );
        h.core.close(id, crate::lobby::CloseReason::PeerClosed);
        h.pump();
        assert!(h.core.per_ip_entries() <= 16, "{}", h.core.per_ip_entries());
    }
    h.take(victim);
}
