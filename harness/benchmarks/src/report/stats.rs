//! The statistics the report shows: nearest-rank percentiles, medians, ranges, MiB.

use crate::Measured;

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub fn sorted(values: &[f64]) -> Vec<f64> {
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

pub fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

/// `min–max`, or a dash for no values.
pub fn spread(values: &[f64]) -> String {
    let values = sorted(values);
    match (values.first(), values.last()) {
        (Some(low), Some(high)) => format!("{low:.1}–{high:.1}"),
        _ => "–".to_owned(),
    }
}

pub fn median_rss(measured: &Measured) -> f64 {
    let values: Vec<f64> = measured.peak_rss_after_init.iter().map(|bytes| mib(*bytes)).collect();
    median(&values)
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
    fn a_spread_is_min_to_max_whatever_the_order() {
        assert_eq!(spread(&[2.34, 0.5, 1.0]), "0.5–2.3");
        assert_eq!(spread(&[]), "–");
    }
}
