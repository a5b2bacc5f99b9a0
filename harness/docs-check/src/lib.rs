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
//!
//! The blocks of one file run in one shell session, in order, so what one exports the next sees,
//! as in the reader's terminal; everything a file started is stopped after its last block. A
//! block that may build (`cargo`, `./scripts/`, `sam`) may take 20 minutes, any other 5. When
//! one fails, the end of what the background blocks printed (`target/docs/background-<line>.log`)
//! and of each function's log the local run wrote is shown with the error.
//! - no comment: checked with `bash -n`, and counted as "not run yet".
//!
//! Without `--run` every block is only syntax-checked: quick, and what `./scripts/test.sh` does.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{anyhow, Context, Result};

/// What a block needs, from the comment before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Needs {
    Local,
    /// Runs locally and must fail (an error the docs show on purpose).
    Fails,
    /// Started and left running for the blocks after it, as in a second terminal; ready once
    /// the address (`127.0.0.1:5000`) accepts connections.
    Background(String),
    Aws,
    /// Run by `.ci/run` itself.
    Ci,
    Unmarked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The Markdown file, relative to the repository's root.
    pub file: PathBuf,
    /// The line of its opening fence, from 1.
    pub line: usize,
    pub needs: Needs,
    pub code: String,
    /// The ```text block right after it: what the docs say it prints.
    pub expected: Option<String>,
}

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

/// The ```bash blocks of one Markdown text.
pub fn blocks(file: &Path, markdown: &str) -> Vec<Block> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut found = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let fence = lines[index].trim_start();
        let Some(language) = fence.strip_prefix("```") else {
            index += 1;
            continue;
        };
        let indent = lines[index].len() - fence.len();
        let end = (index + 1..lines.len())
            .find(|&line| lines[line].trim_start().starts_with("```"))
            .unwrap_or(lines.len());
        if language.trim() == "bash" {
            let previous = (0..index)
                .rev()
                .map(|line| lines[line].trim())
                .find(|line| !line.is_empty());
            let marker = previous
                .and_then(|line| line.strip_prefix("<!-- docs:"))
                .and_then(|line| line.strip_suffix("-->"))
                .map(str::trim);
            let needs = match marker.map(|marker| marker.split_once(' ').unwrap_or((marker, ""))) {
                Some(("run", _)) => Needs::Local,
                Some(("fails", _)) => Needs::Fails,
                Some(("aws", _)) => Needs::Aws,
                Some(("ci", _)) => Needs::Ci,
                Some(("background", address)) => Needs::Background(address.trim().to_owned()),
                _ => Needs::Unmarked,
            };
            let body = |from: usize, to: usize| -> String {
                lines[from..to]
                    .iter()
                    .map(|line| line.get(indent..).unwrap_or(line.trim_start()))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            let expected = (end + 1..lines.len())
                .find(|&line| !lines[line].trim().is_empty())
                .filter(|&line| lines[line].trim() == "```text")
                .map(|start| {
                    let close = (start + 1..lines.len())
                        .find(|&line| lines[line].trim_start().starts_with("```"))
                        .unwrap_or(lines.len());
                    body(start + 1, close)
                });
            found.push(Block {
                file: file.to_path_buf(),
                line: index + 1,
                needs,
                code: body(index + 1, end),
                expected,
            });
        }
        index = end + 1;
    }
    found
}

/// Whether `output` shows every line of `expected`, in order: `...` on a line of its own skips
/// any number of lines, `<anything>` and `...` inside a line match any text.
pub fn shows(output: &str, expected: &str) -> Result<()> {
    let mut actual = output.lines();
    for wanted in expected
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty())
    {
        if wanted.trim() == "..." {
            continue;
        }
        let pieces = literal_pieces(wanted);
        if !actual.any(|line| matches_pieces(line, &pieces)) {
            return Err(anyhow!("the output does not show {wanted:?} (in order)"));
        }
    }
    Ok(())
}

/// The literal parts of an expected line, between its `<placeholders>` and `...`s.
fn literal_pieces(line: &str) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut rest = line;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("...") {
            pieces.push(String::new());
            rest = after;
        } else if let Some(close) = rest
            .strip_prefix('<')
            .and_then(|after| after.find('>').map(|end| end + 2))
        {
            pieces.push(String::new());
            rest = &rest[close..];
        } else {
            let mut characters = rest.chars();
            if let (Some(character), Some(last)) = (characters.next(), pieces.last_mut()) {
                last.push(character);
            }
            rest = characters.as_str();
        }
    }
    pieces
}

fn matches_pieces(line: &str, pieces: &[String]) -> bool {
    // Indentation is the docs' layout, not the output's.
    let line = line.trim();
    let mut position = 0;
    for (index, piece) in pieces.iter().enumerate() {
        let piece = if index == 0 { piece.trim_start() } else { piece.as_str() };
        if piece.is_empty() {
            continue;
        }
        match line[position..].find(piece) {
            // The first piece starts the line, unless a placeholder comes before it.
            Some(found) if index > 0 || found == 0 => position += found + piece.len(),
            _ => return false,
        }
    }
    true
}

fn syntax_error(block: &Block) -> Result<Option<String>> {
    let output = support::tool("bash")
        .args(["-n", "-c", &block.code])
        .stdin(Stdio::null())
        .output()
        .map_err(|error| anyhow!("bash: {error}"))?;
    Ok((!output.status.success()).then(|| String::from_utf8_lossy(&output.stderr).into_owned()))
}

/// One file's shell session: a `bash` reading the blocks from its standard input.
struct Session {
    root: PathBuf,
    child: std::process::Child,
    input: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
    /// What the file's blocks started in the background, still expected to be running.
    background: Vec<Background>,
    /// When the file's first block started: the local run's logs written since then are shown
    /// when a block fails.
    started: std::time::SystemTime,
}

/// A block started in the background, as in a second terminal.
struct Background {
    pid: String,
    /// Where its output goes (`target/docs/background-<line>.log`): shown when a block fails.
    log: PathBuf,
    place: String,
}

impl Background {
    /// Stopped: its process gone, or a zombie its shell has not reaped yet.
    fn running(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
    }
}

/// Printed after each block, with its exit status, to know where its output ends.
const DONE: &str = "__docs_block_done__";

/// Printed with the process id of a background block.
const BACKGROUND: &str = "__docs_background_pid__";

/// How long a block that builds may take: the first build of the AWS SDK included.
const BUILD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1_200);
/// How long any other block may take: its waits (`until curl ...`) are for seconds.
const BLOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The time `code` may take: a block that may compile gets the first build's time.
fn timeout_for(code: &str) -> std::time::Duration {
    if ["cargo ", "./scripts/", "sam "]
        .iter()
        .any(|builds| code.contains(builds))
    {
        BUILD_TIMEOUT
    } else {
        BLOCK_TIMEOUT
    }
}

impl Session {
    fn start(root: &Path) -> Result<Session> {
        use std::io::{BufRead, BufReader};
        // A home of its own: what the docs write under `~` (a copied-out function) stays out of
        // the real one, while cargo and rustup keep using their real homes.
        let home = root.join("target/docs/home");
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).map_err(|error| anyhow!("{}: {error}", home.display()))?;
        let real_home = std::env::var("HOME").context("HOME is not set")?;
        // A session of its own (`setsid`), so that everything its blocks start can be found and
        // stopped afterwards, even what moved to a process group of its own (`cargo lambda
        // watch` does).
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
            started: std::time::SystemTime::now(),
        };
        session.send("exec 2>&1\nsource scripts/env.sh", false)?;
        Ok(session)
    }

    /// Runs `code` and returns what it printed, or why it did not end as it should: with
    /// `must_fail`, its last command must fail; otherwise every command must succeed (the
    /// session stops at the first failure, as `set -e` does).
    fn send(&mut self, code: &str, must_fail: bool) -> Result<String> {
        use std::io::Write;
        use std::sync::mpsc::RecvTimeoutError;
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
        let deadline = std::time::Instant::now() + timeout;
        let mut printed = Vec::new();
        loop {
            let line = match self.lines.recv_timeout(std::time::Duration::from_millis(250)) {
                Ok(line) => line,
                // The shell stopped at a failed command. (Its output may stay open: a process
                // the block started in the background holds it.)
                Err(RecvTimeoutError::Disconnected) => return Err(anyhow!("a command failed:\n{}", tail(&printed))),
                Err(RecvTimeoutError::Timeout) if self.child.try_wait().ok().flatten().is_some() => {
                    return Err(anyhow!("a command failed:\n{}", tail(&printed)));
                }
                Err(RecvTimeoutError::Timeout) if std::time::Instant::now() > deadline => {
                    return Err(anyhow!("no end within {} s:\n{}", timeout.as_secs(), tail(&printed)));
                }
                // What this block waits for (an answer from the local application) will never
                // come: fail now rather than at the deadline.
                Err(RecvTimeoutError::Timeout) if self.background.iter().any(|job| !job.running()) => {
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
}

impl Session {
    /// What helps to see why a block failed: the last lines of what the file started in the
    /// background, and of each function's log the local run wrote since the file started.
    fn diagnosis(&self) -> String {
        let mut report = String::new();
        for job in &self.background {
            let state = if job.running() { "running" } else { "stopped" };
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

/// The processes of session `session`, zombies aside: everything a file's blocks started,
/// whatever process group it moved to.
fn session_processes(session: u32) -> Vec<u32> {
    let session = session.to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // After the command's name: state, parent, process group, session.
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(") ").is_some_and(|(_, rest)| {
                    let fields: Vec<&str> = rest.split(' ').collect();
                    fields.first() != Some(&"Z") && fields.get(3) == Some(&session.as_str())
                })
            })
        })
        .collect()
}

impl Drop for Session {
    /// Stops everything the file started, and waits until it has stopped: what a block left
    /// running (an emulator, `./scripts/local.sh --keep` and its `cargo lambda watch`es) must
    /// not answer, or hold a port, for the next file.
    fn drop(&mut self) {
        let session = self.child.id();
        // SIGTERM to the shell's group: `cargo xtask local` stops what it started on it.
        let _ = support::tool("kill").args(["--", &format!("-{session}")]).status();
        let _ = self.child.wait();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !session_processes(session).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        for pid in session_processes(session) {
            let _ = support::tool("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn tail(lines: &[String]) -> String {
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Runs one block in the session: a background one is started and waited for; any other must
/// succeed and print what the docs promise.
fn run_block(session: &mut Session, block: &Block) -> Result<()> {
    match &block.needs {
        Needs::Background(address) => {
            let waits_for_a_file = address.parse::<std::net::SocketAddr>().is_err();
            if waits_for_a_file {
                // A previous run's file must not pass for this run's.
                let _ = std::fs::remove_file(session.root.join(address));
            }
            let log = session.root.join(format!("target/docs/background-{}.log", block.line));
            let started = session.send(
                &format!(
                    "mkdir -p target/docs\n( {} ) > {} 2>&1 &\necho \"{BACKGROUND} $!\"",
                    block.code,
                    log.display()
                ),
                false,
            )?;
            let pid = started
                .lines()
                .find_map(|line| line.strip_prefix(BACKGROUND))
                .map(|pid| pid.trim().to_owned())
                .context("the background block did not start")?;
            let job = Background {
                pid,
                log,
                place: format!("the background block at {}:{}", block.file.display(), block.line),
            };
            // Long enough for the whole application's story (`local.sh --keep`) on a cold cache.
            let deadline = std::time::Instant::now() + BUILD_TIMEOUT;
            let ready = || match address.parse::<std::net::SocketAddr>() {
                Ok(socket) => std::net::TcpStream::connect(socket).is_ok(),
                Err(_) => session.root.join(address).exists(),
            };
            let mut waited = Ok(());
            while !ready() {
                if !job.running() {
                    waited = Err(anyhow!("it stopped before {address} was ready"));
                    break;
                }
                if std::time::Instant::now() > deadline {
                    waited = Err(anyhow!("{address} not ready within {} s", BUILD_TIMEOUT.as_secs()));
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            session.background.push(job);
            waited
        }
        needs => {
            let printed = session.send(&block.code, *needs == Needs::Fails)?;
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
                        if let Err(error) = run_block(session, &block) {
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

    const MARKDOWN: &str = "# Title

<!-- docs: run -->
```bash
echo hello
```

```text
hello
```

<!-- docs: aws -->
```bash
sam deploy
```

1. A step:

   ```bash
   cargo test -p x
   ```
";

    #[test]
    fn blocks_are_read_with_what_they_need_and_what_they_print() {
        let found = blocks(Path::new("README.md"), MARKDOWN);
        assert_eq!(found.len(), 3);
        assert_eq!(
            (found[0].line, found[0].needs.clone(), found[0].code.as_str()),
            (4, Needs::Local, "echo hello")
        );
        assert_eq!(found[0].expected.as_deref(), Some("hello"));
        assert_eq!((&found[1].needs, found[1].expected.as_deref()), (&Needs::Aws, None));
        // An indented block (in a list) loses its indentation.
        assert_eq!(
            (found[2].needs.clone(), found[2].code.as_str()),
            (Needs::Unmarked, "cargo test -p x")
        );
    }

    #[test]
    fn expected_lines_appear_in_order_with_placeholders_and_skips() {
        let output = "Compiling x\nemulator: http://127.0.0.1:40101\nqueue A\nqueue B\nok, 12 ms\n";
        assert!(shows(output, "emulator: http://127.0.0.1:<port>\n...\nok, ... ms").is_ok());
        assert!(shows(output, "ok, 12 ms\nqueue A").is_err(), "out of order");
        assert!(shows(output, "emulator: https://<host>").is_err());
        assert!(
            shows(output, "mulator: http").is_err(),
            "a line must start where the expected one does"
        );
    }

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
