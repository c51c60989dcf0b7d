//! Unit tests of the proxy's flags.

use super::*;

#[test]
fn hold_back_ms_takes_a_range_or_one_value() {
    assert_eq!(
        ms_range("17-50"),
        Ok(MsRange {
            min: 17.0,
            max: 50.0
        })
    );
    assert_eq!(ms_range("2.5 - 3"), Ok(MsRange { min: 2.5, max: 3.0 }));
    assert_eq!(
        ms_range("20"),
        Ok(MsRange {
            min: 20.0,
            max: 20.0
        })
    );
    for bad in ["50-17", "-5", "1-", "a-b", "1-2-3", "nan", ""] {
        assert!(ms_range(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_flags_give_the_model_its_hold_back() {
    let cli = Cli::parse_from([
        "tickwire-netem",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "127.0.0.1:1",
        "--hold-back",
        "0.25",
        "--hold-back-ms",
        "5-9",
    ]);
    let imp = impairment(&cli, true);
    assert_eq!(imp.hold_back, 0.25);
    assert_eq!(imp.hold_back_range, (millis(5.0), millis(9.0)));
    assert_eq!(imp.reorder, 0.0);
    assert_eq!(impairment(&cli, false), Impairment::NONE);
    let default = Cli::parse_from(["x", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"]);
    assert_eq!(default.hold_back, 0.0);
    assert_eq!(
        impairment(&default, true).hold_back_range,
        (millis(17.0), millis(50.0))
    );
}
