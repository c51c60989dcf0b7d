//! The buffer pool seen through the core: idle connections hold no buffer, a send buffer
//! grows for a reader that falls behind and goes back once written out, and nothing of a
//! closed connection reaches the next one.

use super::*;

/// The staging buffer every connection reads into: the one buffer an idle lobby holds.
const STAGING: usize = 8 * 1024;

fn cfg() -> LobbyConfig {
    LobbyConfig {
        user_msgs_per_sec: 0,
        max_conns_per_ip: 1000,
        ..LobbyConfig::default()
    }
}

#[test]
fn idle_connections_logged_in_and_in_a_room_hold_no_buffer() {
    let mut h = H::new(cfg());
    let (first, _) = h.login("u0");
    let room = h.create_room(first, "hall", 100);
    let mut ids = vec![first];
    for i in 1..60 {
        let (id, _) = h.login(&format!("u{i}"));
        let entered = h.req(id, Request::RoomEnter { room });
        assert_eq!(status(&entered), [Some(Status::Ok)]);
        ids.push(id);
    }
    // Everyone reads what they were told (the entries of the others).
    for &id in &ids {
        h.take(id);
    }
    for &id in &ids {
        assert_eq!(h.core.held_storage(id), (0, 0), "conn {id}");
    }
    let s = h.core.stats();
    assert_eq!(s.buffer_bytes, STAGING, "only the staging buffer is lent");
    assert_eq!((s.users, s.conns), (60, 60));
}

#[test]
fn a_send_buffer_grows_for_a_reader_behind_and_shrinks_back() {
    let mut h = H::new(cfg());
    let (talker, _) = h.login("talker");
    let room = h.create_room(talker, "hall", 10);
    let (reader, _) = h.login("reader");
    h.req(reader, Request::RoomEnter { room });
    h.take(talker);
    // 200 chats of ~200 bytes: 40 KB owed to a reader that does not read.
    let msg = "x".repeat(190);
    for _ in 0..200 {
        h.send(talker, Request::RoomChat { msg: &msg });
        h.take(talker);
    }
    let (_, tx) = h.core.held_storage(reader);
    assert_eq!(tx, 64 * 1024, "grown by doubling to what it holds");
    assert!(h.core.queued(reader) > 32 * 1024);
    let got = h.take(reader);
    assert_eq!(got.len(), 200);
    assert_eq!(
        h.core.held_storage(reader),
        (0, 0),
        "given back once written out"
    );
    assert_eq!(h.core.stats().buffer_bytes, STAGING);
    assert_eq!(h.core.stats().slow_readers_cut, 0);
    assert!(h.core.pool_is_wiped());
}

#[test]
fn the_send_bound_still_cuts_a_slow_reader() {
    let mut h = H::new(LobbyConfig {
        send_buffer_bytes: 16 * 1024,
        ..cfg()
    });
    let (talker, _) = h.login("talker");
    let room = h.create_room(talker, "hall", 10);
    let (reader, _) = h.login("reader");
    h.req(reader, Request::RoomEnter { room });
    let msg = "y".repeat(200);
    for _ in 0..200 {
        h.send(talker, Request::RoomChat { msg: &msg });
        h.take(talker);
    }
    h.pump();
    assert!(h.closed.contains(&(reader, CloseReason::SlowReader)));
    assert!(!h.core.contains(reader));
    let told = h.take(talker);
    assert!(matches!(told[..], [Message::RoomUserLeaveNtf { .. }]));
    assert_eq!(h.core.stats().buffer_bytes, STAGING);
    assert!(h.core.pool_is_wiped());
}

/// A user who leaves with half a frame received and answers not yet read: the next
/// connection (the same slab entry, the same buffers) sees none of it. Its first bytes
/// are a frame of their own, not the rest of the old one; it is not logged in; the
/// bytes it reads are its own answers only; and every buffer it could be lent is zero.
#[test]
fn nothing_of_a_closed_connection_reaches_the_next() {
    let mut h = H::new(cfg());
    let (a, _) = h.login("alice");
    h.create_room(a, "secret room", 10);
    h.take(a);
    h.send(a, Request::RoomChat { msg: "SECRET-1" }); // answered, not read
    let mut half = [0; MAX_FRAME];
    let n = Request::RoomChat { msg: "SECRET-2" }
        .emit(&mut half)
        .unwrap();
    h.feed(a, &half[..n - 3]); // a frame it never finishes
    assert_ne!(h.core.held_storage(a), (0, 0));
    h.core.close(a, CloseReason::PeerClosed);
    h.pump();
    assert!(h.core.pool_is_wiped(), "buffers go back wiped");

    let b = h.open();
    assert_eq!(b, a, "the same slab entry");
    assert_eq!(h.core.held_storage(b), (0, 0));
    let (_, space) = h.core.recv_space(b).unwrap();
    assert!(
        space.iter().all(|&x| x == 0),
        "the read buffer holds nothing of alice's"
    );
    // Three bytes would complete alice's frame if her half were still there: here they
    // are the start of a frame of b's own, and b's ROOM_LIST (whole) is answered 3.
    let mut list = [0; MAX_FRAME];
    let m = Request::RoomList.emit(&mut list).unwrap();
    h.feed(b, &list[..m]);
    let got = h.take(b);
    assert_eq!(status(&got), [Some(Status::NotLoggedIn)]);
    assert!(h.core.pool_is_wiped());
    assert!(h.closed.len() == 1);
}

/// Partial frames on many connections at once: each keeps its own buffer, none
/// interferes with another, and each frame completes where it started.
#[test]
fn partial_frames_on_many_connections_stay_apart() {
    let mut h = H::new(cfg());
    let ids: Vec<_> = (0..20).map(|_| h.open()).collect();
    let frames: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            let name = format!("user{i}");
            let mut buf = [0; MAX_FRAME];
            let n = Request::Login { name: &name }.emit(&mut buf).unwrap();
            buf[..n].to_vec()
        })
        .collect();
    for (&id, f) in ids.iter().zip(&frames) {
        h.feed(id, &f[..4]);
    }
    for &id in &ids {
        assert_eq!(h.core.held_storage(id).0, STAGING);
    }
    for (&id, f) in ids.iter().zip(&frames).rev() {
        h.feed(id, &f[4..]);
    }
    for &id in &ids {
        let got = h.take(id);
        assert_eq!(status(&got), [Some(Status::Ok)], "conn {id}");
        assert_eq!(h.core.held_storage(id), (0, 0));
    }
    assert_eq!(h.core.stats().users, 20);
}
