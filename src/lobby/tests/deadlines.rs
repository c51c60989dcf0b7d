//! Deadlines with injected time: idle, slowloris, and the lists against the scan they
//! replace.

use super::{Request, H};
use crate::lobby::{CloseReason, LobbyConfig};
use proptest::prelude::*;
use std::time::{Duration, Instant};

#[test]
fn idle_deadline_with_injected_time() {
    let cfg = LobbyConfig {
        idle_timeout: Duration::from_secs(30),
        // Connections that never log in: the login deadline is not what this tests.
        login_deadline: Duration::MAX,
        ..LobbyConfig::default()
    };
    let mut h = H::new(cfg);
    let t0 = h.now;
    let a = h.open();
    let b = h.open();
    assert_eq!(h.core.next_timeout(), Some(t0 + Duration::from_secs(30)));
    // b stays active: an ECHO at 20 s moves its deadline.
    h.now = t0 + Duration::from_secs(20);
    h.req(b, Request::Echo(b""));
    h.now = t0 + Duration::from_secs(30) - Duration::from_millis(1);
    h.core.handle_timeout(h.now);
    h.pump();
    assert!(h.closed.is_empty());
    h.now = t0 + Duration::from_secs(30);
    h.core.handle_timeout(h.now);
    h.pump();
    assert_eq!(h.closed, [(a, CloseReason::Idle)]);
    assert_eq!(h.core.next_timeout(), Some(t0 + Duration::from_secs(50)));
    assert_eq!(h.core.stats().idle_cut, 1);
}

#[test]
fn frame_deadline_cuts_slowloris() {
    let cfg = LobbyConfig {
        frame_deadline: Duration::from_secs(5),
        // Connections that never log in: the login deadline is not what this tests.
        login_deadline: Duration::MAX,
        ..LobbyConfig::default()
    };
    let mut h = H::new(cfg);
    let t0 = h.now;
    let a = h.open();
    let b = h.open();
    h.feed(a, &[0, 9, 0]); // a started a frame
    h.feed(b, &[0, 6, 0, 1, 0]); // b too...
    h.now = t0 + Duration::from_secs(3);
    h.feed(b, b"!"); // ...and finished it in time
    h.take(b);
    h.now = t0 + Duration::from_secs(4);
    h.feed(a, &[10, 0, 3]); // dribbling does not move a's deadline
    assert_eq!(h.core.next_timeout(), Some(t0 + Duration::from_secs(5)));
    h.now = t0 + Duration::from_secs(5);
    h.core.handle_timeout(h.now);
    h.pump();
    assert_eq!(h.closed, [(a, CloseReason::FrameDeadline)]);
    assert_eq!(h.core.stats().frame_deadline_cut, 1);
}

/// The rule the deadline lists replace, as a scan over a model of every connection.
struct ScanModel {
    fed: usize,
    last_frame: Instant,
    frame_start: Option<Instant>,
    open: bool,
}

impl ScanModel {
    fn deadline(&self, cfg: &LobbyConfig) -> (Instant, CloseReason) {
        let idle = self.last_frame + cfg.idle_timeout;
        match self.frame_start {
            Some(t) if t + cfg.frame_deadline < idle => {
                (t + cfg.frame_deadline, CloseReason::FrameDeadline)
            }
            _ => (idle, CloseReason::Idle),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Random dribbles of ECHO frames and clock steps: the deadline lists close the same
    /// connections for the same reasons, and give the same next timeout, as a scan would.
    #[test]
    fn deadlines_follow_the_scan_rule(
        ops in prop::collection::vec((0usize..4, 0usize..20, 0u64..3000), 1..120),
    ) {
        let cfg = LobbyConfig {
            idle_timeout: Duration::from_secs(10),
            frame_deadline: Duration::from_secs(3),
            // Connections that never log in: the login deadline is not what this tests.
            login_deadline: Duration::MAX,
            ..LobbyConfig::default()
        };
        let mut h = H::new(cfg.clone());
        let echo = [0, 8, 0, 1, 0, 1, 2, 3];
        let ids: Vec<usize> = (0..4).map(|_| h.open()).collect();
        let mut model: Vec<ScanModel> = (0..4)
            .map(|_| ScanModel { fed: 0, last_frame: h.now, frame_start: None, open: true })
            .collect();
        for (c, n, ms) in ops {
            h.now += Duration::from_millis(ms);
            h.core.handle_timeout(h.now);
            h.pump();
            let mut want: Vec<(usize, CloseReason)> = Vec::new();
            for (i, m) in model.iter_mut().enumerate() {
                let (at, why) = m.deadline(&cfg);
                if m.open && at <= h.now {
                    m.open = false;
                    want.push((ids[i], why));
                }
            }
            let mut got = core::mem::take(&mut h.closed);
            got.sort_by_key(|&(id, _)| id);
            prop_assert_eq!(got, want);
            let m = &mut model[c];
            if m.open && n > 0 {
                let bytes: Vec<u8> = (m.fed..m.fed + n).map(|i| echo[i % 8]).collect();
                h.feed(ids[c], &bytes);
                h.take(ids[c]);
                let completed = (m.fed + n) / 8 > m.fed / 8;
                m.fed += n;
                if completed {
                    m.last_frame = h.now;
                }
                m.frame_start = match (m.fed % 8 == 0, m.frame_start) {
                    (true, _) => None,
                    (false, Some(t)) if !completed => Some(t),
                    (false, _) => Some(h.now),
                };
            }
            let next = model.iter().filter(|m| m.open).map(|m| m.deadline(&cfg).0).min();
            prop_assert_eq!(h.core.next_timeout(), next);
        }
    }
}
