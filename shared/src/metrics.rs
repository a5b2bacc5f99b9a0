//! Metrics as CloudWatch Embedded Metric Format (EMF) log lines.
//!
//! A function writes one JSON line to its log; CloudWatch Logs recognises the `_aws` object in it
//! and turns the named values into metrics. No API call, no agent, no added latency, and the
//! numbers sit next to the log lines that explain them. Rust has no Powertools for AWS Lambda, so
//! this module is the small part of it the workshop needs, written against the published
//! specification ("Embedded metric format specification" in the CloudWatch User Guide):
//!
//! ```text
//! let mut metrics = shared::metrics::Metrics::new();
//! metrics.count("ObjectsIndexed", summary.indexed);
//! metrics.add("BytesHashed", Unit::Bytes, bytes as f64);
//! metrics.emit();
//! ```
//!
//! Every metric has the dimension `service` (the function's crate, set by
//! [`crate::logging::init_logs_traces_and_metrics`]), plus any given with [`Metrics::dimension`]: few dimensions, because
//! each combination of values is a metric of its own, billed as one. The namespace is
//! `METRICS_NAMESPACE`, or `UploadCatalog`.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

/// The namespace when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "UploadCatalog";

static SERVICE: OnceLock<String> = OnceLock::new();

/// Names the service every metric is about; [`crate::logging::init_logs_traces_and_metrics`] calls it.
pub(crate) fn set_service(service: &str) {
    let _ = SERVICE.set(service.to_owned());
}

/// The service [`set_service`] named.
pub(crate) fn service() -> &'static str {
    SERVICE.get().map_or("unknown", String::as_str)
}

/// The unit of a metric, as CloudWatch spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
    Milliseconds,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Bytes => "Bytes",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// The values of one invocation (or one request), written as one EMF line by [`Metrics::emit`].
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    namespace: String,
    dimensions: Vec<(&'static str, String)>,
    values: Vec<(&'static str, Unit, f64)>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// No values yet; the namespace from `METRICS_NAMESPACE`, the `service` dimension from
    /// [`crate::logging::init_logs_traces_and_metrics`].
    pub fn new() -> Metrics {
        let namespace = std::env::var("METRICS_NAMESPACE")
            .ok()
            .filter(|namespace| !namespace.is_empty())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        Metrics::in_namespace(namespace, service())
    }

    /// No values yet, in `namespace`, for `service`.
    pub fn in_namespace(namespace: impl Into<String>, service: impl Into<String>) -> Metrics {
        Metrics {
            namespace: namespace.into(),
            dimensions: vec![("service", service.into())],
            values: Vec::new(),
        }
    }

    /// Adds a dimension to every value: `route`, `status_class`. Keep them few and their values
    /// bounded (never a key or an id).
    pub fn dimension(mut self, name: &'static str, value: impl Into<String>) -> Metrics {
        self.dimensions.push((name, value.into()));
        self
    }

    /// Adds `value` to the metric `name` (a metric added twice holds the sum).
    pub fn add(&mut self, name: &'static str, unit: Unit, value: f64) {
        match self.values.iter_mut().find(|(existing, ..)| *existing == name) {
            Some((_, _, total)) => *total += value,
            None => self.values.push((name, unit, value)),
        }
    }

    /// Adds `count` to the metric `name`, in `Count`.
    pub fn count(&mut self, name: &'static str, count: usize) {
        self.add(name, Unit::Count, count as f64);
    }

    /// The EMF line for these values at `timestamp_ms` (milliseconds since the Unix epoch), or
    /// `None` when there are none.
    pub fn line(&self, timestamp_ms: u64) -> Option<String> {
        if self.values.is_empty() {
            return None;
        }
        let dimension_names: Vec<&str> = self.dimensions.iter().map(|(name, _)| *name).collect();
        let definitions: Vec<Value> = self
            .values
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.name()}))
            .collect();
        let mut line = Map::new();
        line.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [dimension_names],
                    "Metrics": definitions,
                }],
            }),
        );
        for (name, value) in &self.dimensions {
            line.insert((*name).to_owned(), Value::from(value.as_str()));
        }
        for (name, _, value) in &self.values {
            line.insert((*name).to_owned(), Value::from(*value));
        }
        Some(Value::Object(line).to_string())
    }

    /// Writes the EMF line to standard output, which Lambda sends to CloudWatch Logs.
    pub fn emit(self) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        if let Some(line) = self.line(now.as_millis() as u64) {
            println!("{line}");
        }
    }
}

/// Emits `ColdStart` = 1 for this service; [`crate::logging::invocation_span`] calls it on the
/// first invocation of the process.
pub(crate) fn cold_start() {
    let mut metrics = Metrics::new();
    metrics.count("ColdStart", 1);
    metrics.emit();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(metrics: &Metrics) -> Value {
        serde_json::from_str(&metrics.line(1_764_316_800_000).unwrap()).unwrap()
    }

    // Golden lines, shaped as the specification's examples: the `_aws` metadata with one
    // directive, then each dimension and each metric as a top-level member.

    #[test]
    fn counts_and_bytes_with_the_service_dimension() {
        let mut metrics = Metrics::in_namespace("UploadCatalog", "s3-put-handler");
        metrics.count("ObjectsIndexed", 2);
        metrics.add("BytesHashed", Unit::Bytes, 3072.0);
        assert_eq!(
            parsed(&metrics),
            json!({
                "_aws": {
                    "Timestamp": 1_764_316_800_000u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "UploadCatalog",
                        "Dimensions": [["service"]],
                        "Metrics": [{"Name": "ObjectsIndexed", "Unit": "Count"}, {"Name": "BytesHashed", "Unit": "Bytes"}]
                    }]
                },
                "service": "s3-put-handler",
                "ObjectsIndexed": 2.0,
                "BytesHashed": 3072.0
            })
        );
    }

    #[test]
    fn a_latency_with_route_and_status_class_dimensions() {
        let mut metrics = Metrics::in_namespace("UploadCatalog", "api-gateway-http")
            .dimension("route", "GET /objects")
            .dimension("status_class", "2xx");
        metrics.count("Requests", 1);
        metrics.add("Latency", Unit::Milliseconds, 12.5);
        assert_eq!(
            parsed(&metrics),
            json!({
                "_aws": {
                    "Timestamp": 1_764_316_800_000u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "UploadCatalog",
                        "Dimensions": [["service", "route", "status_class"]],
                        "Metrics": [{"Name": "Requests", "Unit": "Count"}, {"Name": "Latency", "Unit": "Milliseconds"}]
                    }]
                },
                "service": "api-gateway-http",
                "route": "GET /objects",
                "status_class": "2xx",
                "Requests": 1.0,
                "Latency": 12.5
            })
        );
    }

    #[test]
    fn a_metric_added_twice_holds_the_sum_and_is_declared_once() {
        let mut metrics = Metrics::in_namespace("UploadCatalog", "dynamodb-stream-consumer");
        metrics.count("RecordsApplied", 3);
        metrics.count("RecordsApplied", 4);
        let line = parsed(&metrics);
        assert_eq!(line["RecordsApplied"], 7.0);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn no_values_no_line() {
        assert_eq!(Metrics::in_namespace("UploadCatalog", "s3-list-buckets").line(0), None);
    }

    #[test]
    fn the_namespace_defaults_to_the_catalogs() {
        // Read once: tests in this binary never set METRICS_NAMESPACE.
        assert_eq!(Metrics::new().namespace, DEFAULT_NAMESPACE);
    }
}
