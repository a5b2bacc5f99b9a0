//! The catalog follows the bucket: for each S3 `ObjectCreated` record, decode the key, hash the
//! object as a stream and write its item; for each `ObjectRemoved` record, delete the item. Both
//! writes are conditional on the event's `sequencer`, so duplicate and late events change nothing.

use std::time::{Instant, SystemTime};

use aws_lambda_events::s3::S3Entity;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::primitives::{ByteStreamError, DateTime, DateTimeFormat};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use shared::catalog::{folder_of, ObjectItem};
use shared::s3_key::{decode_event_key, KeyError};
use tracing::Instrument;

/// Sequencers are right-padded with zeros to this many hex digits before they are stored, so that
/// DynamoDB's string comparison orders them as S3 intends (S3's are 16 to 20 digits today; a
/// longer one is refused as malformed rather than compared wrongly).
const SEQUENCER_WIDTH: usize = 32;

/// What the function reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `OBJECTS_TABLE_NAME`: the table the items go to.
    pub objects_table: String,
    /// `UPLOAD_PREFIX` (default `uploads/`): only keys under it are indexed.
    pub upload_prefix: String,
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
        Ok(Config {
            objects_table,
            upload_prefix,
        })
    }
}

/// The clients and configuration every invocation uses, built once in `main`.
pub struct Deps {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub config: Config,
}

impl Deps {
    /// The clients for `aws` (see `shared::aws`), with `config`.
    pub fn new(aws: &aws_config::SdkConfig, config: Config) -> Deps {
        Deps {
            s3: shared::aws::s3_client(aws),
            dynamodb: shared::aws::dynamodb_client(aws),
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
    /// Items deleted because their object was removed from the bucket.
    pub removed: usize,
    /// Records that are neither `ObjectCreated` nor `ObjectRemoved` events.
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
}

impl From<Error> for Diagnostic {
    fn from(error: Error) -> Diagnostic {
        let error_type = match error {
            Error::MalformedEvent(_) => "MalformedEvent",
            Error::RecordsFailed { .. } => "RecordsFailed",
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

/// Applies every `ObjectCreated` and `ObjectRemoved` record of an S3 event notification.
///
/// Every record is attempted; if any failed, the invocation fails after the others are written,
/// so Lambda retries the event and the failed records get another chance.
pub async fn function_handler(deps: &Deps, event: LambdaEvent<Value>) -> Result<Summary, Error> {
    let payload = event.payload;
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

/// One record, checked and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub event_name: String,
    pub bucket: String,
    /// The key as it is in the bucket (decoded).
    pub key: String,
    pub etag: Option<String>,
    /// The sequencer, padded for comparison (see [`padded_sequencer`]).
    pub sequencer: Option<String>,
}

/// What this function reads of an event record. Not `aws_lambda_events::s3::S3EventRecord`: that
/// type also requires `eventTime`, `userIdentity` and `requestParameters`, which we never use and
/// which the local emulator's events leave out. The `s3` part is the library's own type.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventRecord {
    #[serde(default)]
    event_name: Option<String>,
    s3: S3Entity,
}

/// Reads one record of the event, naming what is wrong when it can't.
pub fn parse_record(index: usize, record: &Value) -> Result<Upload, RecordError> {
    let malformed = |reason: String| RecordError::Malformed { index, reason };
    let record = EventRecord::deserialize(record).map_err(|error| malformed(error.to_string()))?;
    let non_empty = |value: Option<String>, field: &str| match value {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(malformed(format!("{field} is missing"))),
    };
    let bucket = non_empty(record.s3.bucket.name, "s3.bucket.name")?;
    let raw_key = non_empty(record.s3.object.key, "s3.object.key")?;
    let sequencer = match record.s3.object.sequencer {
        Some(sequencer) => Some(padded_sequencer(&sequencer).ok_or_else(|| {
            malformed(format!(
                "sequencer {sequencer:?} is not 1 to {SEQUENCER_WIDTH} hex digits"
            ))
        })?),
        None => None,
    };
    Ok(Upload {
        event_name: record.event_name.unwrap_or_default(),
        bucket,
        key: decode_event_key(&raw_key)?,
        etag: record.s3.object.e_tag.filter(|etag| !etag.is_empty()),
        sequencer,
    })
}

/// S3's rule for comparing the sequencers of two events for the same key: pad the shorter one with
/// zeros *on the right*, then compare as strings (S3 User Guide, "Event message structure").
/// Storing every sequencer right-padded to one width lets DynamoDB's string comparison apply that
/// rule for us. (Older guides said left-pad; on some pairs the two rules disagree, and a newer
/// event would then be taken for an older one.)
pub fn padded_sequencer(sequencer: &str) -> Option<String> {
    if sequencer.is_empty() || sequencer.len() > SEQUENCER_WIDTH || !sequencer.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(format!("{:0<SEQUENCER_WIDTH$}", sequencer.to_ascii_uppercase()))
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
    if upload.event_name.starts_with("ObjectRemoved:") {
        return Ok((remove_item(deps, upload).await?, 0));
    }
    if !upload.event_name.starts_with("ObjectCreated:") {
        tracing::warn!(event_name = %upload.event_name, "neither ObjectCreated nor ObjectRemoved: ignored");
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
    let item = ObjectItem {
        folder: folder_of(&upload.key).to_owned(),
        key: upload.key.clone(),
        bucket: upload.bucket.clone(),
        size,
        sha256: object.sha256,
        content_type: object.content_type,
        etag: object.etag,
        last_modified: object.last_modified,
        indexed_at: rfc3339(DateTime::from(SystemTime::now())),
        sequencer: upload.sequencer.clone(),
    };
    let outcome = write_item(deps, item)
        .instrument(tracing::info_span!("DynamoDB.PutItem"))
        .await?;
    Ok((outcome, size))
}

/// What reading the object the event is about found.
enum Read {
    Object(ObjectFacts),
    /// Deleted since the event.
    Deleted,
    /// Overwritten since the event.
    Superseded,
}

/// What we learn by reading the object.
struct ObjectFacts {
    size: u64,
    sha256: String,
    content_type: String,
    etag: String,
    last_modified: String,
}

/// Reads the object the event is about and hashes it as it streams in, so memory use stays the
/// same whatever the object's size.
async fn read_object(deps: &Deps, upload: &Upload) -> Result<Read, RecordError> {
    let read_error = |source| RecordError::Read {
        bucket: upload.bucket.clone(),
        key: upload.key.clone(),
        source: Box::new(source),
    };
    // With the event's ETag as a precondition we read exactly the version the event is about,
    // never a newer one under the older event's sequencer.
    let request = deps.s3.get_object().bucket(&upload.bucket).key(&upload.key);
    let request = match &upload.etag {
        Some(etag) => request.if_match(format!("\"{etag}\"")),
        None => request,
    };
    let output = match request.send().await {
        Ok(output) => output,
        Err(SdkError::ServiceError(error)) if error.err().is_no_such_key() => {
            tracing::warn!("object deleted before it could be read: skipped");
            return Ok(Read::Deleted);
        }
        Err(SdkError::ServiceError(error)) if error.err().code() == Some("PreconditionFailed") => {
            tracing::info!("object overwritten since this event: its newer event indexes it");
            return Ok(Read::Superseded);
        }
        Err(error) => return Err(read_error(error)),
    };

    let content_type = output.content_type().unwrap_or("binary/octet-stream").to_owned();
    let etag = output.e_tag().unwrap_or_default().trim_matches('"').to_owned();
    let last_modified = output.last_modified().map(|time| rfc3339(*time)).unwrap_or_default();
    let mut body = output.body;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = body.try_next().await.map_err(|source| RecordError::Stream {
        bucket: upload.bucket.clone(),
        key: upload.key.clone(),
        source,
    })? {
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok(Read::Object(ObjectFacts {
        size,
        sha256: hex::encode(hasher.finalize()),
        content_type,
        etag,
        last_modified,
    }))
}

/// Writes the item unless the table already holds this event or a later one.
///
/// With a sequencer: written only if the stored item has none or a smaller one. Without one
/// (the local emulator never sends it; S3 always does): written only if the object's
/// Last-Modified is later, or the same second with different content.
async fn write_item(deps: &Deps, item: ObjectItem) -> Result<Outcome, RecordError> {
    let key = item.key.clone();
    let request = deps
        .dynamodb
        .put_item()
        .table_name(&deps.config.objects_table)
        .expression_attribute_names("#key", "key")
        .expression_attribute_names("#sequencer", "sequencer");
    let request = match &item.sequencer {
        Some(sequencer) => request
            .condition_expression(
                "attribute_not_exists(#key) OR attribute_not_exists(#sequencer) OR #sequencer < :sequencer",
            )
            .expression_attribute_values(":sequencer", AttributeValue::S(sequencer.clone())),
        None => request
            .condition_expression(
                "attribute_not_exists(#key) OR (attribute_not_exists(#sequencer) AND (#last_modified < :last_modified \
                 OR (#last_modified = :last_modified AND #etag <> :etag)))",
            )
            .expression_attribute_names("#last_modified", "last_modified")
            .expression_attribute_names("#etag", "etag")
            .expression_attribute_values(":last_modified", AttributeValue::S(item.last_modified.clone()))
            .expression_attribute_values(":etag", AttributeValue::S(item.etag.clone())),
    };
    let attributes = serde_dynamo::to_item(item).map_err(|source| RecordError::Item {
        key: key.clone(),
        source,
    })?;
    match request.set_item(Some(attributes)).send().await {
        Ok(_) => Ok(Outcome::Indexed),
        Err(SdkError::ServiceError(error)) if error.err().is_conditional_check_failed_exception() => {
            tracing::info!("the table already holds this event or a later one: unchanged");
            Ok(Outcome::Unchanged)
        }
        Err(source) => Err(RecordError::Write {
            key,
            source: Box::new(source),
        }),
    }
}

/// Deletes the item of a removed object, unless the table holds a later event for its key.
///
/// With a sequencer (S3 always sends one): deleted only if the stored item's is smaller, so a
/// removal delivered after a newer upload's event leaves the newer item alone. Without one (the
/// local emulator): deleted only if the key is still absent from the bucket.
async fn remove_item(deps: &Deps, upload: &Upload) -> Result<Outcome, RecordError> {
    if upload.sequencer.is_none()
        && object_exists(deps, upload)
            .instrument(tracing::info_span!("S3.HeadObject"))
            .await?
    {
        tracing::info!("the key was written again since this removal: its newer event indexes it");
        return Ok(Outcome::Superseded);
    }
    let request = deps
        .dynamodb
        .delete_item()
        .table_name(&deps.config.objects_table)
        .key("folder", AttributeValue::S(folder_of(&upload.key).to_owned()))
        .key("key", AttributeValue::S(upload.key.clone()))
        .expression_attribute_names("#key", "key");
    let request = match &upload.sequencer {
        Some(sequencer) => request
            .condition_expression(
                "attribute_exists(#key) AND (attribute_not_exists(#sequencer) OR #sequencer < :sequencer)",
            )
            .expression_attribute_names("#sequencer", "sequencer")
            .expression_attribute_values(":sequencer", AttributeValue::S(sequencer.clone())),
        None => request.condition_expression("attribute_exists(#key)"),
    };
    match request
        .send()
        .instrument(tracing::info_span!("DynamoDB.DeleteItem"))
        .await
    {
        Ok(_) => {
            tracing::info!("object removed from the bucket: item deleted");
            Ok(Outcome::Removed)
        }
        Err(SdkError::ServiceError(error)) if error.err().is_conditional_check_failed_exception() => {
            tracing::info!("no item, or one from a later event: unchanged");
            Ok(Outcome::Unchanged)
        }
        Err(source) => Err(RecordError::Delete {
            key: upload.key.clone(),
            source: Box::new(source),
        }),
    }
}

/// Whether the bucket holds the key now.
async fn object_exists(deps: &Deps, upload: &Upload) -> Result<bool, RecordError> {
    let head = deps
        .s3
        .head_object()
        .bucket(&upload.bucket)
        .key(&upload.key)
        .send()
        .await;
    match head {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(error)) if error.err().is_not_found() => Ok(false),
        Err(source) => Err(RecordError::Head {
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            source: Box::new(source),
        }),
    }
}

fn rfc3339(time: DateTime) -> String {
    // Formatting a valid timestamp as RFC 3339 only fails for years beyond 9999.
    time.fmt(DateTimeFormat::DateTime).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Value {
        serde_json::from_str(include_str!("../events/object-created.json")).unwrap()
    }

    #[test]
    fn fixture_record_decodes_plus_as_space_and_percent_2b_as_plus() {
        let upload = parse_record(0, &fixture()["Records"][0]).unwrap();
        assert_eq!(upload.key, "uploads/reports/Q3 report + notes.txt");
        assert_eq!(upload.bucket, "workshop-uploads");
        assert_eq!(upload.event_name, "ObjectCreated:Put");
        assert_eq!(upload.etag.as_deref(), Some("e4d7f1b4ed2e42d15898f4b27b019da4"));
    }

    #[test]
    fn fields_the_function_does_not_use_may_be_missing() {
        let mut record = fixture()["Records"][0].clone();
        for unused in ["userIdentity", "requestParameters", "eventTime", "responseElements"] {
            record.as_object_mut().unwrap().remove(unused);
        }
        assert_eq!(
            parse_record(0, &record).unwrap().key,
            "uploads/reports/Q3 report + notes.txt"
        );
    }

    #[test]
    fn record_without_a_key_names_the_missing_field() {
        let event: Value = serde_json::from_str(include_str!("../events/malformed.json")).unwrap();
        let error = parse_record(0, &event["Records"][0]).unwrap_err();
        assert_eq!(error.to_string(), "record 0 is malformed: s3.object.key is missing");
    }

    #[test]
    fn record_of_the_wrong_shape_says_what_serde_expected() {
        let error = parse_record(3, &serde_json::json!({"s3": "nope"})).unwrap_err();
        assert!(error.to_string().starts_with("record 3 is malformed: "), "{error}");
    }

    #[test]
    fn sequencers_are_right_padded_so_string_order_is_s3s_order() {
        assert_eq!(
            padded_sequencer("0065643a1b2c3d4e5f").unwrap(),
            "0065643A1B2C3D4E5F00000000000000"
        );
        // A pair on which the two rules disagree. S3's rule (right-pad): "0066" -> "00660" is
        // after "00655". The old left-pad rule ("00066" < "00655") would call it older.
        let (shorter, longer) = ("0066", "00655");
        assert!(padded_sequencer(shorter).unwrap() > padded_sequencer(longer).unwrap());
        assert!(
            format!("{shorter:0>5}").as_str() < longer,
            "the old rule orders them the other way"
        );
    }

    #[test]
    fn a_sequencer_that_is_not_hex_or_too_long_is_rejected() {
        assert_eq!(padded_sequencer("12G4"), None);
        assert_eq!(padded_sequencer(""), None);
        assert_eq!(padded_sequencer(&"A".repeat(33)), None);
        assert!(padded_sequencer(&"A".repeat(32)).is_some());
    }

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
                upload_prefix: "uploads/".to_owned()
            }
        );
        assert!(env(None, None).unwrap_err().contains("OBJECTS_TABLE_NAME"));
        assert!(env(Some("objects"), Some("uploads"))
            .unwrap_err()
            .contains("UPLOAD_PREFIX"));
    }
}
