//! Logging: one flat JSON object per line, as CloudWatch Logs Insights likes it.
//!
//! Lambda's "advanced logging controls" set `AWS_LAMBDA_LOG_FORMAT` (`JSON` or `Text`) and
//! `AWS_LAMBDA_LOG_LEVEL`; we honour both, and fall back to `RUST_LOG` for local runs.
//!
//! Every line carries, at the top level where a Logs Insights query can filter on it: `requestId`
//! and `xrayTraceId` (from the span the runtime opens for each invocation), `function_name`,
//! `function_version` and `cold_start` (from [`invocation_span`]), the fields of the handler's own
//! spans (a record's `key`, say) and the event's own fields. Nothing logs a whole event.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use lambda_runtime::Context;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Span, Subscriber};
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;

use crate::xray::XRayLayer;

/// True until the first invocation of this process starts: that one paid for the cold start.
static COLD_START: AtomicBool = AtomicBool::new(true);

/// Sets up the three things every function reports, for the function `service` (its crate's
/// name: pass `env!("CARGO_PKG_NAME")`). Call it once, first thing in `main`. It installs:
///
/// - **logs**: the global `tracing` subscriber, one flat JSON object per line on stdout;
/// - **traces**: the X-Ray layer (see [`crate::xray`]), when Lambda's tracing is active, so the
///   handler's spans become subsegments of the invocation's trace;
/// - **metrics**: `service` as the dimension of every metric (see [`crate::metrics`]).
///
/// Level: `AWS_LAMBDA_LOG_LEVEL` if Lambda set it, else `RUST_LOG` (which also takes per-crate
/// directives such as `info,aws_smithy_runtime=debug`), else `INFO`.
/// Format: JSON unless `AWS_LAMBDA_LOG_FORMAT` is `Text`, which gives human-readable lines.
pub fn init_logs_traces_and_metrics(service: &str) {
    crate::metrics::set_service(service);
    let filter = log_filter(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("text"));
    // A second call (two tests in one process) finds a logger installed already: harmless.
    let xray = crate::xray::XRayLayer::from_env();
    let _ = tracing::subscriber::set_global_default(subscriber(filter, text, std::io::stdout, xray));
}

/// The logger [`init_logs_traces_and_metrics`] installs, writing to `writer`; separate so tests can read what it writes.
/// With `xray`, the spans the filter lets through also go to X-Ray (see [`crate::xray`]).
fn subscriber<W>(filter: EnvFilter, text: bool, writer: W, xray: Option<XRayLayer>) -> impl Subscriber + Send + Sync
where
    W: for<'writer> MakeWriter<'writer> + Clone + Send + Sync + 'static,
{
    let text_lines = text.then(|| tracing_subscriber::fmt::layer().with_writer(writer.clone()));
    let json_lines = (!text).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(xray)
        .with(text_lines)
        .with(json_lines)
}

/// One JSON object per event, every field at the top level: the event's own, and those of every
/// span it happens in. (tracing-subscriber's own JSON format nests span fields in a `spans` list,
/// where a Logs Insights query would have to spell `spans.0.requestId`.)
struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    N: for<'writer> FormatFields<'writer> + 'static,
{
    fn format_event(&self, context: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut line = Map::new();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        line.insert("timestamp".to_owned(), Value::from(timestamp));
        line.insert("level".to_owned(), Value::from(event.metadata().level().as_str()));
        line.insert("target".to_owned(), Value::from(event.metadata().target()));
        // Outermost span first, so an inner span's field of the same name wins.
        for span in context.event_scope().into_iter().flat_map(|scope| scope.from_root()) {
            let extensions = span.extensions();
            // With `JsonFields`, each span's fields are kept as the text of a JSON object.
            let fields = extensions
                .get::<FormattedFields<N>>()
                .and_then(|fields| serde_json::from_str::<Map<String, Value>>(fields).ok());
            line.extend(fields.unwrap_or_default());
        }
        event.record(&mut FieldsInto(&mut line));
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Records an event's fields into a JSON object, as JSON numbers, booleans and strings.
struct FieldsInto<'line>(&'line mut Map<String, Value>);

impl Visit for FieldsInto<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

/// The level filter [`init_logs_traces_and_metrics`] uses, separate so it can be tested without touching the environment.
fn log_filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> EnvFilter {
    let info = || EnvFilter::new("info");
    match lambda_level.filter(|level| !level.is_empty()) {
        // Lambda's levels are TRACE, DEBUG, INFO, WARN, ERROR and FATAL; tracing has no FATAL.
        Some(level) if level.eq_ignore_ascii_case("fatal") => EnvFilter::new("error"),
        // A value we can't read must not stop the function from starting: fall back to INFO.
        Some(level) => match level.parse::<LevelFilter>() {
            Ok(level) => EnvFilter::new(level.to_string()),
            Err(_) => info(),
        },
        None => match rust_log.filter(|directives| !directives.is_empty()) {
            Some(directives) => EnvFilter::try_new(directives).unwrap_or_else(|_| info()),
            None => info(),
        },
    }
}

/// The span to run one invocation in: every log line inside it carries the function's name and
/// version and whether this invocation paid for a cold start (the request id and X-Ray trace id
/// come from the runtime's own span around it). The first invocation of the process also emits
/// the `ColdStart` metric (see [`crate::metrics`]).
///
/// ```text
/// service_fn(|event: LambdaEvent<Value>| {
///     let span = shared::logging::invocation_span(&event.context);
///     function_handler(&client, event).instrument(span)
/// })
/// ```
pub fn invocation_span(context: &Context) -> Span {
    let cold_start = COLD_START.swap(false, Ordering::Relaxed);
    if cold_start {
        crate::metrics::cold_start();
    }
    tracing::info_span!(
        "invocation",
        service = crate::metrics::service(),
        function_name = %context.env_config.function_name,
        function_version = %context.env_config.version,
        cold_start,
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::json;

    use super::*;

    #[test]
    fn lambda_log_level_wins_over_rust_log() {
        assert_eq!(log_filter(Some("DEBUG"), Some("warn")).to_string(), "debug");
    }

    #[test]
    fn fatal_maps_to_error_because_tracing_has_no_fatal() {
        assert_eq!(log_filter(Some("FATAL"), None).to_string(), "error");
    }

    #[test]
    fn rust_log_directives_apply_when_lambda_sets_no_level() {
        let filter = log_filter(None, Some("warn,s3_list_buckets=debug")).to_string();
        assert!(
            filter.contains("s3_list_buckets=debug") && filter.contains("warn"),
            "{filter}"
        );
    }

    #[test]
    fn unreadable_level_falls_back_to_info() {
        assert_eq!(log_filter(Some("loud"), None).to_string(), "info");
        assert_eq!(log_filter(None, None).to_string(), "info");
    }

    /// Collects what the logger writes, one `Vec<u8>` shared with the test.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_line_is_flat_json_with_request_id_trace_id_function_and_cold_start_once_each() {
        let captured = Captured::default();
        let writer = captured.clone();
        let logger = subscriber(EnvFilter::new("info"), false, move || writer.clone(), None);
        tracing::subscriber::with_default(logger, || {
            let mut context = Context::default();
            for request_id in ["first-request", "second-request"] {
                context.request_id = request_id.to_owned();
                let mut config = (*context.env_config).clone();
                config.function_name = "list-buckets".to_owned();
                config.version = "$LATEST".to_owned();
                context.env_config = Arc::new(config);
                context.xray_trace_id = Some(format!("Root=1-{request_id}"));
                let runtime_span = lambda_runtime::layers::trace::request_span(&context);
                runtime_span.in_scope(|| {
                    invocation_span(&context).in_scope(|| {
                        tracing::info_span!("record", index = 0, key = "uploads/a b.txt")
                            .in_scope(|| tracing::info!(count = 2, "listed buckets"))
                    })
                });
            }
        });

        let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = output.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{output}");
        for (line, (request_id, cold_start)) in lines.iter().zip([("first-request", true), ("second-request", false)]) {
            assert_eq!(line["level"], "INFO");
            assert_eq!(line["message"], "listed buckets");
            assert_eq!(line["count"], 2);
            assert_eq!(line["requestId"], request_id);
            assert_eq!(line["xrayTraceId"], format!("Root=1-{request_id}"));
            assert_eq!(line["function_name"], "list-buckets");
            assert_eq!(line["function_version"], "$LATEST");
            assert_eq!(line["cold_start"], cold_start);
            assert_eq!((&line["index"], &line["key"]), (&json!(0), &json!("uploads/a b.txt")));
            // The request id once, under one name.
            let text = serde_json::to_string(line).unwrap();
            assert_eq!(
                text.matches(request_id).count(),
                2,
                "requestId and inside xrayTraceId: {text}"
            );
            assert!(line.get("request_id").is_none() && line.get("spans").is_none());
        }
    }
}
