//! tickwire-lobby-bench: measures the lobby of a real `tickwire serve` process. The
//! benchmark is `tickwire_tools::lobby_bench`; this is its command line.

use clap::Parser;
use std::process::ExitCode;
use tickwire_tools::lobby_bench::{self, Args};

fn main() -> ExitCode {
    let args = Args::parse();
    match lobby_bench::run(&args) {
        Ok(report) => {
            if args.json {
                println!("{}", report.json());
            } else {
                print!("{}", report.table());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tickwire-lobby-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
