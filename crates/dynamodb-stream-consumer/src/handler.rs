//! Per-folder statistics from the objects table's stream, exact under at-least-once delivery.
//!
//! Each record becomes a change to one folder's counters. A record is applied together with a
//! marker naming it, in one DynamoDB transaction that fails if the marker already exists: a record
//! delivered again finds its marker and changes nothing. Consecutive records share a transaction
//! (up to DynamoDB's 100 actions), so a batch of 1,000 records costs about a dozen calls.

use std::time::Duration;

use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;

mod batch;
mod change;
mod transaction;

use batch::{apply_records, TIME_RESERVE};
pub use change::{change_of, Change};
use shared::deadline::Deadline;

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

    let deadline = Deadline::of(&event.context, TIME_RESERVE);
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::batch::TIME_RESERVE;
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
