//! The upload catalog's HTTP API: upload URLs, indexed objects, folder statistics.
//!
//! - Trigger: API Gateway HTTP API (payload 2.0) or REST API (payload 1.0), or a function URL.
//! - Environment: `OBJECTS_TABLE_NAME`, `STATISTICS_TABLE_NAME`, `UPLOADS_BUCKET_NAME`,
//!   `UPLOAD_PREFIX` (default `uploads/`), `PRESIGN_EXPIRES_IN_SECONDS` (default 900),
//!   `MAX_UPLOAD_BYTES` (default 104857600), `ALLOWED_ORIGINS` (comma-separated, or `*`; default
//!   none).
//! - IAM: `dynamodb:Query`/`GetItem` on the objects table, `dynamodb:Scan`/`GetItem` on the
//!   statistics table, `s3:PutObject` on `<bucket>/<prefix>*` (for the presigned URLs).
//! - Run it locally: `./scripts/local.sh`, or see this crate's README.

use api_gateway_http::{function_handler, Config, Deps, UsableEventsLayer};
use lambda_http::{service_fn, Error, Request};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init(env!("CARGO_PKG_NAME"));
    let config = Config::from_lookup(|name| std::env::var(name).ok()).expect("configuration from the environment");
    let aws = shared::aws::load_config().await;
    // `lambda_http::runtime` (for the layer below) needs a handler that owns what it borrows: the
    // dependencies live as long as the process, so leaking them once is exactly their lifetime.
    let deps: &'static Deps = Box::leak(Box::new(Deps::new(&aws, config)));

    // `UsableEventsLayer`: an event lambda_http could not convert (a `Host` that is not a valid
    // authority...) becomes a 400 problem instead of a panic (see `conversion.rs`).
    lambda_http::runtime(service_fn(move |request: Request| {
        let span = shared::logging::invocation_span(&lambda_http::RequestExt::lambda_context(&request));
        function_handler(deps, request).instrument(span)
    }))
    .layer(UsableEventsLayer)
    .run()
    .await
}
