//! `include/tickwire.h` is what cbindgen generates from this crate now: the test fails when
//! the committed header is stale. `TICKWIRE_BLESS=1` writes the fresh one instead.

use std::path::PathBuf;

#[test]
fn committed_header_is_current() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("config");
    let mut fresh = Vec::new();
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen parses the crate")
        .write(&mut fresh);
    let path = crate_dir.join("../include/tickwire.h");
    if std::env::var_os("TICKWIRE_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write the header");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/tickwire.h is stale: regenerate it with \
         `TICKWIRE_BLESS=1 cargo test -p tickwire-ffi --test header` and commit it"
    );
}
