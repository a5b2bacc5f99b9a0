//! Reading the local run's logs: `cargo xtask logs <function>` prints one function's log
//! (`target/local/logs/<function>.log`) one readable line per JSON line, and the story's last
//! step sums each function's metrics from its Embedded Metric Format lines, as CloudWatch would.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use anyhow::{anyhow, Result};

/// Fields every line carries; shown once per invocation would be noise on every line.
const QUIET_FIELDS: [&str; 7] = [
    "timestamp",
    "level",
    "target",
    "message",
    "function_name",
    "function_version",
    "service",
];

/// `cargo xtask logs <function>`.
pub fn run(root: &Path, function: &str) -> Result<()> {
    let path = root.join("target/local/logs").join(format!("{function}.log"));
    let text = std::fs::read_to_string(&path)
        .map_err(|error| anyhow!("{}: {error}; run ./scripts/local.sh (or --keep) first", path.display()))?;
    for line in text.lines() {
        println!("{}", readable(line));
    }
    Ok(())
}

/// One log line for a person: `12:00:01.234 INFO  message  field=value ...` for a JSON log line,
/// `METRICS name=value ...` for an EMF line, anything else (cargo-lambda's own output) as it is.
pub fn readable(line: &str) -> String {
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(line) else {
        return line.to_owned();
    };
    if let Some(metrics) = emf_values(&fields) {
        let values: Vec<String> = metrics.iter().map(|(name, value)| format!("{name}={value}")).collect();
        return format!("METRICS {}", values.join(" "));
    }
    let text = |name: &str| fields.get(name).and_then(Value::as_str).unwrap_or_default();
    // RFC 3339: the time of day is what a person scanning a local run needs.
    let time = text("timestamp").get(11..23).unwrap_or_default();
    let mut rest: Vec<String> = fields
        .iter()
        .filter(|(name, _)| !QUIET_FIELDS.contains(&name.as_str()))
        .map(|(name, value)| match value {
            Value::String(text) => format!("{name}={text}"),
            other => format!("{name}={other}"),
        })
        .collect();
    rest.sort();
    format!("{time} {:<5} {}  {}", text("level"), text("message"), rest.join(" "))
}

/// The metric values of an EMF line (name, value), or `None` if it is not one.
fn emf_values(fields: &Map<String, Value>) -> Option<Vec<(String, f64)>> {
    Some(
        emf_definitions(fields)?
            .into_iter()
            .filter_map(|(name, _)| Some((name.to_owned(), fields.get(name)?.as_f64()?)))
            .collect(),
    )
}

/// The (name, unit) of each metric an EMF line declares, or `None` if it is not one.
fn emf_definitions(fields: &Map<String, Value>) -> Option<Vec<(&str, &str)>> {
    let directives = fields.get("_aws")?.get("CloudWatchMetrics")?.as_array()?;
    Some(
        directives
            .iter()
            .filter_map(|directive| directive["Metrics"].as_array())
            .flatten()
            .filter_map(|definition| {
                Some((
                    definition["Name"].as_str()?,
                    definition["Unit"].as_str().unwrap_or("None"),
                ))
            })
            .collect(),
    )
}

/// One metric over a whole log.
#[derive(Debug, Default, PartialEq)]
pub struct Total {
    pub sum: f64,
    pub samples: usize,
    /// A duration (`Milliseconds`) reads as an average; anything else as a sum.
    pub is_duration: bool,
}

impl std::fmt::Display for Total {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_duration {
            let average = self.sum / self.samples.max(1) as f64;
            write!(formatter, "avg {average:.1} ms")
        } else {
            write!(formatter, "{}", self.sum)
        }
    }
}

/// Each metric over a log's EMF lines, as CloudWatch's `Sum` (or, for durations, `Average`)
/// statistic would show it.
pub fn metric_totals(log: &str) -> BTreeMap<String, Total> {
    let mut totals: BTreeMap<String, Total> = BTreeMap::new();
    for line in log.lines() {
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        for (name, unit) in emf_definitions(&fields).unwrap_or_default() {
            let Some(value) = fields.get(name).and_then(Value::as_f64) else {
                continue;
            };
            let total = totals.entry(name.to_owned()).or_default();
            total.sum += value;
            total.samples += 1;
            total.is_duration = unit == "Milliseconds";
        }
    }
    totals
}

/// What must never reach a log, each with what gives it away. Events are recognised by the
/// structure only a whole event has, so a message naming one field (`NewImage is not an object
/// item`) is fine.
const LEAKS: [(&str, &str); 10] = [
    ("X-Amz-Signature=", "a presigned URL's signature"),
    ("X-Amz-Credential=", "a presigned URL's credential"),
    ("X-Amz-Security-Token", "a session token"),
    (testkit::SECRET_ACCESS_KEY, "the secret access key"),
    ("\"Records\":[", "a whole S3 or stream event"),
    ("\"NewImage\":{", "a whole stream record"),
    ("\"OldImage\":{", "a whole stream record"),
    ("\"requestContext\":{", "a whole API Gateway event"),
    ("\"eventSource\":\"aws:", "a whole event record"),
    ("\"authorization\":", "a request's credentials"),
];

/// What `line` leaks, if anything: see [`LEAKS`]. JSON quoted inside a string counts too.
pub fn leaks(line: &str) -> Vec<&'static str> {
    let unescaped = line.replace('\\', "");
    let lowercase = unescaped.to_ascii_lowercase();
    LEAKS
        .iter()
        .filter(|(needle, _)| unescaped.contains(needle) || lowercase.contains(&needle.to_ascii_lowercase()))
        .map(|(_, what)| *what)
        .collect()
}

/// The first line of a log that leaks something, as `(line number, what it leaks)`.
pub fn first_leak(log: &str) -> Option<(usize, Vec<&'static str>)> {
    log.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, leaks(line)))
        .find(|(_, leaked)| !leaked.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_leaking_line_is_named_by_its_number() {
        let log = "{\"message\":\"fine\"}\n{\"authorization\":\"x\"}\n";
        assert_eq!(first_leak(log), Some((2, vec!["a request's credentials"])));
        assert_eq!(first_leak("{\"message\":\"fine\"}"), None);
    }

    #[test]
    fn secrets_and_whole_events_are_found_even_quoted_inside_a_message() {
        let presigned =
            r#"{"message":"answer","url":"http://127.0.0.1/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc"}"#;
        assert!(leaks(presigned).contains(&"a presigned URL's signature"));
        let event = r#"{"message":"got {\"Records\":[{\"eventSource\":\"aws:s3\"}]}"}"#;
        assert_eq!(leaks(event), ["a whole S3 or stream event", "a whole event record"]);
        let secret = format!(r#"{{"message":"config","secret":"{}"}}"#, testkit::SECRET_ACCESS_KEY);
        assert_eq!(leaks(&secret), ["the secret access key"]);
        let header = r#"{"headers":{"Authorization":"AWS4-HMAC-SHA256 Credential=x"}}"#;
        assert_eq!(leaks(header), ["a request's credentials"]);
    }

    #[test]
    fn a_message_that_names_a_field_is_not_a_leak() {
        let line = r#"{"error":"record 0 is malformed: NewImage is not an object item: missing field `bucket`","level":"ERROR"}"#;
        assert!(leaks(line).is_empty());
    }

    const EMF: &str = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"UploadCatalog","Dimensions":[["service"]],"Metrics":[{"Name":"ObjectsIndexed","Unit":"Count"},{"Name":"BytesHashed","Unit":"Bytes"}]}]},"service":"s3-put-handler","ObjectsIndexed":2.0,"BytesHashed":30.0}"#;

    #[test]
    fn a_json_line_reads_as_time_level_message_and_its_own_fields() {
        let line = r#"{"timestamp":"2026-11-28T07:20:01.234567Z","level":"INFO","target":"s3_put_handler","requestId":"abc","function_name":"s3-put-handler","key":"uploads/a b.txt","size":12,"message":"record done"}"#;
        assert_eq!(
            readable(line),
            "07:20:01.234 INFO  record done  key=uploads/a b.txt requestId=abc size=12"
        );
    }

    #[test]
    fn an_emf_line_reads_as_its_metrics_and_other_lines_as_they_are() {
        assert_eq!(readable(EMF), "METRICS ObjectsIndexed=2 BytesHashed=30");
        assert_eq!(readable("Compiling shared v0.1.0"), "Compiling shared v0.1.0");
    }

    #[test]
    fn totals_sum_every_emf_line_and_ignore_the_rest() {
        let log = format!("{EMF}\nnot json\n{{\"level\":\"INFO\"}}\n{EMF}\n");
        let totals = metric_totals(&log);
        assert_eq!(totals["ObjectsIndexed"].sum, 4.0);
        assert_eq!(totals["ObjectsIndexed"].to_string(), "4");
        assert_eq!(totals["BytesHashed"].sum, 60.0);
        assert_eq!(totals.len(), 2);
    }

    #[test]
    fn a_duration_reads_as_its_average() {
        let line = |ms: f64| {
            format!(
                r#"{{"_aws":{{"Timestamp":1,"CloudWatchMetrics":[{{"Namespace":"N","Dimensions":[["service"]],"Metrics":[{{"Name":"Latency","Unit":"Milliseconds"}}]}}]}},"service":"api","Latency":{ms}}}"#
            )
        };
        let totals = metric_totals(&format!("{}\n{}\n", line(10.0), line(20.5)));
        assert_eq!(totals["Latency"].to_string(), "avg 15.2 ms");
    }
}
