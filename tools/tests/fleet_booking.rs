//! The matchmaker's booking script against a real `redis-server`: several booking
//! clients racing on one Redis never book a seat twice and never put a match above its
//! capacity; servers fill before another one gets players; draining, insecure, expired
//! and other-mode servers get nobody; reservations lapse with their tokens.

#[path = "support/redis.rs"]
mod redis_support;

use redis_support::{put_server, RedisServer};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tickwire_tools::fleet::booking::{release, BookError, Booker, Booking};

const LIFE: Duration = Duration::from_secs(30);

#[test]
fn racing_bookers_never_book_a_seat_twice() {
    let redis = RedisServer::start();
    let mut con = redis.connect();
    // 3 servers, 6 matches, 40 free seats (server 2 has 3 players already).
    put_server(&mut con, 1, "ready", true, &[5, 7], &[0, 0]);
    put_server(&mut con, 2, "ready", true, &[10, 6], &[3, 0]);
    put_server(&mut con, 3, "allocated", true, &[8, 4], &[0, 0]);
    let free = 5 + 7 + 7 + 6 + 8 + 4;
    // 8 booking clients, each its own connection, parties of 1 and 2, until no seat.
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let url = redis.url();
            std::thread::spawn(move || {
                let mut con = tickwire_tools::fleet::connect(&url, Duration::from_secs(5)).unwrap();
                let booker = Booker::default();
                let mut mine = Vec::new();
                let mut party = 1 + (t % 2);
                loop {
                    match booker.book(&mut con, "arena", party, LIFE) {
                        Ok(b) => mine.push(b),
                        Err(BookError::NoSeat(_)) if party > 1 => party = 1,
                        Err(BookError::NoSeat(_)) => return mine,
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    let all: Vec<Booking> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let mut ids = HashSet::new();
    let mut per_match: HashMap<(u64, usize), u32> = HashMap::new();
    for b in &all {
        for c in &b.client_ids {
            assert!(ids.insert(*c), "client id {c} handed out twice");
        }
        *per_match.entry((b.server, b.matched)).or_default() += b.client_ids.len() as u32;
    }
    let cap = HashMap::from([
        ((1, 0), 5),
        ((1, 1), 7),
        ((2, 0), 7),
        ((2, 1), 6),
        ((3, 0), 8),
        ((3, 1), 4),
    ]);
    for (k, n) in &per_match {
        assert!(*n <= cap[k], "{k:?}: {n} booked, {} free", cap[k]);
    }
    assert_eq!(
        ids.len(),
        free,
        "every free seat booked once: {per_match:?}"
    );
    // What Redis holds agrees: one reservation per booked seat.
    for ((s, m), n) in &per_match {
        let z: u32 = redis::cmd("ZCARD")
            .arg(format!("tw:seats:{s}:{m}"))
            .query(&mut con)
            .unwrap();
        assert_eq!(z, *n);
    }
}

#[test]
fn servers_fill_before_another_gets_players() {
    let redis = RedisServer::start();
    let mut con = redis.connect();
    put_server(&mut con, 1, "ready", true, &[4], &[0]);
    put_server(&mut con, 2, "ready", true, &[4], &[1]);
    let booker = Booker::default();
    let order: Vec<u64> = (0..7)
        .map(|_| booker.book(&mut con, "arena", 1, LIFE).unwrap().server)
        .collect();
    // Server 2 (one player) first, until full; then server 1.
    assert_eq!(order[..3], [2, 2, 2]);
    assert_eq!(order[3..7], [1, 1, 1, 1]);
    let Err(BookError::NoSeat(why)) = booker.book(&mut con, "arena", 1, LIFE) else {
        panic!("the fleet is full")
    };
    assert!(why.contains("room"), "{why}");
    // A party needs one match with room for all of it.
    put_server(&mut con, 3, "ready", true, &[2, 3], &[0, 0]);
    let b = booker.book(&mut con, "arena", 3, LIFE).unwrap();
    assert_eq!((b.server, b.matched, b.client_ids.len()), (3, 1, 3));
    assert!(booker.book(&mut con, "arena", 3, LIFE).is_err());
    // Released seats are free again.
    release(&mut con, &b).unwrap();
    assert_eq!(booker.book(&mut con, "arena", 3, LIFE).unwrap().matched, 1);
}

#[test]
fn only_ready_secure_live_servers_of_the_mode_get_players() {
    let redis = RedisServer::start();
    let mut con = redis.connect();
    put_server(&mut con, 1, "draining", true, &[4], &[0]);
    put_server(&mut con, 2, "starting", true, &[4], &[0]);
    put_server(&mut con, 3, "ready", false, &[4], &[0]);
    // A server whose record expired is pruned from the set.
    put_server(&mut con, 4, "ready", true, &[4], &[0]);
    let _: () = redis::cmd("DEL")
        .arg("tw:server:4")
        .query(&mut con)
        .unwrap();
    let booker = Booker::default();
    let Err(BookError::NoSeat(why)) = booker.book(&mut con, "arena", 1, LIFE) else {
        panic!("nobody is ready")
    };
    assert!(why.contains("no ready server"), "{why}");
    let ids: HashSet<u64> = redis::cmd("SMEMBERS")
        .arg("tw:servers")
        .query(&mut con)
        .unwrap();
    assert_eq!(ids, HashSet::from([1, 2, 3]));
    put_server(&mut con, 5, "ready", true, &[1], &[0]);
    assert!(
        booker.book(&mut con, "ctf", 1, LIFE).is_err(),
        "another mode"
    );
    // A reservation lapses with its token.
    let b = booker
        .book(&mut con, "arena", 1, Duration::from_millis(300))
        .unwrap();
    assert_eq!(b.server, 5);
    assert!(
        booker.book(&mut con, "arena", 1, LIFE).is_err(),
        "the one seat is reserved"
    );
    redis_support::wait_for(Duration::from_secs(20), "the reservation to lapse", || {
        booker.book(&mut con, "arena", 1, LIFE).ok()
    });
}
