//! One file's shell session: a `bash` reading the file's blocks from its standard input, in
//! order, as the reader's terminal would, with what the blocks start in the background.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, Context, Result};

use crate::expected::shows;
use crate::markdown::{Block, Needs};
use crate::processes;

/// Printed after each block, with its exit status, to know where its output ends.
const DONE: &str = "__docs_block_done__";

/// Printed with the process id of a background block.
const BACKGROUND: &str = "__docs_background_pid__";

/// How long a block that builds may take: the first build of the AWS SDK included.
const BUILD_TIMEOUT: Duration = Duration::from_secs(1_200);
/// How long any other block may take: its waits (`until curl ...`) are for seconds.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(300);

/// The time `code` may take: a block that may compile gets the first build's time.
fn timeout_for(code: &str) -> Duration {
    if ["cargo ", "./scripts/", "sam "]
        .iter()
        .any(|builds| code.contains(builds))
    {
        BUILD_TIMEOUT
    } else {
        BLOCK_TIMEOUT
    }
}

pub struct Session {
    root: PathBuf,
    child: Child,
    input: ChildStdin,
    lines: Receiver<String>,
    /// What the file's blocks started in the background, still expected to be running.
    background: Vec<Background>,
    /// When the file's first block started: the local run's logs written since then are shown
    /// when a block fails.
    started: SystemTime,
}

/// A block started in the background, as in a second terminal.
struct Background {
    pid: i32,
    /// Where its output goes (`target/docs/background-<line>.log`): shown when a block fails.
    log: PathBuf,
    place: String,
}

impl Session {
    pub fn start(root: &Path) -> Result<Session> {
        // A home of its own: what the docs write under `~` (a copied-out function) stays out of
        // the real one, while cargo and rustup keep using their real homes.
        let home = root.join("target/docs/home");
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).map_err(|error| anyhow!("{}: {error}", home.display()))?;
        let real_home = std::env::var("HOME").context("HOME is not set")?;
        // A session of its own, so that everything its blocks start can be found and stopped
        // afterwards, even what moved to a process group of its own (`cargo lambda watch`
        // does). The `setsid` program, because std only offers a process group
        // (`process_group`), and calling setsid(2) in the child takes `unsafe` `pre_exec`.
        let mut child = support::tool("setsid")
            .arg("bash")
            .current_dir(root)
            .env(
                "CARGO_HOME",
                std::env::var("CARGO_HOME").unwrap_or(format!("{real_home}/.cargo")),
            )
            .env(
                "RUSTUP_HOME",
                std::env::var("RUSTUP_HOME").unwrap_or(format!("{real_home}/.rustup")),
            )
            .env("HOME", &home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| anyhow!("setsid bash: {error}"))?;
        let input = child.stdin.take().context("no stdin")?;
        let output = child.stdout.take().context("no stdout")?;
        // A thread, so that waiting for a line can time out.
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(std::result::Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut session = Session {
            root: root.to_path_buf(),
            child,
            input,
            lines,
            background: Vec::new(),
            started: SystemTime::now(),
        };
        session.send("exec 2>&1\nsource scripts/env.sh", false)?;
        Ok(session)
    }

    /// Runs one block: a background one is started and waited for; any other must succeed and
    /// print what the docs promise.
    pub fn run(&mut self, block: &Block) -> Result<()> {
        match &block.needs {
            Needs::Background(address) => self.start_background(block, address),
            needs => {
                let printed = self.send(&block.code, *needs == Needs::Fails)?;
                match &block.expected {
                    Some(expected) => shows(&printed, expected).map_err(|error| {
                        let lines: Vec<String> = printed.lines().map(str::to_owned).collect();
                        anyhow!("{error}; it printed:\n{}", tail(&lines))
                    }),
                    None => Ok(()),
                }
            }
        }
    }

    /// Starts a background block and waits until `address` accepts connections, or, when it is
    /// a path, until that file exists.
    fn start_background(&mut self, block: &Block, address: &str) -> Result<()> {
        let socket = address.parse::<std::net::SocketAddr>().ok();
        if socket.is_none() {
            // A previous run's file must not pass for this run's.
            let _ = std::fs::remove_file(self.root.join(address));
        }
        let log = self.root.join(format!("target/docs/background-{}.log", block.line));
        let started = self.send(
            &format!(
                "mkdir -p target/docs\n( {} ) > {} 2>&1 &\necho \"{BACKGROUND} $!\"",
                block.code,
                log.display()
            ),
            false,
        )?;
        let pid = started
            .lines()
            .find_map(|line| line.strip_prefix(BACKGROUND)?.trim().parse().ok())
            .context("the background block did not start")?;
        let job = Background {
            pid,
            log,
            place: format!("the background block at {}:{}", block.file.display(), block.line),
        };
        // Long enough for the whole application's story (`local.sh --keep`) on a cold cache.
        let deadline = Instant::now() + BUILD_TIMEOUT;
        let ready = || match socket {
            Some(socket) => std::net::TcpStream::connect(socket).is_ok(),
            None => self.root.join(address).exists(),
        };
        let mut waited = Ok(());
        while !ready() {
            if !processes::running(job.pid) {
                waited = Err(anyhow!("it stopped before {address} was ready"));
                break;
            }
            if Instant::now() > deadline {
                waited = Err(anyhow!("{address} not ready within {} s", BUILD_TIMEOUT.as_secs()));
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // Kept even when it failed: the diagnosis shows its log.
        self.background.push(job);
        waited
    }

    /// Runs `code` and returns what it printed, or why it did not end as it should: with
    /// `must_fail`, its last command must fail; otherwise every command must succeed (the
    /// session stops at the first failure, as `set -e` does).
    fn send(&mut self, code: &str, must_fail: bool) -> Result<String> {
        let strict = if must_fail { "set +e" } else { "set -e" };
        // Not in a subshell: the block's exports must reach the next block, as in a terminal.
        // On a line of its own even when the block's output does not end with a newline
        // (`curl -s` rarely does).
        writeln!(
            self.input,
            "{strict}\n{code}\n__docs_status=$?\nprintf '\\n%s %s\\n' {DONE} \"$__docs_status\"\nset +e"
        )
        .map_err(|error| anyhow!("bash: {error}"))?;
        let timeout = timeout_for(code);
        let deadline = Instant::now() + timeout;
        let mut printed = Vec::new();
        loop {
            let line = match self.lines.recv_timeout(Duration::from_millis(250)) {
                Ok(line) => line,
                // The shell stopped at a failed command. (Its output may stay open: a process
                // the block started in the background holds it.)
                Err(RecvTimeoutError::Disconnected) => return Err(anyhow!("a command failed:\n{}", tail(&printed))),
                Err(RecvTimeoutError::Timeout) if self.child.try_wait().ok().flatten().is_some() => {
                    return Err(anyhow!("a command failed:\n{}", tail(&printed)));
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() > deadline => {
                    return Err(anyhow!("no end within {} s:\n{}", timeout.as_secs(), tail(&printed)));
                }
                // What this block waits for (an answer from the local application) will never
                // come: fail now rather than at the deadline.
                Err(RecvTimeoutError::Timeout) if self.background.iter().any(|job| !processes::running(job.pid)) => {
                    return Err(anyhow!(
                        "a background block stopped while this one ran:\n{}",
                        tail(&printed)
                    ));
                }
                Err(RecvTimeoutError::Timeout) => continue,
            };
            match line.strip_prefix(DONE).map(str::trim) {
                Some("0") if !must_fail => return Ok(printed.join("\n")),
                Some(status) if must_fail && status != "0" => return Ok(printed.join("\n")),
                Some(status) => {
                    return Err(anyhow!("it ended with exit status {status}:\n{}", tail(&printed)));
                }
                None => printed.push(line),
            }
        }
    }

    /// What helps to see why a block failed: the last lines of what the file started in the
    /// background, and of each function's log the local run wrote since the file started.
    pub fn diagnosis(&self) -> String {
        let mut report = String::new();
        for job in &self.background {
            let state = if processes::running(job.pid) {
                "running"
            } else {
                "stopped"
            };
            report.push_str(&format!(
                "\n--- {} ({state}), the end of {}:\n{}",
                job.place,
                job.log.strip_prefix(&self.root).unwrap_or(&job.log).display(),
                last_lines(&job.log, 15)
            ));
        }
        let logs = self.root.join("target/local/logs");
        let mut written: Vec<PathBuf> = std::fs::read_dir(&logs)
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                std::fs::metadata(path)
                    .and_then(|metadata| metadata.modified())
                    .is_ok_and(|modified| modified >= self.started)
            })
            .collect();
        written.sort();
        for log in written {
            report.push_str(&format!(
                "\n--- the end of {}:\n{}",
                log.strip_prefix(&self.root).unwrap_or(&log).display(),
                last_lines(&log, 6)
            ));
        }
        report
    }
}

impl Drop for Session {
    /// Stops everything the file started, and waits until it has stopped: what a block left
    /// running (an emulator, `./scripts/local.sh --keep` and its `cargo lambda watch`es) must
    /// not answer, or hold a port, for the next file.
    fn drop(&mut self) {
        // The shell leads its session (`setsid`): the session's id, and its own group's, is its
        // process id.
        let Ok(session) = i32::try_from(self.child.id()) else {
            return;
        };
        // `cargo xtask local` stops what it started when its group gets SIGTERM.
        processes::terminate_group(session);
        let _ = self.child.wait();
        processes::stop_session(session, Duration::from_secs(30));
    }
}

/// The last `count` lines of a file, each cut to a readable length.
fn last_lines(file: &Path, count: usize) -> String {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..]
        .iter()
        .map(|line| match line.char_indices().nth(400) {
            Some((cut, _)) => format!("{}...", &line[..cut]),
            None => (*line).to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn tail(lines: &[String]) -> String {
    lines[lines.len().saturating_sub(15)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_block_that_may_build_gets_the_first_builds_time() {
        assert_eq!(timeout_for("cargo test -p s3-list-buckets"), BUILD_TIMEOUT);
        assert_eq!(timeout_for("./scripts/local.sh --keep"), BUILD_TIMEOUT);
        assert_eq!(
            timeout_for("source scripts/env.sh\nuntil curl -sf $API/stats; do sleep 1; done"),
            BLOCK_TIMEOUT
        );
    }

    #[test]
    fn a_failure_shows_the_last_lines_of_a_log_cut_to_a_readable_length() {
        let file = std::env::temp_dir().join(format!("docs-last-lines-{}.log", std::process::id()));
        let long = "x".repeat(1_000);
        std::fs::write(&file, format!("first\nsecond\n{long}\nlast\n")).unwrap();
        let shown = last_lines(&file, 2);
        let _ = std::fs::remove_file(&file);
        assert_eq!(shown, format!("{}...\nlast", "x".repeat(400)));
    }
}
