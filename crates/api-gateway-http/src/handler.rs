//! The upload catalog's HTTP API. Every request gets a response: a client's mistake is a 4xx
//! problem saying what to fix, anything else a 500 problem (the cause goes to the log). The
//! handler's error type is `Infallible`: it never hands API Gateway an `Err` to turn into a 502.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::presigning::PresigningConfig;
use lambda_http::http::header::{HeaderValue, ALLOW, CONTENT_TYPE, ORIGIN, RETRY_AFTER, VARY};
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shared::catalog::{folder_of, FolderStats, ObjectItem};
use shared::problem::Problem;
use tracing::Instrument;

/// Largest request body accepted; an upload request is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// S3's limit on the length of an object key, in bytes (also DynamoDB's for a sort key).
const MAX_KEY_BYTES: usize = 1024;
/// DynamoDB's limit on the length of a partition key, in bytes.
const MAX_FOLDER_BYTES: usize = 2048;
/// The most items one page of `/objects` or `/stats` holds. With keys and folders at most 2 KiB,
/// a page stays far below Lambda's 6 MB response limit, however large the tables grow.
const MAX_PAGE_ITEMS: i32 = 100;
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
    /// [`create_upload`]).
    pub max_upload_bytes: u64,
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
        Ok(Config {
            objects_table: required("OBJECTS_TABLE_NAME")?,
            statistics_table: required("STATISTICS_TABLE_NAME")?,
            uploads_bucket: required("UPLOADS_BUCKET_NAME")?,
            upload_prefix,
            presign_expires_in: Duration::from_secs(expires_in),
            max_upload_bytes,
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

type Answer = Result<Response<Body>, Failure>;

/// The routes this API answers: the same as the `HttpApi` events in `template.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    CreateUpload,
    ListObjects,
    /// The key, still percent-encoded.
    GetObject(String),
    ListStats,
    /// The folder, still percent-encoded.
    GetStats(String),
}

impl Route {
    /// The route `path` names, if any.
    pub fn of(path: &str) -> Option<Route> {
        match path {
            "/health" => Some(Route::Health),
            "/uploads" => Some(Route::CreateUpload),
            "/objects" => Some(Route::ListObjects),
            "/stats" => Some(Route::ListStats),
            _ => match path.strip_prefix('/')?.split_once('/')? {
                ("objects", key) if !key.is_empty() => Some(Route::GetObject(key.to_owned())),
                ("stats", folder) if !folder.is_empty() => Some(Route::GetStats(folder.to_owned())),
                _ => None,
            },
        }
    }

    /// The one method the route answers.
    pub fn method(&self) -> &'static str {
        match self {
            Route::CreateUpload => "POST",
            _ => "GET",
        }
    }

    /// The route as API Gateway's route table names it: the `route` dimension of the metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Route::Health => "GET /health",
            Route::CreateUpload => "POST /uploads",
            Route::ListObjects => "GET /objects",
            Route::GetObject(_) => "GET /objects/{key+}",
            Route::ListStats => "GET /stats",
            Route::GetStats(_) => "GET /stats/{folder+}",
        }
    }
}

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
    add_cors_headers(&deps.config, &request, &mut response);
    emit_metrics(&request, route.as_ref(), &response, started);
    Ok(response)
}

/// Runs the route's handler, once the method is checked.
async fn answer(deps: &Deps, request: &Request, path: String, route: Option<&Route>) -> Answer {
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
        Route::Health => Ok(json_response(
            StatusCode::OK,
            &json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
        )),
        Route::CreateUpload => create_upload(deps, request).await,
        Route::ListObjects => list_objects(deps, request).await,
        Route::GetObject(encoded_key) => get_object(deps, &decode_path(encoded_key)?).await,
        Route::ListStats => list_stats(deps, request).await,
        Route::GetStats(encoded_folder) => get_stats(deps, &decode_path(encoded_folder)?).await,
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
    /// The file's exact size in bytes (the signature covers it: S3 refuses any other length).
    pub size: u64,
    /// Replace an object already at that key. Without it, S3 refuses the upload if the key
    /// exists (412 Precondition Failed).
    #[serde(default)]
    pub overwrite: bool,
}

/// The answer to `POST /uploads`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct UploadUrl {
    /// The object's full key: the upload prefix and the requested key.
    pub key: String,
    /// A presigned URL: send the file there with `method` and exactly these `headers`.
    pub url: String,
    /// Always `PUT`.
    pub method: String,
    /// The headers the signature covers (`content-type`, `content-length`, and `if-none-match`
    /// unless overwriting): the upload must carry them with these values, or S3 refuses it.
    pub headers: BTreeMap<String, String>,
    /// Seconds until the URL stops working.
    pub expires_in: u64,
}

/// Hands out a presigned PUT for one file of a declared size.
///
/// S3 itself enforces the limits, because they are signed into the URL: the `Content-Length`
/// (a presigned URL cannot cap a body otherwise; a different length breaks the signature) and,
/// unless `overwrite` is asked for, `If-None-Match: *` (S3 answers 412 if the key exists).
async fn create_upload(deps: &Deps, request: &Request) -> Answer {
    let upload = json_body::<UploadRequest>(request)?;
    validate_upload_key(&upload.key).map_err(Failure::bad_request)?;
    let max_bytes = deps.config.max_upload_bytes;
    if upload.size > max_bytes {
        return Err(Failure::client(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The file is {} bytes; uploads of at most {max_bytes} bytes are accepted.",
                upload.size
            ),
        ));
    }
    let size = i64::try_from(upload.size).map_err(|_| Failure::bad_request("size is too large."))?;
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
    let put = deps
        .s3
        .put_object()
        .bucket(&deps.config.uploads_bucket)
        .key(&key)
        .content_type(&content_type)
        .content_length(size);
    let put = if upload.overwrite { put } else { put.if_none_match("*") };
    let presigned = put
        .presigned(presigning)
        .await
        .map_err(|error| Failure::internal("presigning a PUT", &error))?;
    let headers = presigned
        .headers()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
        .collect();
    let answer = UploadUrl {
        key,
        url: presigned.uri().to_owned(),
        method: presigned.method().to_owned(),
        headers,
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
    let limit = page_limit(query.first("limit"))?;
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
        .instrument(tracing::info_span!("DynamoDB.Query"))
        .await
        .map_err(|error| Failure::aws("querying objects", error))?;
    let items = serde_dynamo::from_items(output.items.unwrap_or_default())
        .map_err(|error| Failure::internal("reading object items", &error))?;
    let next_cursor = output.last_evaluated_key.as_ref().and_then(encode_cursor);
    Ok(json_response(StatusCode::OK, &ObjectPage { items, next_cursor }))
}

/// The `limit` of a page: 20 unless asked, at most [`MAX_PAGE_ITEMS`].
fn page_limit(limit: Option<&str>) -> Result<i32, Failure> {
    match limit {
        None => Ok(20),
        Some(limit) => limit
            .parse::<i32>()
            .ok()
            .filter(|limit| (1..=MAX_PAGE_ITEMS).contains(limit))
            .ok_or_else(|| {
                Failure::bad_request(format!(
                    "limit must be a whole number from 1 to {MAX_PAGE_ITEMS}, not {limit:?}."
                ))
            }),
    }
}

/// The cursor is the last key of the page, as JSON, hex-encoded: opaque to clients, checked when
/// it comes back.
fn encode_cursor(last_key: &HashMap<String, AttributeValue>) -> Option<String> {
    let position: serde_json::Map<String, Value> = last_key
        .iter()
        .map(|(name, value)| Some((name.clone(), Value::from(value.as_s().ok()?.as_str()))))
        .collect::<Option<_>>()?;
    Some(hex::encode(Value::Object(position).to_string()))
}

/// The string attributes a cursor names; `None` if it is not one [`encode_cursor`] could give.
fn cursor_fields(cursor: &str) -> Option<serde_json::Map<String, Value>> {
    // Twice the hex of the longest folder and key, with room for the JSON around them.
    if cursor.len() > 4 * (MAX_FOLDER_BYTES + MAX_KEY_BYTES) {
        return None;
    }
    match serde_json::from_slice(&hex::decode(cursor).ok()?).ok()? {
        Value::Object(fields) => Some(fields),
        _ => None,
    }
}

/// The start key of the next page of `folder`'s objects, checked as DynamoDB would (a key longer
/// than it allows would fail the query with a 500, not the 400 the client deserves).
fn decode_cursor(cursor: &str, folder: &str) -> Result<HashMap<String, AttributeValue>, Failure> {
    let invalid = || Failure::bad_request("cursor is not one this API gave out for this folder.");
    let fields = cursor_fields(cursor).ok_or_else(invalid)?;
    match (
        fields.get("folder").and_then(Value::as_str),
        fields.get("key").and_then(Value::as_str),
    ) {
        (Some(cursor_folder), Some(key))
            if cursor_folder == folder && folder_of(key) == folder && key.len() <= MAX_KEY_BYTES =>
        {
            Ok(HashMap::from([
                ("folder".to_owned(), AttributeValue::S(folder.to_owned())),
                ("key".to_owned(), AttributeValue::S(key.to_owned())),
            ]))
        }
        _ => Err(invalid()),
    }
}

/// The start key of the next page of `/stats`.
fn decode_stats_cursor(cursor: &str) -> Result<HashMap<String, AttributeValue>, Failure> {
    let invalid = || Failure::bad_request("cursor is not one this API gave out for /stats.");
    let fields = cursor_fields(cursor).ok_or_else(invalid)?;
    match fields.get("folder").and_then(Value::as_str) {
        Some(folder) if fields.len() == 1 && !folder.is_empty() && folder.len() <= MAX_FOLDER_BYTES => Ok(
            HashMap::from([("folder".to_owned(), AttributeValue::S(folder.to_owned()))]),
        ),
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
        .instrument(tracing::info_span!("DynamoDB.GetItem"))
        .await
        .map_err(|error| Failure::aws("reading an object", error))?;
    let item = output
        .item
        .ok_or_else(|| Failure::client(StatusCode::NOT_FOUND, format!("No object {key:?} is indexed.")))?;
    let object: ObjectItem =
        serde_dynamo::from_item(item).map_err(|error| Failure::internal("reading an object item", &error))?;
    Ok(json_response(StatusCode::OK, &object))
}

// --- GET /stats and /stats/{folder+} -------------------------------------------------------

/// A page of `GET /stats`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatsPage {
    /// Sorted by folder within the page; pages come in the table's own order, not alphabetical.
    pub folders: Vec<FolderStats>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

async fn list_stats(deps: &Deps, request: &Request) -> Answer {
    let query = request.query_string_parameters();
    let limit = page_limit(query.first("limit"))?;
    let start = query.first("cursor").map(decode_stats_cursor).transpose()?;
    // One page per request, like /objects: a response that grew with the number of folders
    // would one day pass Lambda's 6 MB limit and fail for good.
    let output = deps
        .dynamodb
        .scan()
        .table_name(&deps.config.statistics_table)
        .limit(limit)
        .set_exclusive_start_key(start)
        .send()
        .instrument(tracing::info_span!("DynamoDB.Scan"))
        .await
        .map_err(|error| Failure::aws("scanning statistics", error))?;
    let mut folders: Vec<FolderStats> = serde_dynamo::from_items(output.items.unwrap_or_default())
        .map_err(|error| Failure::internal("reading statistics", &error))?;
    folders.sort_by(|left, right| left.folder.cmp(&right.folder));
    let next_cursor = output.last_evaluated_key.as_ref().and_then(encode_cursor);
    Ok(json_response(StatusCode::OK, &StatsPage { folders, next_cursor }))
}

async fn get_stats(deps: &Deps, folder: &str) -> Answer {
    check_folder(folder)?;
    let output = deps
        .dynamodb
        .get_item()
        .table_name(&deps.config.statistics_table)
        .key("folder", AttributeValue::S(folder.to_owned()))
        .send()
        .instrument(tracing::info_span!("DynamoDB.GetItem"))
        .await
        .map_err(|error| Failure::aws("reading statistics", error))?;
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
        // The signature headers too: a browser client with AWS credentials signs its requests.
        headers.insert(
            "access-control-allow-headers",
            HeaderValue::from_static(
                "content-type, authorization, x-amz-date, x-amz-security-token, x-amz-content-sha256",
            ),
        );
        headers.insert("access-control-max-age", HeaderValue::from_static("3600"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_route_and_its_one_method() {
        assert_eq!(Route::of("/health"), Some(Route::Health));
        assert_eq!(
            Route::of("/objects/uploads/a%20b.txt"),
            Some(Route::GetObject("uploads/a%20b.txt".to_owned()))
        );
        assert_eq!(
            Route::of("/stats/uploads/"),
            Some(Route::GetStats("uploads/".to_owned()))
        );
        assert_eq!(Route::of("/uploads").map(|route| route.method()), Some("POST"));
        assert_eq!(
            Route::of("/objects/x").map(|route| route.name()),
            Some("GET /objects/{key+}")
        );
        for unknown in ["/", "", "/objects/", "/stats/", "/nothing", "objects/x", "/health/x"] {
            assert_eq!(Route::of(unknown), None, "{unknown:?}");
        }
    }

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
    fn a_cursor_whose_key_dynamodb_would_refuse_is_a_client_error() {
        let long_key = format!("uploads/a/{}", "k".repeat(MAX_KEY_BYTES));
        let cursor = hex::encode(json!({"folder": "uploads/a/", "key": long_key}).to_string());
        assert!(matches!(
            decode_cursor(&cursor, "uploads/a/"),
            Err(Failure::Client(problem)) if problem.status == 400
        ));
        let folder_cursor = hex::encode(json!({"folder": "x".repeat(MAX_FOLDER_BYTES + 1)}).to_string());
        assert!(decode_stats_cursor(&folder_cursor).is_err());
        let stats_cursor = encode_cursor(&HashMap::from([(
            "folder".to_owned(),
            AttributeValue::S("uploads/a/".to_owned()),
        )]))
        .unwrap();
        assert!(decode_stats_cursor(&stats_cursor).is_ok());
    }

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
