//! Lists the account's S3 buckets: the classic first Lambda function, in Rust.
//!
//! - Trigger: any event (it is ignored); invoke it by hand or on a schedule.
//! - Environment: nothing of its own. `AWS_ENDPOINT_URL` points it at a local emulator.
//! - IAM: `s3:ListAllMyBuckets` on `*`.
//! - Run it locally: `./scripts/local.sh` from the repository root, or see this crate's README.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use s3_list_buckets::{function_handler, Deps};
use serde_json::Value;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init_logs_traces_and_metrics(env!("CARGO_PKG_NAME"));
    // Built once, before the first invocation: every invocation of this sandbox reuses the client
    // and its open connections.
    let aws = shared::aws::load_config().await?;
    let deps = &Deps::new(&aws);

    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let span = shared::logging::invocation_span(&event.context);
        function_handler(deps, event).instrument(span)
    }))
    .await
}
