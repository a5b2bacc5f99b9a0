//! The bucket listing with its S3 calls going through a proxy that breaks chosen requests
//! (`testkit::faults`): S3's throttling and 500s are retried by the SDK within the invocation; an
//! S3 that keeps failing fails the invocation with an error, never a partial list.

use lambda_runtime::{Context, LambdaEvent};
use s3_list_buckets::{function_handler, Deps};
use serde_json::Value;
use testkit::faults::{Fault, FaultProxy};
use testkit::Emulator;

fn scheduled_event() -> LambdaEvent<Value> {
    let event = serde_json::from_str(include_str!("../events/scheduled.json")).expect("events/scheduled.json is JSON");
    LambdaEvent::new(event, Context::default())
}

async fn two_buckets_behind_a_proxy() -> (Emulator, FaultProxy, Deps) {
    let emulator = Emulator::start();
    let direct = Deps::new(&emulator.sdk_config());
    for name in ["alpha", "beta"] {
        direct
            .s3
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .expect("creating a bucket");
    }
    let proxy = FaultProxy::start(emulator.endpoint());
    let deps = Deps::new(&testkit::sdk_config_for(proxy.endpoint()));
    (emulator, proxy, deps)
}

#[tokio::test]
async fn slow_down_and_a_500_are_retried_and_the_list_is_whole() {
    let (_emulator, proxy, deps) = two_buckets_behind_a_proxy().await;
    proxy.inject("GET /", Fault::SlowDown, 1);
    proxy.inject("GET /", Fault::ServerError, 1);

    let response = function_handler(&deps, scheduled_event())
        .await
        .expect("the retries succeed");

    assert_eq!(response.body, r#"["alpha", "beta"]"#);
    assert_eq!(proxy.seen("GET /"), (3, 2));
}

#[tokio::test]
async fn an_s3_that_keeps_failing_fails_the_invocation() {
    let (_emulator, proxy, deps) = two_buckets_behind_a_proxy().await;
    proxy.inject("GET /", Fault::ServerError, 100);

    let error = function_handler(&deps, scheduled_event())
        .await
        .expect_err("no list from a failing S3");

    assert!(
        format!("{error:?}").contains("500") || format!("{error:?}").to_lowercase().contains("internal"),
        "{error:?}"
    );
    assert_eq!(proxy.seen("GET /"), (3, 3), "the SDK's three attempts");
}
