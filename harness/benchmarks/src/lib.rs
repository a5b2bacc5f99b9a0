//! `cargo xtask bench [--quick]`: each function in Rust beside the Python a user would write
//! instead, measured the same way in the same run, against the local AWS emulator.
//!
//! Both languages run as real processes under one Runtime API played on loopback
//! ([`lambda_api`]): Rust as the function's release binary, Python under `awslambdaric`, the
//! runtime client of Lambda's Python images. The full run writes `docs/benchmarks.md` and
//! `docs/benchmarks.svg`; `--quick` (for CI) runs a few invocations against the debug builds and
//! writes its report under `target/bench/` instead: its numbers only prove the harness works.

mod builds;
pub mod cpu_share;
mod fixtures;
mod lambda_api;
mod launcher;
mod measure;
mod report;
pub mod sizes;
mod survey;

use std::path::PathBuf;
use std::time::Duration;

use testkit::tls::TlsFront;
use testkit::Emulator;

use launcher::Launcher;
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
    /// At each memory size: warm invocations, and fresh processes (each way of running init).
    pub sized_invocations: usize,
    pub sized_cold_starts: usize,
}

impl Scale {
    pub fn new(quick: bool) -> Scale {
        if quick {
            Scale {
                quick,
                invocations: 120,
                cold_starts: 2,
                large_object_mib: 32,
                sized_invocations: 20,
                sized_cold_starts: 1,
            }
        } else {
            Scale {
                quick,
                invocations: 1_000,
                cold_starts: 7,
                large_object_mib: 1_024,
                sized_invocations: 200,
                sized_cold_starts: 3,
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
    /// CPU time (user + system, every thread) of init, per fresh process (ms); empty where the
    /// machine has no CPU controller the benchmark may use.
    pub init_cpu_ms: Vec<f64>,
    /// CPU time of each first invocation, and of each warm one (ms); empty likewise.
    pub first_invocation_cpu_ms: Vec<f64>,
    pub warm_cpu_ms: Vec<f64>,
    /// At a memory size's share of a vCPU: cold starts with init bound to the share too (ms).
    pub cold_start_bound_ms: Vec<f64>,
}

/// One function in one language at one memory size's share of a vCPU.
#[derive(Debug)]
pub struct SizedRun {
    pub memory_mb: u32,
    pub function: String,
    pub language: Language,
    pub measured: Measured,
}

/// The large-object run of the put handler.
#[derive(Debug)]
pub struct LargeObject {
    pub language: Language,
    /// The memory size whose share of a vCPU it ran at; `None`: a whole CPU.
    pub memory_mb: Option<u32>,
    pub seconds: f64,
    /// The CPU time of the invocation, where the machine's CPU controller could be used.
    pub cpu_seconds: Option<f64>,
    pub peak_rss: u64,
}

/// Every number the report shows.
#[derive(Debug)]
pub struct Results {
    pub scale: Scale,
    pub profile: &'static str,
    /// (function, language, measured), at a whole CPU.
    pub functions: Vec<(String, Language, Measured)>,
    /// The same at the memory sizes asked for (`--memory`), in the order asked.
    pub sized: Vec<SizedRun>,
    pub large_object: Vec<LargeObject>,
    /// The put handler's `MemorySize` and `Timeout` in the template.
    pub put_handler_limits: (u32, Duration),
    /// Reading the same object from the emulator into `sha256sum`, in seconds.
    pub large_object_pipe_seconds: f64,
    /// The statistics reconciler over a small and a large objects table.
    pub survey: Vec<survey::SurveyRun>,
    /// (function, stripped arm64 bootstrap bytes, its zip bytes, Python zip bytes)
    pub packages: Vec<report::Package>,
    /// (`sam build` from cold, one release build of the workspace from cold), in seconds.
    pub builds: Option<(f64, f64)>,
    pub machine: Vec<(String, String)>,
}

/// What `cargo xtask bench` was asked for.
#[derive(Debug, Default)]
pub struct Options {
    /// A bounded run against the debug builds, reported under target/bench/.
    pub quick: bool,
    /// Measure the Rust binaries in this folder instead of building them (for comparing release
    /// profiles: build each variant into its own target folder, then point here).
    pub binaries: Option<PathBuf>,
    /// Measure these functions only (comma-separated).
    pub only: Option<String>,
    /// Also measure every function at each of these memory sizes' share of a vCPU (MB).
    pub memory: Vec<u32>,
}

pub async fn run(options: Options) -> Result<()> {
    let Options {
        quick,
        binaries,
        only,
        memory,
    } = options;
    let scale = Scale::new(quick);
    // Found before anything is built, so a machine without one is told at once. Without
    // `--memory` the CPU times are measured where the controller is writable, and left out
    // (said on the page) where it is not.
    let controller = if memory.is_empty() {
        cpu_share::Controller::find().ok()
    } else {
        Some(cpu_share::Controller::find()?)
    };
    let root = support::repo_root();
    let plan = template::plan(
        &std::fs::read_to_string(root.join("template.yaml")).map_err(|error| anyhow!("template.yaml: {error}"))?,
    )?;
    let functions = chosen_functions(&plan, only.as_deref());
    // The reconciler has no Python twin: it is measured on its own, at two table sizes.
    let surveyed = plan
        .functions
        .iter()
        .any(|function| function.binary == survey::FUNCTION)
        && only
            .as_deref()
            .is_none_or(|only| only.split(',').any(|name| name == survey::FUNCTION));
    let work = root.join("target/bench");
    std::fs::create_dir_all(work.join("logs")).map_err(|error| anyhow!("{}: {error}", work.display()))?;

    // The quick run measures the debug builds the local run already made; the full run
    // measures release builds, each function built alone (`-p`), as it ships.
    let profile = if quick { "dev" } else { "release" };
    let binaries = match binaries {
        Some(folder) => folder,
        None => {
            let mut built = functions.clone();
            if surveyed {
                built.push(survey::FUNCTION.to_owned());
            }
            builds::build_functions(&root, &built, profile)?
        }
    };

    println!("\n==> Starting the local AWS emulator, over TLS, and loading the fixtures");
    let emulator = Emulator::start_for_benchmarks();
    // Every function's AWS calls go over TLS, as in Lambda: a handshake per new connection,
    // paid inside the first invocation. Both languages trust its authority through
    // AWS_CA_BUNDLE, which the Rust functions and boto3 both read.
    let https = TlsFront::start(emulator.endpoint());
    let aws = emulator.sdk_config();
    let catalog = fixtures::load(&aws, scale).await?;

    let mut results = Results {
        scale,
        profile,
        functions: Vec::new(),
        sized: Vec::new(),
        large_object: Vec::new(),
        put_handler_limits: (report::MEMORY_MB, Duration::ZERO),
        large_object_pipe_seconds: 0.0,
        survey: Vec::new(),
        packages: Vec::new(),
        builds: None,
        machine: report::machine(&root, emulator.python()),
    };
    // A whole CPU first (the page's per-function tables), then each memory size asked for.
    for memory_mb in std::iter::once(None).chain(memory.iter().copied().map(Some)) {
        for function in &functions {
            for language in [Language::Rust, Language::Python] {
                let size =
                    memory_mb.map_or_else(|| "a whole CPU".to_owned(), |mb| format!("{mb} MB's share of a vCPU"));
                println!("\n==> {function} ({}), at {size}", language.name());
                let mut environment = launcher::environment(&emulator, &https, &catalog, function, language);
                if let (Some(memory_mb), "s3-put-handler") = (memory_mb, function.as_str()) {
                    // A fresh objects table per size: the same objects are indexed again, as new
                    // work, rather than found unchanged in the table the last run filled.
                    let table = format!("objects-{}-{memory_mb}mb", language.tag());
                    testkit::create_objects_table(&shared::aws::dynamodb_client(&aws), &table).await;
                    environment.push(("OBJECTS_TABLE_NAME".to_owned(), table));
                }
                let launcher = Launcher {
                    function,
                    language,
                    binaries: &binaries,
                    root: &root,
                    python: emulator.python(),
                    environment,
                    log: work.join("logs").join(format!("{function}-{}.log", language.tag())),
                    memory_mb: memory_mb.unwrap_or(report::MEMORY_MB),
                };
                let mut events = fixtures::events(&catalog, function, language)?;
                let Some(memory_mb) = memory_mb else {
                    let cpu = measure::Cpu::whole(controller.as_ref());
                    let measured =
                        measure::measure(&launcher, scale.cold_starts, scale.invocations, cpu, &mut *events).await?;
                    report::print_line(function, language, &measured);
                    results.functions.push((function.clone(), language, measured));
                    continue;
                };
                // Init at a whole CPU, then the share (as Lambda's init appears to run), for
                // everything; then fresh processes with init bound to the share too.
                let mut cpu = measure::Cpu {
                    controller: controller.as_ref(),
                    memory_mb: Some(memory_mb),
                    bind_init: false,
                };
                let mut measured = measure::measure(
                    &launcher,
                    scale.sized_cold_starts,
                    scale.sized_invocations,
                    cpu,
                    &mut *events,
                )
                .await?;
                cpu.bind_init = true;
                let bound = measure::measure(&launcher, scale.sized_cold_starts, 0, cpu, &mut *events).await?;
                measured.cold_start_bound_ms = bound.cold_start_ms;
                report::print_line(function, language, &measured);
                results.sized.push(SizedRun {
                    memory_mb,
                    function: function.clone(),
                    language,
                    measured,
                });
            }
        }
    }

    if functions.iter().any(|function| function == "s3-put-handler") {
        let put_handler = plan
            .functions
            .iter()
            .find(|function| function.binary == "s3-put-handler");
        let (memory_mb, timeout) = put_handler.map_or((report::MEMORY_MB, Duration::ZERO), |function| {
            (function.memory_mb, function.timeout)
        });
        results.put_handler_limits = (memory_mb, timeout);
        measure::measure_large_object(
            &mut results,
            &emulator,
            &https,
            &catalog,
            &binaries,
            &root,
            &work,
            controller.as_ref(),
            memory_mb,
        )
        .await?;
    }
    if surveyed {
        survey::measure(&mut results, &emulator, &https, &binaries, &root, &work).await?;
    }
    drop(https);
    drop(emulator);

    println!("\n==> Package sizes");
    for function in &functions {
        let logical_id = plan
            .functions
            .iter()
            .find(|candidate| &candidate.binary == function)
            .map(|function| function.logical_id.clone())
            .unwrap_or_default();
        results.packages.push(report::package(&root, function, &logical_id)?);
    }

    // A partial run (`--only`) is for a closer look: it neither spends 15 minutes on the cold
    // builds nor overwrites the published page with some of its sections.
    let partial = only.is_some();
    if !quick && !partial {
        results.builds = Some(builds::time_cold_builds(&root, &work)?);
    }

    let (markdown, chart) = if quick || partial {
        (work.join("benchmarks.md"), work.join("benchmarks.svg"))
    } else {
        (root.join("docs/benchmarks.md"), root.join("docs/benchmarks.svg"))
    };
    report::write(&results, &markdown, &chart)?;
    println!("\n==> Wrote {} and {}", markdown.display(), chart.display());
    Ok(())
}

/// The template's functions, less those not asked for (`only`) and those the benchmark has no
/// events or Python twin for, which it says so the omission is never silent.
fn chosen_functions(plan: &template::Plan, only: Option<&str>) -> Vec<String> {
    plan.functions
        .iter()
        .map(|function| function.binary.clone())
        .filter(|binary| only.is_none_or(|only| only.split(',').any(|name| name == binary)))
        .filter(|binary| {
            let benchmarked = fixtures::BENCHMARKED.contains(&binary.as_str());
            if binary == survey::FUNCTION {
                println!("{binary}: no Python twin; measured on its own at two table sizes, after the others");
            } else if !benchmarked {
                println!("{binary}: not benchmarked (bench/fixtures.rs has no events or Python twin for it)");
            }
            benchmarked
        })
        .collect()
}
