//! The upload catalog's HTTP API. Every request gets a response: a client's mistake is a 4xx
//! problem saying what to fix, anything else a 500 problem (the cause goes to the log). The
//! handler's error type is `Infallible`: it never hands API Gateway an `Err` to turn into a 502.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::presigning::PresigningConfig;
use lambda_http::http::header::{HeaderValue, ALLOW, CONTENT_TYPE, ORIGIN, VARY};
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shared::catalog::{folder_of, FolderStats, ObjectItem};
use shared::problem::Problem;

/// Largest request body accepted; an upload request is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// S3's limit on the length of an object key, in bytes (also DynamoDB's for a sort key).
const MAX_KEY_BYTES: usize = 1024;
/// DynamoDB's limit on the length of a partition key, in bytes.
const MAX_FOLDER_BYTES: usize = 2048;

/// What the function reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub objects_table: String,
    pub statistics_table: String,
    pub uploads_bucket: String,
    pub upload_prefix: String,
    pub presign_expires_in: Duration,
    /// Origins allowed to call the API from a browser; `*` allows any.
    pub allowed_origins: Vec<String>,
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
            None => 900,
            Some(seconds) => seconds
                .parse::<u64>()
                .ok()
                .filter(|seconds| (1..=604_800).contains(seconds))
                .ok_or(format!(
                    "PRESIGN_EXPIRES_IN_SECONDS must be 1 to 604800, not {seconds:?}"
                ))?,
        };
        let allowed_origins = lookup("ALLOWED_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(Config {
            objects_table: required("OBJECTS_TABLE_NAME")?,
            statistics_table: required("STATISTICS_TABLE_NAME")?,
            uploads_bucket: required("UPLOADS_BUCKET_NAME")?,
            upload_prefix,
            presign_expires_in: Duration::from_secs(expires_in),
            allowed_origins,
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
enum Failure {
    Client(Problem),
    /// A known path with another method: a 405 that names the allowed one.
    WrongMethod {
        path: String,
        allowed: &'static str,
    },
    Internal(String),
}

impl Failure {
    fn client(status: StatusCode, detail: impl Into<String>) -> Failure {
        Failure::Client(Problem::new(status, detail))
    }
    fn bad_request(detail: impl Into<String>) -> Failure {
        Failure::client(StatusCode::BAD_REQUEST, detail)
    }
    /// An AWS call failed: log everything, tell the client nothing about it.
    fn internal(what: &str, error: &dyn std::error::Error) -> Failure {
        Failure::Internal(format!("{what}: {}", shared::error::chain(error)))
    }
}

type Answer = Result<Response<Body>, Failure>;

/// Answers one HTTP request.
pub async fn function_handler(deps: &Deps, request: Request) -> Result<Response<Body>, Infallible> {
    let request_id = request
        .lambda_context_ref()
        .map(|context| context.request_id.clone())
        .unwrap_or_default();
    let mut response = match route(deps, &request).await {
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
        Err(Failure::Internal(error)) => {
            tracing::error!(%error, "request failed");
            Problem::internal().into_response(&request_id)
        }
    };
    add_cors_headers(&deps.config, &request, &mut response);
    Ok(response)
}

async fn route(deps: &Deps, request: &Request) -> Answer {
    let path = path_without_stage(request);
    let method = request.method();
    if method == Method::OPTIONS {
        return Ok(response(StatusCode::NO_CONTENT, Body::Empty));
    }
    let (allowed, rest) = match path.as_str() {
        "/health" => ("GET", None),
        "/uploads" => ("POST", None),
        "/objects" => ("GET", None),
        "/stats" => ("GET", None),
        _ => match path.split_once('/').map(|(_, after)| after.split_once('/')) {
            Some(Some(("objects", key))) if !key.is_empty() => ("GET", Some(("objects", key))),
            Some(Some(("stats", folder))) if !folder.is_empty() => ("GET", Some(("stats", folder))),
            _ => return Err(Failure::client(StatusCode::NOT_FOUND, format!("No route for {path}."))),
        },
    };
    if method.as_str() != allowed {
        return Err(Failure::WrongMethod { path, allowed });
    }
    match (path.as_str(), rest) {
        ("/health", _) => Ok(json_response(
            StatusCode::OK,
            &json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
        )),
        ("/uploads", _) => create_upload(deps, request).await,
        ("/objects", _) => list_objects(deps, request).await,
        ("/stats", _) => list_stats(deps).await,
        (_, Some(("objects", encoded_key))) => get_object(deps, &decode_path(encoded_key)?).await,
        (_, Some((_, encoded_folder))) => get_stats(deps, &decode_path(encoded_folder)?).await,
        _ => Err(Failure::client(StatusCode::NOT_FOUND, format!("No route for {path}."))),
    }
}

/// The path the client asked for. API Gateway's REST APIs (and named stages of HTTP APIs) put the
/// stage first (`/prod/objects`); the routes don't include it.
fn path_without_stage(request: &Request) -> String {
    let path = request.uri().path();
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => context.stage.clone(),
        Some(RequestContext::ApiGatewayV2(context)) => context.stage.clone(),
        _ => None,
    };
    match stage.filter(|stage| stage != "$default") {
        Some(stage) => match path.strip_prefix(&format!("/{stage}")) {
            Some(rest) if rest.starts_with('/') => rest.to_owned(),
            _ => path.to_owned(),
        },
        None => path.to_owned(),
    }
}

fn decode_path(encoded: &str) -> Result<String, Failure> {
    percent_decode_str(encoded)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| Failure::bad_request("The path is not valid UTF-8 once percent-decoded."))
}

// --- POST /uploads -------------------------------------------------------------------------

/// The body of `POST /uploads`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    /// Where under the upload prefix the file goes: `reports/q3.pdf`.
    pub key: String,
    /// The Content-Type the upload will be sent with (the signature covers it).
    pub content_type: Option<String>,
}

/// The answer to `POST /uploads`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct UploadUrl {
    /// The object's full key: the upload prefix and the requested key.
    pub key: String,
    /// A presigned URL: `PUT` the file there, with the same `Content-Type`.
    pub url: String,
    /// Seconds until the URL stops working.
    pub expires_in: u64,
}

async fn create_upload(deps: &Deps, request: &Request) -> Answer {
    let upload = json_body::<UploadRequest>(request)?;
    validate_upload_key(&upload.key).map_err(Failure::bad_request)?;
    let content_type = upload
        .content_type
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    if content_type.is_empty()
        || content_type.len() > 255
        || !content_type.chars().all(|c| c.is_ascii_graphic() || c == ' ')
    {
        return Err(Failure::bad_request(
            "content_type must be 1 to 255 printable ASCII characters.",
        ));
    }
    let key = format!("{}{}", deps.config.upload_prefix, upload.key);
    if key.len() > MAX_KEY_BYTES {
        return Err(Failure::bad_request(format!(
            "The key is {} bytes with its prefix; S3 allows {MAX_KEY_BYTES}.",
            key.len()
        )));
    }
    let expires_in = deps.config.presign_expires_in;
    let presigning =
        PresigningConfig::expires_in(expires_in).map_err(|error| Failure::internal("presigning config", &error))?;
    let presigned = deps
        .s3
        .put_object()
        .bucket(&deps.config.uploads_bucket)
        .key(&key)
        .content_type(&content_type)
        .presigned(presigning)
        .await
        .map_err(|error| Failure::internal("presigning a PUT", &error))?;
    let answer = UploadUrl {
        key,
        url: presigned.uri().to_owned(),
        expires_in: expires_in.as_secs(),
    };
    Ok(json_response(StatusCode::CREATED, &answer))
}

/// Why a requested upload key is refused, if it is: empty, too long, absolute, with a `..`
/// segment, or with characters that are not printable.
pub fn validate_upload_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("key must not be empty.".to_owned());
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "key is {} bytes; at most {MAX_KEY_BYTES} are allowed.",
            key.len()
        ));
    }
    if key.starts_with('/') {
        return Err("key must not start with '/'.".to_owned());
    }
    if key.split('/').any(|segment| segment == "..") {
        return Err("key must not contain a '..' segment.".to_owned());
    }
    if key.chars().any(char::is_control) {
        return Err("key must contain printable characters only.".to_owned());
    }
    Ok(())
}

/// The request's JSON body as `T`, or the 4xx that says why not. Checks what `payload()` would
/// silently turn into `None`: a missing or non-JSON content type.
fn json_body<T: for<'de> Deserialize<'de>>(request: &Request) -> Result<T, Failure> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(Failure::bad_request(format!(
            "Send the body as application/json, not {content_type:?}."
        )));
    }
    let body = request.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(Failure::client(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The body is {} bytes; at most {MAX_BODY_BYTES} are accepted.",
                body.len()
            ),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|error| Failure::bad_request(format!("The body is not a valid request: {error}.")))
}

// --- GET /objects and /objects/{key+} ------------------------------------------------------

/// A page of `GET /objects`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectPage {
    pub items: Vec<ObjectItem>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

async fn list_objects(deps: &Deps, request: &Request) -> Answer {
    let query = request.query_string_parameters();
    let folder = query.first("folder").unwrap_or(&deps.config.upload_prefix).to_owned();
    check_folder(&folder)?;
    let limit = match query.first("limit") {
        None => 20,
        Some(limit) => limit
            .parse::<i32>()
            .ok()
            .filter(|limit| (1..=100).contains(limit))
            .ok_or_else(|| {
                Failure::bad_request(format!("limit must be a whole number from 1 to 100, not {limit:?}."))
            })?,
    };
    let start = query
        .first("cursor")
        .map(|cursor| decode_cursor(cursor, &folder))
        .transpose()?;
    // A Query on the partition key, never a Scan: the cost is the page, not the table.
    let output = deps
        .dynamodb
        .query()
        .table_name(&deps.config.objects_table)
        .key_condition_expression("folder = :folder")
        .expression_attribute_values(":folder", AttributeValue::S(folder.clone()))
        .limit(limit)
        .set_exclusive_start_key(start)
        .send()
        .await
        .map_err(|error| Failure::internal("querying objects", &error))?;
    let items = serde_dynamo::from_items(output.items.unwrap_or_default())
        .map_err(|error| Failure::internal("reading object items", &error))?;
    let next_cursor = output.last_evaluated_key.as_ref().and_then(encode_cursor);
    Ok(json_response(StatusCode::OK, &ObjectPage { items, next_cursor }))
}

/// The cursor is the last key of the page, as JSON, hex-encoded: opaque to clients, checked when
/// it comes back.
fn encode_cursor(last_key: &HashMap<String, AttributeValue>) -> Option<String> {
    let folder = last_key.get("folder")?.as_s().ok()?;
    let key = last_key.get("key")?.as_s().ok()?;
    Some(hex::encode(json!({"folder": folder, "key": key}).to_string()))
}

fn decode_cursor(cursor: &str, folder: &str) -> Result<HashMap<String, AttributeValue>, Failure> {
    let invalid = || Failure::bad_request("cursor is not one this API gave out for this folder.");
    let bytes = hex::decode(cursor).map_err(|_| invalid())?;
    let position: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    match (position["folder"].as_str(), position["key"].as_str()) {
        (Some(cursor_folder), Some(key)) if cursor_folder == folder && folder_of(key) == folder => Ok(HashMap::from([
            ("folder".to_owned(), AttributeValue::S(folder.to_owned())),
            ("key".to_owned(), AttributeValue::S(key.to_owned())),
        ])),
        _ => Err(invalid()),
    }
}

async fn get_object(deps: &Deps, key: &str) -> Answer {
    if key.len() > MAX_KEY_BYTES {
        return Err(Failure::bad_request(format!(
            "The key is {} bytes; S3 allows {MAX_KEY_BYTES}.",
            key.len()
        )));
    }
    // A key outside every folder can't have been indexed (and DynamoDB refuses an empty key).
    if folder_of(key).is_empty() {
        return Err(Failure::client(
            StatusCode::NOT_FOUND,
            format!("No object {key:?} is indexed."),
        ));
    }
    let output = deps
        .dynamodb
        .get_item()
        .table_name(&deps.config.objects_table)
        .key("folder", AttributeValue::S(folder_of(key).to_owned()))
        .key("key", AttributeValue::S(key.to_owned()))
        .send()
        .await
        .map_err(|error| Failure::internal("reading an object", &error))?;
    let item = output
        .item
        .ok_or_else(|| Failure::client(StatusCode::NOT_FOUND, format!("No object {key:?} is indexed.")))?;
    let object: ObjectItem =
        serde_dynamo::from_item(item).map_err(|error| Failure::internal("reading an object item", &error))?;
    Ok(json_response(StatusCode::OK, &object))
}

// --- GET /stats and /stats/{folder+} -------------------------------------------------------

async fn list_stats(deps: &Deps) -> Answer {
    // The statistics table holds one item per folder: small enough to read whole, page by page.
    let mut pages = deps
        .dynamodb
        .scan()
        .table_name(&deps.config.statistics_table)
        .into_paginator()
        .items()
        .send();
    let mut folders: Vec<FolderStats> = Vec::new();
    while let Some(item) = pages.next().await {
        let item = item.map_err(|error| Failure::internal("scanning statistics", &error))?;
        folders.push(serde_dynamo::from_item(item).map_err(|error| Failure::internal("reading statistics", &error))?);
    }
    folders.sort_by(|left, right| left.folder.cmp(&right.folder));
    Ok(json_response(StatusCode::OK, &json!({ "folders": folders })))
}

async fn get_stats(deps: &Deps, folder: &str) -> Answer {
    check_folder(folder)?;
    let output = deps
        .dynamodb
        .get_item()
        .table_name(&deps.config.statistics_table)
        .key("folder", AttributeValue::S(folder.to_owned()))
        .send()
        .await
        .map_err(|error| Failure::internal("reading statistics", &error))?;
    let item = output
        .item
        .ok_or_else(|| Failure::client(StatusCode::NOT_FOUND, format!("No statistics for folder {folder:?}.")))?;
    let stats: FolderStats =
        serde_dynamo::from_item(item).map_err(|error| Failure::internal("reading statistics", &error))?;
    Ok(json_response(StatusCode::OK, &stats))
}

/// A folder the tables can be asked about: DynamoDB refuses an empty or oversized key.
fn check_folder(folder: &str) -> Result<(), Failure> {
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

fn json_response(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    // Our own response types always serialize.
    let mut response = response(status, Body::from(serde_json::to_string(value).unwrap_or_default()));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// CORS headers on every response, errors included: a browser hides a response
/// without them from the page, even a 400 that says what to fix.
fn add_cors_headers(config: &Config, request: &Request, response: &mut Response<Body>) {
    let Some(origin) = request.headers().get(ORIGIN).and_then(|origin| origin.to_str().ok()) else {
        return;
    };
    let allowed = config
        .allowed_origins
        .iter()
        .any(|allowed| allowed == "*" || allowed == origin);
    let Ok(origin) = HeaderValue::from_str(origin) else {
        return;
    };
    let headers = response.headers_mut();
    headers.insert(VARY, HeaderValue::from_static("Origin"));
    if allowed {
        headers.insert("access-control-allow-origin", origin);
        headers.insert(
            "access-control-allow-methods",
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        headers.insert("access-control-allow-headers", HeaderValue::from_static("content-type"));
        headers.insert("access-control-max-age", HeaderValue::from_static("3600"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_keys_are_validated() {
        assert_eq!(validate_upload_key("reports/q3.pdf"), Ok(()));
        assert_eq!(validate_upload_key("reports/q3 final + notes é.pdf"), Ok(()));
        assert!(validate_upload_key("").unwrap_err().contains("empty"));
        assert!(validate_upload_key("/etc/passwd")
            .unwrap_err()
            .contains("start with '/'"));
        assert!(validate_upload_key("a/../b").unwrap_err().contains("'..'"));
        assert!(validate_upload_key("..").unwrap_err().contains("'..'"));
        assert_eq!(validate_upload_key("a/..b/c..d"), Ok(()));
        assert!(validate_upload_key("a\nb").unwrap_err().contains("printable"));
        assert!(validate_upload_key(&"k".repeat(1025)).unwrap_err().contains("1024"));
    }

    #[test]
    fn a_cursor_round_trips_and_is_refused_for_another_folder() {
        let last = HashMap::from([
            ("folder".to_owned(), AttributeValue::S("uploads/a/".to_owned())),
            ("key".to_owned(), AttributeValue::S("uploads/a/2.txt".to_owned())),
        ]);
        let cursor = encode_cursor(&last).unwrap();
        assert_eq!(decode_cursor(&cursor, "uploads/a/").unwrap(), last);
        assert!(decode_cursor(&cursor, "uploads/b/").is_err());
        assert!(decode_cursor("not-hex", "uploads/a/").is_err());
    }

    #[test]
    fn config_reads_origins_and_expiry() {
        let env = HashMap::from([
            ("OBJECTS_TABLE_NAME", "objects"),
            ("STATISTICS_TABLE_NAME", "statistics"),
            ("UPLOADS_BUCKET_NAME", "bucket"),
            ("ALLOWED_ORIGINS", "https://a.example, https://b.example"),
            ("PRESIGN_EXPIRES_IN_SECONDS", "60"),
        ]);
        let config = Config::from_lookup(|name| env.get(name).map(|value| (*value).to_owned())).unwrap();
        assert_eq!(config.allowed_origins, ["https://a.example", "https://b.example"]);
        assert_eq!(config.presign_expires_in, Duration::from_secs(60));
        assert_eq!(config.upload_prefix, "uploads/");
        let bad = Config::from_lookup(|name| match name {
            "PRESIGN_EXPIRES_IN_SECONDS" => Some("0".to_owned()),
            _ => env.get(name).map(|value| (*value).to_owned()),
        });
        assert!(bad.unwrap_err().contains("PRESIGN_EXPIRES_IN_SECONDS"));
    }
}
