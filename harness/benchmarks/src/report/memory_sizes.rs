//! The page's section on Lambda's memory sizes: each function in both languages at each size's
//! share of a vCPU, what a million invocations cost there, the cheapest size, and the targets
//! set for 128 MB.

use std::fmt::{Result, Write as _};

use super::stats::{median, mib, percentile};
use super::tables::cost_per_million_at;
use crate::cpu_share::{quota_micros, vcpu_share};
use crate::{Language, Measured, Results, SizedRun};

/// The share of invocations that start a new sandbox, for the cost column: one in a hundred.
/// Lambda does not publish a figure; it depends on traffic, and the per-size tables give init
/// and the first invocation apart so that any other share can be worked out.
pub const COLD_SHARE: f64 = 0.01;
/// The targets for 128 MB, Rust ÷ Python.
const TARGET_WARM_MEDIAN_RATIO: f64 = 0.1;
const TARGET_FIRST_INVOCATION_RATIO: f64 = 0.2;
const TARGET_WARM_CPU_RATIO: f64 = 0.1;
const TARGETS_AT_MB: u32 = 128;

/// What a million invocations cost at this size, [`COLD_SHARE`] of them cold: billed per started
/// millisecond, each warm one its own duration, each cold one its init (billed since August 2025
/// for every runtime) plus its first invocation.
pub fn cost_of_a_million(run: &SizedRun) -> f64 {
    let measured = &run.measured;
    let warm = mean(&measured.warm_ms.iter().map(|ms| ms.ceil()).collect::<Vec<_>>());
    let cold = median(&measured.cold_start_ms).ceil() + median(&measured.first_invocation_ms).ceil();
    (1.0 - COLD_SHARE) * cost_per_million_at(warm, run.memory_mb)
        + COLD_SHARE * cost_per_million_at(cold, run.memory_mb)
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

fn sizes(results: &Results) -> Vec<u32> {
    let mut sizes: Vec<u32> = Vec::new();
    for run in &results.sized {
        if !sizes.contains(&run.memory_mb) {
            sizes.push(run.memory_mb);
        }
    }
    sizes
}

fn find<'a>(results: &'a Results, memory_mb: u32, function: &str, language: Language) -> Option<&'a Measured> {
    results
        .sized
        .iter()
        .find(|run| run.memory_mb == memory_mb && run.function == function && run.language == language)
        .map(|run| &run.measured)
}

pub fn section(md: &mut String, results: &Results, functions: &[&str]) -> Result {
    let sizes = sizes(results);
    if sizes.is_empty() {
        return Ok(());
    }
    writeln!(md, "## At Lambda's memory sizes\n")?;
    writeln!(
        md,
        "Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB, and at 128 MB about a fourteenth of one. \
         Here each process, Rust and Python alike, gets its own control group of the kernel's CPU controller with a quota of \
         `memory / 1769` of each 100 ms period ({} µs at 128 MB): once it has used that much CPU in a period, it waits for the next, \
         as a throttled sandbox does. Its CPU time (user + system, every thread) is the group's own counter, in nanoseconds. \
         Warm invocations come back to back, as a busy function gets them, so at a small size a warm invocation takes about \
         its CPU time divided by its share of a vCPU: there the CPU time, not the emulator, sets the duration Lambda bills.\n",
        quota_micros(128)
    )?;
    writeln!(
        md,
        "Init is not bound like the invocations in published measurements: the daily runs of maxday's lambda-perf \
         (github.com/maxday/lambda-perf) show about the same init duration at 128 MB and at 1,024 MB, for Rust and for Python, \
         and AWS documents no CPU share for init. So in these tables init runs at a whole CPU and the share applies from the \
         first invocation on; the column \"init at the share\" measures the other way (fresh processes bound from their start), \
         which is the worst case if that ever changes.\n"
    )?;
    writeln!(
        md,
        "Every AWS call goes over TLS, as in Lambda: the emulator sits behind a TLS endpoint with a certificate authority made for \
         the run, which both languages trust through `AWS_CA_BUNDLE` (read by `shared::aws` and by boto3), so the first \
         invocation pays for its handshakes at the share. The cost column is a million invocations, {:.0}% of them cold, at the \
         prices of the section on cost below.\n",
        COLD_SHARE * 100.0
    )?;
    for &memory_mb in &sizes {
        writeln!(md, "### {memory_mb} MB ({:.3} of a vCPU)\n", vcpu_share(memory_mb))?;
        writeln!(
            md,
            "| function | language | init | init at the share | first invocation | warm p50 | warm p99 | CPU per warm invocation | peak RSS | 1M invocations |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        )?;
        for run in results.sized.iter().filter(|run| run.memory_mb == memory_mb) {
            let measured = &run.measured;
            writeln!(
                md,
                "| {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} MiB | ${:.2} |",
                run.function,
                run.language.name(),
                median(&measured.cold_start_ms),
                median(&measured.cold_start_bound_ms),
                median(&measured.first_invocation_ms),
                percentile(&measured.warm_ms, 50.0),
                percentile(&measured.warm_ms, 99.0),
                median(&measured.warm_cpu_ms),
                mib(measured.peak_rss_after_all),
                cost_of_a_million(run),
            )?;
        }
        writeln!(md)?;
    }
    cheapest(md, results, functions, &sizes)?;
    targets(md, results, functions)
}

/// The size a power-tuning run would pick for cost, per function and language, among those measured.
fn cheapest(md: &mut String, results: &Results, functions: &[&str], sizes: &[u32]) -> Result {
    if sizes.len() < 2 {
        return Ok(());
    }
    writeln!(md, "### The cheapest size\n")?;
    writeln!(md, "| function | language | cheapest of {} MB | its cost of 1M invocations | its warm p50 |\n|---|---|---:|---:|---:|",
        sizes.iter().map(u32::to_string).collect::<Vec<_>>().join(", "))?;
    for function in functions {
        for language in [Language::Rust, Language::Python] {
            let best = results
                .sized
                .iter()
                .filter(|run| run.function == *function && run.language == language)
                .min_by(|a, b| cost_of_a_million(a).total_cmp(&cost_of_a_million(b)));
            if let Some(run) = best {
                writeln!(
                    md,
                    "| {function} | {} | {} MB | ${:.2} | {:.2} ms |",
                    language.name(),
                    run.memory_mb,
                    cost_of_a_million(run),
                    percentile(&run.measured.warm_ms, 50.0)
                )?;
            }
        }
    }
    writeln!(md)
}

fn targets(md: &mut String, results: &Results, functions: &[&str]) -> Result {
    writeln!(md, "### The targets at {TARGETS_AT_MB} MB\n")?;
    let measured_at_128 = functions
        .iter()
        .filter_map(|function| {
            Some((
                *function,
                find(results, TARGETS_AT_MB, function, Language::Rust)?,
                find(results, TARGETS_AT_MB, function, Language::Python)?,
            ))
        })
        .collect::<Vec<_>>();
    if measured_at_128.is_empty() {
        return writeln!(md, "Not measured in this run: it had no `--memory {TARGETS_AT_MB}`.\n");
    }
    writeln!(
        md,
        "| function | target, Rust ÷ Python | measured | |\n|---|---|---:|---|"
    )?;
    for (function, rust, python) in measured_at_128 {
        let ratio = |rust: f64, python: f64| if python > 0.0 { rust / python } else { f64::INFINITY };
        let warm = ratio(percentile(&rust.warm_ms, 50.0), percentile(&python.warm_ms, 50.0));
        let first = ratio(median(&rust.first_invocation_ms), median(&python.first_invocation_ms));
        let cpu = ratio(median(&rust.warm_cpu_ms), median(&python.warm_cpu_ms));
        let (rust_p99, python_p50) = (percentile(&rust.warm_ms, 99.0), percentile(&python.warm_ms, 50.0));
        let rows = [
            (
                format!("warm median ≤ {TARGET_WARM_MEDIAN_RATIO} x"),
                format!("{warm:.3} x"),
                warm <= TARGET_WARM_MEDIAN_RATIO,
            ),
            (
                format!("first invocation ≤ {TARGET_FIRST_INVOCATION_RATIO} x"),
                format!("{first:.3} x"),
                first <= TARGET_FIRST_INVOCATION_RATIO,
            ),
            (
                format!("CPU per warm invocation ≤ {TARGET_WARM_CPU_RATIO} x"),
                format!("{cpu:.3} x"),
                cpu <= TARGET_WARM_CPU_RATIO,
            ),
            (
                "Rust warm p99 ≤ Python warm p50".to_owned(),
                format!("{rust_p99:.2} ms vs {python_p50:.2} ms"),
                rust_p99 <= python_p50,
            ),
        ];
        for (index, (target, value, met)) in rows.into_iter().enumerate() {
            let name = if index == 0 { function } else { "" };
            writeln!(
                md,
                "| {name} | {target} | {value} | {} |",
                if met { "met" } else { "**missed**" }
            )?;
        }
    }
    writeln!(md)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tables::{PRICE_PER_GB_SECOND, PRICE_PER_MILLION_REQUESTS};

    #[test]
    fn a_million_invocations_bill_each_warm_one_and_a_hundredth_cold_with_init() {
        let run = SizedRun {
            memory_mb: 512,
            function: "f".to_owned(),
            language: Language::Rust,
            measured: Measured {
                // Billed as 2 ms and 4 ms: a mean of 3 ms.
                warm_ms: vec![1.5, 3.2],
                // Cold: 10 ms of init and 5 ms of first invocation.
                cold_start_ms: vec![9.5],
                first_invocation_ms: vec![4.1],
                ..Measured::default()
            },
        };
        let per_ms = 1_000_000.0 / 1000.0 * 0.5 * PRICE_PER_GB_SECOND;
        let expected = 0.99 * (3.0 * per_ms) + 0.01 * (15.0 * per_ms) + PRICE_PER_MILLION_REQUESTS;
        assert!(
            (cost_of_a_million(&run) - expected).abs() < 1e-9,
            "{} vs {expected}",
            cost_of_a_million(&run)
        );
    }
}
