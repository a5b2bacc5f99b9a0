//! X-Ray subsegments from `tracing` spans, so a trace shows where an invocation's time went.
//!
//! With `Tracing: Active`, Lambda records each invocation as a segment and runs the X-Ray daemon
//! beside the function (`AWS_XRAY_DAEMON_ADDRESS`). Rust has no X-Ray SDK, so this layer does the
//! one thing the workshop needs: when a span inside an invocation closes (a record, an AWS call),
//! it sends the daemon a subsegment with the span's name, its start and end, and its fields as
//! annotations. The daemon's protocol is a UDP datagram: a JSON header line, then the document.
//!
//! Name a span after the AWS call it wraps (`DynamoDB.PutItem`, `S3.GetObject`) and the trace
//! shows it as a call to that service; any other span (`record`) shows under its own name.
//! Outside Lambda (no daemon address, or a trace that is not sampled) nothing is sent.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{SocketAddr, UdpSocket};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Spans that stand for the whole invocation: Lambda's own segment already does.
const INVOCATION_SPANS: [&str; 2] = ["Lambda runtime invoke", "invocation"];
/// Services whose calls X-Ray draws as their own node (the `aws` namespace).
const AWS_SERVICES: [&str; 2] = ["DynamoDB", "S3"];

/// The layer that sends finished spans to the X-Ray daemon.
pub struct XRayLayer {
    socket: UdpSocket,
    daemon: SocketAddr,
    trace_header: fn() -> Option<String>,
}

impl XRayLayer {
    /// The layer, if Lambda runs an X-Ray daemon for this function (`Tracing: Active`). The
    /// trace of each invocation is in `_X_AMZN_TRACE_ID`, which the runtime sets before calling
    /// the handler.
    pub fn from_env() -> Option<XRayLayer> {
        let daemon = std::env::var("AWS_XRAY_DAEMON_ADDRESS").ok()?.parse().ok()?;
        XRayLayer::new(daemon, || std::env::var("_X_AMZN_TRACE_ID").ok()).ok()
    }

    /// A layer sending to `daemon`, reading the current trace header with `trace_header`.
    pub fn new(daemon: SocketAddr, trace_header: fn() -> Option<String>) -> std::io::Result<XRayLayer> {
        let socket = UdpSocket::bind(("127.0.0.1", 0))?;
        Ok(XRayLayer {
            socket,
            daemon,
            trace_header,
        })
    }
}

/// A span being timed: kept in the span's extensions until it closes.
struct Subsegment {
    id: String,
    trace_id: String,
    parent_id: String,
    start: f64,
    annotations: Map<String, Value>,
}

/// The trace id and parent of a sampled trace header:
/// `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`.
fn sampled_trace(header: &str) -> Option<(String, String)> {
    let part = |name: &str| {
        header
            .split(';')
            .find_map(|part| part.trim().strip_prefix(name)?.strip_prefix('='))
    };
    if part("Sampled") != Some("1") {
        return None;
    }
    Some((part("Root")?.to_owned(), part("Parent")?.to_owned()))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// A random 64-bit id in 16 hex digits, as X-Ray wants for a (sub)segment.
fn segment_id() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:016x}", hasher.finish())
}

/// The subsegment document for a span named `name` that ended at `end`.
fn document(name: &str, subsegment: &Subsegment, end: f64) -> Value {
    let mut document = json!({
        "name": name,
        "id": subsegment.id,
        "trace_id": subsegment.trace_id,
        "parent_id": subsegment.parent_id,
        "start_time": subsegment.start,
        "end_time": end,
        "type": "subsegment",
    });
    if let Some((service, operation)) = name.split_once('.') {
        if AWS_SERVICES.contains(&service) {
            document["name"] = json!(service);
            document["namespace"] = json!("aws");
            document["aws"] = json!({ "operation": operation });
        }
    }
    if !subsegment.annotations.is_empty() {
        document["annotations"] = Value::Object(subsegment.annotations.clone());
    }
    document
}

/// Span fields as X-Ray annotations: names of letters, digits and `_` only; strings, numbers and
/// booleans only.
struct Annotations<'map>(&'map mut Map<String, Value>);

impl Annotations<'_> {
    fn insert(&mut self, field: &Field, value: Value) {
        let name: String = field
            .name()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        self.0.insert(name, value);
    }
}

impl Visit for Annotations<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert(field, Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.insert(field, Value::from(format!("{value:?}")));
    }
}

impl<S> Layer<S> for XRayLayer
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, context: Context<'_, S>) {
        let Some(span) = context.span(id) else { return };
        if INVOCATION_SPANS.contains(&span.name()) {
            return;
        }
        let Some((trace_id, invocation)) = (self.trace_header)().as_deref().and_then(sampled_trace) else {
            return;
        };
        // Nested under the closest enclosing span that is itself a subsegment, else under the
        // invocation's segment.
        let parent_id = span
            .scope()
            .skip(1)
            .find_map(|ancestor| {
                ancestor
                    .extensions()
                    .get::<Subsegment>()
                    .map(|parent| parent.id.clone())
            })
            .unwrap_or(invocation);
        let mut annotations = Map::new();
        attributes.record(&mut Annotations(&mut annotations));
        span.extensions_mut().insert(Subsegment {
            id: segment_id(),
            trace_id,
            parent_id,
            start: now(),
            annotations,
        });
    }

    fn on_close(&self, id: Id, context: Context<'_, S>) {
        let Some(span) = context.span(&id) else { return };
        let Some(subsegment) = span.extensions_mut().remove::<Subsegment>() else {
            return;
        };
        let document = document(span.name(), &subsegment, now());
        let datagram = format!("{{\"format\": \"json\", \"version\": 1}}\n{document}");
        // Tracing must never fail an invocation: a datagram the daemon misses is a gap in a trace.
        let _ = self.socket.send_to(datagram.as_bytes(), self.daemon);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tracing::Instrument;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn only_a_sampled_header_gives_a_trace_and_its_parent() {
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        assert_eq!(
            sampled_trace(header),
            Some((
                "1-5759e988-bd862e3fe1be46a994272793".to_owned(),
                "53995c3f42cd8ad8".to_owned()
            ))
        );
        assert_eq!(sampled_trace(&header.replace("Sampled=1", "Sampled=0")), None);
        assert_eq!(sampled_trace("Root=1-5759e988-bd862e3fe1be46a994272793"), None);
    }

    #[test]
    fn each_span_inside_an_invocation_reaches_the_daemon_as_a_nested_subsegment() {
        let daemon = UdpSocket::bind("127.0.0.1:0").unwrap();
        daemon.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let layer = XRayLayer::new(daemon.local_addr().unwrap(), || {
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".to_owned())
        })
        .unwrap();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let invocation = tracing::info_span!("invocation", cold_start = true);
            let _invocation = invocation.enter();
            let record = tracing::info_span!("record", index = 0, key = "uploads/a b.txt");
            let _record = record.enter();
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(async {}.instrument(tracing::info_span!("DynamoDB.PutItem", table = "objects")));
        });

        let mut documents = Vec::new();
        for _ in 0..2 {
            let mut buffer = [0u8; 4096];
            let length = daemon.recv(&mut buffer).unwrap();
            let text = std::str::from_utf8(&buffer[..length]).unwrap();
            let (header, body) = text.split_once('\n').unwrap();
            assert_eq!(header, r#"{"format": "json", "version": 1}"#);
            documents.push(serde_json::from_str::<Value>(body).unwrap());
        }
        // The inner span closes first.
        let (call, record) = (&documents[0], &documents[1]);
        assert_eq!(call["name"], "DynamoDB");
        assert_eq!(call["namespace"], "aws");
        assert_eq!(call["aws"]["operation"], "PutItem");
        assert_eq!(call["annotations"]["table"], "objects");
        assert_eq!(call["parent_id"], record["id"]);
        assert_eq!(record["name"], "record");
        assert_eq!(record["parent_id"], "53995c3f42cd8ad8");
        assert_eq!(record["annotations"]["key"], "uploads/a b.txt");
        for document in [call, record] {
            assert_eq!(document["trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
            assert_eq!(document["type"], "subsegment");
            assert!(document["end_time"].as_f64() >= document["start_time"].as_f64());
            assert_eq!(document["id"].as_str().unwrap().len(), 16);
        }
    }
}
