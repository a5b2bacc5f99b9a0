//! `cargo xtask bench [--quick]`: each function in Rust beside the Python a user would write
//! instead, measured the same way in the same run, against the local AWS emulator.
//!
//! Both languages run as real processes under one Runtime API played on loopback
//! ([`lambda_api`]): Rust as the function's release binary, Python under `awslambdaric`, the
//! runtime client of Lambda's Python images. The full run writes `docs/benchmarks.md` and
//! `docs/benchmarks.svg`; `--quick` (for CI) runs a few invocations against the debug builds and
//! writes its report under `target/bench/` instead: its numbers only prove the harness works.

mod fixtures;
mod lambda_api;
mod report;
pub mod sizes;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::Emulator;

use lambda_api::RuntimeApi;
use support::run_command;
use template_plan as template;

use anyhow::{anyhow, Result};

/// How much to measure.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub quick: bool,
    /// Warm invocations per function and language.
    pub invocations: usize,
    /// Fresh processes per function and language, for the cold start and first invocation.
    pub cold_starts: usize,
    /// The large object the put handler hashes.
    pub large_object_mib: u64,
}

impl Scale {
    pub fn new(quick: bool) -> Scale {
        if quick {
            Scale {
                quick,
                invocations: 120,
                cold_starts: 2,
                large_object_mib: 32,
            }
        } else {
            Scale {
                quick,
                invocations: 1_000,
                cold_starts: 7,
                large_object_mib: 1_024,
            }
        }
    }
}

/// The two implementations of a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Rust,
    Python,
}

impl Language {
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
        }
    }
}

/// What was measured for one function in one language.
#[derive(Debug, Default)]
pub struct Measured {
    /// Process start to its first request for work, per fresh process (ms).
    pub cold_start_ms: Vec<f64>,
    /// The first invocation of each fresh process (ms).
    pub first_invocation_ms: Vec<f64>,
    /// Warm invocations of one process (ms).
    pub warm_ms: Vec<f64>,
    /// Peak resident memory once initialised, per fresh process (bytes).
    pub peak_rss_after_init: Vec<u64>,
    /// Peak resident memory after the 100th and after the last warm invocation (bytes).
    pub peak_rss_after_100: u64,
    pub peak_rss_after_all: u64,
}

/// The large-object run of the put handler.
#[derive(Debug)]
pub struct LargeObject {
    pub language: Language,
    pub seconds: f64,
    pub peak_rss: u64,
}

/// Every number the report shows.
#[derive(Debug)]
pub struct Results {
    pub scale: Scale,
    pub profile: &'static str,
    /// (function, language, measured)
    pub functions: Vec<(String, Language, Measured)>,
    pub large_object: Vec<LargeObject>,
    /// Reading the same object from the emulator into `sha256sum`, in seconds.
    pub large_object_pipe_seconds: f64,
    /// (function, stripped arm64 bootstrap bytes, its zip bytes, Python zip bytes)
    pub packages: Vec<report::Package>,
    /// (`sam build` from cold, one release build of the workspace from cold), in seconds.
    pub builds: Option<(f64, f64)>,
    pub machine: Vec<(String, String)>,
}

/// `binaries`: measure the Rust binaries in this folder instead of building them (for comparing
/// release profiles: build each variant into its own target folder, then point here). `only`:
/// measure these functions only (comma-separated).
pub async fn run(quick: bool, binaries: Option<PathBuf>, only: Option<String>) -> Result<()> {
    let scale = Scale::new(quick);
    let root = support::repo_root();
    let plan = template::plan(
        &std::fs::read_to_string(root.join("template.yaml")).map_err(|error| anyhow!("template.yaml: {error}"))?,
    )?;
    let functions: Vec<String> = plan
        .functions
        .iter()
        .map(|function| function.binary.clone())
        .filter(|binary| {
            only.as_deref()
                .is_none_or(|only| only.split(',').any(|name| name == binary))
        })
        .filter(|binary| {
            let benchmarked = fixtures::BENCHMARKED.contains(&binary.as_str());
            if !benchmarked {
                println!("{binary}: not benchmarked (bench/fixtures.rs has no events or Python twin for it)");
            }
            benchmarked
        })
        .collect();
    let work = root.join("target/bench");
    std::fs::create_dir_all(work.join("logs")).map_err(|error| anyhow!("{}: {error}", work.display()))?;

    // The quick run measures the debug builds the local run already made; the full run
    // measures release builds, each function built alone (`-p`), as it ships.
    let profile = if quick { "dev" } else { "release" };
    let binaries = match binaries {
        Some(folder) => folder,
        None => {
            println!("\n==> Building the Rust functions ({profile} profile)");
            for function in &functions {
                run_command(
                    support::tool("cargo")
                        .args(["build", "--profile", profile, "-p", function])
                        .current_dir(&root),
                )?;
            }
            root.join(if quick { "target/debug" } else { "target/release" })
        }
    };

    println!("\n==> Starting the local AWS emulator and loading the fixtures");
    let emulator = Emulator::start();
    let aws = emulator.sdk_config();
    let catalog = fixtures::load(&aws, scale).await?;

    let mut results = Results {
        scale,
        profile,
        functions: Vec::new(),
        large_object: Vec::new(),
        large_object_pipe_seconds: 0.0,
        packages: Vec::new(),
        builds: None,
        machine: report::machine(&root, emulator.python()),
    };
    for function in &functions {
        for language in [Language::Rust, Language::Python] {
            println!("\n==> {function} ({})", language.name());
            let launcher = Launcher {
                function,
                language,
                binaries: &binaries,
                root: &root,
                python: emulator.python(),
                environment: environment(&emulator, &catalog, function, language),
                log: work.join("logs").join(format!("{function}-{}.log", language.tag())),
            };
            let mut events = fixtures::events(&catalog, function, language)?;
            let measured = measure(&launcher, scale, &mut *events).await?;
            report::print_line(function, language, &measured);
            results.functions.push((function.clone(), language, measured));
        }
    }

    if functions.iter().any(|function| function == "s3-put-handler") {
        measure_large_object(&mut results, &emulator, &catalog, &binaries, &root, &work).await?;
    }
    drop(emulator);

    println!("\n==> Package sizes");
    for function in &functions {
        let logical_id = plan
            .functions
            .iter()
            .find(|candidate| &candidate.binary == function)
            .map(|function| function.logical_id.clone())
            .unwrap_or_default();
        results
            .packages
            .push(report::package(&root, &work, function, &logical_id)?);
    }

    if !quick {
        results.builds = Some(time_cold_builds(&root, &work)?);
    }

    let (markdown, chart) = if quick {
        (work.join("benchmarks.md"), work.join("benchmarks.svg"))
    } else {
        (root.join("docs/benchmarks.md"), root.join("docs/benchmarks.svg"))
    };
    report::write(&results, &markdown, &chart)?;
    println!("\n==> Wrote {} and {}", markdown.display(), chart.display());
    Ok(())
}

/// The put handler hashing one large object, in both languages, beside `curl | sha256sum`.
async fn measure_large_object(
    results: &mut Results,
    emulator: &Emulator,
    catalog: &fixtures::Catalog,
    binaries: &Path,
    root: &Path,
    work: &Path,
) -> Result<()> {
    let scale = results.scale;
    let aws = emulator.sdk_config();
    println!("\n==> The put handler hashing a {} MiB object", scale.large_object_mib);
    let large = fixtures::upload_large_object(&aws, work, scale.large_object_mib).await?;
    results.large_object_pipe_seconds = pipe_to_sha256sum(&aws, &large).await?;
    println!("    emulator -> sha256sum: {:.2} s", results.large_object_pipe_seconds);
    for language in [Language::Rust, Language::Python] {
        let function = "s3-put-handler";
        let mut environment = environment(emulator, catalog, function, language);
        environment.push(("OBJECTS_TABLE_NAME".to_owned(), fixtures::large_object_table(language)));
        let launcher = Launcher {
            function,
            language,
            binaries,
            root,
            python: emulator.python(),
            environment,
            log: work.join("logs").join(format!("large-object-{}.log", language.tag())),
        };
        let run = hash_large_object(&launcher, fixtures::large_object_event(&large)).await?;
        println!(
            "    {:<6} {:.2} s, peak RSS {:.1} MiB",
            language.name(),
            run.seconds,
            report::mib(run.peak_rss)
        );
        results.large_object.push(run);
    }
    Ok(())
}

/// How to start one function in one language.
struct Launcher<'a> {
    function: &'a str,
    language: Language,
    binaries: &'a Path,
    root: &'a Path,
    python: &'a Path,
    environment: Vec<(String, String)>,
    log: PathBuf,
}

impl Launcher<'_> {
    /// Starts the process against `api`, with only the environment Lambda would give it.
    fn spawn(&self, api: &RuntimeApi) -> Result<Child> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|error| anyhow!("{}: {error}", self.log.display()))?;
        let log_too = log.try_clone().map_err(|error| anyhow!("{error}"))?;
        let mut command = match self.language {
            Language::Rust => Command::new(self.binaries.join(self.function)),
            Language::Python => {
                let folder = python_folder(self.root, self.function);
                let mut command = Command::new(self.python);
                command
                    .args(["-m", "awslambdaric", "lambda_function.lambda_handler"])
                    .current_dir(&folder)
                    .env("LAMBDA_TASK_ROOT", &folder)
                    .env("_HANDLER", "lambda_function.lambda_handler");
                command
            }
        };
        command
            // Lambda's environment, not this shell's: nothing leaks in (certificate folders,
            // profiles, log settings) that the sandbox would not have.
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .env("TZ", ":UTC")
            .env("AWS_LAMBDA_RUNTIME_API", api.address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", self.function)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", report::MEMORY_MB.to_string())
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", self.function))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .envs(self.environment.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_too)
            .spawn()
            .map_err(|error| anyhow!("starting {} ({}): {error}", self.function, self.language.name()))
    }
}

/// Where a function's Python version lives: the bucket listing is the original, kept beside its
/// crate; the others are under `bench/python/`.
fn python_folder(root: &Path, function: &str) -> PathBuf {
    let beside_the_crate = root.join("crates").join(function).join("python");
    if beside_the_crate.join("lambda_function.py").is_file() {
        beside_the_crate
    } else {
        root.join("bench/python").join(function)
    }
}

fn environment(
    emulator: &Emulator,
    catalog: &fixtures::Catalog,
    function: &str,
    language: Language,
) -> Vec<(String, String)> {
    let mut environment = emulator.process_env();
    environment.extend(fixtures::function_environment(catalog, function, language));
    environment
}

/// Cold starts, first invocations, warm invocations and memory of one function in one language.
async fn measure(launcher: &Launcher<'_>, scale: Scale, events: &mut dyn FnMut() -> Value) -> Result<Measured> {
    let mut measured = Measured::default();
    for run in 0..scale.cold_starts {
        let mut api = RuntimeApi::start().await?;
        let started = Instant::now();
        let mut child = launcher.spawn(&api)?;
        let outcome = async {
            let ready = api.wait_until_ready(Duration::from_secs(60)).await?;
            measured
                .cold_start_ms
                .push(ms(ready.saturating_duration_since(started)));
            measured.peak_rss_after_init.push(lambda_api::memory_of(child.id())?.0);
            measured
                .first_invocation_ms
                .push(invoke_checked(&mut api, launcher.function, events()).await?);
            // One process of the set also serves the warm invocations.
            if run == 0 {
                for invocation in 1..=scale.invocations {
                    api.wait_until_ready(Duration::from_secs(60)).await?;
                    measured
                        .warm_ms
                        .push(invoke_checked(&mut api, launcher.function, events()).await?);
                    if invocation == 100 {
                        measured.peak_rss_after_100 = lambda_api::memory_of(child.id())?.0;
                    }
                }
                measured.peak_rss_after_all = lambda_api::memory_of(child.id())?.0;
            }
            Ok::<(), anyhow::Error>(())
        }
        .await;
        let _ = child.kill();
        let _ = child.wait();
        outcome.map_err(|error| anyhow!("{error} (log: {})", launcher.log.display()))?;
    }
    Ok(measured)
}

/// One invocation that must succeed and answer what the function should; its duration in ms.
async fn invoke_checked(api: &mut RuntimeApi, function: &str, event: Value) -> Result<f64> {
    let (outcome, took) = api.invoke(event).await?;
    if outcome.failed {
        return Err(anyhow!("the invocation failed: {}", outcome.body));
    }
    fixtures::check(function, &outcome.body)?;
    Ok(ms(took))
}

async fn hash_large_object(launcher: &Launcher<'_>, event: Value) -> Result<LargeObject> {
    let mut api = RuntimeApi::start().await?;
    let mut child = launcher.spawn(&api)?;
    let outcome = async {
        api.wait_until_ready(Duration::from_secs(60)).await?;
        let (outcome, took) = api.invoke(event).await?;
        let summary: Value = serde_json::from_str(&outcome.body).unwrap_or_default();
        if outcome.failed || summary["indexed"] != 1 {
            return Err(anyhow!("the large object was not indexed: {}", outcome.body));
        }
        Ok(LargeObject {
            language: launcher.language,
            seconds: took.as_secs_f64(),
            peak_rss: lambda_api::memory_of(child.id())?.0,
        })
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    outcome
}

/// The floor for hashing: the same object read from the emulator straight into `sha256sum`, with
/// `curl` on a presigned URL.
async fn pipe_to_sha256sum(aws: &aws_config::SdkConfig, object: &fixtures::LargeObjectRef) -> Result<f64> {
    let presigning = aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(3600))
        .map_err(|error| anyhow!("{error}"))?;
    let url = shared::aws::s3_client(aws)
        .get_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .presigned(presigning)
        .await
        .map_err(|error| anyhow!("presigning a GET: {error:?}"))?
        .uri()
        .to_owned();
    let started = Instant::now();
    let output = Command::new("bash")
        .args(["-c", "set -o pipefail; curl -sf \"$1\" | sha256sum", "pipe", &url])
        .output()
        .map_err(|error| anyhow!("curl | sha256sum: {error}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let digest = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !digest.starts_with(&object.sha256) {
        return Err(anyhow!("curl | sha256sum gave {digest:?}, expected {}", object.sha256));
    }
    Ok(seconds)
}

/// `sam build` of every function and one release build of the workspace, each from an empty
/// target folder, one after the other (never two builds at once).
fn time_cold_builds(root: &Path, work: &Path) -> Result<(f64, f64)> {
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

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
