//! Logging: one JSON object per line, as CloudWatch Logs Insights likes it.
//!
//! Lambda's "advanced logging controls" set `AWS_LAMBDA_LOG_FORMAT` (`JSON` or `Text`) and
//! `AWS_LAMBDA_LOG_LEVEL`; we honour both, and fall back to `RUST_LOG` for local runs.

use std::sync::atomic::{AtomicBool, Ordering};

use lambda_runtime::Context;
use tracing::{Span, Subscriber};
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;

/// True until the first invocation of this process starts: that one paid for the cold start.
static COLD_START: AtomicBool = AtomicBool::new(true);

/// Installs the global logger. Call it once, first thing in `main`.
///
/// Level: `AWS_LAMBDA_LOG_LEVEL` if Lambda set it, else `RUST_LOG` (which also takes per-crate
/// directives such as `info,aws_smithy_runtime=debug`), else `INFO`.
/// Format: JSON unless `AWS_LAMBDA_LOG_FORMAT` is `Text`, which gives human-readable lines.
pub fn init() {
    let filter = log_filter(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("text"));
    // A second call (two tests in one process) finds a logger installed already: harmless.
    let _ = tracing::subscriber::set_global_default(subscriber(filter, text, std::io::stdout));
}

/// The logger [`init`] installs, writing to `writer`; separate so tests can read what it writes.
fn subscriber<W>(filter: EnvFilter, text: bool, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    if text {
        return Box::new(builder.finish());
    }
    Box::new(
        builder
            .json()
            // The message and its fields at the top level of the object, not under "fields".
            .flatten_event(true)
            // Every open span, outermost first, on every line: the invocation's (request id,
            // function name, cold start) stays visible inside a handler's own spans.
            .with_current_span(false)
            .with_span_list(true)
            .finish(),
    )
}

/// The level filter [`init`] uses, separate so it can be tested without touching the environment.
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

/// The span to run one invocation in: every log line inside it carries the request id, the
/// function name and whether this invocation paid for a cold start.
///
/// ```text
/// service_fn(|event: LambdaEvent<Value>| {
///     let span = shared::logging::invocation_span(&event.context);
///     function_handler(&client, event).instrument(span)
/// })
/// ```
pub fn invocation_span(context: &Context) -> Span {
    let cold_start = COLD_START.swap(false, Ordering::Relaxed);
    tracing::info_span!(
        "invocation",
        request_id = %context.request_id,
        function_name = %context.env_config.function_name,
        cold_start,
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

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
    fn each_line_is_json_with_request_id_function_name_and_cold_start() {
        let captured = Captured::default();
        let writer = captured.clone();
        let logger = subscriber(EnvFilter::new("info"), false, move || writer.clone());
        tracing::subscriber::with_default(logger, || {
            let mut context = Context::default();
            for request_id in ["first-request", "second-request"] {
                context.request_id = request_id.to_owned();
                let mut config = (*context.env_config).clone();
                config.function_name = "list-buckets".to_owned();
                context.env_config = Arc::new(config);
                invocation_span(&context).in_scope(|| {
                    tracing::info_span!("record", index = 0).in_scope(|| tracing::info!(count = 2, "listed buckets"))
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
            let invocation = &line["spans"][0];
            assert_eq!(invocation["request_id"], request_id);
            assert_eq!(invocation["function_name"], "list-buckets");
            assert_eq!(invocation["cold_start"], cold_start);
            assert_eq!(
                line["spans"][1]["name"], "record",
                "a handler's own span comes after it"
            );
        }
    }
}
