//! The HTTP API against the local emulator with real tables and a real bucket, from requests in
//! both API Gateway payload shapes: HTTP API (2.0) and REST API (1.0, with its stage in the path).

// Helpers here unwrap too: in a test, a panic is a failure with a line number.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use api_gateway_http::{
    function_handler, Config, Deps, ObjectPage, PublicDemo, StatsPage, UploadUrl, DEMO_URL_LIFETIME,
};
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Context, Request, RequestExt, Response};
use proptest::prelude::*;
use serde_json::{json, Value};
use testkit::Emulator;

#[derive(Debug, Clone, Copy)]
enum Shape {
    HttpApiV2,
    RestApiV1,
}

const SHAPES: [Shape; 2] = [Shape::HttpApiV2, Shape::RestApiV1];
const ORIGIN: &str = "https://catalog.example.com";

async fn api(emulator: &Emulator, tag: &str) -> Deps {
    let config = Config {
        objects_table: format!("objects-{tag}"),
        statistics_table: format!("statistics-{tag}"),
        uploads_bucket: format!("uploads-{tag}"),
        upload_prefix: "uploads/".to_owned(),
        presign_expires_in: Duration::from_secs(900),
        max_upload_bytes: 1024,
        allowed_origins: vec![ORIGIN.to_owned()],
        public_demo: None,
    };
    let deps = Deps::new(&emulator.sdk_config(), config);
    deps.s3
        .create_bucket()
        .bucket(&deps.config.uploads_bucket)
        .send()
        .await
        .expect("creating the bucket");
    testkit::create_objects_table(&deps.dynamodb, &deps.config.objects_table).await;
    testkit::create_statistics_table(&deps.dynamodb, &deps.config.statistics_table).await;
    deps
}

/// A request as API Gateway would send it, built from the crate's fixture events.
fn request(
    shape: Shape,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Request {
    let query_map: serde_json::Map<String, Value> = query
        .iter()
        .map(|(name, value)| (name.to_string(), json!(value)))
        .collect();
    let query_map = if query.is_empty() {
        Value::Null
    } else {
        Value::Object(query_map)
    };
    let header_map: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(name, value)| (name.to_string(), json!(value)))
        .collect();
    let mut event: Value = match shape {
        Shape::HttpApiV2 => serde_json::from_str(include_str!("../events/http-api-v2.json")).unwrap(),
        Shape::RestApiV1 => serde_json::from_str(include_str!("../events/rest-api-v1.json")).unwrap(),
    };
    match shape {
        Shape::HttpApiV2 => {
            let raw_query: Vec<String> = query
                .iter()
                .map(|(name, value)| {
                    format!(
                        "{name}={}",
                        percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
                    )
                })
                .collect();
            event["rawPath"] = json!(path);
            event["rawQueryString"] = json!(raw_query.join("&"));
            event["queryStringParameters"] = query_map;
            event["headers"] = Value::Object(header_map);
            event["requestContext"]["http"]["method"] = json!(method);
            event["requestContext"]["http"]["path"] = json!(path);
            event["body"] = json!(body);
        }
        Shape::RestApiV1 => {
            // REST APIs send the path decoded; lambda_http puts the stage in front of it.
            let decoded = percent_encoding::percent_decode_str(path)
                .decode_utf8_lossy()
                .into_owned();
            event["path"] = json!(decoded);
            event["httpMethod"] = json!(method);
            event["requestContext"]["httpMethod"] = json!(method);
            event["requestContext"]["path"] = json!(format!("/prod{decoded}"));
            event["queryStringParameters"] = query_map.clone();
            event["multiValueQueryStringParameters"] = match &query_map {
                Value::Object(map) => {
                    Value::Object(map.iter().map(|(name, value)| (name.clone(), json!([value]))).collect())
                }
                _ => Value::Null,
            };
            event["multiValueHeaders"] = Value::Object(
                header_map
                    .iter()
                    .map(|(name, value)| (name.clone(), json!([value])))
                    .collect(),
            );
            event["headers"] = Value::Object(header_map);
            event["body"] = json!(body);
        }
    }
    let mut context = Context::default();
    context.request_id = "test-request-id".to_owned();
    lambda_http::request::from_str(&event.to_string())
        .expect("an API Gateway request")
        .with_lambda_context(context)
}

fn get(shape: Shape, path: &str, query: &[(&str, &str)]) -> Request {
    request(shape, "GET", path, query, &[("origin", ORIGIN)], None)
}

async fn call(deps: &Deps, request: Request) -> (u16, Value, Response<Body>) {
    let response = function_handler(deps, request).await.expect("the handler never fails");
    let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (response.status().as_u16(), body, response)
}

/// Checks the RFC 9457 body of an error response, and returns its detail.
fn problem(status: u16, body: &Value, response: &Response<Body>) -> String {
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    assert_eq!(body["type"], "about:blank");
    assert_eq!(body["status"], status);
    assert!(body["title"].as_str().is_some_and(|title| !title.is_empty()), "{body}");
    assert_eq!(body["request_id"], "test-request-id");
    body["detail"].as_str().expect("a detail").to_owned()
}

async fn index(deps: &Deps, key: &str, size: u64) {
    index_item(deps, testkit::object_item(&deps.config.uploads_bucket, key, size)).await;
}

async fn index_item(deps: &Deps, item: shared::catalog::ObjectItem) {
    let request = deps.dynamodb.put_item().table_name(&deps.config.objects_table);
    request
        .set_item(Some(serde_dynamo::to_item(item).unwrap()))
        .send()
        .await
        .unwrap();
}

async fn set_stats(deps: &Deps, folder: &str, objects: i64, bytes: i64) {
    deps.dynamodb
        .put_item()
        .table_name(&deps.config.statistics_table)
        .item("folder", AttributeValue::S(folder.to_owned()))
        .item("object_count", AttributeValue::N(objects.to_string()))
        .item("total_bytes", AttributeValue::N(bytes.to_string()))
        .item("updated_at", AttributeValue::S("2026-11-27T06:00:02Z".to_owned()))
        .send()
        .await
        .unwrap();
}

/// Sends `body` to an upload URL as a browser would, with the headers the answer lists (and a
/// `Content-Length` that is the body's); returns the status code.
fn put_to(upload: &UploadUrl, body: &[u8]) -> u16 {
    let rest = upload
        .url
        .strip_prefix("http://")
        .expect("an http URL from the emulator");
    let (host, path) = rest.split_at(rest.find('/').expect("a path"));
    let mut stream = TcpStream::connect(host).unwrap();
    let mut head = format!("{} {path} HTTP/1.1\r\nHost: {host}\r\n", upload.method);
    for (name, value) in upload.headers.iter().filter(|(name, _)| *name != "content-length") {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .expect("an HTTP status line")
}

#[tokio::test]
async fn health_answers_with_the_version() {
    let emulator = Emulator::start();
    let deps = api(&emulator, "health").await;
    for shape in SHAPES {
        let (status, body, _) = call(&deps, get(shape, "/health", &[])).await;
        assert_eq!(
            (status, &body),
            (200, &json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})),
            "{shape:?}"
        );
    }
}

#[tokio::test]
async fn the_web_page_is_served_at_the_root_with_the_upload_prefix() {
    let emulator = Emulator::start();
    let deps = api(&emulator, "page").await;
    for shape in SHAPES {
        let (status, _, response) = call(&deps, get(shape, "/", &[])).await;
        assert_eq!(status, 200, "{shape:?}");
        assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
        let html = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        assert!(
            html.contains(&format!("data-prefix=\"{}\"", deps.config.upload_prefix)),
            "{shape:?}"
        );
    }
    let (status, body, response) = call(&deps, request(Shape::HttpApiV2, "POST", "/", &[], &[], None)).await;
    assert_eq!(status, 405);
    problem(405, &body, &response);
}

#[tokio::test]
async fn the_page_may_connect_to_this_api_and_the_emulators_bucket_only() {
    let emulator = Emulator::start();
    let deps = api(&emulator, "policy").await;
    let (_, _, response) = call(&deps, get(Shape::HttpApiV2, "/", &[])).await;
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let connect = policy
        .split(';')
        .map(str::trim)
        .find(|directive| directive.starts_with("connect-src"))
        .unwrap();
    // The presigned URL's origin: the emulator on loopback, as in the local run.
    let endpoint = url::Url::parse(emulator.endpoint()).unwrap();
    assert_eq!(
        connect,
        format!("connect-src 'self' {}", endpoint.origin().ascii_serialization())
    );
    assert!(!policy.contains("unsafe-inline"), "{policy}");
}

#[tokio::test]
async fn every_answer_says_nosniff_and_no_referrer() {
    let emulator = Emulator::start();
    let deps = api(&emulator, "headers").await;
    for shape in SHAPES {
        for path in ["/", "/health", "/objects/uploads/missing.txt", "/nowhere", "/stats"] {
            let (status, _, response) = call(&deps, get(shape, path, &[])).await;
            assert_eq!(
                response.headers()["x-content-type-options"],
                "nosniff",
                "{shape:?} {path} {status}"
            );
            assert_eq!(response.headers()["referrer-policy"], "no-referrer", "{shape:?} {path}");
        }
    }
}

#[tokio::test]
async fn an_upload_url_accepts_a_real_put_to_the_bucket() {
    let emulator = Emulator::start();
    let deps = api(&emulator, "upload").await;
    let fixture = lambda_http::request::from_str(include_str!("../events/create-upload-v2.json")).unwrap();

    let (status, body, response) = call(&deps, fixture).await;

    assert_eq!(status, 201, "{body}");
    assert_eq!(response.headers()["content-type"], "application/json");
    let upload: UploadUrl = serde_json::from_value(body).unwrap();
    assert_eq!(upload.key, "uploads/reports/q3.pdf");
    assert_eq!(upload.expires_in, 900);
    assert_eq!(put_to(&upload, b"%PDF-1.7 quarterly numbers"), 200);
    let stored = deps
        .s3
        .head_object()
        .bucket(&deps.config.uploads_bucket)
        .key("uploads/reports/q3.pdf")
        .send()
        .await;
    assert_eq!(stored.unwrap().content_length(), Some(26));
}

#[tokio::test]
async fn upload_requests_that_are_wrong_get_a_400_or_413_saying_why() {
    let emulator = Emulator::start();
    let deps = api(&emulator, "upload-errors").await;
    let json_header = [("content-type", "application/json")];
    let too_large = format!(r#"{{"key": "{}", "size": 1}}"#, "a".repeat(20_000));
    // (headers, body, expected status, words the detail must contain)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, u16, &'a str);
    let cases: [Case; 11] = [
        (&json_header, "{not json", 400, "not a valid request"),
        (
            &[("content-type", "text/plain")],
            r#"{"key": "a.txt", "size": 1}"#,
            400,
            "application/json",
        ),
        (&[], r#"{"key": "a.txt", "size": 1}"#, 400, "application/json"),
        (&json_header, r#"{"key": "", "size": 1}"#, 400, "empty"),
        (&json_header, r#"{"key": "a/../../etc/passwd", "size": 1}"#, 400, "'..'"),
        (&json_header, r#"{"key": "/root.txt", "size": 1}"#, 400, "empty segment"),
        (
            &json_header,
            r#"{"key": "a.txt", "size": 1, "bucket": "other"}"#,
            400,
            "unknown field",
        ),
        (&json_header, &too_large, 413, "at most"),
        (&json_header, r#"{"key": "a.txt"}"#, 400, "missing field `size`"),
        (
            &json_header,
            r#"{"key": "a.txt", "size": -1}"#,
            400,
            "not a valid request",
        ),
        (
            &json_header,
            r#"{"key": "a.txt", "size": 1025}"#,
            413,
            "at most 1024 bytes",
        ),
    ];
    for shape in SHAPES {
        for (headers, body, expected, detail) in cases {
            let (status, answer, response) =
                call(&deps, request(shape, "POST", "/uploads", &[], headers, Some(body))).await;
            assert_eq!(status, expected, "{shape:?} {body:.60}: {answer}");
            assert!(problem(status, &answer, &response).contains(detail), "{answer}");
        }
    }
}

async fn upload_url(deps: &Deps, body: Value) -> UploadUrl {
    let post = request(
        Shape::HttpApiV2,
        "POST",
        "/uploads",
        &[],
        &[("content-type", "application/json")],
        Some(&body.to_string()),
    );
    let (status, answer, _) = call(deps, post).await;
    assert_eq!(status, 201, "{answer}");
    serde_json::from_value(answer).unwrap()
}

#[tokio::test]
async fn an_upload_url_signs_its_size_and_refuses_to_overwrite_unless_asked() {
    let emulator = Emulator::start();
    let deps = api(&emulator, "bounded").await;
    let first = upload_url(
        &deps,
        json!({"key": "notes.txt", "content_type": "text/plain", "size": 5}),
    )
    .await;

    // What S3 checks: the signature covers the length and the no-overwrite condition, so a
    // client can change neither without S3 refusing the upload.
    let signed = first
        .url
        .split("X-Amz-SignedHeaders=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    assert_eq!(signed, "content-length%3Bcontent-type%3Bhost%3Bif-none-match");
    assert_eq!(first.method, "PUT");
    assert_eq!(first.headers["content-length"], "5");
    assert_eq!(first.headers["if-none-match"], "*");

    assert_eq!(put_to(&first, b"first"), 200);
    // What the emulator also checks: a second upload to the same key is refused.
    let again = upload_url(
        &deps,
        json!({"key": "notes.txt", "content_type": "text/plain", "size": 6}),
    )
    .await;
    assert_eq!(put_to(&again, b"second"), 412);

    // Overwriting replaces the version the catalog lists, once: the URL is signed with its ETag.
    let listed = deps
        .s3
        .head_object()
        .bucket(&deps.config.uploads_bucket)
        .key("uploads/notes.txt")
        .send()
        .await
        .unwrap();
    let mut item = testkit::object_item(&deps.config.uploads_bucket, "uploads/notes.txt", 5);
    item.etag = listed.e_tag().unwrap().trim_matches('"').to_owned();
    index_item(&deps, item).await;
    let replace = upload_url(
        &deps,
        json!({"key": "notes.txt", "content_type": "text/plain", "size": 6, "overwrite": true}),
    )
    .await;
    assert!(!replace.headers.contains_key("if-none-match"));
    assert_eq!(replace.headers["if-match"], listed.e_tag().unwrap());
    assert_eq!(put_to(&replace, b"second"), 200);
    assert_eq!(put_to(&replace, b"third!"), 412, "a second PUT with one overwrite URL");
    let stored = deps
        .s3
        .head_object()
        .bucket(&deps.config.uploads_bucket)
        .key("uploads/notes.txt")
        .send()
        .await;
    assert_eq!(stored.unwrap().content_length(), Some(6));
}

/// `POST /uploads` with `body` as the public demo URL delivers it: a function URL with no auth,
/// so no IAM identity in the request context.
fn anonymous_upload_request(body: &Value) -> Request {
    let mut event: Value = serde_json::from_str(include_str!("../events/create-upload-v2.json")).unwrap();
    event["requestContext"].as_object_mut().unwrap().remove("authorizer");
    event["requestContext"]["domainName"] = json!("abcdefghij.lambda-url.us-east-1.on.aws");
    event["body"] = json!(body.to_string());
    let mut context = Context::default();
    context.request_id = "test-request-id".to_owned();
    lambda_http::request::from_str(&event.to_string())
        .expect("a function URL request")
        .with_lambda_context(context)
}

#[tokio::test]
async fn a_caller_without_an_iam_identity_uploads_small_new_files_into_the_demo_folder_only() {
    let emulator = Emulator::start();
    let mut deps = api(&emulator, "demo").await;
    let small = json!({"key": "notes.txt", "content_type": "text/plain", "size": 5});
    // No demo configured (the local run): an anonymous caller gets the API's rules.
    let (status, answer, _) = call(&deps, anonymous_upload_request(&small)).await;
    assert_eq!(
        (status, answer["key"].as_str()),
        (201, Some("uploads/notes.txt")),
        "{answer}"
    );

    deps.config.public_demo = Some(PublicDemo {
        folder: "demo/".to_owned(),
        max_upload_bytes: 10,
    });
    let (status, answer, _) = call(&deps, anonymous_upload_request(&small)).await;
    assert_eq!(status, 201, "{answer}");
    let upload: UploadUrl = serde_json::from_value(answer).unwrap();
    assert_eq!(upload.key, "uploads/demo/notes.txt");
    assert_eq!(upload.expires_in, DEMO_URL_LIFETIME.as_secs());
    assert_eq!(upload.headers["if-none-match"], "*");
    assert_eq!(put_to(&upload, b"hello"), 200);

    let replace = json!({"key": "notes.txt", "size": 5, "overwrite": true});
    let (status, body, response) = call(&deps, anonymous_upload_request(&replace)).await;
    assert!(
        problem(403, &body, &response).contains("does not replace files"),
        "{status} {body}"
    );
    let large = json!({"key": "large.bin", "size": 11});
    let (status, body, response) = call(&deps, anonymous_upload_request(&large)).await;
    assert!(
        problem(413, &body, &response).contains("at most 10 bytes"),
        "{status} {body}"
    );

    // The same requests signed by IAM (through the HTTP API) get the API's rules.
    let signed = upload_url(&deps, large).await;
    assert_eq!((signed.key.as_str(), signed.expires_in), ("uploads/large.bin", 900));
}

#[tokio::test]
async fn objects_of_a_folder_come_in_pages_with_a_cursor() {
    let emulator = Emulator::start();
    let deps = api(&emulator, "objects").await;
    for n in 0..5 {
        index(&deps, &format!("uploads/a/{n}.txt"), n).await;
    }
    index(&deps, "uploads/b/other.txt", 9).await;

    for shape in SHAPES {
        let mut keys = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("folder", "uploads/a/"), ("limit", "2")];
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor));
            }
            let (status, body, _) = call(&deps, get(shape, "/objects", &query)).await;
            assert_eq!(status, 200, "{body}");
            let page: ObjectPage = serde_json::from_value(body).unwrap();
            assert!(page.items.len() <= 2);
            keys.extend(page.items.into_iter().map(|item| item.key));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(
            keys,
            (0..5).map(|n| format!("uploads/a/{n}.txt")).collect::<Vec<_>>(),
            "{shape:?}"
        );
    }
}

#[tokio::test]
async fn a_bad_limit_or_cursor_is_a_400() {
    let emulator = Emulator::start();
    let deps = api(&emulator, "paging-errors").await;
    let foreign_cursor = hex_of(r#"{"folder": "uploads/b/", "key": "uploads/b/x"}"#);
    // A key longer than DynamoDB's 1,024 bytes: the query would fail, so the cursor must.
    let long_key_cursor =
        hex_of(&json!({"folder": "uploads/a/", "key": format!("uploads/a/{}", "k".repeat(1100))}).to_string());
    for shape in SHAPES {
        for query in [
            vec![("folder", "")],
            vec![("limit", "0")],
            vec![("limit", "101")],
            vec![("limit", "ten")],
            vec![("cursor", "zz")],
            vec![("folder", "uploads/a/"), ("cursor", foreign_cursor.as_str())],
            vec![("folder", "uploads/a/"), ("cursor", long_key_cursor.as_str())],
        ] {
            let (status, body, response) = call(&deps, get(shape, "/objects", &query)).await;
            assert_eq!(status, 400, "{shape:?} {query:?}");
            problem(400, &body, &response);
        }
    }
}

fn hex_of(text: &str) -> String {
    text.bytes().map(|byte| format!("{byte:02x}")).collect()
}

#[tokio::test]
async fn one_object_by_its_key_or_a_404() {
    let emulator = Emulator::start();
    let deps = api(&emulator, "object").await;
    index(&deps, "uploads/reports/Q3 report + notes.txt", 12).await;

    for shape in SHAPES {
        let (status, body, _) = call(
            &deps,
            get(shape, "/objects/uploads/reports/Q3%20report%20%2B%20notes.txt", &[]),
        )
        .await;
        assert_eq!(status, 200, "{shape:?} {body}");
        assert_eq!(body["key"], "uploads/reports/Q3 report + notes.txt");
        assert_eq!(body["size"], 12);

        let (status, body, response) = call(&deps, get(shape, "/objects/uploads/missing.txt", &[])).await;
        assert_eq!(status, 404);
        assert!(problem(404, &body, &response).contains("uploads/missing.txt"));

        // Found by the property test below: a key in no folder once answered a 500.
        let (status, body, response) = call(&deps, get(shape, "/objects/no-folder.txt", &[])).await;
        assert_eq!(status, 404);
        problem(404, &body, &response);
    }
}

/// A removed object's tombstone, and an item written by hand that is not an object item: neither
/// is an object, and neither may turn its folder's listing into a 500.
#[tokio::test]
async fn tombstones_and_unreadable_items_are_left_out_not_a_500() {
    let emulator = Emulator::start();
    let deps = api(&emulator, "leftout").await;
    index(&deps, "uploads/mixed/kept.txt", 3).await;
    let tombstone = shared::catalog::Tombstone {
        folder: "uploads/mixed/".to_owned(),
        key: "uploads/mixed/removed.txt".to_owned(),
        sequencer: "0067".to_owned(),
        removed_at: "2026-11-27T06:00:02Z".to_owned(),
        expires_at: 1_795_000_000,
    };
    let objects = || deps.dynamodb.put_item().table_name(&deps.config.objects_table);
    objects()
        .set_item(Some(serde_dynamo::to_item(tombstone).unwrap()))
        .send()
        .await
        .unwrap();
    objects()
        .item("folder", AttributeValue::S("uploads/mixed/".to_owned()))
        .item("key", AttributeValue::S("uploads/mixed/by-hand.txt".to_owned()))
        .item("size", AttributeValue::S("large".to_owned()))
        .send()
        .await
        .unwrap();
    set_stats(&deps, "uploads/mixed/", 1, 3).await;
    deps.dynamodb
        .put_item()
        .table_name(&deps.config.statistics_table)
        .item("folder", AttributeValue::S("uploads/by-hand/".to_owned()))
        .item("object_count", AttributeValue::S("many".to_owned()))
        .send()
        .await
        .unwrap();

    for shape in SHAPES {
        let (status, body, _) = call(&deps, get(shape, "/objects", &[("folder", "uploads/mixed/")])).await;
        assert_eq!(status, 200, "{shape:?} {body}");
        let page: ObjectPage = serde_json::from_value(body).unwrap();
        let keys: Vec<&str> = page.items.iter().map(|item| item.key.as_str()).collect();
        assert_eq!(keys, ["uploads/mixed/kept.txt"]);

        for key in ["removed.txt", "by-hand.txt"] {
            let (status, body, response) = call(&deps, get(shape, &format!("/objects/uploads/mixed/{key}"), &[])).await;
            assert_eq!(status, 404, "{key}");
            problem(404, &body, &response);
        }

        let (status, body, _) = call(&deps, get(shape, "/stats", &[])).await;
        assert_eq!(status, 200, "{shape:?} {body}");
        let page: StatsPage = serde_json::from_value(body).unwrap();
        let folders: Vec<&str> = page.folders.iter().map(|stats| stats.folder.as_str()).collect();
        assert_eq!(folders, ["uploads/mixed/"]);
    }
}

#[tokio::test]
async fn statistics_of_all_folders_and_of_one_or_a_404() {
    let emulator = Emulator::start();
    let deps = api(&emulator, "stats").await;
    set_stats(&deps, "uploads/b/", 0, 0).await;
    set_stats(&deps, "uploads/a/", 2, 30).await;

    set_stats(&deps, "uploads/c/", 1, 1).await;

    for shape in SHAPES {
        // Page by page, one folder at a time: every folder once.
        let mut folders = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10 {
            let mut query = vec![("limit", "1")];
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor));
            }
            let (status, body, _) = call(&deps, get(shape, "/stats", &query)).await;
            assert_eq!(status, 200, "{body}");
            let page: StatsPage = serde_json::from_value(body).unwrap();
            assert!(page.folders.len() <= 1);
            folders.extend(page.folders.into_iter().map(|stats| stats.folder));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        folders.sort();
        assert_eq!(folders, ["uploads/a/", "uploads/b/", "uploads/c/"], "{shape:?}");
        for query in [[("limit", "101")], [("cursor", "00")]] {
            let (status, body, response) = call(&deps, get(shape, "/stats", &query)).await;
            assert_eq!(status, 400, "{query:?}");
            problem(400, &body, &response);
        }

        let (status, body, _) = call(&deps, get(shape, "/stats/uploads/a/", &[])).await;
        assert_eq!(
            (status, &body["object_count"], &body["total_bytes"]),
            (200, &json!(2), &json!(30)),
            "{body}"
        );

        let (status, body, response) = call(&deps, get(shape, "/stats/uploads/none/", &[])).await;
        assert_eq!(status, 404);
        problem(404, &body, &response);
    }
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_with_allow() {
    let emulator = Emulator::start();
    let deps = api(&emulator, "routes").await;
    for shape in SHAPES {
        let (status, body, response) = call(&deps, get(shape, "/nothing/here", &[])).await;
        assert_eq!(status, 404, "{shape:?}");
        problem(404, &body, &response);

        let (status, body, response) = call(
            &deps,
            request(shape, "DELETE", "/objects/uploads/a.txt", &[], &[], None),
        )
        .await;
        assert_eq!(status, 405, "{shape:?}");
        assert_eq!(response.headers()["allow"], "GET");
        problem(405, &body, &response);

        let (status, _, response) = call(&deps, request(shape, "GET", "/uploads", &[], &[], None)).await;
        assert_eq!((status, response.headers()["allow"].to_str().unwrap()), (405, "POST"));
    }
}

#[tokio::test]
async fn allowed_origins_get_cors_headers_on_answers_and_errors_alike() {
    let emulator = Emulator::start();
    let deps = api(&emulator, "cors").await;
    for shape in SHAPES {
        for path in ["/health", "/objects/uploads/missing.txt", "/nowhere"] {
            let (_, _, response) = call(&deps, get(shape, path, &[])).await;
            assert_eq!(
                response.headers()["access-control-allow-origin"],
                ORIGIN,
                "{shape:?} {path}"
            );
        }
        let stranger = request(
            shape,
            "GET",
            "/health",
            &[],
            &[("origin", "https://evil.example")],
            None,
        );
        let (_, _, response) = call(&deps, stranger).await;
        assert!(response.headers().get("access-control-allow-origin").is_none());

        let preflight = request(shape, "OPTIONS", "/uploads", &[], &[("origin", ORIGIN)], None);
        let (status, _, response) = call(&deps, preflight).await;
        assert_eq!(status, 204);
        assert_eq!(response.headers()["access-control-allow-methods"], "GET, POST, OPTIONS");
    }
}

#[tokio::test]
async fn an_aws_failure_is_a_generic_500_with_the_details_only_in_the_log() {
    let emulator = Emulator::start();
    let mut deps = api(&emulator, "failure").await;
    deps.config.objects_table = "no-such-table".to_owned();

    let (status, body, response) = call(&deps, get(Shape::HttpApiV2, "/objects/uploads/a.txt", &[])).await;

    assert_eq!(status, 500);
    let detail = problem(500, &body, &response);
    assert!(
        !detail.contains("no-such-table") && !detail.contains("ResourceNotFound"),
        "{detail}"
    );
}

/// A dependency that accepts connections and never answers, like a DynamoDB endpoint that hangs.
fn silent_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in listener.incoming() {
            held.push(connection);
        }
    });
    format!("http://{address}")
}

fn deps_against(endpoint: &str) -> Deps {
    let config = Config {
        objects_table: "objects".to_owned(),
        statistics_table: "statistics".to_owned(),
        uploads_bucket: "uploads".to_owned(),
        upload_prefix: "uploads/".to_owned(),
        presign_expires_in: Duration::from_secs(900),
        max_upload_bytes: 1024,
        allowed_origins: vec![ORIGIN.to_owned()],
        public_demo: None,
    };
    Deps::new(&testkit::sdk_config_for(endpoint), config)
}

#[tokio::test]
async fn a_dependency_that_does_not_answer_is_a_504_problem_before_the_function_times_out() {
    let deps = deps_against(&silent_endpoint());
    let started = std::time::Instant::now();

    let (status, body, response) = call(&deps, get(Shape::HttpApiV2, "/objects/uploads/a.txt", &[])).await;

    let waited = started.elapsed();
    assert_eq!(status, 504, "{body}");
    problem(504, &body, &response);
    assert_eq!(response.headers()["access-control-allow-origin"], ORIGIN);
    // The SDK gave up on its own, within its operation timeout and before the function's 10 s.
    assert!(waited < Duration::from_secs(10), "{waited:?}");
}

#[tokio::test]
async fn an_unreachable_dependency_is_a_503_problem_with_retry_after() {
    // A port nobody listens on: every connection is refused.
    let port = testkit::free_port();
    let deps = deps_against(&format!("http://127.0.0.1:{port}"));

    let (status, body, response) = call(&deps, get(Shape::HttpApiV2, "/stats", &[])).await;

    assert_eq!(status, 503, "{body}");
    problem(503, &body, &response);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(response.headers()["access-control-allow-origin"], ORIGIN);
}

#[tokio::test]
async fn a_throttled_table_is_retried_and_one_that_stays_throttled_is_a_503_problem() {
    let emulator = Emulator::start();
    let direct = api(&emulator, "throttled").await;
    index(&direct, "uploads/a.txt", 3).await;
    let proxy = testkit::faults::FaultProxy::start(emulator.endpoint());
    let deps = Deps::new(&testkit::sdk_config_for(proxy.endpoint()), direct.config.clone());

    proxy.inject("Query", testkit::faults::Fault::Throttle, 1);
    let (status, body, _) = call(&deps, get(Shape::HttpApiV2, "/objects", &[])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["key"], "uploads/a.txt");

    proxy.inject("Query", testkit::faults::Fault::Throttle, 100);
    let (status, body, response) = call(&deps, get(Shape::HttpApiV2, "/objects", &[])).await;
    assert_eq!(status, 503, "{body}");
    problem(503, &body, &response);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(
        proxy.seen("Query"),
        (5, 4),
        "a throttled attempt and its retry, then the SDK's three attempts, all throttled"
    );
}

#[tokio::test]
async fn a_rest_event_whose_host_is_not_a_valid_authority_is_a_400_problem_not_a_crash() {
    let emulator = Emulator::start();
    let deps = api(&emulator, "host").await;
    let mut event: Value = serde_json::from_str(include_str!("../events/rest-api-v1.json")).unwrap();
    event["headers"]["Host"] = json!("bad host");
    event["multiValueHeaders"]["Host"] = json!(["bad host"]);
    let raw = serde_json::to_vec(&event).unwrap();

    // What the function's runtime layer (`UsableEventsLayer`) does to the raw event first.
    let usable = api_gateway_http::usable_event(&raw).expect("the event is made usable");
    let mut context = Context::default();
    context.request_id = "test-request-id".to_owned();
    let request = lambda_http::request::from_str(std::str::from_utf8(&usable).unwrap())
        .expect("lambda_http converts it now")
        .with_lambda_context(context);
    let (status, body, response) = call(&deps, request).await;

    assert_eq!(status, 400, "{body}");
    assert!(problem(400, &body, &response).contains("Host"), "{body}");
}

// The property: whatever a client sends, the answer is never a 5xx, and every 4xx is a problem.

fn method() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
}

fn path() -> impl Strategy<Value = String> {
    let start = prop::sample::select(vec![
        "/",
        "/health",
        "/uploads",
        "/objects",
        "/objects/",
        "/stats",
        "/stats/",
        "/x",
    ]);
    let rest = proptest::collection::vec("[a-zA-Z0-9 ._~%+/é-]{0,12}", 0..3);
    (start, rest).prop_map(|(start, rest)| {
        let tail: String = rest.concat();
        let tail = percent_encoding::utf8_percent_encode(&tail, percent_encoding::CONTROLS)
            .to_string()
            .replace(' ', "%20");
        format!("{start}{tail}")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn no_request_gets_a_5xx_and_every_4xx_is_a_problem(
        method in method(),
        path in path(),
        query in proptest::collection::vec(("(folder|limit|cursor|[a-z]{1,5})", "[ -~]{0,20}"), 0..3),
        content_type in prop::option::of(prop::sample::select(vec!["application/json", "application/json; charset=utf-8", "text/plain", ""])),
        body in prop::option::of(prop_oneof!["[ -~]{0,40}", r#"\{"key": "[ -~]{0,20}", "size": [0-9]{1,5}\}"#, r#"\{"key": "[a-z/.]{1,8}", "content_type": "[ -~]{0,10}", "size": [0-9]{1,5}, "overwrite": (true|false)\}"#]),
        shape in prop::sample::select(vec![Shape::HttpApiV2, Shape::RestApiV1]),
    ) {
        static EMULATOR: std::sync::OnceLock<Emulator> = std::sync::OnceLock::new();
        static DEPS: tokio::sync::OnceCell<Deps> = tokio::sync::OnceCell::const_new();
        let emulator = EMULATOR.get_or_init(Emulator::start);
        // One runtime for every case: the SDK's pooled connections live on the runtime that made them.
        static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
        let runtime = RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap());
        let query: Vec<(&str, &str)> = query.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        let mut headers = vec![("origin", ORIGIN)];
        if let Some(content_type) = content_type {
            headers.push(("content-type", content_type));
        }
        let request = request(shape, method, &path, &query, &headers, body.as_deref());
        let (status, body, response) = runtime.block_on(async {
            let deps = DEPS.get_or_init(|| api(emulator, "property")).await;
            call(deps, request).await
        });
        prop_assert!(status < 500, "{} {} -> {}: {}", method, path, status, body);
        if status >= 400 {
            problem(status, &body, &response);
        }
    }
}
