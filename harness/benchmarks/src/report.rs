//! The benchmark's report: `docs/benchmarks.md`, with its chart `docs/benchmarks.svg`.

mod chart;
mod machine;
mod memory_sizes;
mod package;
mod stats;
pub(crate) mod tables;
mod text;

use std::fmt::{self, Write as _};
use std::path::Path;

use super::{Language, Measured, Results};
use anyhow::{anyhow, Result};

pub use machine::machine;
pub use package::{package, Package};
pub use stats::mib;
use stats::{median, percentile};

/// The memory both languages are given, as in the template's `MemorySize`, in MB.
pub const MEMORY_MB: u32 = 128;

/// One function measured in both languages: (function, Rust, Python).
type Pair<'a> = (&'a str, &'a Measured, &'a Measured);

pub fn print_line(function: &str, language: Language, measured: &Measured) {
    let cpu = if measured.warm_cpu_ms.is_empty() {
        String::new()
    } else {
        format!(
            ", CPU: init {:.1} ms, first {:.2} ms, warm {:.2} ms",
            median(&measured.init_cpu_ms),
            median(&measured.first_invocation_cpu_ms),
            median(&measured.warm_cpu_ms)
        )
    };
    let bound = if measured.cold_start_bound_ms.is_empty() {
        String::new()
    } else {
        format!(
            " ({:.1} ms with init at the share)",
            median(&measured.cold_start_bound_ms)
        )
    };
    println!(
        "    {function} ({}): cold start {:.1} ms{bound}, first invocation {:.1} ms, warm p50 {:.2} ms / p99 {:.2} ms, peak RSS {:.1} MiB{cpu}",
        language.name(),
        median(&measured.cold_start_ms),
        median(&measured.first_invocation_ms),
        percentile(&measured.warm_ms, 50.0),
        percentile(&measured.warm_ms, 99.0),
        mib(measured.peak_rss_after_all),
    );
}

pub fn write(results: &Results, markdown: &Path, chart: &Path) -> Result<()> {
    let functions = function_names(results);
    let pairs = pairs(results, &functions);
    // The notes on the release profile are written by hand, not measured: they are copied in
    // from the repository the report is written into, if it has them.
    let release_profile = match markdown
        .ancestors()
        .map(|dir| dir.join("bench/release-profile.md"))
        .find(|path| path.is_file())
    {
        Some(path) => Some(std::fs::read_to_string(&path).map_err(|error| anyhow!("{}: {error}", path.display()))?),
        None => None,
    };
    let md = markdown_text(results, &pairs, release_profile.as_deref())?;
    std::fs::write(markdown, md).map_err(|error| anyhow!("{}: {error}", markdown.display()))?;
    std::fs::write(chart, chart::svg(results, &functions)).map_err(|error| anyhow!("{}: {error}", chart.display()))?;
    Ok(())
}

/// The page, section by section, in the order a reader wants them: the headline and how it was
/// measured before the tables that back it.
fn markdown_text(results: &Results, pairs: &[Pair], release_profile: Option<&str>) -> Result<String, fmt::Error> {
    let mut md = String::new();
    text::title(&mut md, results.scale)?;
    text::headline(&mut md, results, pairs)?;
    text::method(&mut md, results)?;
    tables::per_function(&mut md, results, pairs)?;
    tables::targets(&mut md, results, pairs)?;
    let functions: Vec<&str> = pairs.iter().map(|(function, _, _)| *function).collect();
    memory_sizes::section(&mut md, results, &functions)?;
    tables::large_object(&mut md, results)?;
    tables::survey(&mut md, results)?;
    tables::build_time(&mut md, results.builds)?;
    tables::cost(&mut md, pairs)?;
    if let Some(profile) = release_profile {
        writeln!(md, "{}\n", profile.trim_end())?;
    }
    text::versions(&mut md, &results.machine)?;
    text::reproduce(&mut md)?;
    Ok(md)
}

/// The functions measured, in the order they ran (the template's).
fn function_names(results: &Results) -> Vec<&str> {
    let mut functions: Vec<&str> = Vec::new();
    for (function, ..) in &results.functions {
        if !functions.contains(&function.as_str()) {
            functions.push(function);
        }
    }
    functions
}

fn find<'a>(results: &'a Results, function: &str, language: Language) -> Option<&'a Measured> {
    results
        .functions
        .iter()
        .find(|(name, lang, _)| name == function && *lang == language)
        .map(|(_, _, measured)| measured)
}

/// Only the functions measured in both languages: a comparison needs both.
fn pairs<'a>(results: &'a Results, functions: &[&'a str]) -> Vec<Pair<'a>> {
    functions
        .iter()
        .filter_map(|function| {
            let rust = find(results, function, Language::Rust)?;
            let python = find(results, function, Language::Python)?;
            Some((*function, rust, python))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::survey::SurveyRun;
    use crate::{LargeObject, Scale, SizedRun};

    fn measured(scale: f64) -> Measured {
        Measured {
            cold_start_ms: vec![scale, scale * 1.5],
            first_invocation_ms: vec![scale * 2.0],
            warm_ms: (1..=150).map(|i| scale * 0.01 * f64::from(i)).collect(),
            peak_rss_after_init: vec![3_000_000 * scale as u64],
            peak_rss_after_100: 4_000_000 * scale as u64,
            peak_rss_after_all: 4_200_000 * scale as u64,
            warm_cpu_ms: vec![scale * 0.5],
            ..Measured::default()
        }
    }

    #[test]
    fn the_sections_come_in_order_and_a_function_in_one_language_is_left_out() -> Result<()> {
        let results = Results {
            scale: Scale::new(false),
            profile: "release",
            functions: vec![
                ("both".to_owned(), Language::Rust, measured(1.0)),
                ("both".to_owned(), Language::Python, measured(40.0)),
                ("rust-only".to_owned(), Language::Rust, measured(1.0)),
            ],
            sized: [Language::Rust, Language::Python]
                .into_iter()
                .map(|language| SizedRun {
                    memory_mb: 128,
                    function: "both".to_owned(),
                    language,
                    measured: measured(if language == Language::Rust { 1.0 } else { 40.0 }),
                })
                .collect(),
            large_object: vec![LargeObject {
                language: Language::Rust,
                memory_mb: Some(128),
                seconds: 1.5,
                cpu_seconds: Some(1.2),
                peak_rss: 9_000_000,
            }],
            put_handler_limits: (128, std::time::Duration::from_secs(300)),
            large_object_pipe_seconds: 1.2,
            survey: vec![
                SurveyRun {
                    objects: 10_000,
                    folders_repaired: 100,
                    seconds: 2.0,
                    peak_rss: 8_388_608,
                },
                SurveyRun {
                    objects: 100_000,
                    folders_repaired: 100,
                    seconds: 20.0,
                    peak_rss: 8_808_038,
                },
            ],
            packages: vec![Package {
                function: "both".to_owned(),
                bootstrap: Some((5_000_000, 2_000_000)),
                python_zip: 1_500,
            }],
            builds: Some((300.0, 250.0)),
            machine: vec![("CPU".to_owned(), "test".to_owned())],
        };
        let functions = function_names(&results);
        let md = markdown_text(&results, &pairs(&results, &functions), Some("## Release profile\n"))?;
        let headings: Vec<&str> = md.lines().filter(|line| line.starts_with("## ")).collect();
        assert_eq!(
            headings,
            [
                "## How it was measured",
                "## Per function",
                "## Targets",
                "## At Lambda's memory sizes",
                "## The put handler and a large object",
                "## The statistics reconciler at two table sizes",
                "## Build time",
                "## What a million invocations cost",
                "## Release profile",
                "## Machine and versions",
                "## Reproduce",
            ]
        );
        assert!(md.contains("### both\n"), "{md}");
        assert!(md.contains("| 100000 | 100 | 20.00 s | 8.4 MiB |"), "{md}");
        assert!(
            md.contains("10.0x the objects took 10.0x the time and 1.05x the peak memory."),
            "{md}"
        );
        assert!(!md.contains("rust-only"), "{md}");
        assert!(
            md.contains("| package: stripped arm64 `bootstrap` / zip | 4.77 MiB / 1.91 MiB |"),
            "{md}"
        );
        Ok(())
    }
}
