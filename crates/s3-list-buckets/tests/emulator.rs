//! The function against the local AWS emulator: real SDK calls over HTTP, real S3 responses.

use std::path::Path;
use std::process::Command;

use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use s3_list_buckets::{function_handler, Deps, Response};
use serde_json::Value;
use testkit::{free_port, sdk_config_for, Emulator};

fn scheduled_event() -> LambdaEvent<Value> {
    let event = serde_json::from_str(include_str!("../events/scheduled.json")).expect("events/scheduled.json is JSON");
    LambdaEvent::new(event, Context::default())
}

async fn create_buckets(s3: &aws_sdk_s3::Client, names: &[&str]) {
    for name in names {
        s3.create_bucket()
            .bucket(*name)
            .send()
            .await
            .expect("creating a bucket in the emulator");
    }
}

#[tokio::test]
async fn no_buckets_gives_an_empty_list() {
    let emulator = Emulator::start();
    let deps = Deps::new(&emulator.sdk_config());

    let response = function_handler(&deps, scheduled_event()).await.unwrap();

    assert_eq!(
        response,
        Response {
            status_code: 200,
            body: "[]".to_owned()
        }
    );
}

#[tokio::test]
async fn every_bucket_is_listed_by_name() {
    let emulator = Emulator::start();
    let deps = Deps::new(&emulator.sdk_config());
    create_buckets(&deps.s3, &["alpha-photos", "beta-logs", "gamma.example.com"]).await;

    let response = function_handler(&deps, scheduled_event()).await.unwrap();

    assert_eq!(response.status_code, 200);
    assert_eq!(response.body, r#"["alpha-photos", "beta-logs", "gamma.example.com"]"#);
}

#[tokio::test]
async fn unreachable_endpoint_fails_the_invocation_instead_of_answering_an_empty_list() {
    let nobody_listens = format!("http://127.0.0.1:{}", free_port());
    let deps = Deps::new(&sdk_config_for(&nobody_listens));

    let error = function_handler(&deps, scheduled_event()).await.unwrap_err();

    let diagnostic = Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "ListBucketsFailed");
    assert!(
        diagnostic.error_message.starts_with("ListBuckets failed on page 1"),
        "{}",
        diagnostic.error_message
    );
    assert!(
        diagnostic.error_message.contains("dispatch failure"),
        "{}",
        diagnostic.error_message
    );
}

#[tokio::test]
async fn response_is_identical_to_the_python_originals() {
    let emulator = Emulator::start();
    let deps = Deps::new(&emulator.sdk_config());
    create_buckets(&deps.s3, &["alpha-photos", "beta-logs", "gamma.example.com"]).await;

    let rust = serde_json::to_value(function_handler(&deps, scheduled_event()).await.unwrap()).unwrap();

    // The Python original under the emulator's own Python, which has boto3 (moto depends on it).
    let python_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("python");
    let output = Command::new(emulator.python())
        .current_dir(&python_dir)
        .args([
            "-c",
            "import json, lambda_function; print(json.dumps(lambda_function.lambda_handler({}, None)))",
        ])
        .envs(emulator.env())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let python: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();

    assert_eq!(rust, python);
    assert_eq!(rust["body"], r#"["alpha-photos", "beta-logs", "gamma.example.com"]"#);
}
