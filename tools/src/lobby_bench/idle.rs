//! Memory per idle connection.

use std::time::{Duration, Instant};
use tickwire::client::lobby::LobbyClient;

use super::server::Server;
use super::{check_deadline, connect, Res};

/// Members per room of the idle connections.
const ROOM: u8 = 100;

pub(super) struct IdleReport {
    pub(super) conns: usize,
    pub(super) rss_before: u64,
    pub(super) rss_connected: u64,
    pub(super) rss_logged_in: u64,
    /// After the same connections entered rooms of 100 (the first of each hundred creates
    /// it): the lobby's idle player, logged in and in a room.
    pub(super) rss_in_rooms: u64,
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
    pub(super) fn per_member(&self) -> f64 {
        (self.rss_in_rooms as f64 - self.rss_before as f64) / self.conns as f64
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
    let mut room = 0;
    for (i, c) in conns.iter_mut().enumerate() {
        check_deadline(deadline, "the idle room entries")?;
        if i % usize::from(ROOM) == 0 {
            room = c
                .create_room(&format!("idle{}", i / usize::from(ROOM)), ROOM)
                .map_err(|e| format!("idle connection {i}: ROOM_CREATE: {e}"))?;
        } else {
            c.enter_room(room)
                .map_err(|e| format!("idle connection {i}: ROOM_ENTER: {e}"))?;
        }
    }
    // The notifications of each entry reach the members who came before; this one's
    // answer proves the server has written them all.
    if let Some(c) = conns.last_mut() {
        c.echo(b"")
            .map_err(|e| format!("last idle connection: ECHO: {e}"))?;
    }
    let rss_in_rooms = server.rss()?;
    let report = IdleReport {
        conns: n,
        rss_before,
        rss_connected,
        rss_logged_in,
        rss_in_rooms,
    };
    Ok((report, conns))
}
