//! `cargo xtask bench [--quick]`: each function in Rust beside the Python a user would write
//! instead, measured the same way in the same run, against the local AWS emulator.
//!
//! Both languages run as real processes under one Runtime API played on loopback
//! ([`lambda_api`]): Rust as the function's release binary, Python under `awslambdaric`, the
//! runtime client of Lambda's Python images. The full run writes `docs/benchmarks.md` and
//! `docs/benchmarks.svg`; `--quick` (for CI) runs a few invocations against the debug builds and
//! writes its report under `target/bench/` instead: its numbers only prove the harness works.

mod builds;
mod fixtures;
mod lambda_api;
mod launcher;
mod measure;
mod report;
pub mod sizes;
mod survey;

use std::path::PathBuf;

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
    /// The statistics reconciler over a small and a large objects table.
    pub survey: Vec<survey::SurveyRun>,
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
        survey: Vec::new(),
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
                environment: launcher::environment(&emulator, &catalog, function, language),
                log: work.join("logs").join(format!("{function}-{}.log", language.tag())),
            };
            let mut events = fixtures::events(&catalog, function, language)?;
            let measured = measure::measure(&launcher, scale, &mut *events).await?;
            report::print_line(function, language, &measured);
            results.functions.push((function.clone(), language, measured));
        }
    }

    if functions.iter().any(|function| function == "s3-put-handler") {
        measure::measure_large_object(&mut results, &emulator, &catalog, &binaries, &root, &work).await?;
    }
    if surveyed {
        survey::measure(&mut results, &emulator, &binaries, &root, &work).await?;
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
