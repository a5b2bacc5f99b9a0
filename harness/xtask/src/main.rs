//! `cargo xtask`: the one command line of the harness (the `cargo xtask` convention; the root's
//! `.cargo/config.toml` runs it from this workspace). Each command is a crate of its own beside
//! this one; this file only parses the command line and hands over. `cargo xtask --help` lists
//! the commands, `cargo xtask <command> --help` their options, and an unknown command or flag is
//! an error that says what exists (clap's derive parser: declared once, checked for us).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Runs, measures and checks the upload catalog on this machine."
)]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// The whole application on this machine, then the workshop story, each step checked.
    Local {
        /// Keep everything running afterwards, until Ctrl-C (addresses in target/local/env.sh).
        #[arg(long)]
        keep: bool,
    },
    /// The application under a burst of uploads, overwrites and deletes, then concurrent requests.
    Load {
        /// The bounded size CI runs.
        #[arg(long)]
        quick: bool,
    },
    /// The web page in headless Chromium, used as a person would.
    Browser {
        /// Where the last screenshot goes [default: target/local/web-page.png].
        #[arg(long, value_name = "FILE")]
        screenshot: Option<PathBuf>,
    },
    /// Every function in Rust beside Python, measured in the same run; writes docs/benchmarks.md.
    Bench {
        /// A bounded run that writes nothing (what CI runs).
        #[arg(long)]
        quick: bool,
        /// Measure the Rust binaries in DIR instead of building them.
        #[arg(long, value_name = "DIR")]
        binaries: Option<PathBuf>,
        /// Only these functions, comma-separated: a partial run, reported in target/bench/ without
        /// the cold builds.
        #[arg(long, value_name = "F1,F2")]
        only: Option<String>,
        /// Also measure at these memory sizes' share of a vCPU, as Lambda gives it (MB,
        /// comma-separated, 128 to 10240; needs the kernel's CPU controller, so root on most machines).
        #[arg(long, value_name = "MB,MB", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(128..=10240))]
        memory: Vec<u32>,
    },
    /// One function's log from the last local run, one readable line per JSON line.
    Logs {
        /// The function's crate name, for example s3-put-handler.
        function: String,
    },
    /// One function as a project of its own: its crate, what it uses of shared, its template.
    CopyOut {
        /// The function's crate name, for example s3-put-handler.
        function: String,
        /// The folder to write the project to; it must not exist yet.
        folder: String,
    },
    /// Fails when a function's arm64 binary grew more than 10% over bench/binary-sizes.json.
    Sizes {
        /// Write today's sizes as the new baseline.
        #[arg(long)]
        update: bool,
    },
    /// Every shell block of the docs syntax-checked; with --run, the local ones run and checked.
    Docs {
        /// Run the blocks marked to run, and check their output against the docs.
        #[arg(long)]
        run: bool,
        /// Only these Markdown files [default: the README, the workshop and the crate READMEs].
        files: Vec<PathBuf>,
    },
}

async fn run(task: Task) -> Result<()> {
    let root = support::repo_root();
    match task {
        Task::Local { keep } => local_run::run(local_run::Mode::Story { keep }).await,
        Task::Load { quick } => local_run::run(local_run::Mode::Load { quick }).await,
        Task::Browser { screenshot } => {
            let screenshot = screenshot.unwrap_or_else(|| root.join("target/local/web-page.png"));
            local_run::run(local_run::Mode::Browser { screenshot }).await
        }
        Task::Bench {
            quick,
            binaries,
            only,
            memory,
        } => {
            benchmarks::run(benchmarks::Options {
                quick,
                binaries,
                only,
                memory,
            })
            .await
        }
        Task::Logs { function } => local_run::logs::run(&root, &function),
        Task::CopyOut { function, folder } => copy_out::run(&root, &function, &folder),
        Task::Sizes { update } => benchmarks::sizes::run(&root, update),
        Task::Docs { run, files } => docs_check::run(&root, run, &files),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
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
        outcome = run(cli.command) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
        _ = terminated => Err(anyhow!("terminated")),
    };
    // Returning drops the emulator and every process started, which stops them.
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\nerror: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_misspelt_flag_is_an_error_that_names_the_right_one() {
        let error = Cli::try_parse_from(["cargo xtask", "bench", "--quik"]).err().unwrap();
        let text = error.to_string();
        assert!(text.contains("--quik") && text.contains("--quick"), "{text}");
    }

    #[test]
    fn an_unknown_command_is_an_error_that_lists_the_commands() {
        let error = Cli::try_parse_from(["cargo xtask", "deploy"]).err().unwrap();
        assert_eq!(error.kind(), clap::error::ErrorKind::InvalidSubcommand);
        let help = Cli::command().render_help().to_string();
        for command in ["local", "load", "browser", "bench", "logs", "copy-out", "sizes", "docs"] {
            assert!(help.contains(command), "{command} missing from:\n{help}");
        }
    }

    #[test]
    fn copy_out_needs_both_its_arguments() {
        let error = Cli::try_parse_from(["cargo xtask", "copy-out", "s3-put-handler"])
            .err()
            .unwrap();
        assert_eq!(error.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }
}
