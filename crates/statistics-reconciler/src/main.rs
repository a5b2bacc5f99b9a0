//! Recounts each folder from the objects table and repairs drift in the statistics table.
//!
//! - Trigger: an EventBridge schedule (`rate(1 hour)`); the event itself is not read.
//! - Environment: `OBJECTS_TABLE_NAME`, `STATISTICS_TABLE_NAME`, `QUIET_PERIOD_SECONDS` (default 900).
//! - IAM: `dynamodb:Scan` and `dynamodb:Query` on the objects table, `dynamodb:Scan` and
//!   `dynamodb:UpdateItem` on the statistics table.
//! - Run it locally: see this crate's README (`cargo lambda invoke statistics-reconciler ...`).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use statistics_reconciler::{function_handler, Config, Deps};
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
