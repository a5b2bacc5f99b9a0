//! The benchmark's report: `docs/benchmarks.md`, with its chart `docs/benchmarks.svg`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use super::{python_folder, Language, Measured, Result, Results};
use anyhow::anyhow;

/// The memory both languages are given, as in the template's `MemorySize`, in MB.
pub const MEMORY_MB: u32 = 128;
/// AWS Lambda's on-demand price for Arm functions in US East (N. Virginia), first pricing tier:
/// per GB-second of billed duration, and per million requests. From the AWS Lambda pricing page
/// (aws.amazon.com/lambda/pricing), the Arm table published when Arm functions launched in
/// September 2021; this machine has no internet to check today's page, so the report says so.
const PRICE_PER_GB_SECOND: f64 = 0.000_013_333_4;
const PRICE_PER_MILLION_REQUESTS: f64 = 0.20;
/// The targets the issue set, checked in the report.
const TARGET_COLD_START_RATIO: f64 = 0.015;
const TARGET_RSS_RATIO: f64 = 0.12;
const TARGET_RSS_MIB: f64 = 10.0;
const TARGET_RSS_GROWTH_MIB: f64 = 1.0;
const TARGET_BOOTSTRAP_MIB: f64 = 6.0;

/// A function's deployment package, in both languages.
#[derive(Debug)]
pub struct Package {
    pub function: String,
    /// The stripped arm64 `bootstrap` and its zip, if `sam build` (or `cargo lambda build`) made it.
    pub bootstrap: Option<(u64, u64)>,
    /// The Python handler's zip (boto3 is part of Lambda's Python runtime).
    pub python_zip: u64,
}

pub fn package(root: &Path, work: &Path, function: &str, logical_id: &str) -> Result<Package> {
    let candidates = [
        root.join(".aws-sam/build").join(logical_id).join("bootstrap"),
        root.join("target/lambda").join(function).join("bootstrap"),
    ];
    let bootstrap = match candidates.iter().find(|path| path.is_file()) {
        Some(path) => {
            let size = std::fs::metadata(path).map_err(|error| anyhow!("{error}"))?.len();
            Some((size, zipped_size(work, path, "bootstrap")?))
        }
        None => {
            println!("    {function}: no arm64 bootstrap yet (run `sam build` first to include it)");
            None
        }
    };
    let python = python_folder(root, function).join("lambda_function.py");
    let python_zip = zipped_size(work, &python, "lambda_function.py")?;
    Ok(Package {
        function: function.to_owned(),
        bootstrap,
        python_zip,
    })
}

/// The size of a deployment zip holding `file` as `name`, made with Python's zipfile (deflate).
fn zipped_size(work: &Path, file: &Path, name: &str) -> Result<u64> {
    let zip = work.join("package.zip");
    let status = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z: z.write(sys.argv[2], sys.argv[3])",
        ])
        .arg(&zip)
        .arg(file)
        .arg(name)
        .status()
        .map_err(|error| anyhow!("zipping {}: {error}", file.display()))?;
    if !status.success() {
        return Err(anyhow!("zipping {} failed", file.display()));
    }
    let size = std::fs::metadata(&zip).map_err(|error| anyhow!("{error}"))?.len();
    let _ = std::fs::remove_file(&zip);
    Ok(size)
}

/// The machine and the versions of everything measured.
pub fn machine(root: &Path, python: &Path) -> Vec<(String, String)> {
    let output = |program: &Path, args: &[&str]| {
        Command::new(program)
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .filter(|text| !text.is_empty())
            .unwrap_or_else(|| "unknown".to_owned())
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|line| {
                line.strip_prefix("model name")
                    .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let python_package = |name: &str| {
        output(
            python,
            &[
                "-c",
                &format!("import importlib.metadata as m; print(m.version('{name}'))"),
            ],
        )
    };
    vec![
        ("CPU".to_owned(), format!("{cpu}, {cores} cores")),
        ("Kernel".to_owned(), output(Path::new("uname"), &["-sr"])),
        ("Rust".to_owned(), output(Path::new("rustc"), &["--version"])),
        (
            "cargo-lambda".to_owned(),
            output(Path::new("cargo"), &["lambda", "--version"]),
        ),
        ("Python".to_owned(), output(python, &["--version"])),
        ("boto3".to_owned(), python_package("boto3")),
        ("awslambdaric".to_owned(), python_package("awslambdaric")),
        ("moto (the emulator)".to_owned(), python_package("moto")),
    ]
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    values
}

/// The nearest-rank percentile (`p` from 0 to 100); 0 for no values.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let values = sorted(values);
    if values.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * values.len() as f64).ceil().max(1.0) as usize;
    values[rank.min(values.len()) - 1]
}

fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

fn spread(values: &[f64]) -> String {
    let values = sorted(values);
    match (values.first(), values.last()) {
        (Some(low), Some(high)) => format!("{low:.1}–{high:.1}"),
        _ => "–".to_owned(),
    }
}

fn median_rss(measured: &Measured) -> f64 {
    let values: Vec<f64> = measured.peak_rss_after_init.iter().map(|bytes| mib(*bytes)).collect();
    median(&values)
}

pub fn print_line(function: &str, language: Language, measured: &Measured) {
    println!(
        "    {function} ({}): cold start {:.1} ms, first invocation {:.1} ms, warm p50 {:.2} ms / p99 {:.2} ms, peak RSS {:.1} MiB",
        language.name(),
        median(&measured.cold_start_ms),
        median(&measured.first_invocation_ms),
        percentile(&measured.warm_ms, 50.0),
        percentile(&measured.warm_ms, 99.0),
        mib(measured.peak_rss_after_all),
    );
}

/// The cost of one million invocations lasting `ms` each (billed per started millisecond).
fn cost_per_million(ms: f64) -> f64 {
    let billed_seconds = ms.ceil() / 1000.0;
    let gigabytes = f64::from(MEMORY_MB) / 1024.0;
    1_000_000.0 * billed_seconds * gigabytes * PRICE_PER_GB_SECOND + PRICE_PER_MILLION_REQUESTS
}

fn find<'a>(results: &'a Results, function: &str, language: Language) -> Option<&'a Measured> {
    results
        .functions
        .iter()
        .find(|(name, lang, _)| name == function && *lang == language)
        .map(|(_, _, measured)| measured)
}

/// Each function measured in both languages: (function, Rust, Python).
fn pairs<'a>(results: &'a Results, functions: &[&'a str]) -> Vec<(&'a str, &'a Measured, &'a Measured)> {
    functions
        .iter()
        .filter_map(|function| {
            let rust = find(results, function, Language::Rust)?;
            let python = find(results, function, Language::Python)?;
            Some((*function, rust, python))
        })
        .collect()
}

fn yes_no(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

pub fn write(results: &Results, markdown: &Path, chart: &Path) -> Result<()> {
    let mut functions: Vec<&str> = Vec::new();
    for (function, ..) in &results.functions {
        if !functions.contains(&function.as_str()) {
            functions.push(function);
        }
    }
    let mut md = String::new();
    let scale = results.scale;
    let _ = writeln!(
        md,
        "# Benchmarks: the functions in Rust beside the same functions in Python\n"
    );
    let command = if scale.quick {
        "`cargo xtask bench --quick` (CI: debug builds, few invocations; these numbers prove only that \
         the harness works)"
    } else {
        "`cargo xtask bench`"
    };
    let _ = writeln!(
        md,
        "Generated by {command}; do not edit by hand (edit `harness/benchmarks/` or \
         `bench/release-profile.md` and run it again).\n"
    );

    // The headline.
    let ratios = |value: &dyn Fn(&Measured) -> f64| -> Vec<f64> {
        pairs(results, &functions)
            .into_iter()
            .map(|(_, rust, python)| value(rust) / value(python))
            .collect()
    };
    let cold_ratios = ratios(&|measured| median(&measured.cold_start_ms));
    let rss_ratios = ratios(&|measured| mib(measured.peak_rss_after_all));
    let warm_ratios = ratios(&|measured| percentile(&measured.warm_ms, 50.0));
    let range = |values: &[f64]| {
        let values = sorted(values);
        format!(
            "{:.3}–{:.3} x",
            values.first().copied().unwrap_or_default(),
            values.last().copied().unwrap_or_default()
        )
    };
    let _ = writeln!(
        md,
        "**Headline** (Rust ÷ Python, same machine, same emulator, same run; smaller is better):\n"
    );
    let _ = writeln!(
        md,
        "- cold start (process start to its first request for work): {}",
        range(&cold_ratios)
    );
    let _ = writeln!(
        md,
        "- peak memory after {} invocations: {}",
        scale.invocations,
        range(&rss_ratios)
    );
    let _ = writeln!(md, "- warm invocation, median: {}\n", range(&warm_ratios));
    let _ = writeln!(
        md,
        "![Cold start and peak memory, Rust beside Python](benchmarks.svg)\n"
    );

    let _ = writeln!(md, "## How it was measured\n");
    let _ = writeln!(
        md,
        "Each function runs as a real process under a Runtime API that `cargo xtask bench` plays on \
         loopback, exactly as Lambda's is used: the process asks for work, gets an event, posts the \
         answer. Rust runs the function's binary (`{}` profile, built with `cargo build -p <function>`); \
         Python runs the equivalent handler under `awslambdaric`, the runtime client of Lambda's \
         Python images. Both get only a Lambda-like environment and {MEMORY_MB} MB as \
         `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, and call the same local AWS emulator (moto) over HTTP on \
         loopback, so an invocation's time includes the emulator's, which is the same for both. \
         Each language writes to tables of its own, so both do the same work.\n",
        results.profile
    );
    let _ = writeln!(
        md,
        "- Cold start: from just before the process is spawned to its first `GET /runtime/invocation/next`, \
         over {} fresh processes (median, and min–max).",
        scale.cold_starts
    );
    let _ = writeln!(
        md,
        "- First invocation: each fresh process's first event, from handing it out to the answer."
    );
    let _ = writeln!(
        md,
        "- Warm: {} more invocations of one process, each timed from handing out the event to the answer.",
        scale.invocations
    );
    let _ = writeln!(
        md,
        "- Memory: the process's peak resident set (`VmHWM` in `/proc/<pid>/status`) once initialised, \
         after the 100th and after the last invocation.\n"
    );
    let _ = writeln!(
        md,
        "Events: the bucket listing lists 5 buckets; the put handler indexes a new 3 KB object per \
         invocation (GetObject, SHA-256, conditional PutItem); the stream consumer applies a batch \
         of one new-object record (one DynamoDB transaction: the record's marker and the folder's \
         counters; with larger batches the Rust version groups records into one transaction, the \
         Python one, as most would write it, makes one per record); the HTTP function answers \
         `GET /objects?folder=uploads/reports/&limit=20` from a table of 50 items. Python \
         equivalents: [`bench/python/`](../bench/python/) and the original bucket listing in \
         [`crates/s3-list-buckets/python/`](../crates/s3-list-buckets/python/).\n"
    );

    let _ = writeln!(md, "## Per function\n");
    for (function, rust, python) in pairs(results, &functions) {
        let _ = writeln!(md, "### {function}\n");
        let _ = writeln!(md, "| | Rust | Python | Rust ÷ Python |\n|---|---:|---:|---:|");
        let mut row = |label: &str, rust_value: f64, python_value: f64, rust_text: String, python_text: String| {
            let ratio = if python_value > 0.0 {
                rust_value / python_value
            } else {
                0.0
            };
            let _ = writeln!(md, "| {label} | {rust_text} | {python_text} | {ratio:.3} |");
        };
        let ms_cell = |values: &[f64]| format!("{:.1} ms ({})", median(values), spread(values));
        row(
            "cold start, median (min–max)",
            median(&rust.cold_start_ms),
            median(&python.cold_start_ms),
            ms_cell(&rust.cold_start_ms),
            ms_cell(&python.cold_start_ms),
        );
        row(
            "first invocation, median (min–max)",
            median(&rust.first_invocation_ms),
            median(&python.first_invocation_ms),
            ms_cell(&rust.first_invocation_ms),
            ms_cell(&python.first_invocation_ms),
        );
        for (label, p) in [("warm p50", 50.0), ("warm p99", 99.0)] {
            let (r, py) = (percentile(&rust.warm_ms, p), percentile(&python.warm_ms, p));
            row(label, r, py, format!("{r:.2} ms"), format!("{py:.2} ms"));
        }
        let (r, py) = (median_rss(rust), median_rss(python));
        row(
            "peak RSS after init",
            r,
            py,
            format!("{r:.1} MiB"),
            format!("{py:.1} MiB"),
        );
        let (r, py) = (mib(rust.peak_rss_after_100), mib(python.peak_rss_after_100));
        row(
            "peak RSS after 100 invocations",
            r,
            py,
            format!("{r:.1} MiB"),
            format!("{py:.1} MiB"),
        );
        let (r, py) = (mib(rust.peak_rss_after_all), mib(python.peak_rss_after_all));
        row(
            &format!("peak RSS after {} invocations", scale.invocations),
            r,
            py,
            format!("{r:.1} MiB"),
            format!("{py:.1} MiB"),
        );
        if let Some(package) = results.packages.iter().find(|package| package.function == *function) {
            let python_kib = package.python_zip as f64 / 1024.0;
            match package.bootstrap {
                Some((bootstrap, zip)) => {
                    let _ = writeln!(
                        md,
                        "| package: stripped arm64 `bootstrap` / zip | {:.2} MiB / {:.2} MiB | – / {python_kib:.1} KiB (boto3 is in the runtime) | |",
                        mib(bootstrap),
                        mib(zip)
                    );
                }
                None => {
                    let _ = writeln!(md, "| package: zip | not built | {python_kib:.1} KiB | |");
                }
            }
        }
        let _ = writeln!(md);
    }

    let _ = writeln!(md, "## Targets\n");
    let _ = writeln!(md, "| function | target | measured | |\n|---|---|---:|---|");
    for (function, rust, python) in pairs(results, &functions) {
        let cold = median(&rust.cold_start_ms) / median(&python.cold_start_ms);
        let rss_ratio = mib(rust.peak_rss_after_all) / mib(python.peak_rss_after_all);
        let rss = mib(rust.peak_rss_after_all);
        let growth = mib(rust.peak_rss_after_all.saturating_sub(rust.peak_rss_after_100));
        let (rust_p99, python_p50) = (percentile(&rust.warm_ms, 99.0), percentile(&python.warm_ms, 50.0));
        let _ = writeln!(
            md,
            "| {function} | cold start ≤ {TARGET_COLD_START_RATIO} x Python | {cold:.4} x | {} |",
            yes_no(cold <= TARGET_COLD_START_RATIO)
        );
        let _ = writeln!(
            md,
            "| | peak RSS ≤ {TARGET_RSS_RATIO} x Python | {rss_ratio:.3} x | {} |",
            yes_no(rss_ratio <= TARGET_RSS_RATIO)
        );
        let _ = writeln!(
            md,
            "| | peak RSS < {TARGET_RSS_MIB} MiB | {rss:.1} MiB | {} |",
            yes_no(rss < TARGET_RSS_MIB)
        );
        let _ = writeln!(
            md,
            "| | RSS growth, invocation 100 to {} < {TARGET_RSS_GROWTH_MIB} MiB | {growth:.2} MiB | {} |",
            scale.invocations,
            yes_no(growth < TARGET_RSS_GROWTH_MIB)
        );
        let _ = writeln!(
            md,
            "| | Rust warm p99 ≤ Python warm p50 | {rust_p99:.2} ms vs {python_p50:.2} ms | {} |",
            yes_no(rust_p99 <= python_p50)
        );
        if let Some((bootstrap, _)) = results
            .packages
            .iter()
            .find(|package| package.function == *function)
            .and_then(|package| package.bootstrap)
        {
            let size = mib(bootstrap);
            let _ = writeln!(
                md,
                "| | arm64 `bootstrap` ≤ {TARGET_BOOTSTRAP_MIB} MiB | {size:.2} MiB | {} |",
                yes_no(size <= TARGET_BOOTSTRAP_MIB)
            );
        }
    }
    let _ = writeln!(md);

    if !results.large_object.is_empty() {
        let _ = writeln!(md, "## The put handler and a large object\n");
        let object_mib = scale.large_object_mib as f64;
        let _ = writeln!(md, "One {} MiB object of random bytes, indexed by a fresh process of each language (GetObject streamed through SHA-256, then PutItem), beside the same object read from the emulator into `sha256sum` with `curl`:\n", scale.large_object_mib);
        let _ = writeln!(md, "| | time | throughput | peak RSS |\n|---|---:|---:|---:|");
        let _ = writeln!(
            md,
            "| `curl <emulator>/<bucket>/<key> \\| sha256sum` | {:.2} s | {:.0} MiB/s | – |",
            results.large_object_pipe_seconds,
            object_mib / results.large_object_pipe_seconds.max(f64::EPSILON)
        );
        for run in &results.large_object {
            let _ = writeln!(
                md,
                "| {} put handler | {:.2} s | {:.0} MiB/s | {:.1} MiB |",
                run.language.name(),
                run.seconds,
                object_mib / run.seconds.max(f64::EPSILON),
                mib(run.peak_rss)
            );
        }
        let _ = writeln!(md);
    }

    if let Some((sam, release)) = results.builds {
        let _ = writeln!(md, "## Build time\n");
        let _ = writeln!(md, "| from an empty target folder | time |\n|---|---:|");
        let _ = writeln!(
            md,
            "| `sam build` (every function, arm64, each in its own crate folder) | {:.0} s |",
            sam
        );
        let _ = writeln!(
            md,
            "| `cargo build --release --workspace` (x86_64) | {:.0} s |",
            release
        );
        let _ = writeln!(
            md,
            "| ratio | {:.2} x (target ≤ 1.25 x: {}) |\n",
            sam / release,
            yes_no(sam / release <= 1.25)
        );
    }

    let _ = writeln!(md, "## What a million invocations cost\n");
    let _ = writeln!(
        md,
        "At {MEMORY_MB} MB, Arm, US East (N. Virginia): ${PRICE_PER_GB_SECOND} per GB-second and \
         ${PRICE_PER_MILLION_REQUESTS:.2} per million requests (the AWS Lambda pricing page's on-demand \
         Arm table as published in September 2021, when Arm functions launched; check the page for \
         today's prices in your region). Duration is billed per started millisecond; \
         the warm median of this run stands in for the duration. Since August 2025 Lambda bills the \
         init phase of managed runtimes too, so a cold start costs its init time plus its first invocation.\n"
    );
    let _ = writeln!(md, "| function | Rust, 1M warm | Python, 1M warm | Rust, 1M cold starts | Python, 1M cold starts |\n|---|---:|---:|---:|---:|");
    for (function, rust, python) in pairs(results, &functions) {
        let warm = |measured: &Measured| cost_per_million(percentile(&measured.warm_ms, 50.0));
        let cold = |measured: &Measured| {
            cost_per_million(median(&measured.cold_start_ms) + median(&measured.first_invocation_ms))
        };
        let _ = writeln!(
            md,
            "| {function} | ${:.2} | ${:.2} | ${:.2} | ${:.2} |",
            warm(rust),
            warm(python),
            cold(rust),
            cold(python)
        );
    }
    let _ = writeln!(
        md,
        "\nOn loopback most of a warm invocation is the emulator's time, the same for both languages; \
         against real AWS services each call takes milliseconds more for both, so the difference in \
         absolute dollars stays about the same while the ratio shrinks.\n"
    );

    let root = markdown
        .ancestors()
        .find(|dir| dir.join("bench/release-profile.md").is_file())
        .map(Path::to_path_buf);
    if let Some(root) = root {
        let profile =
            std::fs::read_to_string(root.join("bench/release-profile.md")).map_err(|error| anyhow!("{error}"))?;
        let _ = writeln!(md, "{}", profile.trim_end());
        let _ = writeln!(md);
    }

    let _ = writeln!(md, "## Machine and versions\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    for (name, value) in &results.machine {
        let _ = writeln!(md, "| {name} | {value} |");
    }
    let _ = writeln!(md, "\n## Reproduce\n");
    let _ = writeln!(
        md,
        "```bash\n./scripts/setup.sh          # the pinned tools, awslambdaric included\nsource scripts/env.sh       # puts them (sam, cargo-lambda) on PATH\nsam build                   # optional: adds the arm64 package sizes\ncargo xtask bench           # about 25 minutes on 2 cores (two cold builds included); rewrites this page\ncargo xtask bench --quick   # a minute or two: the harness end to end, report in target/bench/\n```"
    );

    std::fs::write(markdown, md).map_err(|error| anyhow!("{}: {error}", markdown.display()))?;
    std::fs::write(chart, svg(results, &functions)).map_err(|error| anyhow!("{}: {error}", chart.display()))?;
    Ok(())
}

/// Two bar charts side by side: cold start (ms) and peak memory (MiB), Rust beside Python.
fn svg(results: &Results, functions: &[&str]) -> String {
    const WIDTH: f64 = 880.0;
    const PANEL: f64 = 420.0;
    const LABEL: f64 = 170.0;
    const ROW: f64 = 22.0;
    let height = 60.0 + functions.len() as f64 * (2.0 * ROW + 14.0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"##
    );
    let _ = writeln!(out, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    type Panel<'a> = (&'a str, &'a dyn Fn(&Measured) -> f64, &'a str);
    let panels: [Panel; 2] = [
        (
            "Cold start (ms, median)",
            &|measured| median(&measured.cold_start_ms),
            "ms",
        ),
        ("Peak memory (MiB)", &|measured| mib(measured.peak_rss_after_all), "MiB"),
    ];
    for (panel, (title, value, unit)) in panels.iter().enumerate() {
        let left = panel as f64 * (PANEL + 20.0) + 10.0;
        let _ = writeln!(
            out,
            r##"<text x="{left}" y="20" font-weight="bold" font-size="14">{title}</text>"##
        );
        let max = results
            .functions
            .iter()
            .map(|(_, _, measured)| value(measured))
            .fold(f64::EPSILON, f64::max);
        let bar_space = PANEL - LABEL - 70.0;
        for (index, function) in functions.iter().enumerate() {
            let top = 40.0 + index as f64 * (2.0 * ROW + 14.0);
            let _ = writeln!(
                out,
                r##"<text x="{left}" y="{}" fill="#333">{function}</text>"##,
                top + ROW
            );
            for (offset, language, color) in [(0.0, Language::Rust, "#b7410e"), (ROW, Language::Python, "#3572a5")] {
                let Some(measured) = find(results, function, language) else {
                    continue;
                };
                let amount = value(measured);
                let width = (amount / max * bar_space).max(1.0);
                let x = left + LABEL;
                let y = top + offset + 4.0;
                let _ = writeln!(
                    out,
                    r##"<rect x="{x}" y="{y}" width="{width:.1}" height="{}" fill="{color}"><title>{} {}: {amount:.1} {unit}</title></rect>"##,
                    ROW - 6.0,
                    function,
                    language.name()
                );
                let _ = writeln!(
                    out,
                    r##"<text x="{:.1}" y="{:.1}" fill="#333">{} {amount:.1}</text>"##,
                    x + width + 4.0,
                    y + ROW - 10.0,
                    language.name()
                );
            }
        }
    }
    let _ = writeln!(out, "</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), 2.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn a_million_invocations_bill_started_milliseconds_and_requests() {
        // 1.2 ms bills as 2 ms: 1e6 * 0.002 s * 0.125 GB * price + $0.20.
        let expected = 1_000_000.0 * 0.002 * 0.125 * PRICE_PER_GB_SECOND + 0.20;
        assert!((cost_per_million(1.2) - expected).abs() < 1e-9);
    }
}
