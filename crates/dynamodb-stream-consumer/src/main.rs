//! Keeps per-folder statistics from the objects table's DynamoDB stream.
//!
//! - Trigger: the objects table's stream (event source mapping with `ReportBatchItemFailures`).
//! - Environment: `STATISTICS_TABLE_NAME`, `PROCESSED_RECORDS_TABLE_NAME`.
//! - IAM: stream read on the objects table (SAM adds it), `dynamodb:UpdateItem` on the statistics
//!   table, `dynamodb:PutItem` on the processed-records table, `sqs:SendMessage` to the failure queue.
//! - Run it locally: see this crate's README (`cargo lambda invoke dynamodb-stream-consumer ...`).

use dynamodb_stream_consumer::{function_handler, Config, Deps};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init_logs_traces_and_metrics(env!("CARGO_PKG_NAME"));
    let config = Config::from_lookup(|name| std::env::var(name).ok()).expect("configuration from the environment");
    let aws = shared::aws::load_config().await?;
    let deps = &Deps::new(&aws, config);

    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let span = shared::logging::invocation_span(&event.context);
        function_handler(deps, event).instrument(span)
    }))
    .await
}
