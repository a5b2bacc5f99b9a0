//! The time to process one batch of 1,000 stream records (Lambda's largest batch for a DynamoDB
//! stream is 10,000; 1,000 is a common setting), against the local emulator: once as a new batch,
//! once delivered again (every record already applied).
//!
//! Run: `cargo bench -p dynamodb-stream-consumer --bench batch` (add `-- 5000` for another size).

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use dynamodb_stream_consumer::{function_handler, Config, Deps};
use lambda_runtime::LambdaEvent;
use serde_json::json;
use testkit::{Emulator, StreamReader};

fn main() {
    let records: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run(records));
}

async fn run(count: usize) {
    let emulator = Emulator::start();
    let aws = emulator.sdk_config();
    let config = Config {
        statistics_table: "statistics".to_owned(),
        processed_records_table: "processed-records".to_owned(),
        marker_ttl: Duration::from_secs(3600),
    };
    let deps = Deps::new(&aws, config);
    testkit::create_objects_table(&deps.dynamodb, "objects").await;
    testkit::create_statistics_table(&deps.dynamodb, "statistics").await;
    testkit::create_processed_records_table(&deps.dynamodb, "processed-records").await;
    let mut stream = StreamReader::open(&aws, "objects").await;
    for n in 0..count {
        let folder = format!("uploads/{}/", n % 10);
        deps.dynamodb
            .put_item()
            .table_name("objects")
            .item("folder", AttributeValue::S(folder.clone()))
            .item("key", AttributeValue::S(format!("{folder}{n}.bin")))
            .item("bucket", AttributeValue::S("bench".to_owned()))
            .item("size", AttributeValue::N(n.to_string()))
            .item("sha256", AttributeValue::S("0".repeat(64)))
            .item("content_type", AttributeValue::S("application/octet-stream".to_owned()))
            .item("etag", AttributeValue::S("0".repeat(32)))
            .item("last_modified", AttributeValue::S("2026-11-27T06:00:00Z".to_owned()))
            .item("indexed_at", AttributeValue::S("2026-11-27T06:00:01Z".to_owned()))
            .send()
            .await
            .expect("writing an object item");
    }
    let records = stream.read().await;
    assert_eq!(records.len(), count, "the stream did not return every record");

    for attempt in ["new batch", "delivered again"] {
        let event = LambdaEvent::new(
            json!({ "Records": records }),
            testkit::invocation_context(Duration::from_secs(60)),
        );
        let started = Instant::now();
        let response = function_handler(&deps, event).await.expect("a batch response");
        let elapsed = started.elapsed();
        assert!(
            response.batch_item_failures.is_empty(),
            "records failed: {:?}",
            response.batch_item_failures
        );
        println!(
            "{count} records, {attempt}: {:.0} ms ({:.2} ms per record)",
            elapsed.as_secs_f64() * 1000.0,
            elapsed.as_secs_f64() * 1000.0 / count as f64
        );
    }
}
