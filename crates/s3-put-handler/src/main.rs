//! Keeps the objects table equal to the catalog's bucket: indexes every upload, forgets every
//! deleted object.
//!
//! - Trigger: S3 `ObjectCreated`, `ObjectRemoved` and `LifecycleExpiration` notifications for
//!   keys under the upload prefix (asynchronous invocation: Lambda retries a failed event twice,
//!   then sends it to the on-failure queue).
//! - Environment: `OBJECTS_TABLE_NAME` (required), `UPLOAD_PREFIX` (default `uploads/`).
//! - IAM: `s3:GetObject` on `<bucket>/<prefix>*` (reads and HEADs), `s3:ListBucket` on the bucket
//!   for that prefix, `dynamodb:PutItem` and `dynamodb:DeleteItem` on the objects table.
//! - Run it locally: see this crate's README (`cargo lambda invoke s3-put-handler --data-file ...`).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use s3_put_handler::{function_handler, Config, Deps};
use serde_json::Value;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init_logs_traces_and_metrics(env!("CARGO_PKG_NAME"));
    let config = Config::from_lookup(|name| std::env::var(name).ok()).expect("configuration from the environment");
    let aws = shared::aws::load_config().await;
    let deps = &Deps::new(&aws, config);

    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let span = shared::logging::invocation_span(&event.context);
        function_handler(deps, event).instrument(span)
    }))
    .await
}
