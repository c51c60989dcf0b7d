//! Lobby tickets: the one-use admissions that the TCP lobby issues at login and the game
//! port redeems in HELLO (PROTOCOL.md sections 2 and 7).
//!
//! Both sides run on the same thread, so they share one table through [`Tickets`], a cheap
//! handle (`Rc`). The table is bounded: it is created with a capacity (the lobby's maximum
//! number of logged-in users) and never grows past it.

use arrayvec::ArrayString;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

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

#[derive(Debug)]
struct Table {
    map: HashMap<u64, Holder>,
    capacity: usize,
}

/// A shared handle to the ticket table.
#[derive(Debug, Clone)]
pub struct Tickets(Rc<RefCell<Table>>);

impl Tickets {
    /// A table that holds at most `capacity` unredeemed tickets. The memory is reserved now.
    pub fn new(capacity: usize) -> Tickets {
        Tickets(Rc::new(RefCell::new(Table {
            map: HashMap::with_capacity(capacity),
            capacity,
        })))
    }

    /// Issues a fresh random non-zero ticket for `holder`.
    pub fn issue(&self, holder: Holder) -> Result<u64, IssueError> {
        let mut t = self.0.borrow_mut();
        if t.map.len() >= t.capacity {
            return Err(IssueError::Full);
        }
        loop {
            let ticket: u64 = rand::random();
            if ticket != 0 && !t.map.contains_key(&ticket) {
                t.map.insert(ticket, holder);
                return Ok(ticket);
            }
        }
    }

    /// Takes a ticket out of the table: `Some` once for each issued ticket, `None` after.
    pub fn redeem(&self, ticket: u64) -> Option<Holder> {
        if ticket == 0 {
            return None;
        }
        self.0.borrow_mut().map.remove(&ticket)
    }

    /// Whether `ticket` would redeem now (it is issued and unused).
    pub fn is_valid(&self, ticket: u64) -> bool {
        ticket != 0 && self.0.borrow().map.contains_key(&ticket)
    }

    /// Withdraws an unused ticket (its user logged out). Does nothing if it was used.
    pub fn revoke(&self, ticket: u64) {
        self.0.borrow_mut().map.remove(&ticket);
    }

    /// Number of unredeemed tickets.
    pub fn len(&self) -> usize {
        self.0.borrow().map.len()
    }

    /// Whether no ticket is outstanding.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
}
