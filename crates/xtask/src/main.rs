//! `cargo xtask local [--keep]`: the whole upload catalog on this machine, with no AWS account,
//! no Docker and no internet.
//!
//! It reads `template.yaml`, starts the local AWS emulator and creates what the template declares
//! (same keys, streams, queues and environment), runs every function under `cargo lambda watch`,
//! wires the triggers as AWS does (S3 notifications through a queue to the put handler, the
//! objects table's stream in batches to the consumer, HTTP through the function URL), then walks
//! through the workshop story and prints what happened at each step and how long it took.
//! Exits non-zero if any step did not do what it says. `--keep` leaves everything running
//! afterwards, until Ctrl-C.

mod http;
mod local;
mod template;

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("local") {
        eprintln!("usage: cargo xtask local [--keep]");
        return ExitCode::from(2);
    }
    let keep = args.iter().any(|arg| arg == "--keep");
    let outcome = tokio::select! {
        outcome = local::run(keep) => outcome,
        _ = tokio::signal::ctrl_c() => Err("interrupted".to_owned()),
    };
    // Returning drops the emulator and the function runtime, which stops them.
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\nerror: {error}");
            ExitCode::FAILURE
        }
    }
}
