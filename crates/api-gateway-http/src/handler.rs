//! The upload catalog's HTTP API. Every request gets a response: a client's mistake is a 4xx
//! problem saying what to fix, anything else a 500 problem (the cause goes to the log). The
//! handler's error type is `Infallible`: it never hands API Gateway an `Err` to turn into a 502.
//!
//! This file routes a request and shapes every response (errors, CORS, metrics); each group of
//! routes has its own file: `uploads.rs` (`POST /uploads`), `objects.rs` (`GET /objects...`),
//! `stats.rs` (`GET /stats...`), and `pages.rs` for the paging both listings share; `routes.rs`
//! matches a path to its route; `GET /` serves the catalog's web page (`web_page.rs`).

mod conversion;
mod headers;
mod objects;
mod pages;
mod public_demo;
mod routes;
mod stats;
mod upload_key;
mod uploads;
mod web_page;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use lambda_http::http::header::{HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::json;
use shared::problem::Problem;

pub use conversion::{run_answering_unusable_events, usable_event, UsableEventsLayer, UNUSABLE_EVENT_HEADER};
pub use objects::ObjectPage;
pub use public_demo::{PublicDemo, DEMO_URL_LIFETIME};
pub use routes::Route;
use routes::{decode_path, path_without_stage};
pub use stats::StatsPage;
pub use upload_key::validate_upload_key;
pub use uploads::{UploadRequest, UploadUrl, MAX_BODY_BYTES};

/// S3's limit on the length of an object key, in bytes (also DynamoDB's for a sort key).
const MAX_KEY_BYTES: usize = 1024;
/// DynamoDB's limit on the length of a partition key, in bytes.
const MAX_FOLDER_BYTES: usize = 2048;
/// S3's limit for one PUT: larger files need a multipart upload, which this API does not hand out.
const MAX_SINGLE_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// What the function reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub objects_table: String,
    pub statistics_table: String,
    pub uploads_bucket: String,
    pub upload_prefix: String,
    pub presign_expires_in: Duration,
    /// `MAX_UPLOAD_BYTES`: the largest file an upload URL accepts (S3 checks it, see
    /// `uploads::create_upload`).
    pub max_upload_bytes: u64,
    /// Origins allowed to call the API from a browser; `*` allows any.
    pub allowed_origins: Vec<String>,
    /// `PUBLIC_DEMO_FOLDER`, `PUBLIC_DEMO_MAX_UPLOAD_BYTES`: the rules for callers without an IAM
    /// identity (see `public_demo.rs`); `None` gives them the API's rules.
    pub public_demo: Option<PublicDemo>,
}

impl Config {
    /// Reads the configuration through `lookup` (`std::env::var` in `main`, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let required = |name: &str| shared::config::required(&lookup, name);
        let upload_prefix = lookup("UPLOAD_PREFIX").unwrap_or_else(|| "uploads/".to_owned());
        if !upload_prefix.ends_with('/') {
            return Err(format!("UPLOAD_PREFIX must end in '/', not {upload_prefix:?}"));
        }
        let expires_in = match lookup("PRESIGN_EXPIRES_IN_SECONDS") {
            None => 300,
            Some(seconds) => seconds
                .parse::<u64>()
                .ok()
                .filter(|seconds| (1..=604_800).contains(seconds))
                .ok_or(format!(
                    "PRESIGN_EXPIRES_IN_SECONDS must be 1 to 604800, not {seconds:?}"
                ))?,
        };
        let max_upload_bytes = match lookup("MAX_UPLOAD_BYTES") {
            None => 100 * 1024 * 1024,
            Some(bytes) => bytes
                .parse::<u64>()
                .ok()
                .filter(|bytes| (1..=MAX_SINGLE_PUT_BYTES).contains(bytes))
                .ok_or(format!(
                    "MAX_UPLOAD_BYTES must be 1 to {MAX_SINGLE_PUT_BYTES}, not {bytes:?}"
                ))?,
        };
        let allowed_origins = lookup("ALLOWED_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(str::to_owned)
            .collect();
        let public_demo = public_demo::from_lookup(&lookup, max_upload_bytes)?;
        Ok(Config {
            objects_table: required("OBJECTS_TABLE_NAME")?,
            statistics_table: required("STATISTICS_TABLE_NAME")?,
            uploads_bucket: required("UPLOADS_BUCKET_NAME")?,
            upload_prefix,
            presign_expires_in: Duration::from_secs(expires_in),
            max_upload_bytes,
            allowed_origins,
            public_demo,
        })
    }
}

/// The clients and configuration every invocation uses, built once in `main`.
pub struct Deps {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub config: Config,
}

impl Deps {
    /// The clients for `aws` (see `shared::aws`), with `config`.
    pub fn new(aws: &aws_config::SdkConfig, config: Config) -> Deps {
        Deps {
            s3: shared::aws::s3_client(aws),
            dynamodb: shared::aws::dynamodb_client(aws),
            config,
        }
    }
}

/// A request that did not succeed: the client's mistake, or ours.
#[derive(Debug)]
pub(crate) enum Failure {
    Client(Problem),
    /// A known path with another method: a 405 that names the allowed one.
    WrongMethod {
        path: String,
        allowed: &'static str,
    },
    /// A dependency refused or failed the call (throttling, a 5xx, no connection): a 503, worth
    /// retrying in a moment.
    Unavailable(String),
    /// A dependency did not answer within the SDK's timeouts: a 504, given by this function
    /// before Lambda's own timeout would turn it into API Gateway's bare 500.
    TimedOut(String),
    Internal(String),
}

impl Failure {
    fn client(status: StatusCode, detail: impl Into<String>) -> Failure {
        Failure::Client(Problem::new(status, detail))
    }
    fn bad_request(detail: impl Into<String>) -> Failure {
        Failure::client(StatusCode::BAD_REQUEST, detail)
    }
    /// Something failed on our side: log everything, tell the client nothing about it.
    fn internal(what: &str, error: &dyn std::error::Error) -> Failure {
        Failure::Internal(format!("{what}: {}", shared::error::chain(error)))
    }
    /// An AWS call failed after the SDK's own retries: a 504 if it ran out of time, a 503 if
    /// the service was throttling, failing or unreachable, else a 500. The client learns which,
    /// never the details.
    fn aws<E, R>(what: &str, error: SdkError<E, R>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let cause = format!("{what}: {}", shared::error::chain(&error));
        match &error {
            SdkError::TimeoutError(_) => Failure::TimedOut(cause),
            SdkError::DispatchFailure(failure) if failure.is_timeout() => Failure::TimedOut(cause),
            SdkError::DispatchFailure(_) => Failure::Unavailable(cause),
            SdkError::ServiceError(service)
                if matches!(
                    service.err().code(),
                    Some(
                        "ThrottlingException"
                            | "ProvisionedThroughputExceededException"
                            | "RequestLimitExceeded"
                            | "SlowDown"
                    )
                ) =>
            {
                Failure::Unavailable(cause)
            }
            _ => Failure::Internal(cause),
        }
    }
}

/// What a route's handler returns.
type Answer = Result<Response<Body>, Failure>;

/// Answers one HTTP request.
pub async fn function_handler(deps: &Deps, request: Request) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let request_id = request
        .lambda_context_ref()
        .map(|context| context.request_id.clone())
        .unwrap_or_default();
    let path = path_without_stage(&request);
    let route = Route::of(&path);
    let mut response = match answer(deps, &request, path, route.as_ref()).await {
        Ok(response) => response,
        Err(Failure::Client(problem)) => {
            tracing::info!(status = problem.status, detail = %problem.detail, "client error");
            problem.into_response(&request_id)
        }
        Err(Failure::WrongMethod { path, allowed }) => {
            let problem = Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{path} answers {allowed} only."),
            );
            let mut response = problem.into_response(&request_id);
            response.headers_mut().insert(ALLOW, HeaderValue::from_static(allowed));
            response
        }
        Err(Failure::Unavailable(error)) => {
            tracing::error!(%error, "a dependency is unavailable");
            let problem = Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The catalog's storage is busy or unreachable; try again in a moment.",
            );
            let mut response = problem.into_response(&request_id);
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Err(Failure::TimedOut(error)) => {
            tracing::error!(%error, "a dependency timed out");
            Problem::new(
                StatusCode::GATEWAY_TIMEOUT,
                "The catalog's storage did not answer in time; try again.",
            )
            .into_response(&request_id)
        }
        Err(Failure::Internal(error)) => {
            tracing::error!(%error, "request failed");
            Problem::internal().into_response(&request_id)
        }
    };
    headers::add_cors_headers(&deps.config, &request, &mut response);
    headers::add_security_headers(&mut response);
    emit_metrics(&request, route.as_ref(), &response, started);
    Ok(response)
}

/// Runs the route's handler, once the method is checked.
async fn answer(deps: &Deps, request: &Request, path: String, route: Option<&Route>) -> Answer {
    if let Some(reason) = request.headers().get(UNUSABLE_EVENT_HEADER) {
        return Err(Failure::bad_request(reason.to_str().unwrap_or_default()));
    }
    if request.method() == Method::OPTIONS {
        return Ok(response(StatusCode::NO_CONTENT, Body::Empty));
    }
    let Some(route) = route else {
        return Err(Failure::client(StatusCode::NOT_FOUND, format!("No route for {path}.")));
    };
    if request.method().as_str() != route.method() {
        return Err(Failure::WrongMethod {
            path,
            allowed: route.method(),
        });
    }
    match route {
        Route::Page => {
            let bucket = uploads::bucket_origin(deps).await;
            Ok(web_page::page(&deps.config.upload_prefix, bucket.as_deref()))
        }
        Route::Health => Ok(json_response(
            StatusCode::OK,
            &json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
        )),
        Route::CreateUpload => uploads::create_upload(deps, request).await,
        Route::ListObjects => objects::list_objects(deps, request).await,
        Route::GetObject(encoded_key) => objects::get_object(deps, &decode_path(encoded_key)?).await,
        Route::ListStats => stats::list_stats(deps, request).await,
        Route::GetStats(encoded_folder) => stats::get_stats(deps, &decode_path(encoded_folder)?).await,
    }
}

/// One EMF line per request: `Requests` and `Latency`, by route and status class (`2xx`, `4xx`,
/// `5xx`). Requests that match no route share the route `unmatched`, so a scanner trying paths
/// cannot create a metric per path.
fn emit_metrics(request: &Request, route: Option<&Route>, response: &Response<Body>, started: Instant) {
    let route = match route {
        _ if request.method() == Method::OPTIONS => "OPTIONS (preflight)",
        Some(route) if request.method().as_str() == route.method() => route.name(),
        _ => "unmatched",
    };
    let status_class = format!("{}xx", response.status().as_u16() / 100);
    let mut metrics = shared::metrics::Metrics::new()
        .dimension("route", route)
        .dimension("status_class", status_class);
    metrics.count("Requests", 1);
    let latency = started.elapsed().as_secs_f64() * 1000.0;
    metrics.add("Latency", shared::metrics::Unit::Milliseconds, latency);
    metrics.emit();
}

/// A folder the tables can be asked about: DynamoDB refuses an empty or oversized key.
pub(crate) fn check_folder(folder: &str) -> Result<(), Failure> {
    if folder.is_empty() || folder.len() > MAX_FOLDER_BYTES {
        return Err(Failure::bad_request(format!(
            "folder must be 1 to {MAX_FOLDER_BYTES} bytes."
        )));
    }
    Ok(())
}

// --- Responses and CORS --------------------------------------------------------------------

fn response(status: StatusCode, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

/// `value` as a JSON response.
/// An item read as `T`, or `None` when it is not one (written by hand, say), logged with its
/// `name` attribute: one bad item must not make a whole folder, or every page of `/stats`, a 500
/// for good.
fn readable<T: serde::de::DeserializeOwned>(
    item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    name: &str,
    message: &'static str,
) -> Option<T> {
    let named = item.get(name).and_then(|value| value.as_s().ok()).cloned();
    match serde_dynamo::from_item(item) {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::error!(item = ?named, %error, "{message}");
            None
        }
    }
}

fn json_response(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    // Our own response types always serialize.
    let mut response = response(status, Body::from(serde_json::to_string(value).unwrap_or_default()));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn config_reads_origins_and_expiry() {
        let env = HashMap::from([
            ("OBJECTS_TABLE_NAME", "objects"),
            ("STATISTICS_TABLE_NAME", "statistics"),
            ("UPLOADS_BUCKET_NAME", "bucket"),
            ("ALLOWED_ORIGINS", "https://a.example, https://b.example"),
            ("PRESIGN_EXPIRES_IN_SECONDS", "60"),
            ("MAX_UPLOAD_BYTES", "1048576"),
        ]);
        let config = Config::from_lookup(|name| env.get(name).map(|value| (*value).to_owned())).unwrap();
        assert_eq!(config.allowed_origins, ["https://a.example", "https://b.example"]);
        assert_eq!(config.presign_expires_in, Duration::from_secs(60));
        assert_eq!(config.max_upload_bytes, 1_048_576);
        assert_eq!(config.upload_prefix, "uploads/");
        let bad = Config::from_lookup(|name| match name {
            "PRESIGN_EXPIRES_IN_SECONDS" => Some("0".to_owned()),
            _ => env.get(name).map(|value| (*value).to_owned()),
        });
        assert!(bad.unwrap_err().contains("PRESIGN_EXPIRES_IN_SECONDS"));
    }
}
