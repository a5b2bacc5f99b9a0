//! The report's chart, `benchmarks.svg`.

use std::fmt::Write as _;

use super::find;
use super::stats::{median, mib};
use crate::{Language, Measured, Results};

/// Two bar charts side by side: cold start (ms) and peak memory (MiB), Rust beside Python.
pub fn svg(results: &Results, functions: &[&str]) -> String {
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
