//! The report's tables: each function in both languages, the targets, the large object, the build
//! times and what a million invocations cost.

use std::fmt::{Result, Write as _};

use super::stats::{median, median_rss, mib, percentile, spread};
use super::{Pair, MEMORY_MB};
use crate::{Measured, Results};

/// AWS Lambda's on-demand price for Arm functions in US East (N. Virginia), first pricing tier:
/// per GB-second of billed duration, and per million requests. From the AWS Lambda pricing page
/// (aws.amazon.com/lambda/pricing), the Arm table published when Arm functions launched in
/// September 2021; this machine has no internet to check today's page, so the report says so.
pub const PRICE_PER_GB_SECOND: f64 = 0.000_013_333_4;
pub const PRICE_PER_MILLION_REQUESTS: f64 = 0.20;
/// The targets the issue set, checked in the report.
const TARGET_COLD_START_RATIO: f64 = 0.015;
const TARGET_RSS_RATIO: f64 = 0.12;
const TARGET_RSS_MIB: f64 = 10.0;
const TARGET_RSS_GROWTH_MIB: f64 = 1.0;
const TARGET_BOOTSTRAP_MIB: f64 = 6.0;

fn yes_no(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

pub fn per_function(md: &mut String, results: &Results, pairs: &[Pair]) -> Result {
    writeln!(md, "## Per function\n")?;
    for &(function, rust, python) in pairs {
        writeln!(md, "### {function}\n")?;
        writeln!(md, "| | Rust | Python | Rust ÷ Python |\n|---|---:|---:|---:|")?;
        comparison_rows(md, results, rust, python)?;
        package_row(md, results, function)?;
        writeln!(md)?;
    }
    Ok(())
}

fn comparison_rows(md: &mut String, results: &Results, rust: &Measured, python: &Measured) -> Result {
    let mut row = |label: &str, rust_value: f64, python_value: f64, rust_text: String, python_text: String| {
        let ratio = if python_value > 0.0 {
            rust_value / python_value
        } else {
            0.0
        };
        writeln!(md, "| {label} | {rust_text} | {python_text} | {ratio:.3} |")
    };
    let ms_cell = |values: &[f64]| format!("{:.1} ms ({})", median(values), spread(values));
    row(
        "cold start, median (min–max)",
        median(&rust.cold_start_ms),
        median(&python.cold_start_ms),
        ms_cell(&rust.cold_start_ms),
        ms_cell(&python.cold_start_ms),
    )?;
    row(
        "first invocation, median (min–max)",
        median(&rust.first_invocation_ms),
        median(&python.first_invocation_ms),
        ms_cell(&rust.first_invocation_ms),
        ms_cell(&python.first_invocation_ms),
    )?;
    for (label, p) in [("warm p50", 50.0), ("warm p99", 99.0)] {
        let (r, py) = (percentile(&rust.warm_ms, p), percentile(&python.warm_ms, p));
        row(label, r, py, format!("{r:.2} ms"), format!("{py:.2} ms"))?;
    }
    // CPU time: what the process itself used, which no emulator adds to.
    if !rust.warm_cpu_ms.is_empty() && !python.warm_cpu_ms.is_empty() {
        let cpu = [
            ("CPU time of init, median", &rust.init_cpu_ms, &python.init_cpu_ms),
            (
                "CPU time of the first invocation, median",
                &rust.first_invocation_cpu_ms,
                &python.first_invocation_cpu_ms,
            ),
            (
                "CPU time per warm invocation, median",
                &rust.warm_cpu_ms,
                &python.warm_cpu_ms,
            ),
        ];
        for (label, r, py) in cpu {
            let (r, py) = (median(r), median(py));
            row(label, r, py, format!("{r:.2} ms"), format!("{py:.2} ms"))?;
        }
    }
    let memory = [
        ("peak RSS after init".to_owned(), median_rss(rust), median_rss(python)),
        (
            "peak RSS after 100 invocations".to_owned(),
            mib(rust.peak_rss_after_100),
            mib(python.peak_rss_after_100),
        ),
        (
            format!("peak RSS after {} invocations", results.scale.invocations),
            mib(rust.peak_rss_after_all),
            mib(python.peak_rss_after_all),
        ),
    ];
    for (label, r, py) in memory {
        row(&label, r, py, format!("{r:.1} MiB"), format!("{py:.1} MiB"))?;
    }
    Ok(())
}

/// Python's package has no binary (boto3 is in the runtime), so only its zip is shown.
fn package_row(md: &mut String, results: &Results, function: &str) -> Result {
    let Some(package) = results.packages.iter().find(|package| package.function == function) else {
        return Ok(());
    };
    let python_kib = package.python_zip as f64 / 1024.0;
    match package.bootstrap {
        Some((bootstrap, zip)) => writeln!(
            md,
            "| package: stripped arm64 `bootstrap` / zip | {:.2} MiB / {:.2} MiB | – / {python_kib:.1} KiB (boto3 is in the runtime) | |",
            mib(bootstrap),
            mib(zip)
        ),
        None => writeln!(md, "| package: zip | not built | {python_kib:.1} KiB | |"),
    }
}

pub fn targets(md: &mut String, results: &Results, pairs: &[Pair]) -> Result {
    writeln!(md, "## Targets\n")?;
    writeln!(md, "| function | target | measured | |\n|---|---|---:|---|")?;
    for &(function, rust, python) in pairs {
        let cold = median(&rust.cold_start_ms) / median(&python.cold_start_ms);
        let rss_ratio = mib(rust.peak_rss_after_all) / mib(python.peak_rss_after_all);
        let rss = mib(rust.peak_rss_after_all);
        let growth = mib(rust.peak_rss_after_all.saturating_sub(rust.peak_rss_after_100));
        let (rust_p99, python_p50) = (percentile(&rust.warm_ms, 99.0), percentile(&python.warm_ms, 50.0));
        writeln!(
            md,
            "| {function} | cold start ≤ {TARGET_COLD_START_RATIO} x Python | {cold:.4} x | {} |",
            yes_no(cold <= TARGET_COLD_START_RATIO)
        )?;
        writeln!(
            md,
            "| | peak RSS ≤ {TARGET_RSS_RATIO} x Python | {rss_ratio:.3} x | {} |",
            yes_no(rss_ratio <= TARGET_RSS_RATIO)
        )?;
        writeln!(
            md,
            "| | peak RSS < {TARGET_RSS_MIB} MiB | {rss:.1} MiB | {} |",
            yes_no(rss < TARGET_RSS_MIB)
        )?;
        writeln!(
            md,
            "| | RSS growth, invocation 100 to {} < {TARGET_RSS_GROWTH_MIB} MiB | {growth:.2} MiB | {} |",
            results.scale.invocations,
            yes_no(growth < TARGET_RSS_GROWTH_MIB)
        )?;
        writeln!(
            md,
            "| | Rust warm p99 ≤ Python warm p50 | {rust_p99:.2} ms vs {python_p50:.2} ms | {} |",
            yes_no(rust_p99 <= python_p50)
        )?;
        if let Some((bootstrap, _)) = results
            .packages
            .iter()
            .find(|package| package.function == function)
            .and_then(|package| package.bootstrap)
        {
            let size = mib(bootstrap);
            writeln!(
                md,
                "| | arm64 `bootstrap` ≤ {TARGET_BOOTSTRAP_MIB} MiB | {size:.2} MiB | {} |",
                yes_no(size <= TARGET_BOOTSTRAP_MIB)
            )?;
        }
    }
    writeln!(md)
}

/// Only when the put handler was measured (`--only` may leave it out).
pub fn large_object(md: &mut String, results: &Results) -> Result {
    if results.large_object.is_empty() {
        return Ok(());
    }
    let scale = results.scale;
    writeln!(md, "## The put handler and a large object\n")?;
    let object_mib = scale.large_object_mib as f64;
    writeln!(md, "One {} MiB object of random bytes, indexed by a fresh process of each language (GetObject streamed over TLS through SHA-256, then PutItem), beside the same object read from the emulator (no TLS) into `sha256sum` with `curl`:\n", scale.large_object_mib)?;
    writeln!(
        md,
        "| | CPU | time | throughput | CPU time | peak RSS |\n|---|---|---:|---:|---:|---:|"
    )?;
    writeln!(
        md,
        "| `curl <emulator>/<bucket>/<key> \\| sha256sum` | whole | {:.2} s | {:.0} MiB/s | – | – |",
        results.large_object_pipe_seconds,
        object_mib / results.large_object_pipe_seconds.max(f64::EPSILON)
    )?;
    for run in &results.large_object {
        writeln!(
            md,
            "| {} put handler | {} | {:.2} s | {:.0} MiB/s | {} | {:.1} MiB |",
            run.language.name(),
            run.memory_mb
                .map_or_else(|| "whole".to_owned(), |mb| format!("{mb} MB's share")),
            run.seconds,
            object_mib / run.seconds.max(f64::EPSILON),
            run.cpu_seconds
                .map_or_else(|| "–".to_owned(), |cpu| format!("{cpu:.2} s")),
            mib(run.peak_rss)
        )?;
    }
    let (memory_mb, timeout) = results.put_handler_limits;
    let gib_seconds = |run: &crate::LargeObject| run.seconds * 1024.0 / object_mib;
    for run in results
        .large_object
        .iter()
        .filter(|run| run.memory_mb == Some(memory_mb))
    {
        let projected = gib_seconds(run);
        writeln!(
            md,
            "\n{} at {memory_mb} MB's share, scaled to 1 GiB: {projected:.0} s against the template's `Timeout` of {} s: {}.",
            run.language.name(),
            timeout.as_secs(),
            if projected < timeout.as_secs_f64() { "within it" } else { "**over it**" }
        )?;
    }
    writeln!(md)
}

/// The reconciler over a small and a large table: the same folders, ten times the objects.
pub fn survey(md: &mut String, results: &Results) -> Result {
    let [small, large] = results.survey.as_slice() else {
        return Ok(());
    };
    writeln!(md, "## The statistics reconciler at two table sizes\n")?;
    writeln!(md, "One scheduled run of a fresh process over an objects table spread over the same {} folders, with an empty statistics table (so every folder is repaired). The survey keeps one entry per folder, never the items:\n", small.folders_repaired)?;
    writeln!(
        md,
        "| objects | folders repaired | time | peak RSS |\n|---:|---:|---:|---:|"
    )?;
    for run in [small, large] {
        writeln!(
            md,
            "| {} | {} | {:.2} s | {:.1} MiB |",
            run.objects,
            run.folders_repaired,
            run.seconds,
            mib(run.peak_rss)
        )?;
    }
    writeln!(
        md,
        "\n{:.1}x the objects took {:.1}x the time and {:.2}x the peak memory.\n",
        large.objects as f64 / small.objects.max(1) as f64,
        large.seconds / small.seconds.max(f64::EPSILON),
        large.peak_rss as f64 / small.peak_rss.max(1) as f64
    )
}

/// Only the full run times the cold builds: they take most of its 25 minutes.
pub fn build_time(md: &mut String, builds: Option<(f64, f64)>) -> Result {
    let Some((sam, release)) = builds else {
        return Ok(());
    };
    writeln!(md, "## Build time\n")?;
    writeln!(md, "| from an empty target folder | time |\n|---|---:|")?;
    writeln!(
        md,
        "| `sam build` (every function, arm64, each in its own crate folder) | {:.0} s |",
        sam
    )?;
    writeln!(
        md,
        "| `cargo build --release --workspace` (x86_64) | {:.0} s |",
        release
    )?;
    writeln!(
        md,
        "| ratio | {:.2} x (target ≤ 1.25 x: {}) |\n",
        sam / release,
        yes_no(sam / release <= 1.25)
    )
}

/// The cost of one million invocations lasting `ms` each (billed per started millisecond).
fn cost_per_million(ms: f64) -> f64 {
    cost_per_million_at(ms, MEMORY_MB)
}

/// A million invocations of `ms` each at `memory_mb`: billed per started millisecond.
pub fn cost_per_million_at(ms: f64, memory_mb: u32) -> f64 {
    let billed_seconds = ms.ceil() / 1000.0;
    let gigabytes = f64::from(memory_mb) / 1024.0;
    1_000_000.0 * billed_seconds * gigabytes * PRICE_PER_GB_SECOND + PRICE_PER_MILLION_REQUESTS
}

pub fn cost(md: &mut String, pairs: &[Pair]) -> Result {
    writeln!(md, "## What a million invocations cost\n")?;
    writeln!(
        md,
        "At {MEMORY_MB} MB, Arm, US East (N. Virginia): ${PRICE_PER_GB_SECOND} per GB-second and \
         ${PRICE_PER_MILLION_REQUESTS:.2} per million requests (the AWS Lambda pricing page's on-demand \
         Arm table as published in September 2021, when Arm functions launched; check the page for \
         today's prices in your region). Duration is billed per started millisecond; \
         the warm median of this run stands in for the duration. Since August 2025 Lambda bills the \
         init phase of managed runtimes too, so a cold start costs its init time plus its first invocation.\n"
    )?;
    writeln!(md, "| function | Rust, 1M warm | Python, 1M warm | Rust, 1M cold starts | Python, 1M cold starts |\n|---|---:|---:|---:|---:|")?;
    let warm = |measured: &Measured| cost_per_million(percentile(&measured.warm_ms, 50.0));
    let cold =
        |measured: &Measured| cost_per_million(median(&measured.cold_start_ms) + median(&measured.first_invocation_ms));
    for &(function, rust, python) in pairs {
        writeln!(
            md,
            "| {function} | ${:.2} | ${:.2} | ${:.2} | ${:.2} |",
            warm(rust),
            warm(python),
            cold(rust),
            cold(python)
        )?;
    }
    writeln!(
        md,
        "\nOn loopback most of a warm invocation is the emulator's time, the same for both languages; \
         against real AWS services each call takes milliseconds more for both, so the difference in \
         absolute dollars stays about the same while the ratio shrinks.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_million_invocations_bill_started_milliseconds_and_requests() {
        // 1.2 ms bills as 2 ms: 1e6 * 0.002 s * 0.125 GB * price + $0.20.
        let expected = 1_000_000.0 * 0.002 * 0.125 * PRICE_PER_GB_SECOND + 0.20;
        assert!((cost_per_million(1.2) - expected).abs() < 1e-9);
    }
}
