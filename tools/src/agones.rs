//! `tickwire serve --agones`: the Agones GameServer lifecycle through the official SDK
//! (the `agones` crate, gRPC to the sidecar on `localhost:$AGONES_SDK_GRPC_PORT`, 9357 by
//! default), on a side thread with its own single-threaded tokio runtime. Nothing here
//! runs on an event loop: the thread reads the loops' [`Monitor`] (an atomic per loop and
//! their last snapshots) and drives them only through a [`Stopper`].
//!
//! - **Ready** once the SDK server answers (the sockets are bound before the thread
//!   starts); a sidecar that is not there yet is retried every 2 s, and the game runs
//!   meanwhile.
//! - **Health** every [`HEALTH_EVERY`] while every loop ticks ([`Monitor::stalled`]): a
//!   stuck loop stops the pings, and Agones marks the GameServer Unhealthy after its
//!   `health.failureThreshold`.
//! - **Players**: the label `players` (the SDK's `SetLabel`; the sidecar stores it as
//!   `agones.dev/sdk-players`) follows the count of connected players, and with the
//!   sidecar's PlayerTracking feature (alpha) each player is `PlayerConnect`ed and
//!   `PlayerDisconnect`ed as `MATCH:QPORT@ADDR`, with the capacity set at start. A sidecar
//!   without it answers Unimplemented once and only the label is kept.
//! - **Allocated** (or any state change) seen through `WatchGameServer`: logged, kept in
//!   the monitor (`/readyz` and `/metrics` show it).
//! - **Shutdown** both ways: a GameServer that goes to `Shutdown` (`kubectl delete`, a
//!   fleet scale-down, another process's SDK call) starts the drain
//!   (`--drain-seconds`, as SIGTERM does); when the server stops (drain over, signal),
//!   [`Agones::shutdown`] calls the SDK's `Shutdown`.

use crate::monitor::Monitor;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickwire::Stopper;

/// How often a health ping goes while every loop ticks.
pub const HEALTH_EVERY: Duration = Duration::from_secs(2);
/// How often the players are compared with what the SDK was told.
const PLAYERS_EVERY: Duration = Duration::from_secs(1);
/// The wait between two tries to reach the SDK server.
const RETRY: Duration = Duration::from_secs(2);
/// The label that carries the player count.
pub const PLAYERS_LABEL: &str = "players";

/// What the Agones side needs from the server.
#[derive(Debug, Clone)]
pub struct AgonesConfig {
    /// How long an Agones Shutdown drains for (`--drain-seconds`; zero stops at once).
    pub drain: Duration,
    /// Players over all matches, for the alpha player capacity.
    pub capacity: i64,
    /// With `--redis`: the registry's record says `allocated` while the GameServer is
    /// Allocated.
    pub allocation: Option<crate::fleet::registry::Allocation>,
}

enum Cmd {
    /// Call the SDK's Shutdown and say how it went.
    Shutdown(std::sync::mpsc::Sender<Result<(), String>>),
}

/// The Agones side thread. Dropping it leaves the thread to end with the process.
#[derive(Debug)]
pub struct Agones {
    cmds: tokio::sync::mpsc::UnboundedSender<Cmd>,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shutdown")
    }
}

impl Agones {
    /// Starts the side thread (`tickwire-agones`): it connects to the SDK server, says
    /// Ready, and keeps the lifecycle going as the module says. The loops' probes must feed
    /// `monitor` (with player ids: `Monitor::new(_, true)`).
    pub fn start(
        cfg: AgonesConfig,
        monitor: Arc<Monitor>,
        stopper: Stopper,
    ) -> std::io::Result<Agones> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("tickwire-agones".into())
            .spawn(move || rt.block_on(run(cfg, monitor, stopper, rx)))?;
        Ok(Agones { cmds: tx })
    }

    /// Tells Agones the server is shutting down (the SDK's Shutdown), waiting `within` at
    /// most for the answer.
    pub fn shutdown(&self, within: Duration) -> Result<(), String> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.cmds
            .send(Cmd::Shutdown(tx))
            .map_err(|_| "the Agones thread is gone".to_string())?;
        match rx.recv_timeout(within) {
            Ok(r) => r,
            Err(_) => Err(format!(
                "no answer from the SDK server within {} s",
                within.as_secs()
            )),
        }
    }
}

/// Whether an SDK error says the sidecar does not serve that call (alpha off).
fn unimplemented(e: &agones::errors::Error) -> bool {
    matches!(e, agones::errors::Error::Rpc(s) if s.code() == tonic::Code::Unimplemented)
}

/// The next GameServer of the watch, or never without one.
async fn next_update(
    w: &mut Option<tonic::Streaming<agones::GameServer>>,
) -> Result<Option<agones::GameServer>, tonic::Status> {
    match w {
        Some(s) => s.message().await,
        None => std::future::pending().await,
    }
}

async fn run(
    cfg: AgonesConfig,
    monitor: Arc<Monitor>,
    stopper: Stopper,
    mut cmds: tokio::sync::mpsc::UnboundedReceiver<Cmd>,
) {
    // Connect (the SDK itself tries for 30 s), then Ready; retried until they work or a
    // Shutdown is asked for.
    let mut sdk = loop {
        tokio::select! {
            r = agones::Sdk::new(None, None) => match r {
                Ok(sdk) => break sdk,
                Err(e) => log::warn!("agones: cannot reach the SDK server ({e}); retrying in {} s", RETRY.as_secs()),
            },
            c = cmds.recv() => return refuse(c, "the SDK server was never reached"),
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            c = cmds.recv() => return refuse(c, "the SDK server was never reached"),
        }
    };
    loop {
        match sdk.ready().await {
            Ok(()) => break,
            Err(e) => log::warn!("agones: Ready failed ({e}); retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            c = cmds.recv() => return refuse(c, "Ready never went through"),
        }
    }
    log::info!("agones: connected to the SDK server; told it Ready");
    let mut alpha = true;
    if let Err(e) = sdk.alpha().clone().set_player_capacity(cfg.capacity).await {
        alpha = false;
        if unimplemented(&e) {
            log::info!(
                "agones: the sidecar has no player tracking (the PlayerTracking feature is \
                 off); the player count goes to the label {PLAYERS_LABEL} only"
            );
        } else {
            log::warn!("agones: SetPlayerCapacity failed ({e}); player tracking off, label only");
        }
    }
    let mut watch = None;
    let mut state: Option<String> = None;
    let mut health = sdk.health_check();
    let mut stalled = false;
    let mut told: BTreeSet<String> = BTreeSet::new();
    let mut label: Option<usize> = None;
    let mut shutting_down = false;
    let mut health_tick = tokio::time::interval(HEALTH_EVERY);
    let mut players_tick = tokio::time::interval(PLAYERS_EVERY);
    loop {
        tokio::select! {
            _ = health_tick.tick() => {
                let now = Instant::now();
                let stuck = monitor.stalled(now);
                if stuck.is_empty() {
                    if stalled {
                        log::info!("agones: every loop ticks again: health pings resume");
                        stalled = false;
                    }
                    if health.try_send(()).is_err() {
                        // The health stream ended (the connection dropped): a new one.
                        health = sdk.health_check();
                        let _ = health.try_send(());
                    }
                } else if !stalled {
                    stalled = true;
                    let (l, d) = stuck[0];
                    log::warn!(
                        "agones: loop {l} has not ticked for {:.1} s: health pings stop",
                        d.as_secs_f64()
                    );
                }
            }
            _ = players_tick.tick() => {
                if watch.is_none() {
                    match sdk.watch_gameserver().await {
                        Ok(w) => watch = Some(w),
                        Err(e) => log::debug!("agones: WatchGameServer: {e}"),
                    }
                }
                let now: BTreeSet<String> = monitor
                    .snapshots()
                    .iter()
                    .flatten()
                    .flat_map(|s| s.players.iter().cloned())
                    .collect();
                if alpha {
                    alpha = sync_players(&mut sdk, &mut told, &now).await;
                }
                if label != Some(now.len()) {
                    match sdk.set_label(PLAYERS_LABEL, now.len().to_string()).await {
                        Ok(()) => label = Some(now.len()),
                        Err(e) => log::debug!("agones: SetLabel: {e}"),
                    }
                }
            }
            update = next_update(&mut watch) => match update {
                Ok(Some(gs)) => {
                    let new = gs.status.map(|s| s.state).unwrap_or_default();
                    if state.as_deref() != Some(new.as_str()) {
                        log::info!("agones: GameServer state {new}");
                        monitor.set_agones_state(&new);
                        if let Some(a) = &cfg.allocation {
                            a.set(new == "Allocated");
                        }
                        if new == "Shutdown" && !shutting_down {
                            shutting_down = true;
                            if cfg.drain.is_zero() {
                                log::info!("agones: Shutdown: stopping");
                                stopper.stop();
                            } else {
                                log::info!(
                                    "agones: Shutdown: draining for up to {} s",
                                    cfg.drain.as_secs()
                                );
                                stopper.drain(cfg.drain);
                            }
                        }
                        state = Some(new);
                    }
                }
                Ok(None) | Err(_) => {
                    // Watched again on the next players tick.
                    watch = None;
                }
            },
            c = cmds.recv() => {
                match c {
                    Some(Cmd::Shutdown(ack)) => {
                        let r = sdk.shutdown().await.map_err(|e| e.to_string());
                        if r.is_ok() {
                            log::info!("agones: told the SDK server Shutdown");
                        }
                        let _ = ack.send(r);
                    }
                    None => {}
                }
                return;
            }
        }
    }
}

/// Answers a Shutdown asked for before the SDK server was reached.
fn refuse(c: Option<Cmd>, why: &str) {
    if let Some(Cmd::Shutdown(ack)) = c {
        let _ = ack.send(Err(why.to_string()));
    }
}

/// Tells the alpha SDK who connected and who left since `told`; `false` when the sidecar
/// has no player tracking after all.
async fn sync_players(
    sdk: &mut agones::Sdk,
    told: &mut BTreeSet<String>,
    now: &BTreeSet<String>,
) -> bool {
    let mut a = sdk.alpha().clone();
    let gone: Vec<String> = told.difference(now).cloned().collect();
    let new: Vec<String> = now.difference(told).cloned().collect();
    for id in gone {
        match a.player_disconnect(id.as_str()).await {
            Ok(_) => {
                told.remove(&id);
            }
            Err(e) if unimplemented(&e) => return false,
            Err(e) => log::debug!("agones: PlayerDisconnect {id}: {e}"),
        }
    }
    for id in new {
        match a.player_connect(id.as_str()).await {
            Ok(_) => {
                told.insert(id);
            }
            Err(e) if unimplemented(&e) => return false,
            Err(e) => log::debug!("agones: PlayerConnect {id}: {e}"),
        }
    }
    true
}
