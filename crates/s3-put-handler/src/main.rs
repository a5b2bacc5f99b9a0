//! Keeps the objects table equal to the catalog's bucket: indexes every upload, forgets every
//! deleted object.
//!
//! - Triggers: S3 `ObjectCreated`, `ObjectRemoved` and `LifecycleExpiration` notifications for
//!   keys under the upload prefix (asynchronous invocation: Lambda retries a failed event twice,
//!   then sends it to the on-failure queue); and an hourly EventBridge schedule, the repair run
//!   (it replays that queue and checks the bucket against the table).
//! - Environment: `OBJECTS_TABLE_NAME` (required), `UPLOAD_PREFIX` (default `uploads/`); for the
//!   repair run `BUCKET_NAME`, `FAILED_UPLOADS_QUEUE_URL`, `QUIET_PERIOD_SECONDS` (default 900).
//! - IAM: `s3:GetObject` on `<bucket>/<prefix>*` (reads and HEADs), `s3:ListBucket` on the bucket
//!   for that prefix, `dynamodb:PutItem`, `DeleteItem`, `Query` and `Scan` on the objects table,
//!   `sqs:ReceiveMessage` and `sqs:DeleteMessage` on the failure queue.
//! - Run it locally: see this crate's README (`cargo lambda invoke s3-put-handler --data-file ...`).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use s3_put_handler::{handle_invocation, Config, Deps};
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
        handle_invocation(deps, event).instrument(span)
    }))
    .await
}
