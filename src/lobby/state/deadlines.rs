//! The three deadlines of every lobby connection, kept as data rather than found by a
//! scan: the idle timeout (no frame completed for `idle_timeout`), the slowloris guard (a
//! started frame not completed within `frame_deadline`) and the login deadline (not logged
//! in within `login_deadline` of being accepted).
//!
//! Each is an [`Expiry`] list ordered by last touch: every slot in one list shares one
//! timeout, so the earliest deadline of a list is its front's touch plus that timeout, and
//! the next deadline of the lobby is the earliest of three fronts. The login list is also
//! the set of connections not logged in, oldest first: the ones the lobby sheds.

use super::CloseReason;
use crate::timers::Expiry;
use std::time::{Duration, Instant};

/// Idle, partial-frame and login deadlines of the open connections that are not closing.
#[derive(Debug)]
pub(super) struct Deadlines {
    idle_timeout: Duration,
    frame_deadline: Duration,
    login_deadline: Duration,
    /// When each connection last completed a frame (or was accepted).
    idle: Expiry<Option<Instant>>,
    /// When each connection holding part of a frame started that frame.
    partial: Expiry<Option<Instant>>,
    /// When each connection not logged in was accepted.
    login: Expiry<Option<Instant>>,
    /// How many connections are in `login`.
    unauthenticated: usize,
}

impl Deadlines {
    /// Deadlines for connection ids `0..slots`. Allocates once.
    pub(super) fn new(
        slots: usize,
        idle_timeout: Duration,
        frame_deadline: Duration,
        login_deadline: Duration,
    ) -> Self {
        Deadlines {
            idle_timeout,
            frame_deadline,
            login_deadline,
            idle: Expiry::new(slots),
            partial: Expiry::new(slots),
            login: Expiry::new(slots),
            unauthenticated: 0,
        }
    }

    /// `id` was accepted at `now`: idle and login deadlines start.
    pub(super) fn accepted(&mut self, id: usize, now: Instant) {
        self.active(id, now);
        if self.login.touched_at(id).is_none() {
            self.unauthenticated += 1;
        }
        self.login.touch(id, Some(now));
    }

    /// `id` logged in: it has no login deadline any more.
    pub(super) fn logged_in(&mut self, id: usize) {
        if self.login.touched_at(id).is_some() {
            self.unauthenticated -= 1;
            self.login.remove(id);
        }
    }

    /// How many connections (not closing) have not logged in.
    pub(super) fn unauthenticated(&self) -> usize {
        self.unauthenticated
    }

    /// The connection (not closing) that has gone longest without logging in, and when it
    /// was accepted.
    pub(super) fn oldest_unauthenticated(&self) -> Option<(usize, Instant)> {
        let (id, at) = self.login.oldest()?;
        Some((id, at?))
    }

    /// `id` completed a frame at `now`: its idle deadline starts again.
    pub(super) fn active(&mut self, id: usize, now: Instant) {
        self.idle.touch(id, Some(now));
    }

    /// `id` started a frame at `now`.
    pub(super) fn frame_started(&mut self, id: usize, now: Instant) {
        self.partial.touch(id, Some(now));
    }

    /// `id` holds no partial frame.
    pub(super) fn frame_done(&mut self, id: usize) {
        self.partial.remove(id);
    }

    /// Whether `id` holds a started frame.
    pub(super) fn in_frame(&self, id: usize) -> bool {
        self.partial.touched_at(id).is_some()
    }

    /// `id` is closing or gone: it has no deadline any more.
    pub(super) fn forget(&mut self, id: usize) {
        self.idle.remove(id);
        self.partial.remove(id);
        self.logged_in(id);
    }

    /// `id`'s deadline and what passing it means: the frame deadline when it comes strictly
    /// before the idle one, else the idle one. `None` when it has neither (or they lie
    /// beyond what an `Instant` can hold).
    fn deadline(&self, id: usize) -> Option<(Instant, CloseReason)> {
        let idle = after(self.idle.touched_at(id), self.idle_timeout);
        let frame = after(self.partial.touched_at(id), self.frame_deadline);
        let login = after(self.login.touched_at(id), self.login_deadline);
        let best = match (frame, idle) {
            (Some(f), Some(i)) if f < i => Some((f, CloseReason::FrameDeadline)),
            (Some(f), None) => Some((f, CloseReason::FrameDeadline)),
            (_, Some(i)) => Some((i, CloseReason::Idle)),
            (None, None) => None,
        };
        match (login, best) {
            (Some(l), Some((b, _))) if l < b => Some((l, CloseReason::LoginDeadline)),
            (Some(l), None) => Some((l, CloseReason::LoginDeadline)),
            (_, best) => best,
        }
    }

    /// The earliest deadline of any connection: the earlier of the two lists' fronts.
    pub(super) fn next(&self) -> Option<Instant> {
        let idle = self.front(&self.idle, self.idle_timeout);
        let frame = self.front(&self.partial, self.frame_deadline);
        let login = self.front(&self.login, self.login_deadline);
        idle.into_iter()
            .chain(frame)
            .chain(login)
            .map(|(at, _)| at)
            .min()
    }

    /// A connection whose deadline is at or before `now`, and why, forgotten as it is
    /// returned: call until `None` to collect every expired one once.
    pub(super) fn pop_expired(&mut self, now: Instant) -> Option<(usize, CloseReason)> {
        let idle = self.front(&self.idle, self.idle_timeout);
        let frame = self.front(&self.partial, self.frame_deadline);
        let login = self.front(&self.login, self.login_deadline);
        let (at, id) = idle.into_iter().chain(frame).chain(login).min()?;
        if at > now {
            return None;
        }
        let (_, reason) = self.deadline(id)?;
        self.forget(id);
        Some((id, reason))
    }

    /// The earliest deadline of one list, with its connection.
    fn front(&self, list: &Expiry<Option<Instant>>, timeout: Duration) -> Option<(Instant, usize)> {
        let (id, at) = list.oldest()?;
        Some((after(Some(at), timeout)?, id))
    }
}

/// `touched + timeout`, `None` when untouched or beyond an `Instant`'s range.
fn after(touched: Option<Option<Instant>>, timeout: Duration) -> Option<Instant> {
    touched.flatten()?.checked_add(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earlier_front_expires_first_with_the_rule_of_its_connection() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut d = Deadlines::new(4, s(30), s(5), Duration::MAX);
        assert_eq!(d.next(), None);
        d.active(0, t0);
        d.active(1, t0 + s(1));
        d.frame_started(1, t0 + s(2));
        assert_eq!(d.next(), Some(t0 + s(7)));
        assert!(d.in_frame(1) && !d.in_frame(0));
        assert_eq!(d.pop_expired(t0 + s(6)), None);
        assert_eq!(
            d.pop_expired(t0 + s(7)),
            Some((1, CloseReason::FrameDeadline))
        );
        assert_eq!(d.pop_expired(t0 + s(7)), None);
        assert_eq!(d.next(), Some(t0 + s(30)));
        d.frame_started(0, t0 + s(26)); // ends after the idle deadline: idle wins
        assert_eq!(d.pop_expired(t0 + s(40)), Some((0, CloseReason::Idle)));
        assert_eq!(d.next(), None);
    }

    #[test]
    fn a_timeout_beyond_instant_never_fires() {
        let t0 = Instant::now();
        let mut d = Deadlines::new(1, Duration::MAX, Duration::MAX, Duration::MAX);
        d.active(0, t0);
        d.frame_started(0, t0);
        assert_eq!(d.next(), None);
        assert_eq!(d.pop_expired(t0 + Duration::from_secs(1 << 40)), None);
    }
}
