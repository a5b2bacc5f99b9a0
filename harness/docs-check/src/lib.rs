//! `cargo xtask docs [--run]`: the shell blocks of the README, the workshop and the crate
//! READMEs, checked as a newcomer would use them.
//!
//! Every ```` ```bash ```` block is read. A comment on the line before its fence says what it
//! needs:
//!
//! - `<!-- docs: run -->`: runs locally. `--run` runs it from the repository's root in a fresh
//!   `bash` (with `scripts/env.sh` sourced, as the docs tell a reader to), and fails if it fails.
//!   When a ```` ```text ```` block follows it, that is what the docs promise it prints: each of
//!   its lines must appear in the output, in order (`...` skips any lines, `<anything>` matches
//!   any text).
//! - `<!-- docs: fails -->`: runs like `run`, but must fail (an error the docs show on purpose).
//! - `<!-- docs: background 127.0.0.1:5000 -->`: what the docs run in another terminal (the
//!   emulator, `cargo lambda watch`): started in the background, left running for the blocks
//!   after it in the same file, waited for until that address accepts connections. Given a
//!   path instead (`target/local/env.sh`), waited for until that file exists.
//! - `<!-- docs: ci -->`: what `.ci/run` itself runs (`./scripts/test.sh`); each of its
//!   commands must be a line of `.ci/run`.
//! - `<!-- docs: aws -->`: needs an AWS account; checked with `bash -n` only.
//! - no comment: an error; every block says what it needs.
//!
//! The blocks of one file run in one shell session, in order, so what one exports the next sees,
//! as in the reader's terminal; everything a file started is stopped after its last block. A
//! block that may build (`cargo`, `./scripts/`, `sam`) may take 20 minutes, any other 5. When
//! one fails, the end of what the background blocks printed (`target/docs/background-<line>.log`)
//! and of each function's log the local run wrote is shown with the error.
//!
//! Without `--run` every block is only syntax-checked: quick, and what `./scripts/test.sh` does.

mod expected;
mod markdown;
mod processes;
mod session;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{anyhow, Result};

pub use expected::shows;
pub use markdown::{blocks, Block, Needs};
use session::Session;

/// The Markdown files whose commands readers paste.
fn documents(root: &Path) -> Result<Vec<PathBuf>> {
    let mut files = vec![PathBuf::from("README.md")];
    for folder in ["docs/workshop", "crates"] {
        let entries = std::fs::read_dir(root.join(folder)).map_err(|error| anyhow!("{folder}: {error}"))?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter_map(|path| {
                let relative = path.strip_prefix(root).ok()?.to_path_buf();
                if folder == "crates" {
                    let readme = relative.join("README.md");
                    root.join(&readme).is_file().then_some(readme)
                } else {
                    (relative.extension()? == "md").then_some(relative)
                }
            })
            .collect();
        found.sort();
        files.extend(found);
    }
    files.push(PathBuf::from("harness/README.md"));
    Ok(files)
}

fn syntax_error(block: &Block) -> Result<Option<String>> {
    let output = support::tool("bash")
        .args(["-n", "-c", &block.code])
        .stdin(Stdio::null())
        .output()
        .map_err(|error| anyhow!("bash: {error}"))?;
    Ok((!output.status.success()).then(|| String::from_utf8_lossy(&output.stderr).into_owned()))
}

/// The commands of a `ci` block that `.ci/run` does not run (a line of `.ci/run` must end with
/// the command, as in `timed ./scripts/test.sh`).
fn missing_from_ci<'a>(block: &'a Block, ci_script: &str) -> Vec<&'a str> {
    block
        .code
        .lines()
        .map(|line| line.split(" #").next().unwrap_or(line).trim())
        .filter(|command| !command.is_empty() && !command.starts_with('#'))
        .filter(|command| !ci_script.lines().any(|line| line.trim().ends_with(command)))
        .collect()
}

/// Checks the docs; `only` (paths from the repository's root), when not empty, limits it to those
/// files.
pub fn run(root: &Path, execute: bool, only: &[PathBuf]) -> Result<()> {
    let ci_script = std::fs::read_to_string(root.join(".ci/run")).map_err(|error| anyhow!(".ci/run: {error}"))?;
    let mut failures = Vec::new();
    let (mut local, mut aws, mut ci) = (0, 0, 0);
    let files: Vec<PathBuf> = documents(root)?
        .into_iter()
        .filter(|file| only.is_empty() || only.contains(file))
        .collect();
    if files.is_empty() {
        return Err(anyhow!("none of {only:?} is a document the docs check reads"));
    }
    for file in files {
        let text = std::fs::read_to_string(root.join(&file)).map_err(|error| anyhow!("{}: {error}", file.display()))?;
        let started = std::time::Instant::now();
        let mut session: Option<Session> = None;
        for block in blocks(&file, &text) {
            let place = format!("{}:{}", block.file.display(), block.line);
            if let Some(error) = syntax_error(&block)? {
                failures.push(format!("{place}: not valid bash: {error}"));
                continue;
            }
            match block.needs {
                Needs::Aws => aws += 1,
                Needs::Ci => {
                    ci += 1;
                    let missing = missing_from_ci(&block, &ci_script);
                    if !missing.is_empty() {
                        failures.push(format!("{place}: marked `ci`, but .ci/run does not run {missing:?}"));
                    }
                }
                Needs::Unmarked => failures.push(format!(
                    "{place}: say what this block needs in a comment before it: \
                     <!-- docs: run -->, fails, background <address>, ci or aws"
                )),
                Needs::Local | Needs::Fails | Needs::Background(_) => {
                    local += 1;
                    if execute {
                        println!("==> {place}");
                        let session = match session.as_mut() {
                            Some(session) => session,
                            None => session.insert(Session::start(root)?),
                        };
                        if let Err(error) = session.run(&block) {
                            failures.push(format!("{place}: {error}{}", session.diagnosis()));
                            // The rest of the file depends on this block.
                            break;
                        }
                    }
                }
            }
        }
        if session.is_some() {
            println!("{}: its blocks took {} s", file.display(), started.elapsed().as_secs());
        }
    }
    println!(
        "{local} blocks run locally{}, {ci} run by .ci/run itself, {aws} need AWS (syntax checked)",
        if execute {
            ""
        } else {
            " (syntax checked; --run runs them)"
        }
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(failures.join("\n\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ci_block_must_be_what_ci_runs() {
        let block = |code: &str| Block {
            file: PathBuf::from("README.md"),
            line: 1,
            needs: Needs::Ci,
            code: code.to_owned(),
            expected: None,
        };
        let ci_script = "timed ./scripts/local.sh\ntimed ./scripts/test.sh\n";
        let readme = block("./scripts/local.sh   # runs it\n./scripts/test.sh    # tests it");
        assert!(missing_from_ci(&readme, ci_script).is_empty());
        let other = block("./scripts/test.sh\n./scripts/deploy.sh");
        assert_eq!(missing_from_ci(&other, ci_script), vec!["./scripts/deploy.sh"]);
    }
}
