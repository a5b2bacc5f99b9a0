//! `cargo xtask sizes [--update]`: the size gate. Compares each stripped arm64 `bootstrap` that
//! `sam build` made with the baseline in `bench/binary-sizes.json`, and fails when one grew by
//! more than 10%: a new dependency or feature that doubles a binary should be a decision, not an
//! accident. `--update` records today's sizes as the new baseline (commit it with the change
//! that explains it).

use std::collections::BTreeMap;
use std::path::Path;

use template_plan as template;

use anyhow::{anyhow, Result};

/// How much a binary may grow before the gate fails, in percent.
const ALLOWED_GROWTH_PERCENT: u64 = 10;

pub fn run(root: &Path, update: bool) -> Result<()> {
    let plan = template::plan(
        &std::fs::read_to_string(root.join("template.yaml")).map_err(|error| anyhow!("template.yaml: {error}"))?,
    )?;
    let baseline_path = root.join("bench/binary-sizes.json");
    let mut today = BTreeMap::new();
    for function in &plan.functions {
        let bootstrap = root.join(".aws-sam/build").join(&function.logical_id).join("bootstrap");
        let size = std::fs::metadata(&bootstrap)
            .map_err(|error| anyhow!("{}: {error} (run `sam build` first)", bootstrap.display()))?
            .len();
        today.insert(function.binary.clone(), size);
    }
    if update {
        let text = serde_json::to_string_pretty(&today).map_err(|error| anyhow!("{error}"))?;
        std::fs::write(&baseline_path, text + "\n").map_err(|error| anyhow!("{}: {error}", baseline_path.display()))?;
        println!("baseline written to bench/binary-sizes.json");
        return Ok(());
    }
    let baseline: BTreeMap<String, u64> = serde_json::from_str(
        &std::fs::read_to_string(&baseline_path).map_err(|error| anyhow!("{}: {error}", baseline_path.display()))?,
    )
    .map_err(|error| anyhow!("bench/binary-sizes.json: {error}"))?;
    let verdicts = check(&baseline, &today);
    for line in &verdicts.lines {
        println!("{line}");
    }
    if verdicts.failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(
            "{}; if the growth is intended, run `cargo xtask sizes --update` and commit bench/binary-sizes.json",
            verdicts.failures.join("; ")
        ))
    }
}

struct Verdicts {
    lines: Vec<String>,
    failures: Vec<String>,
}

fn check(baseline: &BTreeMap<String, u64>, today: &BTreeMap<String, u64>) -> Verdicts {
    let mut verdicts = Verdicts {
        lines: Vec::new(),
        failures: Vec::new(),
    };
    for (function, &size) in today {
        match baseline.get(function) {
            None => verdicts
                .failures
                .push(format!("{function} has no baseline size in bench/binary-sizes.json")),
            Some(&before) => {
                let growth = size as f64 / before as f64 - 1.0;
                verdicts.lines.push(format!(
                    "{function:<26} {size:>10} bytes  (baseline {before:>10}, {:+.1}%)",
                    growth * 100.0
                ));
                // In whole bytes: exactly 10% is allowed, one byte more is not.
                if size * 100 > before * (100 + ALLOWED_GROWTH_PERCENT) {
                    verdicts.failures.push(format!(
                        "{function} grew {:.1}% (more than {ALLOWED_GROWTH_PERCENT}%)",
                        growth * 100.0
                    ));
                }
            }
        }
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(name, size)| ((*name).to_owned(), *size)).collect()
    }

    #[test]
    fn growth_up_to_ten_percent_passes_and_beyond_fails() {
        let baseline = sizes(&[("a", 1_000), ("b", 1_000)]);
        let verdicts = check(&baseline, &sizes(&[("a", 1_100), ("b", 1_101)]));
        assert_eq!(verdicts.failures.len(), 1);
        assert!(
            verdicts.failures[0].starts_with("b grew 10.1%"),
            "{:?}",
            verdicts.failures
        );
    }

    #[test]
    fn a_function_without_a_baseline_fails() {
        let verdicts = check(&sizes(&[]), &sizes(&[("new-function", 1)]));
        assert_eq!(verdicts.failures.len(), 1);
    }

    #[test]
    fn shrinking_passes() {
        let verdicts = check(&sizes(&[("a", 1_000)]), &sizes(&[("a", 500)]));
        assert!(verdicts.failures.is_empty());
    }
}
