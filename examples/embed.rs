//! Embedding tickwire in a launcher with a game of your own.
//!
//! `Beacon` is the smallest useful game: each player sends its colour (kind 0x20, one
//! byte) and every tick everyone receives every player's colour. Run it with
//! `cargo run --example embed -- [SECONDS]` (no argument: until Ctrl-C).

use tickwire::{Context, Game, PlayerId, SnapshotWriter};
use tickwire::{Host, HostConfig};

pub const COLOUR: u8 = 0x20;

pub struct Beacon {
    colours: [Option<u8>; 256],
}

impl Default for Beacon {
    fn default() -> Beacon {
        Beacon {
            colours: [None; 256],
        }
    }
}

impl Game for Beacon {
    fn knows_kind(&self, kind: u8) -> bool {
        kind == COLOUR
    }
    fn check_input(&self, _kind: u8, payload: &[u8]) -> bool {
        payload.len() == 1
    }
    fn connect(&mut self, player: PlayerId, _name: Option<&str>) {
        self.colours[player as usize] = Some(0);
    }
    fn disconnect(&mut self, player: PlayerId) {
        self.colours[player as usize] = None;
    }
    fn input(&mut self, _cx: &mut Context<'_>, player: PlayerId, _kind: u8, payload: &[u8]) {
        self.colours[player as usize] = Some(payload[0]);
    }
    fn step(&mut self, _tick: u32) {}
    fn description(&self) -> &str {
        "beacon"
    }
    fn snapshot(&self, w: &mut SnapshotWriter<'_>) {
        for (id, c) in self.colours.iter().enumerate() {
            if let Some(c) = c {
                let _ = w.entity(&[id as u8, *c]);
            }
        }
    }
}

fn main() -> std::io::Result<()> {
    // The host logs through the `log` crate and prints nothing without a logger: this one
    // prints joins, leaves and the stats line to stderr (`RUST_LOG=debug` for more).
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    // The launcher part: ten lines.
    let cfg = HostConfig {
        bind: "127.0.0.1:0".parse().expect("valid address"),
        handle_signals: true,
        ..HostConfig::default()
    };
    let mut host = Host::bind(cfg, |_| Beacon::default())?;
    println!("beacon listening udp={}", host.udp_addrs()[0]);
    if let Some(secs) = std::env::args().nth(1).and_then(|s| s.parse().ok()) {
        let stop = host.stopper();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(secs));
            stop.stop();
        });
    }
    host.run()
}
