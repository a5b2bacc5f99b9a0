//! The builds: the Rust functions before they are measured, and the cold builds the full run
//! times.

use std::path::{Path, PathBuf};
use std::time::Instant;

use support::run_command;

use super::Result;

/// Builds each function alone (`-p`), as it ships, and returns the folder of its binaries.
pub fn build_functions(root: &Path, functions: &[String], profile: &str) -> Result<PathBuf> {
    println!("\n==> Building the Rust functions ({profile} profile)");
    for function in functions {
        run_command(
            support::tool("cargo")
                .args(["build", "--profile", profile, "-p", function])
                .current_dir(root),
        )?;
    }
    Ok(root.join(if profile == "dev" {
        "target/debug"
    } else {
        "target/release"
    }))
}

/// `sam build` of every function and one release build of the workspace, each from an empty
/// target folder, one after the other (never two builds at once).
pub fn time_cold_builds(root: &Path, work: &Path) -> Result<(f64, f64)> {
    let sam_target = work.join("cold-sam-target");
    let release_target = work.join("cold-release-target");
    for folder in [&sam_target, &release_target, &work.join("cold-sam-build")] {
        let _ = std::fs::remove_dir_all(folder);
    }
    println!("\n==> sam build of every function, from cold (several minutes)");
    let started = Instant::now();
    run_command(
        support::tool("sam")
            .args(["build", "--build-dir"])
            .arg(work.join("cold-sam-build"))
            .env("CARGO_TARGET_DIR", &sam_target)
            .current_dir(root),
    )?;
    let sam = started.elapsed().as_secs_f64();
    println!("\n==> cargo build --release --workspace, from cold (several minutes)");
    let started = Instant::now();
    run_command(
        support::tool("cargo")
            .args(["build", "--release", "--workspace"])
            .env("CARGO_TARGET_DIR", &release_target)
            .current_dir(root),
    )?;
    let release = started.elapsed().as_secs_f64();
    for folder in [&sam_target, &release_target] {
        let _ = std::fs::remove_dir_all(folder);
    }
    Ok((sam, release))
}
