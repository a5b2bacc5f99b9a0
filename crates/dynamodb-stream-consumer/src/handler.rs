//! Per-folder statistics from the objects table's stream, exact under at-least-once delivery.
//!
//! Each record becomes a change to one folder's counters. A record is applied together with a
//! marker naming it, in one DynamoDB transaction that fails if the marker already exists: a record
//! delivered again finds its marker and changes nothing. Consecutive records share a transaction
//! (up to DynamoDB's 100 actions), so a batch of 1,000 records costs about a dozen calls.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde_json::Value;

mod change;
mod transaction;

pub use change::{change_of, Change};
use transaction::{apply_in_one_transaction, fits_one_transaction, Applied};

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
    #[error("records {first} to {last} were not applied: too little of the invocation's time was left")]
    OutOfTime { first: usize, last: usize },
    #[error("reading when {folder} was last repaired failed")]
    Watermark {
        folder: String,
        #[source]
        source: Box<SdkError<aws_sdk_dynamodb::operation::get_item::GetItemError>>,
    },
    #[error("the transaction applying records {first} to {last} failed")]
    Transaction {
        first: usize,
        last: usize,
        #[source]
        source: Box<SdkError<TransactWriteItemsError>>,
    },
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

    let deadline = Deadline::of(&event.context);
    let tally = apply_records(deps, records, deadline).await;
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = sequence_numbers[tally.first_failure.unwrap_or(records.len())..]
        .iter()
        .map(|number| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some((*number).to_owned());
            failure
        })
        .collect();
    let reported = response.batch_item_failures.len();
    tracing::info!(
        records = records.len(),
        applied = tally.applied,
        already_applied = tally.already_applied,
        without_change = tally.without_change,
        counted_by_a_repair = tally.counted_by_a_repair,
        reported,
        "batch done"
    );
    let mut metrics = shared::metrics::Metrics::new();
    metrics.count("RecordsApplied", tally.applied);
    // Delivered again (by a retry, or twice in one batch): their marker says they count already.
    metrics.count("RecordsAlreadyApplied", tally.already_applied);
    // A tombstone's arrival or expiry: nothing to count.
    metrics.count("RecordsWithoutChange", tally.without_change);
    // Lagging records whose change the reconciler's recount already included.
    metrics.count("RecordsCountedByRepair", tally.counted_by_a_repair);
    metrics.count("RecordsFailed", reported);
    metrics.emit();
    Ok(response)
}

/// How long before the invocation's deadline the function stops starting transactions and
/// reports what it has not applied: one transaction can take up to the SDK's operation timeout
/// (8 s, `shared::aws`), and the answer must reach Lambda before the deadline, or the whole
/// batch is retried as if nothing had been applied.
pub(crate) const TIME_RESERVE: Duration = Duration::from_secs(10);

/// The invocation's deadline, less [`TIME_RESERVE`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(SystemTime);

/// 2000-01-01 in milliseconds since the Unix epoch. Lambda's deadlines are times, always later;
/// cargo-lambda's runtime emulator sends the function's timeout instead (`600000`, ten minutes),
/// so a smaller value is read as a time that far from now.
const YEAR_2000_MS: u64 = 946_684_800_000;

impl Deadline {
    fn of(context: &Context) -> Deadline {
        let deadline = if context.deadline < YEAR_2000_MS {
            SystemTime::now() + Duration::from_millis(context.deadline)
        } else {
            UNIX_EPOCH + Duration::from_millis(context.deadline)
        };
        Deadline(deadline.checked_sub(TIME_RESERVE).unwrap_or(UNIX_EPOCH))
    }

    /// Whether work that takes `duration` from now still ends in time.
    pub(crate) fn allows(&self, duration: Duration) -> bool {
        SystemTime::now() + duration <= self.0
    }
}

/// What became of a batch's records.
#[derive(Debug, Default)]
struct Tally {
    /// Applied by this invocation.
    applied: usize,
    /// Found applied before (their marker exists), or twice in this batch.
    already_applied: usize,
    /// Changing no count (a tombstone's arrival or expiry).
    without_change: usize,
    /// Older than their folder's last repair, which counted them.
    counted_by_a_repair: usize,
    /// The first record not applied: it and every record after it are reported.
    first_failure: Option<usize>,
    /// Folders with a record not applied: their later records wait for the retry, in order.
    failed_folders: BTreeSet<String>,
}

impl Tally {
    fn count(&mut self, applied: &Applied, records: usize) {
        self.applied += applied.now;
        self.counted_by_a_repair += applied.counted_by_a_repair;
        self.already_applied += records - applied.now - applied.counted_by_a_repair;
    }

    fn fail(&mut self, index: usize, folder: Option<&str>) {
        self.first_failure = Some(self.first_failure.map_or(index, |first| first.min(index)));
        if let Some(folder) = folder {
            self.failed_folders.insert(folder.to_owned());
        }
    }
}

/// Decodes and applies records in order.
///
/// A record that cannot be decoded stops the batch there: what it would change is unknown. A
/// folder whose transaction fails (a statistics item DynamoDB refuses to add to, a conflict that
/// outlasts the retries) stops only that folder: the other folders' records are applied, and
/// reported with the rest, so the retry finds their markers and skips them. When the deadline is
/// near, nothing more is started, and the rest is reported.
async fn apply_records(deps: &Deps, records: &[Value], deadline: Deadline) -> Tally {
    let mut tally = Tally::default();
    let mut pending: Vec<(usize, Change)> = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let change = match change_of(index, record) {
            Ok(Some(change)) => change,
            Ok(None) => {
                tally.without_change += 1;
                continue;
            }
            Err(error) => {
                apply(deps, &mut pending, deadline, &mut tally).await;
                tracing::error!(index, error = %shared::error::chain(&error), "record cannot be applied; it and the rest are reported");
                tally.fail(index, None);
                return tally;
            }
        };
        if tally.failed_folders.contains(&change.folder) {
            continue;
        }
        // The same record twice in one batch: one transaction can't write its marker twice.
        if pending.iter().any(|(_, seen)| seen.record_id == change.record_id) {
            tally.already_applied += 1;
            continue;
        }
        if !fits_one_transaction(&pending, &change) {
            apply(deps, &mut pending, deadline, &mut tally).await;
        }
        pending.push((index, change));
    }
    apply(deps, &mut pending, deadline, &mut tally).await;
    tally
}

/// Applies `pending` in one transaction and empties it. If that fails and the records span
/// several folders, each folder is tried on its own, so that one folder's failure is not its
/// neighbours'.
async fn apply(deps: &Deps, pending: &mut Vec<(usize, Change)>, deadline: Deadline, tally: &mut Tally) {
    let changes = std::mem::take(pending);
    let (Some((first, _)), Some((last, _))) = (changes.first(), changes.last()) else {
        return;
    };
    let result = if deadline.allows(Duration::ZERO) {
        apply_in_one_transaction(deps, &changes, deadline).await
    } else {
        Err((
            *first,
            RecordError::OutOfTime {
                first: *first,
                last: *last,
            },
        ))
    };
    let folders: BTreeSet<&str> = changes.iter().map(|(_, change)| change.folder.as_str()).collect();
    let groups = match result {
        Ok(applied) => {
            tally.count(&applied, changes.len());
            return;
        }
        Err((_, error)) if folders.len() == 1 || matches!(error, RecordError::OutOfTime { .. }) => {
            tracing::error!(error = %shared::error::chain(&error), "records not applied; reported for a retry");
            vec![changes]
        }
        Err((_, error)) => {
            tracing::warn!(error = %shared::error::chain(&error), "transaction failed: trying each folder on its own");
            let mut by_folder: Vec<Vec<(usize, Change)>> = Vec::new();
            for folder in folders {
                by_folder.push(
                    changes
                        .iter()
                        .filter(|(_, change)| change.folder == folder)
                        .cloned()
                        .collect(),
                );
            }
            let mut failed = Vec::new();
            for group in by_folder {
                match apply_in_one_transaction(deps, &group, deadline).await {
                    Ok(applied) => tally.count(&applied, group.len()),
                    Err((_, error)) => {
                        tracing::error!(folder = %group[0].1.folder, error = %shared::error::chain(&error), "the folder's records not applied; reported for a retry");
                        failed.push(group);
                    }
                }
            }
            failed
        }
    };
    for group in groups {
        for (index, change) in &group {
            tally.fail(*index, Some(change.folder.as_str()));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::change::tests::{image, record};

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
        LambdaEvent::new(
            json!({ "Records": [record] }),
            testkit::invocation_context(Duration::from_secs(60)),
        )
    }

    #[tokio::test]
    async fn with_too_little_time_left_nothing_is_started_and_the_records_are_reported() {
        let transaction = mock!(aws_sdk_dynamodb::Client::transact_write_items)
            .sequence()
            .output(|| TransactWriteItemsOutput::builder().build())
            .build();
        let mut batch = one_record_batch();
        batch.context = testkit::invocation_context(TIME_RESERVE / 2);

        let response = function_handler(&deps_answering(&transaction), batch).await.unwrap();

        assert_eq!(response.batch_item_failures.len(), 1);
        assert_eq!(transaction.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_deadline_given_as_a_timeout_is_counted_from_now() {
        let transaction = mock!(aws_sdk_dynamodb::Client::transact_write_items)
            .sequence()
            .output(|| TransactWriteItemsOutput::builder().build())
            .build();
        let mut batch = one_record_batch();
        // What cargo-lambda's runtime emulator sends as `lambda-runtime-deadline-ms`.
        batch.context.deadline = 600_000;

        let response = function_handler(&deps_answering(&transaction), batch).await.unwrap();

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(transaction.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_conflict_is_not_waited_out_past_the_deadline() {
        let transaction = mock!(aws_sdk_dynamodb::Client::transact_write_items)
            .sequence()
            .error(|| cancelled(&["None", "TransactionConflict"]))
            .repeatedly()
            .build();
        let mut batch = one_record_batch();
        // Time for the first wait (0.1 s) at most, not for the five (3.1 s).
        batch.context = testkit::invocation_context(TIME_RESERVE + Duration::from_millis(150));
        let started = std::time::Instant::now();

        let response = function_handler(&deps_answering(&transaction), batch).await.unwrap();

        assert_eq!(response.batch_item_failures.len(), 1);
        assert!(transaction.num_calls() < 1 + transaction::CONFLICT_RETRIES as usize);
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
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
        assert_eq!(transaction.num_calls(), 1 + transaction::CONFLICT_RETRIES as usize);
    }
}
