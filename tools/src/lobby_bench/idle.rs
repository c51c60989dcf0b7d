//! Memory per idle connection.

use std::time::{Duration, Instant};
use tickwire::client::lobby::LobbyClient;

use super::server::Server;
use super::{check_deadline, connect, Res};

pub(super) struct IdleReport {
    pub(super) conns: usize,
    pub(super) rss_before: u64,
    pub(super) rss_connected: u64,
    pub(super) rss_logged_in: u64,
}

impl IdleReport {
    pub(super) fn per_conn(&self) -> f64 {
        (self.rss_connected as f64 - self.rss_before as f64) / self.conns as f64
    }
    pub(super) fn per_user(&self) -> f64 {
        (self.rss_logged_in as f64 - self.rss_before as f64) / self.conns as f64
    }
    pub(super) fn per_login(&self) -> f64 {
        (self.rss_logged_in as f64 - self.rss_connected as f64) / self.conns as f64
    }
}

pub(super) fn measure_idle(
    server: &mut Server,
    n: usize,
    deadline: Instant,
) -> Res<(IdleReport, Vec<LobbyClient>)> {
    // Let the server finish starting before the baseline.
    std::thread::sleep(Duration::from_millis(100));
    let rss_before = server.rss()?;
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        check_deadline(deadline, "the idle connections")?;
        let mut c = connect(server.lobby)?;
        // The answer proves the server accepted and registered the connection.
        c.echo(b"")
            .map_err(|e| format!("idle connection {i}: ECHO: {e}"))?;
        conns.push(c);
    }
    let rss_connected = server.rss()?;
    for (i, c) in conns.iter_mut().enumerate() {
        check_deadline(deadline, "the idle logins")?;
        c.login(&format!("idle{i}"))
            .map_err(|e| format!("idle connection {i}: LOGIN: {e}"))?;
    }
    let rss_logged_in = server.rss()?;
    let report = IdleReport {
        conns: n,
        rss_before,
        rss_connected,
        rss_logged_in,
    };
    Ok((report, conns))
}
