//! The HTTP function end to end on generated requests: routing, method checks, validation of
//! keys, folders, limits, cursors and JSON bodies, in both API Gateway payload shapes, through
//! lambda_http's conversion. Its storage is a closed port, so every request that gets past
//! validation fails fast with a 503. Whatever is sent: no panic, never a 500, and every error is
//! an `application/problem+json` body.
#![no_main]

use std::sync::OnceLock;

use api_gateway_http::{function_handler, usable_event, Config, Deps};
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

#[derive(Arbitrary, Debug)]
struct Input {
    rest_api: bool,
    method: u8,
    route: u8,
    path_tail: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    base64: bool,
}

const METHODS: [&str; 6] = ["GET", "POST", "OPTIONS", "PUT", "DELETE", "HEAD"];
const ROUTES: [&str; 7] = ["/uploads", "/objects", "/objects/", "/stats", "/stats/", "/health", "/"];
const QUERY_NAMES: [&str; 4] = ["folder", "limit", "cursor", "x"];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime"))
}

fn deps() -> &'static Deps {
    static DEPS: OnceLock<Deps> = OnceLock::new();
    DEPS.get_or_init(|| {
        let credentials = Credentials::new("fuzz", "fuzz", None, None, "fuzz");
        let aws = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            // Nothing listens on port 1: every AWS call is refused at once.
            .endpoint_url("http://127.0.0.1:1")
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(shared::aws::https_client_trusting(shared::aws::amazon_roots()).expect("Amazon's roots"))
            .retry_config(RetryConfig::disabled())
            .build();
        let settings = |name: &str| match name {
            "OBJECTS_TABLE_NAME" => Some("objects".to_owned()),
            "STATISTICS_TABLE_NAME" => Some("statistics".to_owned()),
            "UPLOADS_BUCKET_NAME" => Some("uploads".to_owned()),
            "ALLOWED_ORIGINS" => Some("https://catalog.example.com".to_owned()),
            _ => None,
        };
        Deps::new(&aws, Config::from_lookup(settings).expect("a configuration"))
    })
}

fn event(input: &Input) -> Value {
    let method = METHODS[usize::from(input.method) % METHODS.len()];
    let path = format!("{}{}", ROUTES[usize::from(input.route) % ROUTES.len()], input.path_tail);
    let headers: serde_json::Map<String, Value> =
        input.headers.iter().map(|(name, value)| (name.clone(), json!(value))).collect();
    let query: serde_json::Map<String, Value> = input
        .query
        .iter()
        .map(|(name, value)| (QUERY_NAMES.get(name.len() % 5).unwrap_or(&name.as_str()).to_string(), json!(value)))
        .collect();
    if input.rest_api {
        let mut event: Value = serde_json::from_str(include_str!("../../crates/api-gateway-http/events/rest-api-v1.json")).expect("fixture");
        event["httpMethod"] = json!(method);
        event["path"] = json!(path);
        event["headers"] = Value::Object(headers.clone());
        event["multiValueHeaders"] = Value::Object(headers.into_iter().map(|(name, value)| (name, json!([value]))).collect());
        event["queryStringParameters"] = Value::Object(query.clone());
        event["multiValueQueryStringParameters"] = Value::Object(query.into_iter().map(|(name, value)| (name, json!([value]))).collect());
        event["body"] = json!(input.body);
        event["isBase64Encoded"] = json!(input.base64);
        event
    } else {
        let mut event: Value = serde_json::from_str(include_str!("../../crates/api-gateway-http/events/http-api-v2.json")).expect("fixture");
        let raw_query: Vec<String> = query.iter().map(|(name, value)| format!("{name}={}", value.as_str().unwrap_or_default())).collect();
        event["rawPath"] = json!(path);
        event["rawQueryString"] = json!(raw_query.join("&"));
        event["queryStringParameters"] = Value::Object(query);
        event["headers"] = Value::Object(headers);
        event["requestContext"]["http"]["method"] = json!(method);
        event["requestContext"]["http"]["path"] = json!(path);
        event["body"] = json!(input.body);
        event["isBase64Encoded"] = json!(input.base64);
        event
    }
}

fuzz_target!(|input: Input| {
    let raw = serde_json::to_vec(&event(&input)).expect("JSON");
    let usable = usable_event(&raw).unwrap_or(raw);
    let Ok(request) = lambda_http::request::from_str(std::str::from_utf8(&usable).expect("JSON is UTF-8")) else {
        // Not an event lambda_http accepts (a header name it refuses...): an invocation error,
        // which API Gateway never sends.
        return;
    };
    let response = runtime().block_on(function_handler(deps(), request)).expect("the handler is infallible");
    let status = response.status().as_u16();
    assert_ne!(status, 500, "an internal error for {input:?}: {:?}", response.body());
    if status >= 400 {
        let content_type = response.headers().get("content-type").and_then(|value| value.to_str().ok());
        assert_eq!(content_type, Some("application/problem+json"), "{input:?}");
    }
});
