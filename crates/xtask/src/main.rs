//! The workspace's task runner (the `cargo xtask` convention):
//!
//! - `cargo xtask local [--keep]`: the whole upload catalog on this machine, with no AWS account,
//!   no Docker and no internet. It reads `template.yaml`, starts the local AWS emulator and
//!   creates what the template declares, runs each function under its own `cargo lambda watch`,
//!   wires the triggers as AWS does (S3 notifications through a queue to the put handler, the
//!   objects table's stream in batches to the consumer, HTTP through the function URL), then
//!   walks through the workshop story and prints what happened at each step and how long it
//!   took. Exits non-zero if any step did not do what it says. `--keep` leaves everything running
//!   afterwards, until Ctrl-C.
//! - `cargo xtask load [--quick]`: the same application under load: a burst of uploads with
//!   overwrites, duplicates and deletes through the whole pipeline until the catalog equals the
//!   bucket and the statistics a recount, then concurrent requests to the HTTP API; prints the
//!   times, throughput and latency percentiles (see `local/load.rs`).
//! - `cargo xtask browser [--screenshot FILE]`: the application's web page in headless Chromium,
//!   used as a person would (see `local/browser.rs`); the last screenshot goes to FILE
//!   (`target/local/web-page.png` by default).
//! - `cargo xtask bench [--quick]`: every function in Rust beside its Python equivalent, measured
//!   the same way in the same run; writes `docs/benchmarks.md` (see `bench.rs`). `--binaries DIR`
//!   measures the Rust binaries in DIR instead of building them; `--only` some functions.
//! - `cargo xtask logs <function>`: one function's log from the last local run, one readable line
//!   per JSON line (see `logs.rs`).
//! - `cargo xtask copy-out <function> <folder>`: one function as a standalone project, with what
//!   it needs of `shared`, its own template, setup script and README (see `copy_out.rs`).
//! - `cargo xtask docs [--run] [FILE.md...]`: every shell block of the README, the workshop and the crate
//!   READMEs syntax-checked; with `--run`, those marked to run locally run, and their output is
//!   checked against what the docs say it prints (see `docs.rs`).
//! - `cargo xtask sizes [--update]`: fails when a function's arm64 binary grew more than 10% over
//!   the baseline in `bench/binary-sizes.json` (see `sizes.rs`).

mod bench;
mod copy_out;
mod docs;
mod http;
mod local;
mod logs;
mod sizes;
mod template;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

const USAGE: &str =
    "usage: cargo xtask local [--keep] | load [--quick] | browser [--screenshot FILE] | bench [--quick] [--binaries DIR] [--only F1,F2] | logs <function> | copy-out <function> <folder> | sizes [--update] | docs [--run] [FILE.md...]";

/// The variables `cargo run` sets for the program it runs, here the task runner itself.
const SET_BY_CARGO_RUN: [&str; 5] = [
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
];

/// `program` as a child of the task runner, without what `cargo run` set for the runner
/// (`CARGO_PKG_NAME=xtask`, `CARGO_MANIFEST_DIR=.../crates/xtask`, ...). A build script that
/// watches one of them (ring's does) would see it change between a build started here and one
/// started from the shell, and recompile itself and everything above it every time.
pub fn tool(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        let inherited = name
            .to_str()
            .is_some_and(|name| SET_BY_CARGO_RUN.iter().any(|prefix| name.starts_with(prefix)));
        if inherited {
            command.env_remove(name);
        }
    }
    command
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().skip(1).any(|arg| arg == name);
    let value = |name: &str| args.iter().skip_while(|arg| *arg != name).nth(1).cloned();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let task = async {
        match args.first().map(String::as_str) {
            Some("local") => local::run(local::Mode::Story { keep: flag("--keep") }).await,
            Some("load") => local::run(local::Mode::Load { quick: flag("--quick") }).await,
            Some("browser") => {
                let screenshot =
                    value("--screenshot").map_or_else(|| root.join("target/local/web-page.png"), PathBuf::from);
                local::run(local::Mode::Browser { screenshot }).await
            }
            Some("bench") => bench::run(flag("--quick"), value("--binaries").map(PathBuf::from), value("--only")).await,
            Some("logs") => logs::run(&root, args.get(1).map(String::as_str)),
            Some("copy-out") => copy_out::run(&root, args.get(1).map(String::as_str), args.get(2).map(String::as_str)),
            Some("sizes") => sizes::run(&root, flag("--update")),
            Some("docs") => {
                let only: Vec<PathBuf> = args
                    .iter()
                    .skip(1)
                    .filter(|arg| !arg.starts_with("--"))
                    .map(PathBuf::from)
                    .collect();
                docs::run(&root, flag("--run"), &only)
            }
            _ => Err(USAGE.to_owned()),
        }
    };
    // SIGTERM too (what `kill` and CI runners send): stopping without it would leave the local
    // run's functions and emulator running, in process groups of their own.
    let terminated = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    let outcome = tokio::select! {
        outcome = task => outcome,
        _ = tokio::signal::ctrl_c() => Err("interrupted".to_owned()),
        _ = terminated => Err("terminated".to_owned()),
    };
    // Returning drops the emulator and every process started, which stops them.
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\nerror: {error}");
            ExitCode::FAILURE
        }
    }
}
