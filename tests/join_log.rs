//! Joins and leaves on the game port are logged at INFO, one line each, with the qport and
//! the address (issue 17, item 9: they were DEBUG, so `tickwire serve` showed none).
mod common;

use common::{addr, Sim};
use std::sync::Mutex;
use std::time::Duration;

/// Every INFO-or-louder line of the library, as (level, text).
static LINES: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Recorder;

impl log::Log for Recorder {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Info && m.target().starts_with("tickwire")
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            LINES
                .lock()
                .unwrap()
                .push((r.level(), r.args().to_string()));
        }
    }
    fn flush(&self) {}
}

static RECORDER: Recorder = Recorder;

#[test]
fn joins_and_leaves_are_info_lines_with_qport_and_address() {
    log::set_logger(&RECORDER).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let mut sim = Sim::new();
    let mut a = sim.connect(addr(1));
    let b = sim.connect(addr(2));
    let bye = a.bye();
    sim.send(a.src, &bye).unwrap();
    sim.advance(Duration::from_secs(6)); // b times out
    let lines = LINES.lock().unwrap().clone();
    let has = |want: &str| {
        lines
            .iter()
            .filter(|(l, t)| *l == log::Level::Info && t == want)
            .count()
    };
    let join = |c: &common::RawClient| {
        format!("client {} joined from {} (reply {})", c.qport, c.src, c.src)
    };
    assert_eq!(has(&join(&a)), 1, "{lines:#?}");
    assert_eq!(has(&join(&b)), 1, "{lines:#?}");
    assert_eq!(
        has(&format!("client {} ({}) left: BYE", a.qport, a.src)),
        1,
        "{lines:#?}"
    );
    assert_eq!(
        has(&format!("client {} ({}) left: timed out", b.qport, b.src)),
        1,
        "{lines:#?}"
    );
}
