//! What the benchmark's functions work on: buckets, objects and tables in the emulator, and the
//! events each invocation gets. Each language writes to tables of its own, so both do the same
//! work (a record the Rust run indexed is new again for the Python run).

use std::io::Write;
use std::path::Path;

use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{Language, Result, Scale};
use anyhow::anyhow;

const BUCKET: &str = "bench-uploads";
/// Other buckets, so that the bucket listing has something to list.
const OTHER_BUCKETS: [&str; 4] = ["bench-logs", "bench-reports", "bench-archive", "bench-static"];
/// Records per stream batch. One: then both languages make exactly one DynamoDB transaction per
/// invocation (the Python version makes one per record), and the emulator, whose transactions
/// slow down as its tables grow, stays fast enough for 1,000 invocations.
const RECORDS_PER_BATCH: usize = 1;
/// Items in the folder the HTTP function lists.
const LISTED_ITEMS: usize = 50;
const LISTED_FOLDER: &str = "uploads/reports/";
const MIB: u64 = 1024 * 1024;

/// What was loaded into the emulator.
pub struct Catalog {
    /// (key, ETag, size) of each small object the put handler indexes, in turn.
    objects: Vec<(String, String, u64)>,
}

pub async fn load(aws: &SdkConfig, scale: Scale) -> Result<Catalog> {
    let s3 = shared::aws::s3_client(aws);
    let dynamodb = shared::aws::dynamodb_client(aws);
    for bucket in std::iter::once(BUCKET).chain(OTHER_BUCKETS) {
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|error| anyhow!("creating bucket {bucket}: {error:?}"))?;
    }
    // One small object per invocation, so every invocation indexes a new object.
    let count = scale.invocations + scale.cold_starts;
    let mut objects = Vec::with_capacity(count);
    for index in 0..count {
        let key = format!("uploads/bench/object-{index:04}.txt");
        let body = format!("benchmark object {index}\n").repeat(128);
        let size = body.len() as u64;
        let put = s3
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .content_type("text/plain")
            .body(ByteStream::from(body.into_bytes()))
            .send()
            .await
            .map_err(|error| anyhow!("uploading {key}: {error:?}"))?;
        objects.push((key, put.e_tag().unwrap_or_default().trim_matches('"').to_owned(), size));
    }
    for language in [Language::Rust, Language::Python] {
        let tag = language.tag();
        testkit::create_objects_table(&dynamodb, &format!("objects-{tag}")).await;
        testkit::create_objects_table(&dynamodb, &large_object_table(language)).await;
        testkit::create_statistics_table(&dynamodb, &format!("statistics-{tag}")).await;
        testkit::create_processed_records_table(&dynamodb, &format!("processed-{tag}")).await;
    }
    // The HTTP function reads a catalog that is already there.
    testkit::create_objects_table(&dynamodb, "catalog-objects").await;
    testkit::create_statistics_table(&dynamodb, "catalog-statistics").await;
    for index in 0..LISTED_ITEMS {
        let key = format!("{LISTED_FOLDER}report-{index:03}.txt");
        let item = serde_dynamo::to_item(testkit::object_item(BUCKET, &key, 1_000 + index as u64))
            .map_err(|error| anyhow!("{error}"))?;
        dynamodb
            .put_item()
            .table_name("catalog-objects")
            .set_item(Some(item))
            .send()
            .await
            .map_err(|error| anyhow!("loading the catalog: {error:?}"))?;
    }
    Ok(Catalog { objects })
}

pub fn function_environment(_catalog: &Catalog, function: &str, language: Language) -> Vec<(String, String)> {
    let tag = language.tag();
    let pairs: Vec<(&str, String)> = match function {
        "s3-put-handler" => vec![
            ("OBJECTS_TABLE_NAME", format!("objects-{tag}")),
            ("UPLOAD_PREFIX", "uploads/".to_owned()),
        ],
        "dynamodb-stream-consumer" => vec![
            ("STATISTICS_TABLE_NAME", format!("statistics-{tag}")),
            ("PROCESSED_RECORDS_TABLE_NAME", format!("processed-{tag}")),
        ],
        "api-gateway-http" => vec![
            ("OBJECTS_TABLE_NAME", "catalog-objects".to_owned()),
            ("STATISTICS_TABLE_NAME", "catalog-statistics".to_owned()),
            ("UPLOADS_BUCKET_NAME", BUCKET.to_owned()),
            ("UPLOAD_PREFIX", "uploads/".to_owned()),
            ("ALLOWED_ORIGINS", "https://catalog.example.com".to_owned()),
        ],
        _ => Vec::new(),
    };
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// The functions the benchmark has events (below) and a Python twin for; the others are left out.
pub const BENCHMARKED: [&str; 4] = [
    "s3-list-buckets",
    "s3-put-handler",
    "dynamodb-stream-consumer",
    "api-gateway-http",
];

/// The events one function gets, one per call, in the order they are sent.
pub fn events<'a>(catalog: &'a Catalog, function: &str, language: Language) -> Result<Box<dyn FnMut() -> Value + 'a>> {
    let mut sent = 0usize;
    match function {
        "s3-list-buckets" => Ok(Box::new(|| json!({}))),
        "s3-put-handler" => Ok(Box::new(move || {
            let (key, etag, size) = &catalog.objects[sent % catalog.objects.len()];
            sent += 1;
            s3_event(BUCKET, key, etag, *size)
        })),
        "dynamodb-stream-consumer" => Ok(Box::new(move || {
            // Numbered across every run of the benchmark (each memory size asks for its own
            // events): a record id seen before would be skipped as already applied, which is
            // other work than applying it.
            static BATCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let batch = BATCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let records: Vec<Value> = (0..RECORDS_PER_BATCH)
                .map(|index| stream_record(language, batch, index))
                .collect();
            json!({ "Records": records })
        })),
        "api-gateway-http" => Ok(Box::new(|| {
            http_event(
                "GET",
                "/objects",
                &format!("folder={}&limit=20", LISTED_FOLDER.replace('/', "%2F")),
            )
        })),
        other => Err(anyhow!(
            "the benchmark has no events for {other}: add them in bench/fixtures.rs"
        )),
    }
}

/// An S3 `ObjectCreated:Put` notification for one object, as S3 writes it (key form-encoded;
/// the benchmark's keys need no encoding).
fn s3_event(bucket: &str, key: &str, etag: &str, size: u64) -> Value {
    json!({ "Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": testkit::REGION,
        "eventTime": "2026-11-27T06:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": { "principalId": "AWS:bench" },
        "requestParameters": { "sourceIPAddress": "127.0.0.1" },
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": { "name": bucket, "arn": format!("arn:aws:s3:::{bucket}") },
            "object": { "key": key, "size": size, "eTag": etag }
        }
    }]})
}

/// A new object's INSERT record from the objects table's stream, unique per language and batch.
fn stream_record(language: Language, batch: usize, index: usize) -> Value {
    let folder = format!("uploads/folder-{}/", index % 3);
    let key = format!("{folder}object-{batch:05}-{index:02}.txt");
    let size = (100 + index).to_string();
    let string = |value: &str| json!({ "S": value });
    json!({
        "eventID": format!("{}-{batch:05}-{index:02}", language.tag()),
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": testkit::REGION,
        "dynamodb": {
            "ApproximateCreationDateTime": 1_795_759_201,
            "Keys": { "folder": string(&folder), "key": string(&key) },
            "SequenceNumber": format!("{:024}", batch * 100 + index),
            "SizeBytes": 380,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            "NewImage": {
                "folder": string(&folder),
                "key": string(&key),
                "bucket": string(BUCKET),
                "size": { "N": size },
                "sha256": string(&"0".repeat(64)),
                "content_type": string("text/plain"),
                "etag": string(&"0".repeat(32)),
                "last_modified": string("2026-11-27T06:00:00Z"),
                "indexed_at": string("2026-11-27T06:00:01Z")
            }
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/objects/stream/2026-11-27T06:00:00.000"
    })
}

/// An HTTP API (payload 2.0) request, as API Gateway sends it.
fn http_event(method: &str, path: &str, query: &str) -> Value {
    let parameters: serde_json::Map<String, Value> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_owned(), Value::String(value.replace("%2F", "/"))))
        .collect();
    json!({
        "version": "2.0",
        "routeKey": "ANY /{proxy+}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "accept": "application/json",
            "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "origin": "https://catalog.example.com"
        },
        "queryStringParameters": parameters,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "a1b2c3d4e5",
            "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench" },
            "requestId": "bench",
            "routeKey": "ANY /{proxy+}",
            "stage": "$default",
            "time": "27/Nov/2026:06:00:00 +0000",
            "timeEpoch": 1_795_759_200_000u64
        },
        "isBase64Encoded": false
    })
}

/// The large object, once uploaded.
pub struct LargeObjectRef {
    pub bucket: String,
    pub key: String,
    pub etag: String,
    pub size: u64,
    pub sha256: String,
}

pub fn large_object_table(language: Language) -> String {
    format!("objects-large-{}", language.tag())
}

/// Generates `mib` MiB of pseudo-random bytes into a file (never whole in memory), hashes them,
/// and uploads the file.
pub async fn upload_large_object(aws: &SdkConfig, work: &Path, mib: u64) -> Result<LargeObjectRef> {
    let path = work.join("large-object.bin");
    let mut hasher = Sha256::new();
    {
        let file = std::fs::File::create(&path).map_err(|error| anyhow!("{}: {error}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut chunk = vec![0u8; MIB as usize];
        for _ in 0..mib {
            for bytes in chunk.chunks_exact_mut(8) {
                // xorshift64: incompressible, so no layer can cheat by compressing.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                bytes.copy_from_slice(&state.to_le_bytes());
            }
            hasher.update(&chunk);
            out.write_all(&chunk).map_err(|error| anyhow!("{error}"))?;
        }
        out.flush().map_err(|error| anyhow!("{error}"))?;
    }
    let key = format!("uploads/large/{mib}-MiB.bin");
    let body = ByteStream::from_path(&path).await.map_err(|error| anyhow!("{error}"))?;
    // The upload is the benchmark's set-up, not a function's work: a client without the
    // functions' 8 s operation timeout, which a 1 GiB upload to the emulator can outlast.
    let uploader = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(aws)
            .timeout_config(aws_sdk_s3::config::timeout::TimeoutConfig::disabled())
            .force_path_style(true)
            .build(),
    );
    let put = uploader
        .put_object()
        .bucket(BUCKET)
        .key(&key)
        .body(body)
        .send()
        .await
        .map_err(|error| anyhow!("uploading the large object: {error:?}"))?;
    let _ = std::fs::remove_file(&path);
    Ok(LargeObjectRef {
        bucket: BUCKET.to_owned(),
        key,
        etag: put.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
        size: mib * MIB,
        sha256: hex::encode(hasher.finalize()),
    })
}

pub fn large_object_event(object: &LargeObjectRef) -> Value {
    s3_event(&object.bucket, &object.key, &object.etag, object.size)
}

/// Checks that an invocation did its job, in either language: a benchmark of a function that
/// answers wrongly would measure nothing.
pub fn check(function: &str, body: &str) -> Result<()> {
    let answer: Value = serde_json::from_str(body).map_err(|_| anyhow!("{function} answered {body:?}"))?;
    let fine = match function {
        "s3-list-buckets" => answer["statusCode"] == 200,
        "s3-put-handler" => answer["indexed"] == 1 || answer["unchanged"] == 1,
        "dynamodb-stream-consumer" => answer["batchItemFailures"].as_array().is_some_and(Vec::is_empty),
        "api-gateway-http" => answer["statusCode"] == 200,
        _ => true,
    };
    if fine {
        Ok(())
    } else {
        Err(anyhow!("{function} answered {body}"))
    }
}
