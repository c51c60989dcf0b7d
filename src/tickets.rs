//! Lobby tickets: the one-use admissions that the TCP lobby issues at login and the game
//! port redeems in HELLO (PROTOCOL.md sections 2 and 7).
//!
//! The lobby and every match share one table through [`Tickets`], a cheap handle (`Arc` of
//! a `Mutex`) that is `Send + Sync`, so the lobby and the matches may run on different
//! threads. The lock is taken only when a ticket is issued (login), redeemed (HELLO with a
//! ticket), checked or revoked (logout): never on the per-datagram or per-tick path. The
//! table is bounded: it is created with a capacity (the lobby's maximum number of
//! logged-in users) and never grows past it.
//!
//! Ticket numbers come from a generator seeded at construction: [`Tickets::new`] from OS
//! entropy, [`Tickets::with_seed`] from a seed (tests, reproducible hosts).

use arrayvec::ArrayString;
use rand::rngs::StdRng;
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Longest player or lobby user name, in bytes.
pub const MAX_NAME: usize = 16;

/// A player's name: 1..=16 bytes of UTF-8, stored inline.
pub type Name = ArrayString<MAX_NAME>;

/// Who a redeemed ticket admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// The lobby user id.
    pub user: u32,
    /// The lobby user name.
    pub name: Name,
}

/// Why a ticket could not be issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueError {
    /// The table holds `capacity` tickets already.
    Full,
}

struct Table {
    map: HashMap<u64, Holder>,
    capacity: usize,
    rng: StdRng,
}

/// A shared handle to the ticket table; clones share it, across threads too.
#[derive(Clone)]
pub struct Tickets(Arc<Mutex<Table>>);

impl Tickets {
    /// A table that holds at most `capacity` unredeemed tickets, numbered from OS entropy.
    /// The memory is reserved now.
    pub fn new(capacity: usize) -> Tickets {
        Tickets::from_rng(capacity, crate::seed::rng(None))
    }

    /// Like [`Tickets::new`], with ticket numbers drawn from a generator seeded with `seed`:
    /// the same seed issues the same numbers in the same order.
    pub fn with_seed(capacity: usize, seed: u64) -> Tickets {
        Tickets::from_rng(capacity, crate::seed::rng(Some(seed)))
    }

    fn from_rng(capacity: usize, rng: StdRng) -> Tickets {
        Tickets(Arc::new(Mutex::new(Table {
            map: HashMap::with_capacity(capacity),
            capacity,
            rng,
        })))
    }

    /// The table, locked. A thread that panicked while holding the lock left the map in a
    /// consistent state (every operation is one map call), so a poisoned lock is used as is.
    fn table(&self) -> MutexGuard<'_, Table> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Issues a fresh random non-zero ticket for `holder`.
    pub fn issue(&self, holder: Holder) -> Result<u64, IssueError> {
        let mut guard = self.table();
        let t = &mut *guard;
        if t.map.len() >= t.capacity {
            return Err(IssueError::Full);
        }
        loop {
            let ticket: u64 = t.rng.gen();
            if ticket != 0 && !t.map.contains_key(&ticket) {
                t.map.insert(ticket, holder);
                return Ok(ticket);
            }
        }
    }

    /// Takes a ticket out of the table: `Some` once for each issued ticket, `None` after
    /// (also when several threads redeem the same ticket at once: exactly one gets it).
    pub fn redeem(&self, ticket: u64) -> Option<Holder> {
        if ticket == 0 {
            return None;
        }
        self.table().map.remove(&ticket)
    }

    /// Whether `ticket` would redeem now (it is issued and unused).
    pub fn is_valid(&self, ticket: u64) -> bool {
        ticket != 0 && self.table().map.contains_key(&ticket)
    }

    /// Withdraws an unused ticket (its user logged out). Does nothing if it was used.
    pub fn revoke(&self, ticket: u64) {
        self.table().map.remove(&ticket);
    }

    /// Number of unredeemed tickets.
    pub fn len(&self) -> usize {
        self.table().map.len()
    }

    /// Whether no ticket is outstanding.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl core::fmt::Debug for Tickets {
    /// The counts only: neither the tickets nor the generator.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let t = self.table();
        f.debug_struct("Tickets")
            .field("len", &t.map.len())
            .field("capacity", &t.capacity)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(user: u32) -> Holder {
        Holder {
            user,
            name: Name::from("ann").unwrap(),
        }
    }

    #[test]
    fn a_ticket_works_once() {
        let t = Tickets::new(2);
        let a = t.issue(holder(1)).unwrap();
        assert_ne!(a, 0);
        assert!(t.is_valid(a));
        assert_eq!(t.redeem(a), Some(holder(1)));
        assert_eq!(t.redeem(a), None);
        assert_eq!(t.redeem(0), None);
    }

    #[test]
    fn bounded_and_revocable() {
        let t = Tickets::new(2);
        let a = t.issue(holder(1)).unwrap();
        let _b = t.issue(holder(2)).unwrap();
        assert_eq!(t.issue(holder(3)), Err(IssueError::Full));
        t.revoke(a);
        assert_eq!(t.redeem(a), None);
        assert!(t.issue(holder(3)).is_ok());
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn seeded_tables_issue_the_same_numbers() {
        let (a, b) = (Tickets::with_seed(4, 7), Tickets::with_seed(4, 7));
        let c = Tickets::with_seed(4, 8);
        let xs: Vec<u64> = (0..4).map(|i| a.issue(holder(i)).unwrap()).collect();
        let ys: Vec<u64> = (0..4).map(|i| b.issue(holder(i)).unwrap()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs[0], c.issue(holder(0)).unwrap());
    }

    #[test]
    fn send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Tickets>();
    }

    /// Issued on one thread, redeemed on another: every ticket exactly once. Bounded (a
    /// fixed number of tickets, joined threads), no sleeps.
    #[test]
    fn tickets_cross_threads() {
        const N: u32 = 200;
        let t = Tickets::new(N as usize);
        let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(8);
        let redeemer = {
            let t = t.clone();
            std::thread::spawn(move || {
                let mut users = Vec::new();
                for ticket in rx {
                    let h = t.redeem(ticket).expect("issued on the other thread");
                    assert_eq!(t.redeem(ticket), None);
                    users.push(h.user);
                }
                users
            })
        };
        for user in 0..N {
            tx.send(t.issue(holder(user)).unwrap()).unwrap();
        }
        drop(tx);
        let users = redeemer.join().expect("redeemer thread");
        assert_eq!(users, (0..N).collect::<Vec<_>>());
        assert!(t.is_empty());
    }
}
