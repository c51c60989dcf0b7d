//! Which Python runs the A2S client tests: `$TICKWIRE_PYTHON` when set; else the
//! project-local virtual environment `tools/install-test-deps.sh` makes
//! (`target/test-venv/`), when it is there; else `python3` from `PATH`.

use std::path::PathBuf;

/// The interpreter to run `tests/a2s_query.py` with.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TICKWIRE_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/test-venv/bin/python3"
    ));
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}

/// Panics, saying what to run, unless [`python`] imports the `a2s` module.
pub fn require_a2s() {
    let py = python();
    let ok = std::process::Command::new(&py)
        .args(["-c", "import a2s"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{} with the `a2s` module (python-a2s) is needed: run tools/install-test-deps.sh \
         (it makes target/test-venv/; the first run needs PyPI)",
        py.display()
    );
}
