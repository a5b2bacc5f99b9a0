//! What every harness tool needs: the repository's root, child processes started without the
//! variables `cargo run` set for the tool, commands run to completion with a clear error, and
//! just enough HTTP for loopback (`http`).

pub mod http;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;

/// The product's root, where `template.yaml` and the root `Cargo.toml` are: every harness crate
/// sits two folders below it (`harness/<crate>`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The variables `cargo run` sets for the program it runs, here the task runner itself.
const SET_BY_CARGO_RUN: [&str; 5] = [
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
];

/// `program` as a child of the task runner, without what `cargo run` set for the runner
/// (`CARGO_PKG_NAME=xtask`, `CARGO_MANIFEST_DIR=.../harness/xtask`, ...). A build script that
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

/// Runs a command to completion; an error names it and how it ended.
pub fn run_command(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status().with_context(|| format!("{command:?}"))?;
    anyhow::ensure!(status.success(), "{command:?} failed: {status}");
    Ok(())
}

/// A step's heading, as every tool prints it.
pub fn heading(text: &str) {
    println!("\n==> {text}");
}
