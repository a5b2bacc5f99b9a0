//! The catalog follows the bucket: for each S3 `ObjectCreated` record, decode the key, hash the
//! object as a stream and write its item; for each `ObjectRemoved` or `LifecycleExpiration` record,
//! replace the item with a tombstone. Both writes are conditional on the event's `sequencer`, so duplicate, late and
//! concurrent events change nothing they should not.
//!
//! What the events miss, a scheduled run repairs (`repair`): it replays the events parked in the
//! failure queue, then checks the bucket against the table, folder by folder.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::primitives::ByteStreamError;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use shared::s3_key::KeyError;
use tracing::Instrument;

mod bucket_check;
mod item;
mod object;
mod record;
mod repair;

use item::{object_item, remove_item, write_item};
use object::{read_object, Read};
pub use record::{padded_sequencer, parse_record, Upload};
pub use repair::{RepairError, RepairSummary};

/// What the function reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `OBJECTS_TABLE_NAME`: the table the items go to.
    pub objects_table: String,
    /// `UPLOAD_PREFIX` (default `uploads/`): only keys under it are indexed.
    pub upload_prefix: String,
    /// What the scheduled repair run needs; `None` (no `BUCKET_NAME`) refuses that run.
    pub repair: Option<RepairConfig>,
}

/// The scheduled repair run's settings (see `repair`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairConfig {
    /// `BUCKET_NAME`: the bucket the table is checked against.
    pub bucket: String,
    /// `FAILED_UPLOADS_QUEUE_URL` (optional): the on-failure queue whose events are replayed.
    pub failed_uploads_queue_url: Option<String>,
    /// `QUIET_PERIOD_SECONDS` (default 900): a difference is repaired only once both its object
    /// and its item are this old; a younger one may be an event still on its way.
    pub quiet_period: Duration,
}

impl Config {
    /// Reads the configuration through `lookup` (`std::env::var` in `main`, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let objects_table = shared::config::required(&lookup, "OBJECTS_TABLE_NAME")?;
        let upload_prefix = lookup("UPLOAD_PREFIX").unwrap_or_else(|| "uploads/".to_owned());
        if upload_prefix.is_empty() || !upload_prefix.ends_with('/') {
            return Err(format!(
                "UPLOAD_PREFIX must be a folder ending in '/', not {upload_prefix:?}"
            ));
        }
        let repair = match lookup("BUCKET_NAME") {
            None => None,
            Some(bucket) => Some(RepairConfig {
                bucket,
                failed_uploads_queue_url: lookup("FAILED_UPLOADS_QUEUE_URL"),
                quiet_period: Duration::from_secs(match lookup("QUIET_PERIOD_SECONDS") {
                    None => 900,
                    Some(seconds) => seconds
                        .parse::<u64>()
                        .map_err(|_| format!("QUIET_PERIOD_SECONDS must be a whole number, not {seconds:?}"))?,
                }),
            }),
        };
        Ok(Config {
            objects_table,
            upload_prefix,
            repair,
        })
    }
}

/// The clients and configuration every invocation uses, built once in `main`.
pub struct Deps {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Reads the failure queue (the repair run only).
    pub sqs: aws_sdk_sqs::Client,
    pub config: Config,
}

impl Deps {
    /// The clients for `aws` (see `shared::aws`), with `config`.
    pub fn new(aws: &aws_config::SdkConfig, config: Config) -> Deps {
        Deps {
            s3: shared::aws::s3_client(aws),
            dynamodb: shared::aws::dynamodb_client(aws),
            sqs: aws_sdk_sqs::Client::new(aws),
            config,
        }
    }
}

/// What happened to each record of an event; the function's return value.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Items written.
    pub indexed: usize,
    /// Events already applied, or older than the item: a duplicate or a late delivery.
    pub unchanged: usize,
    /// Keys outside the upload prefix: never read, never written (the loop guard).
    pub outside_prefix: usize,
    /// Objects deleted before we could read them.
    pub deleted: usize,
    /// Objects overwritten (or, for a removal, written again) since the event: the newer
    /// write's own event indexes them.
    pub superseded: usize,
    /// Items replaced by a tombstone (deleted, in the emulator) because their object was removed.
    pub removed: usize,
    /// Records that are neither `ObjectCreated` nor `ObjectRemoved`/`LifecycleExpiration` events.
    pub other_event: usize,
}

/// The outcome of one record that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Indexed,
    Unchanged,
    OutsidePrefix,
    Deleted,
    Superseded,
    Removed,
    OtherEvent,
}

impl Summary {
    /// One EMF line: each outcome's count, the bytes read through the hash, the failed records.
    fn emit_metrics(&self, bytes_hashed: u64, failed: usize) {
        let mut metrics = shared::metrics::Metrics::new();
        metrics.count("ObjectsIndexed", self.indexed);
        metrics.count("ObjectsUnchanged", self.unchanged);
        metrics.count("ObjectsRemoved", self.removed);
        metrics.count("ObjectsGoneBeforeRead", self.deleted);
        metrics.count("ObjectsSuperseded", self.superseded);
        metrics.count("RecordsIgnored", self.outside_prefix + self.other_event);
        metrics.count("RecordsFailed", failed);
        metrics.add("BytesHashed", shared::metrics::Unit::Bytes, bytes_hashed as f64);
        metrics.emit();
    }

    fn count(&mut self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Indexed => &mut self.indexed,
            Outcome::Unchanged => &mut self.unchanged,
            Outcome::OutsidePrefix => &mut self.outside_prefix,
            Outcome::Deleted => &mut self.deleted,
            Outcome::Superseded => &mut self.superseded,
            Outcome::Removed => &mut self.removed,
            Outcome::OtherEvent => &mut self.other_event,
        };
        *counter += 1;
    }
}

/// Why an invocation failed. Lambda retries a failed asynchronous invocation, then sends it to
/// the on-failure destination; re-processing the records that did succeed changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not an S3 event notification: {0}")]
    MalformedEvent(&'static str),
    #[error("{failed} of {total} records failed, the first: {first}")]
    RecordsFailed {
        failed: usize,
        total: usize,
        #[source]
        first: RecordError,
    },
    #[error("the repair run failed")]
    Repair(#[from] RepairError),
}

impl From<Error> for Diagnostic {
    fn from(error: Error) -> Diagnostic {
        let error_type = match error {
            Error::MalformedEvent(_) => "MalformedEvent",
            Error::RecordsFailed { .. } => "RecordsFailed",
            Error::Repair(_) => "RepairFailed",
        };
        shared::error::report(error_type, &error)
    }
}

/// Why one record failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("record {index} is malformed: {reason}")]
    Malformed { index: usize, reason: String },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("reading s3://{bucket}/{key} failed")]
    Read {
        bucket: String,
        key: String,
        // Boxed: SDK errors are large, and every Result in this module would carry their size.
        #[source]
        source: Box<SdkError<GetObjectError>>,
    },
    #[error("streaming s3://{bucket}/{key} failed")]
    Stream {
        bucket: String,
        key: String,
        #[source]
        source: ByteStreamError,
    },
    #[error("the item for {key} cannot be converted to DynamoDB attributes")]
    Item {
        key: String,
        #[source]
        source: serde_dynamo::Error,
    },
    #[error("writing the item for {key} failed")]
    Write {
        key: String,
        #[source]
        source: Box<SdkError<PutItemError>>,
    },
    #[error("checking whether s3://{bucket}/{key} exists again failed")]
    Head {
        bucket: String,
        key: String,
        #[source]
        source: Box<SdkError<HeadObjectError>>,
    },
    #[error("deleting the item for {key} failed")]
    Delete {
        key: String,
        #[source]
        source: Box<SdkError<DeleteItemError>>,
    },
}

/// Applies every `ObjectCreated`, `ObjectRemoved` and `LifecycleExpiration` record of an S3 event
/// notification.
///
/// Every record is attempted; if any failed, the invocation fails after the others are written,
/// so Lambda retries the event and the failed records get another chance.
pub async fn function_handler(deps: &Deps, event: LambdaEvent<Value>) -> Result<Summary, Error> {
    index_event(deps, &event.payload).await
}

/// What one invocation answered: an S3 event's summary, or a repair run's.
#[derive(Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Event(Summary),
    Repair(RepairSummary),
}

/// The function's entry point (`main` runs it): EventBridge's scheduled event starts a repair run
/// (see `repair`), anything else is read as an S3 event notification.
pub async fn handle_invocation(deps: &Deps, event: LambdaEvent<Value>) -> Result<Answer, Error> {
    if event.payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
        let deadline = repair::deadline_of(&event.context);
        return Ok(Answer::Repair(repair::run(deps, deadline).await?));
    }
    Ok(Answer::Event(function_handler(deps, event).await?))
}

/// Applies the records of one S3 event notification (an invocation's, or a replayed one's).
pub(crate) async fn index_event(deps: &Deps, payload: &Value) -> Result<Summary, Error> {
    let records = match payload.get("Records") {
        Some(Value::Array(records)) if !records.is_empty() => records,
        Some(_) => return Err(Error::MalformedEvent("`Records` is not a non-empty array")),
        // S3 sends this once when a notification is configured (to SQS or SNS): nothing to index.
        None if payload.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") => {
            tracing::info!("S3 test event: nothing to index");
            return Ok(Summary::default());
        }
        None => return Err(Error::MalformedEvent("it has no `Records` array")),
    };

    let mut summary = Summary::default();
    let mut bytes_hashed = 0;
    let mut failures = Vec::new();
    for (index, record) in records.iter().enumerate() {
        match index_record(deps, index, record).await {
            Ok((outcome, size)) => {
                summary.count(outcome);
                bytes_hashed += size;
            }
            Err(error) => {
                tracing::error!(index, error = %shared::error::chain(&error), "record failed");
                failures.push(error);
            }
        }
    }
    let failed = failures.len();
    summary.emit_metrics(bytes_hashed, failed);
    match failures.into_iter().next() {
        None => Ok(summary),
        Some(first) => Err(Error::RecordsFailed {
            failed,
            total: records.len(),
            first,
        }),
    }
}

/// Applies one record; returns what happened and how many bytes were hashed.
async fn index_record(deps: &Deps, index: usize, record: &Value) -> Result<(Outcome, u64), RecordError> {
    let upload = parse_record(index, record)?;
    let span = tracing::info_span!("record", index, bucket = %upload.bucket, key = %upload.key);
    async {
        let started = Instant::now();
        // Boxed: nesting every step's future inline makes the handler's future type deeper than
        // rustc's default limit allows (one small allocation per record).
        let result = Box::pin(index_upload(deps, &upload)).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok((outcome, size)) => tracing::info!(?outcome, size, duration_ms, "record done"),
            Err(_) => tracing::warn!(duration_ms, "record failed"),
        }
        result
    }
    .instrument(span)
    .await
}

/// Applies one record; returns what happened and the size of the object read (0 if none).
async fn index_upload(deps: &Deps, upload: &Upload) -> Result<(Outcome, u64), RecordError> {
    // The loop guard, in code as well as in the trigger's filter: whatever lands outside the
    // upload prefix is never read and never written.
    if !upload.key.starts_with(&deps.config.upload_prefix) {
        tracing::warn!(prefix = %deps.config.upload_prefix, "key is outside the upload prefix: ignored");
        return Ok((Outcome::OutsidePrefix, 0));
    }
    // A lifecycle rule's expiry (the public demo's folder) is a removal S3 names differently.
    if upload.event_name.starts_with("ObjectRemoved:") || upload.event_name.starts_with("LifecycleExpiration:") {
        return Ok((remove_item(deps, upload).await?, 0));
    }
    if !upload.event_name.starts_with("ObjectCreated:") {
        tracing::warn!(event_name = %upload.event_name, "neither a creation nor a removal: ignored");
        return Ok((Outcome::OtherEvent, 0));
    }

    // Spans named after the AWS call: each becomes a subsegment in the invocation's X-Ray trace.
    let object = match read_object(deps, upload)
        .instrument(tracing::info_span!("S3.GetObject"))
        .await?
    {
        Read::Object(object) => object,
        Read::Deleted => return Ok((Outcome::Deleted, 0)),
        Read::Superseded => return Ok((Outcome::Superseded, 0)),
    };
    let size = object.size;
    let outcome = write_item(deps, object_item(upload, object))
        .instrument(tracing::info_span!("DynamoDB.PutItem"))
        .await?;
    Ok((outcome, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_requires_a_table_and_a_folder_prefix() {
        let env = |table: Option<&str>, prefix: Option<&str>| {
            let (table, prefix) = (table.map(str::to_owned), prefix.map(str::to_owned));
            Config::from_lookup(move |name| match name {
                "OBJECTS_TABLE_NAME" => table.clone(),
                "UPLOAD_PREFIX" => prefix.clone(),
                _ => None,
            })
        };
        assert_eq!(
            env(Some("objects"), None).unwrap(),
            Config {
                objects_table: "objects".to_owned(),
                upload_prefix: "uploads/".to_owned(),
                repair: None,
            }
        );
        assert!(env(None, None).unwrap_err().contains("OBJECTS_TABLE_NAME"));
        assert!(env(Some("objects"), Some("uploads"))
            .unwrap_err()
            .contains("UPLOAD_PREFIX"));
    }
}
