//! The upload catalog's HTTP API: upload URLs, indexed objects, folder statistics.
//!
//! - Trigger: API Gateway HTTP API (payload 2.0) or REST API (payload 1.0), or a function URL.
//! - Environment: `OBJECTS_TABLE_NAME`, `STATISTICS_TABLE_NAME`, `UPLOADS_BUCKET_NAME`,
//!   `UPLOAD_PREFIX` (default `uploads/`), `PRESIGN_EXPIRES_IN_SECONDS` (default 300),
//!   `MAX_UPLOAD_BYTES` (default 104857600), `ALLOWED_ORIGINS` (comma-separated, or `*`; default
//!   none), `PUBLIC_DEMO_FOLDER` and `PUBLIC_DEMO_MAX_UPLOAD_BYTES` (the public demo URL's rules).
//! - IAM: `dynamodb:Query`/`GetItem` on the objects table, `dynamodb:Scan`/`GetItem` on the
//!   statistics table, `s3:PutObject` on `<bucket>/<prefix>*` (for the presigned URLs).
//! - Run it locally: `./scripts/local.sh`, or see this crate's README.

use std::sync::Arc;

use api_gateway_http::{function_handler, run_answering_unusable_events, Config, Deps};
use lambda_http::{service_fn, Error, Request};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init_logs_traces_and_metrics(env!("CARGO_PKG_NAME"));
    let config = Config::from_lookup(|name| std::env::var(name).ok()).expect("configuration from the environment");
    let aws = shared::aws::load_config().await?;
    // Shared by every request: the runtime needs a handler that owns what it uses.
    let deps = Arc::new(Deps::new(&aws, config));

    let handler = service_fn(move |request: Request| {
        let deps = Arc::clone(&deps);
        let span = shared::logging::invocation_span(&lambda_http::RequestExt::lambda_context(&request));
        async move { function_handler(&deps, request).await }.instrument(span)
    });
    // Not `lambda_http::run`: it panics on some events it cannot convert (a `Host` that is no valid
    // authority, a body that is not the base64 it claims); this answers them with a 400 instead.
    run_answering_unusable_events(handler).await
}
