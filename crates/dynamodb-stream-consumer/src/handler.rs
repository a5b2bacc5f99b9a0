//! Per-folder statistics from the objects table's stream, exact under at-least-once delivery.
//!
//! Each record becomes a change to one folder's counters. A record is applied together with a
//! marker naming it, in one DynamoDB transaction that fails if the marker already exists: a record
//! delivered again finds its marker and changes nothing. Consecutive records share a transaction
//! (up to DynamoDB's 100 actions), so a batch of 1,000 records costs about a dozen calls.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::dynamodb::EventRecord;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Deserialize;
use serde_json::Value;
use shared::catalog::ObjectItem;
use tracing::Instrument;

/// DynamoDB's limit of actions in one transaction.
const MAX_TRANSACTION_ACTIONS: usize = 100;
/// How often a transaction cancelled by a conflict or by throttling is tried again within one
/// invocation, waiting [`CONFLICT_BACKOFF`] doubled each time (0.1 + 0.2 + ... + 1.6 seconds), before its
/// records are reported as failed. A short burst of contention then costs a few hundred
/// milliseconds, not one of the event source mapping's retries (and, after the last of those,
/// records parked in the failure queue: statistics that drift for good).
const CONFLICT_RETRIES: u32 = 5;
const CONFLICT_BACKOFF: Duration = Duration::from_millis(100);

/// Cancellation reasons that say "try again": another transaction or write touched the same item
/// at the same time, or the table was throttled. (`ConditionalCheckFailed` means the marker exists:
/// the record was applied before.)
const TRANSIENT_REASONS: [&str; 3] = [
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
];

/// What the function reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `STATISTICS_TABLE_NAME`: per-folder counters.
    pub statistics_table: String,
    /// `PROCESSED_RECORDS_TABLE_NAME`: one marker per applied record, expiring after `marker_ttl`.
    pub processed_records_table: String,
    /// How long a marker is kept: longer than a record can be redelivered (the stream keeps
    /// records 24 hours). Fixed at 48 hours.
    pub marker_ttl: Duration,
}

impl Config {
    /// Reads the configuration through `lookup` (`std::env::var` in `main`, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let required = |name: &str| shared::config::required(&lookup, name);
        Ok(Config {
            statistics_table: required("STATISTICS_TABLE_NAME")?,
            processed_records_table: required("PROCESSED_RECORDS_TABLE_NAME")?,
            marker_ttl: Duration::from_secs(48 * 3600),
        })
    }
}

/// The client and configuration every invocation uses, built once in `main`.
pub struct Deps {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub config: Config,
}

impl Deps {
    /// The client for `aws` (see `shared::aws`), with `config`.
    pub fn new(aws: &aws_config::SdkConfig, config: Config) -> Deps {
        Deps {
            dynamodb: shared::aws::dynamodb_client(aws),
            config,
        }
    }
}

/// Why a whole invocation failed: Lambda then retries the whole batch.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a DynamoDB stream event: it has no `Records` array")]
    NotAStreamEvent,
    #[error("record {index} has no dynamodb.SequenceNumber, so it cannot be reported on its own")]
    Unidentifiable { index: usize },
}

impl From<Error> for Diagnostic {
    fn from(error: Error) -> Diagnostic {
        shared::error::report("MalformedEvent", &error)
    }
}

/// Why one record, and so every record after it, was not applied.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("record {index} is malformed: {reason}")]
    Malformed { index: usize, reason: String },
    #[error("the transaction applying records {first} to {last} failed")]
    Transaction {
        first: usize,
        last: usize,
        #[source]
        source: Box<SdkError<TransactWriteItemsError>>,
    },
}

/// One record, decoded: the change it makes to one folder's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `eventID`, unique per record: the marker's key.
    pub record_id: String,
    pub folder: String,
    pub objects: i64,
    pub bytes: i64,
}

/// Applies a batch of stream records, reporting the first that fails and every one after it.
///
/// Lambda resumes from the lowest reported sequence number, so the records before it are never
/// delivered again by that retry, and the reported ones keep their order.
pub async fn function_handler(deps: &Deps, event: LambdaEvent<Value>) -> Result<DynamoDbEventResponse, Error> {
    let Some(Value::Array(records)) = event.payload.get("Records") else {
        return Err(Error::NotAStreamEvent);
    };
    // Every record must be reportable before anything is applied: a failure we could not name
    // would make Lambda retry the whole batch anyway.
    let sequence_numbers = records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            record
                .pointer("/dynamodb/SequenceNumber")
                .and_then(Value::as_str)
                .filter(|number| !number.is_empty())
                .ok_or(Error::Unidentifiable { index })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut applied = 0;
    let first_failure = match apply_records(deps, records, &mut applied).await {
        Ok(()) => None,
        Err((index, error)) => {
            tracing::error!(index, error = %shared::error::chain(&error), "record failed; it and the rest are reported");
            Some(index)
        }
    };
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = sequence_numbers[first_failure.unwrap_or(records.len())..]
        .iter()
        .map(|number| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some((*number).to_owned());
            failure
        })
        .collect();
    let failed = response.batch_item_failures.len();
    tracing::info!(records = records.len(), applied, failed, "batch done");
    let mut metrics = shared::metrics::Metrics::new();
    metrics.count("RecordsApplied", applied);
    // Delivered again (by a retry, or twice in one batch): their marker says they count already.
    metrics.count("RecordsAlreadyApplied", records.len().saturating_sub(applied + failed));
    metrics.count("RecordsFailed", failed);
    metrics.emit();
    Ok(response)
}

/// Decodes and applies records in order, adding to `applied` the number applied now (not before);
/// stops at the first failure and returns its index.
async fn apply_records(deps: &Deps, records: &[Value], applied: &mut usize) -> Result<(), (usize, RecordError)> {
    let mut pending: Vec<(usize, Change)> = Vec::new();
    for (index, record) in records.iter().enumerate() {
        match change_of(index, record) {
            // The same record twice in one batch: one transaction can't write its marker twice.
            Ok(change) if pending.iter().any(|(_, seen)| seen.record_id == change.record_id) => {}
            Ok(change) => {
                if !fits_one_transaction(&pending, &change) {
                    *applied += apply_in_one_transaction(deps, &pending).await?;
                    pending.clear();
                }
                pending.push((index, change));
            }
            Err(error) => {
                // Apply what came before the bad record, then report it and everything after.
                *applied += apply_in_one_transaction(deps, &pending).await?;
                return Err((index, error));
            }
        }
    }
    *applied += apply_in_one_transaction(deps, &pending).await?;
    Ok(())
}

/// Whether `next` can join `pending` without the transaction exceeding its action limit: one
/// marker per record plus one update per distinct folder.
fn fits_one_transaction(pending: &[(usize, Change)], next: &Change) -> bool {
    let mut folders: Vec<&str> = pending.iter().map(|(_, change)| change.folder.as_str()).collect();
    folders.push(&next.folder);
    folders.sort_unstable();
    folders.dedup();
    pending.len() + 1 + folders.len() <= MAX_TRANSACTION_ACTIONS
}

/// What a record changes, from its images (typed with `serde_dynamo`, never parsed by hand).
pub fn change_of(index: usize, record: &Value) -> Result<Change, RecordError> {
    let malformed = |reason: String| RecordError::Malformed { index, reason };
    let record = EventRecord::deserialize(record).map_err(|error| malformed(error.to_string()))?;
    if record.event_id.is_empty() {
        return Err(malformed("eventID is missing".to_owned()));
    }
    let image = |item: serde_dynamo::Item, name: &str| -> Result<ObjectItem, RecordError> {
        if item.is_empty() {
            return Err(malformed(format!("{name} is missing")));
        }
        serde_dynamo::from_item(item).map_err(|error| malformed(format!("{name} is not an object item: {error}")))
    };
    let bytes = |item: &ObjectItem| i64::try_from(item.size).map_err(|_| malformed("size is too large".to_owned()));
    let change = record.change;
    let (folder, objects, bytes) = match record.event_name.as_str() {
        "INSERT" => {
            let new = image(change.new_image, "NewImage")?;
            let size = bytes(&new)?;
            (new.folder, 1, size)
        }
        "MODIFY" => {
            let (old, new) = (
                image(change.old_image, "OldImage")?,
                image(change.new_image, "NewImage")?,
            );
            // The folder is the partition key: an item cannot move, so both images agree.
            (new.folder.clone(), 0, bytes(&new)? - bytes(&old)?)
        }
        "REMOVE" => {
            let old = image(change.old_image, "OldImage")?;
            let size = bytes(&old)?;
            (old.folder, -1, -size)
        }
        other => {
            return Err(malformed(format!(
                "eventName {other:?} is not INSERT, MODIFY or REMOVE"
            )))
        }
    };
    Ok(Change {
        record_id: record.event_id,
        folder,
        objects,
        bytes,
    })
}

/// Applies `changes` atomically, each exactly once: records whose marker already exists were
/// applied before (a redelivery) and are left out. Returns how many were applied now.
async fn apply_in_one_transaction(deps: &Deps, changes: &[(usize, Change)]) -> Result<usize, (usize, RecordError)> {
    let mut remaining: Vec<&(usize, Change)> = changes.iter().collect();
    let mut conflicts = 0;
    // Each pass either succeeds, learns which markers exist and drops those records, or waits out
    // a conflict; so it ends after at most one pass per record plus `CONFLICT_RETRIES`.
    while !remaining.is_empty() {
        let (first, last) = (remaining[0].0, remaining[remaining.len() - 1].0);
        let items = transaction_items(&deps.config, &remaining);
        // Named after the AWS call: a subsegment in the invocation's X-Ray trace.
        let span = tracing::info_span!("DynamoDB.TransactWriteItems", first, last, records = remaining.len());
        match deps
            .dynamodb
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .instrument(span)
            .await
        {
            Ok(_) => {
                tracing::info!(first, last, applied = remaining.len(), "records applied");
                return Ok(remaining.len());
            }
            Err(SdkError::ServiceError(error)) if error.err().is_transaction_canceled_exception() => {
                let reasons = match error.err() {
                    TransactWriteItemsError::TransactionCanceledException(canceled) => canceled.cancellation_reasons(),
                    _ => &[],
                };
                let already_applied: Vec<usize> = reasons
                    .iter()
                    .take(remaining.len())
                    .enumerate()
                    .filter(|(_, reason)| reason.code() == Some("ConditionalCheckFailed"))
                    .map(|(position, _)| position)
                    .collect();
                let transient = reasons
                    .iter()
                    .any(|reason| reason.code().is_some_and(|code| TRANSIENT_REASONS.contains(&code)));
                if already_applied.is_empty() && !(transient && conflicts < CONFLICT_RETRIES) {
                    let source = Box::new(SdkError::ServiceError(error));
                    return Err((first, RecordError::Transaction { first, last, source }));
                }
                if already_applied.is_empty() {
                    let wait = CONFLICT_BACKOFF * 2u32.pow(conflicts);
                    conflicts += 1;
                    tracing::warn!(
                        first,
                        last,
                        attempt = conflicts,
                        wait_ms = wait.as_millis() as u64,
                        "transaction conflicted or was throttled: trying again"
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                tracing::info!(
                    count = already_applied.len(),
                    "records delivered again: already applied, skipped"
                );
                remaining = remaining
                    .into_iter()
                    .enumerate()
                    .filter(|(position, _)| !already_applied.contains(position))
                    .map(|(_, change)| change)
                    .collect();
            }
            Err(error) => {
                return Err((
                    first,
                    RecordError::Transaction {
                        first,
                        last,
                        source: Box::new(error),
                    },
                ));
            }
        }
    }
    // Every record had been applied before.
    Ok(0)
}

/// One marker `Put` per record (first, in record order, so cancellation reasons line up with
/// records), then one `Update` per folder with the sum of its records' changes.
fn transaction_items(config: &Config, changes: &[&(usize, Change)]) -> Vec<TransactWriteItem> {
    let now = SystemTime::now();
    let expires_at = now.duration_since(UNIX_EPOCH).unwrap_or_default() + config.marker_ttl;
    let updated_at = DateTime::from(now).fmt(DateTimeFormat::DateTime).unwrap_or_default();

    let mut items = Vec::new();
    let mut per_folder: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (_, change) in changes {
        let marker = Put::builder()
            .table_name(&config.processed_records_table)
            .item("record_id", AttributeValue::S(change.record_id.clone()))
            .item("expires_at", AttributeValue::N(expires_at.as_secs().to_string()))
            .condition_expression("attribute_not_exists(record_id)");
        items.push(
            TransactWriteItem::builder()
                .put(marker.build().expect("table, item and condition are set"))
                .build(),
        );
        let totals = per_folder.entry(&change.folder).or_default();
        totals.0 += change.objects;
        totals.1 += change.bytes;
    }
    for (folder, (objects, bytes)) in per_folder {
        let update = Update::builder()
            .table_name(&config.statistics_table)
            .key("folder", AttributeValue::S(folder.to_owned()))
            .update_expression("ADD object_count :objects, total_bytes :bytes SET updated_at = :now")
            .expression_attribute_values(":objects", AttributeValue::N(objects.to_string()))
            .expression_attribute_values(":bytes", AttributeValue::N(bytes.to_string()))
            .expression_attribute_values(":now", AttributeValue::S(updated_at.clone()));
        items.push(
            TransactWriteItem::builder()
                .update(update.build().expect("table, key and expression are set"))
                .build(),
        );
    }
    items
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn image(folder: &str, key: &str, size: u64) -> Value {
        json!({
            "folder": {"S": folder}, "key": {"S": key}, "bucket": {"S": "workshop-uploads"},
            "size": {"N": size.to_string()}, "sha256": {"S": "00"}, "content_type": {"S": "text/plain"},
            "etag": {"S": "00"}, "last_modified": {"S": "2026-11-27T06:00:00Z"},
            "indexed_at": {"S": "2026-11-27T06:00:01Z"}
        })
    }

    fn record(name: &str, old: Option<Value>, new: Option<Value>) -> Value {
        let mut change = json!({"SequenceNumber": "100", "SizeBytes": 10, "StreamViewType": "NEW_AND_OLD_IMAGES",
                                "Keys": {"folder": {"S": "uploads/"}, "key": {"S": "uploads/a.txt"}}});
        if let Some(old) = old {
            change["OldImage"] = old;
        }
        if let Some(new) = new {
            change["NewImage"] = new;
        }
        json!({"eventID": "e1", "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
               "awsRegion": "us-east-1", "dynamodb": change})
    }

    #[test]
    fn insert_adds_the_object_and_its_bytes() {
        let change = change_of(0, &record("INSERT", None, Some(image("uploads/", "uploads/a.txt", 10)))).unwrap();
        assert_eq!(
            (change.folder.as_str(), change.objects, change.bytes),
            ("uploads/", 1, 10)
        );
    }

    #[test]
    fn modify_applies_the_size_difference_both_ways() {
        let grow = record(
            "MODIFY",
            Some(image("uploads/", "uploads/a.txt", 10)),
            Some(image("uploads/", "uploads/a.txt", 25)),
        );
        let shrink = record(
            "MODIFY",
            Some(image("uploads/", "uploads/a.txt", 25)),
            Some(image("uploads/", "uploads/a.txt", 4)),
        );
        assert_eq!(
            (change_of(0, &grow).unwrap().objects, change_of(0, &grow).unwrap().bytes),
            (0, 15)
        );
        assert_eq!(change_of(0, &shrink).unwrap().bytes, -21);
    }

    #[test]
    fn remove_subtracts_using_the_old_image() {
        let change = change_of(0, &record("REMOVE", Some(image("uploads/", "uploads/a.txt", 7)), None)).unwrap();
        assert_eq!((change.objects, change.bytes), (-1, -7));
    }

    #[test]
    fn a_missing_image_is_a_malformed_record_naming_it() {
        let error = change_of(4, &record("INSERT", None, None)).unwrap_err();
        assert_eq!(error.to_string(), "record 4 is malformed: NewImage is missing");
    }

    #[test]
    fn an_image_that_is_not_an_object_item_is_malformed() {
        let error = change_of(0, &record("INSERT", None, Some(json!({"folder": {"S": "uploads/"}})))).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("record 0 is malformed: NewImage is not an object item"),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_event_name_is_malformed() {
        let error = change_of(0, &record("TRUNCATE", None, None)).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("\"TRUNCATE\" is not INSERT, MODIFY or REMOVE"),
            "{error}"
        );
    }

    #[test]
    fn a_transaction_holds_at_most_100_actions() {
        let change = |n: usize, folder: &str| Change {
            record_id: n.to_string(),
            folder: folder.to_owned(),
            objects: 1,
            bytes: 1,
        };
        let same_folder: Vec<(usize, Change)> = (0..98).map(|n| (n, change(n, "uploads/"))).collect();
        assert!(
            fits_one_transaction(&same_folder, &change(98, "uploads/")),
            "98 + 1 markers and 1 update fit"
        );
        assert!(
            !fits_one_transaction(&same_folder, &change(98, "uploads/other/")),
            "99 markers and 2 updates do not"
        );
    }

    #[test]
    fn the_fixture_batch_decodes_to_its_four_changes() {
        let event: Value = serde_json::from_str(include_str!("../events/stream-batch.json")).unwrap();
        let records = event["Records"].as_array().unwrap();
        let changes: Vec<(i64, i64)> = records
            .iter()
            .enumerate()
            .map(|(index, record)| {
                change_of(index, record)
                    .map(|change| (change.objects, change.bytes))
                    .unwrap()
            })
            .collect();
        assert_eq!(changes, [(1, 12), (1, 30), (0, 28), (-1, -30)]);
    }

    #[test]
    fn config_needs_both_tables() {
        let config = Config::from_lookup(|name| (name == "STATISTICS_TABLE_NAME").then(|| "statistics".to_owned()));
        assert_eq!(config.unwrap_err(), "PROCESSED_RECORDS_TABLE_NAME is required");
    }

    // DynamoDB's conflicts and throttling can't be produced on demand by the emulator, so these
    // answer from a mocked client.

    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
    use lambda_runtime::Context;

    fn cancelled(codes: &[&str]) -> TransactWriteItemsError {
        let reasons = codes
            .iter()
            .map(|code| CancellationReason::builder().code(*code).build())
            .collect();
        TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .message("Transaction cancelled")
                .set_cancellation_reasons(Some(reasons))
                .build(),
        )
    }

    fn deps_answering(rule: &Rule) -> Deps {
        let interceptor = MockResponseInterceptor::new()
            .rule_mode(RuleMode::Sequential)
            .with_rule(rule);
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "key", "secret", None, None, "test",
            ))
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .build();
        Deps {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(config),
            config: Config {
                statistics_table: "statistics".to_owned(),
                processed_records_table: "processed".to_owned(),
                marker_ttl: Duration::from_secs(60),
            },
        }
    }

    fn one_record_batch() -> LambdaEvent<Value> {
        let record = record("INSERT", None, Some(image("uploads/", "uploads/a.txt", 10)));
        LambdaEvent::new(json!({ "Records": [record] }), Context::default())
    }

    #[tokio::test]
    async fn a_conflicting_or_throttled_transaction_is_tried_again_before_anything_is_reported() {
        let transaction = mock!(aws_sdk_dynamodb::Client::transact_write_items)
            .sequence()
            .error(|| cancelled(&["None", "TransactionConflict"]))
            .error(|| cancelled(&["ThrottlingError", "None"]))
            .output(|| TransactWriteItemsOutput::builder().build())
            .build();

        let response = function_handler(&deps_answering(&transaction), one_record_batch())
            .await
            .unwrap();

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(transaction.num_calls(), 3);
    }

    #[tokio::test]
    async fn a_conflict_that_outlasts_the_retries_reports_the_record() {
        let transaction = mock!(aws_sdk_dynamodb::Client::transact_write_items)
            .sequence()
            .error(|| cancelled(&["None", "TransactionConflict"]))
            .repeatedly()
            .build();

        let response = function_handler(&deps_answering(&transaction), one_record_batch())
            .await
            .unwrap();

        assert_eq!(response.batch_item_failures.len(), 1);
        assert_eq!(transaction.num_calls(), 1 + CONFLICT_RETRIES as usize);
    }
}
