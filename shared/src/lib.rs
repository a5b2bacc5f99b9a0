//! What every function in this workshop needs, and nothing else.
//!
//! - [`logging`]: JSON logs that follow Lambda's log level and format settings.
//! - [`metrics`]: CloudWatch metrics as Embedded Metric Format log lines.
//! - [`xray`]: X-Ray subsegments from `tracing` spans, when Lambda's active tracing is on.
//! - [`error`]: how a function reports a failure to Lambda.
//! - [`deadline`]: when to stop starting work, so the answer reaches Lambda in time.
//! - [`config`]: reading a required setting.
//! - [`aws`]: the one way every function builds its AWS clients.
//! - [`s3_key`]: object keys as S3 event notifications encode them.
//! - [`catalog`]: what a folder is, and the objects table's and statistics table's items.
//! - `problem` (feature `http`): HTTP errors as `application/problem+json`.

pub mod aws;
pub mod catalog;
pub mod config;
pub mod deadline;
pub mod error;
pub mod logging;
pub mod metrics;
#[cfg(feature = "http")]
pub mod problem;
pub mod s3_key;
pub mod xray;
