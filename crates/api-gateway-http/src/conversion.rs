//! Events `lambda_http` cannot turn into an `http::Request`, made into ones it can, marked so the
//! handler answers them with a 400.
//!
//! `lambda_http` builds the request's URI from the event's `Host` header (or the request
//! context's domain name), its `X-Forwarded-Proto` header, its path and, for HTTP APIs, its raw
//! query string, and it panics when the result is not a valid URI: a REST API event whose `Host`
//! is `bad host` makes the invocation fail with "Lambda panicked: failed to build request", where
//! the client deserves a problem saying what is wrong. API Gateway lets such a `Host` through on
//! REST APIs, and anybody can invoke a function URL or the function itself with any event.
//!
//! It also panics on a body marked `isBase64Encoded` that is not base64 (found by the
//! `http_request` fuzz target).
//!
//! [`UsableEvents`] runs on the raw invocation, before `lambda_http` sees it: an event it could not
//! convert loses the parts that break it (`Host`, `X-Forwarded-Proto`, the domain name, the path
//! and query, the body) and gets [`UNUSABLE_EVENT_HEADER`] saying which part was wrong.

use std::task::{Context, Poll};

use lambda_http::lambda_runtime::Diagnostic;
use lambda_http::{Error, IntoResponse, Request};

use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use lambda_http::http::header::HOST;
use lambda_http::http::{HeaderMap, Uri};
use lambda_http::lambda_runtime::LambdaInvocation;
use lambda_http::tower::{Layer, Service};
use serde::Serialize;
use serde_json::Value;

/// Set on a request whose event had to be changed for `lambda_http` to convert it; the value says
/// why. The handler answers such a request with a 400 and that reason.
pub const UNUSABLE_EVENT_HEADER: &str = "x-upload-catalog-unusable-event";

/// `lambda_http::run(handler)`, but an event `lambda_http` would panic on is answered with a 400
/// problem: [`UsableEventsLayer`] goes in front of the runtime, on the raw invocation.
pub async fn run_answering_unusable_events<S, R, E>(handler: S) -> Result<(), Error>
where
    S: Service<Request, Response = R, Error = E> + Send + 'static,
    S::Future: Send + 'static,
    R: IntoResponse + Send + Sync + 'static,
    E: std::fmt::Debug + Into<Diagnostic> + Send + 'static,
{
    lambda_http::runtime(handler).layer(UsableEventsLayer).run().await
}

/// The layer to add to `lambda_http::runtime(...)`: see the module's documentation.
#[derive(Clone, Copy, Default)]
pub struct UsableEventsLayer;

impl<S> Layer<S> for UsableEventsLayer {
    type Service = UsableEvents<S>;

    fn layer(&self, inner: S) -> UsableEvents<S> {
        UsableEvents { inner }
    }
}

/// The service [`UsableEventsLayer`] wraps around the runtime's.
#[derive(Clone)]
pub struct UsableEvents<S> {
    inner: S,
}

impl<S: Service<LambdaInvocation>> Service<LambdaInvocation> for UsableEvents<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> S::Future {
        if let Some(usable) = usable_event(&invocation.body) {
            invocation.body = usable.into();
        }
        self.inner.call(invocation)
    }
}

/// The event made convertible, or `None` when it needs no change (including when it is not an
/// API Gateway event at all: `lambda_http` then reports that itself, as an invocation error).
pub fn usable_event(event: &[u8]) -> Option<Vec<u8>> {
    let (problem, mut event) = if let Ok(rest) = serde_json::from_slice::<ApiGatewayProxyRequest>(event) {
        let stage = rest.request_context.stage.as_deref();
        let path = path_with_stage(stage, rest.path.as_deref().unwrap_or_default());
        // Its query string is re-encoded by lambda_http, so only the path can break the URI.
        let problem = uri_problem(&rest.headers, rest.request_context.domain_name.as_deref(), &path, None)
            .or_else(|| body_problem(rest.is_base64_encoded, rest.body.as_deref()));
        let forged = rest.headers.contains_key(UNUSABLE_EVENT_HEADER)
            || rest.multi_value_headers.contains_key(UNUSABLE_EVENT_HEADER);
        if problem.is_none() && !forged {
            return None;
        }
        (problem, editable(event, &rest)?)
    } else if let Ok(http) = serde_json::from_slice::<ApiGatewayV2httpRequest>(event) {
        let stage = http.request_context.stage.as_deref();
        let path = path_with_stage(stage, http.raw_path.as_deref().unwrap_or_default());
        let query = http.raw_query_string.as_deref().filter(|query| !query.is_empty());
        let problem = uri_problem(&http.headers, http.request_context.domain_name.as_deref(), &path, query)
            .or_else(|| body_problem(http.is_base64_encoded, http.body.as_deref()));
        if problem.is_none() && !http.headers.contains_key(UNUSABLE_EVENT_HEADER) {
            return None;
        }
        (problem, editable(event, &http)?)
    } else {
        return None;
    };

    // The marker is this layer's word to the handler, never a caller's: one a client sent is
    // dropped, so that nobody can choose the text of a 400 and of its log line.
    for headers in ["headers", "multiValueHeaders"] {
        if let Some(headers) = event.get_mut(headers).and_then(Value::as_object_mut) {
            headers.retain(|name, _| !name.eq_ignore_ascii_case(UNUSABLE_EVENT_HEADER));
        }
    }
    let Some(problem) = problem else {
        return serde_json::to_vec(&event).ok();
    };

    for headers in ["headers", "multiValueHeaders"] {
        if let Some(headers) = event.get_mut(headers).and_then(Value::as_object_mut) {
            let breaks_the_uri =
                |name: &str| name.eq_ignore_ascii_case("host") || name.eq_ignore_ascii_case("x-forwarded-proto");
            headers.retain(|name, _| !breaks_the_uri(name));
        }
    }
    if let Some(context) = event.get_mut("requestContext").and_then(Value::as_object_mut) {
        context.remove("domainName");
    }
    let object = event.as_object_mut()?;
    for (field, replacement) in [("path", "/"), ("rawPath", "/"), ("rawQueryString", "")] {
        if object.contains_key(field) {
            object.insert(field.to_owned(), Value::from(replacement));
        }
    }
    object.insert("body".to_owned(), Value::Null);
    object.insert("isBase64Encoded".to_owned(), Value::from(false));
    let headers = object
        .entry("headers")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(headers) = headers.as_object_mut() {
        headers.insert(UNUSABLE_EVENT_HEADER.to_owned(), Value::from(problem));
    } else {
        *headers = serde_json::json!({ UNUSABLE_EVENT_HEADER: problem });
    }
    serde_json::to_vec(&event).ok()
}

/// The event as JSON to change: as it came, so nothing of it is lost. But JSON may hold what
/// `Value` cannot (a number beyond `f64`'s range, in a field lambda_http ignores); then it is the
/// event as lambda_http reads it, written out again.
fn editable(event: &[u8], parsed: &impl Serialize) -> Option<Value> {
    serde_json::from_slice(event)
        .ok()
        .or_else(|| serde_json::to_value(parsed).ok())
}

/// Why the URI lambda_http builds from these parts would not be valid, if it would not. The same
/// steps as lambda_http 1.3: `scheme://host` + path parsed as a URL, then the raw query appended
/// and the whole parsed as an `http::Uri`.
fn uri_problem(headers: &HeaderMap, domain_name: Option<&str>, path: &str, query: Option<&str>) -> Option<String> {
    let host = headers.get(HOST).and_then(|value| value.to_str().ok()).or(domain_name);
    let mut uri = match host {
        None => match url::Url::parse(&format!("http://localhost{path}")) {
            Ok(url) => url.path().to_owned(),
            Err(_) => return Some("The request's path is not a valid URI path.".to_owned()),
        },
        Some(host) => {
            let scheme = headers
                .get("x-forwarded-proto")
                .and_then(|value| value.to_str().ok())
                .unwrap_or("https");
            match url::Url::parse(&format!("{scheme}://{host}{path}")) {
                Ok(url) => url.to_string(),
                Err(_) => {
                    return Some(
                        "The request's Host (or X-Forwarded-Proto) header and path do not make a valid URI.".to_owned(),
                    )
                }
            }
        }
    };
    if let Some(query) = query {
        uri.push('?');
        uri.push_str(query);
    }
    match uri.parse::<Uri>() {
        Ok(_) => None,
        Err(_) => Some("The request's host, path or query string do not make a valid URI.".to_owned()),
    }
}

/// Why the body cannot be decoded as lambda_http decodes it, if it cannot: a body marked as
/// base64 that is not (aws_lambda_events panics on it, "failed to decode aws base64 encoded body").
fn body_problem(is_base64_encoded: bool, body: Option<&str>) -> Option<String> {
    use base64::Engine;
    let body = body.filter(|_| is_base64_encoded)?;
    match base64::engine::general_purpose::STANDARD.decode(body) {
        Ok(_) => None,
        Err(_) => Some("The body is marked as base64-encoded but is not valid base64.".to_owned()),
    }
}

/// The path with the stage in front, as lambda_http puts it (the handler takes it off again).
fn path_with_stage(stage: Option<&str>, path: &str) -> String {
    match stage {
        None | Some("$default") => path.to_owned(),
        Some(_) if std::env::var_os("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_some() => path.to_owned(),
        Some(stage) if path.starts_with(&format!("/{stage}/")) => path.to_owned(),
        Some(stage) => format!("/{stage}{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_a_client_sent_is_dropped_and_the_request_goes_on() {
        for file in ["http-api-v2.json", "rest-api-v1.json"] {
            let path = format!("{}/events/{file}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap();
            let mut event: Value = serde_json::from_str(&text).unwrap();
            event["headers"][UNUSABLE_EVENT_HEADER] = Value::from("chosen by the caller");
            if event.get("multiValueHeaders").is_some_and(Value::is_object) {
                event["multiValueHeaders"]["X-Upload-Catalog-Unusable-Event"] = serde_json::json!(["also"]);
            }
            let usable = usable_event(&serde_json::to_vec(&event).unwrap()).expect("the marker is removed");
            let usable: Value = serde_json::from_slice(&usable).unwrap();
            let text = usable.to_string().to_ascii_lowercase();
            assert!(!text.contains(UNUSABLE_EVENT_HEADER), "{file}: {text}");
            // Nothing else changed: the request is answered as it was sent.
            assert_eq!(usable["body"], event["body"], "{file}");
            assert_eq!(
                usable.get("rawPath").or(usable.get("path")),
                event.get("rawPath").or(event.get("path"))
            );
        }
    }

    fn rest_event(host: &str) -> Vec<u8> {
        let mut event: Value = serde_json::from_str(include_str!("../events/rest-api-v1.json")).unwrap();
        event["headers"]["Host"] = Value::from(host);
        serde_json::to_vec(&event).unwrap()
    }

    #[test]
    fn an_event_lambda_http_would_panic_on_is_made_convertible_and_marked() {
        let event = rest_event("bad host");
        // lambda_http 1.3 itself panics on it (the reason for this module).
        let text = String::from_utf8(event.clone()).unwrap();
        assert!(std::panic::catch_unwind(|| lambda_http::request::from_str(&text)).is_err());

        let usable = usable_event(&event).expect("the event is changed");
        let request = lambda_http::request::from_str(std::str::from_utf8(&usable).unwrap()).unwrap();
        let reason = request.headers().get(UNUSABLE_EVENT_HEADER).unwrap().to_str().unwrap();
        assert!(reason.contains("Host"), "{reason}");
    }

    #[test]
    fn a_body_marked_base64_that_is_not_is_made_convertible_and_marked() {
        let mut event: Value = serde_json::from_str(include_str!("../events/http-api-v2.json")).unwrap();
        event["isBase64Encoded"] = Value::from(true);
        event["body"] = Value::from("`not base64");
        let text = event.to_string();
        assert!(std::panic::catch_unwind(|| lambda_http::request::from_str(&text)).is_err());

        let usable = usable_event(text.as_bytes()).expect("the event is changed");
        let request = lambda_http::request::from_str(std::str::from_utf8(&usable).unwrap()).unwrap();
        let reason = request.headers().get(UNUSABLE_EVENT_HEADER).unwrap().to_str().unwrap();
        assert!(reason.contains("base64"), "{reason}");
    }

    #[test]
    fn an_event_with_a_number_json_values_cannot_hold_is_still_made_convertible() {
        let mut event: Value = serde_json::from_str(include_str!("../events/http-api-v2.json")).unwrap();
        // Without a Host header, lambda_http builds the URI from the domain name.
        event["headers"]
            .as_object_mut()
            .unwrap()
            .retain(|name, _| !name.eq_ignore_ascii_case("host"));
        event["requestContext"]["domainName"] = Value::from("api.example[.com");
        // A field no event type has, holding a number beyond f64's range (found by the
        // `api_gateway_event` fuzz target): the typed events skip it, `Value` cannot read it.
        let text = event
            .to_string()
            .replacen('{', r#"{"timeEpochExtra": 17E5759200000, "#, 1);
        assert!(serde_json::from_str::<Value>(&text).is_err());
        assert!(std::panic::catch_unwind(|| lambda_http::request::from_str(&text)).is_err());

        let usable = usable_event(text.as_bytes()).expect("the event is changed");
        let request = lambda_http::request::from_str(std::str::from_utf8(&usable).unwrap()).unwrap();
        let reason = request.headers().get(UNUSABLE_EVENT_HEADER).unwrap().to_str().unwrap();
        assert!(reason.contains("Host"), "{reason}");
        // Still read as an HTTP API event, so the answer goes back in the HTTP API's format.
        assert!(matches!(
            lambda_http::RequestExt::request_context_ref(&request),
            Some(lambda_http::request::RequestContext::ApiGatewayV2(_))
        ));
    }

    #[test]
    fn a_usable_event_is_left_alone() {
        assert_eq!(usable_event(&rest_event("api.example.com")), None);
        assert_eq!(usable_event(include_bytes!("../events/http-api-v2.json")), None);
        assert_eq!(usable_event(b"not json"), None);
    }
}
