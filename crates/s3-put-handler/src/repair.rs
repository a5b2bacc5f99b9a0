//! The catalog's repair run: what the events missed, found and put right. EventBridge starts it
//! every hour (`template.yaml`); `cargo lambda invoke` or `aws lambda invoke` with
//! `events/scheduled.json` starts it by hand.
//!
//! 1. **Replay the failure queue.** An event that failed every retry waits in the on-failure
//!    queue. Each one is applied again, exactly as if S3 had sent it now, and deleted from the
//!    queue once all its records are applied; one that fails again stays for the next run. Replaying
//!    is safe however late: every write is conditional on the event's sequencer, and the object is
//!    read as it is now (an object gone or overwritten since is not indexed from its old event).
//! 2. **Check the bucket against the table** (`bucket_check`), folder by folder: an object with no
//!    item (or an item of another version, or a tombstone) is indexed; an item whose object is gone
//!    becomes a tombstone. Only differences older than the quiet period are touched, and each write
//!    is conditional on the item being what the check read: an event still on its way, or applied
//!    meanwhile, wins.
//!
//! Both write to the objects table like any event does, so the stream consumer counts what they
//! fix: the statistics follow.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
use aws_sdk_sqs::operation::delete_message::DeleteMessageError;
use aws_sdk_sqs::operation::receive_message::ReceiveMessageError;
use aws_sdk_sqs::types::Message;
use lambda_runtime::Context;
use serde::Serialize;
use serde_json::Value;
use shared::deadline::Deadline;
use tracing::Instrument;

use crate::bucket_check::check_bucket;
use crate::{index_event, Deps, RecordError};

/// How long before the invocation's deadline the run stops starting work: one folder's check or
/// one replayed event can take a few SDK calls (8 s each at most, `shared::aws`).
const TIME_RESERVE: Duration = Duration::from_secs(30);

/// How long a received failure stays hidden from other readers: longer than the function's
/// timeout (300 s), so this run sees each message once; one that fails again reappears for the next.
const VISIBILITY_TIMEOUT_SECONDS: i32 = 900;

/// What a repair run did; the function's answer to a scheduled event.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct RepairSummary {
    /// Failed events applied and deleted from the queue.
    pub failed_events_replayed: usize,
    /// Failed events left in the queue: they failed again, or are not S3 events.
    pub failed_events_left: usize,
    /// Folders whose objects and items were compared.
    pub folders_checked: usize,
    /// Objects in the bucket that were compared with their items.
    pub objects_checked: usize,
    /// Objects that had no item of their version (missing, stale or a tombstone): indexed.
    pub missing_indexed: usize,
    /// Items whose object is gone from the bucket (ghosts): now tombstones.
    pub ghosts_removed: usize,
    /// Differences left for the next run: too recent (an event may be on its way), or changed
    /// while the check looked.
    pub differences_busy: usize,
    /// Differences whose repair failed (a call to S3 or DynamoDB): logged, left for the next run.
    pub repairs_failed: usize,
    /// Whether the run stopped before the end to answer before its deadline.
    pub stopped_early: bool,
}

impl RepairSummary {
    fn emit_metrics(&self) {
        let mut metrics = shared::metrics::Metrics::new();
        metrics.count("FailedEventsReplayed", self.failed_events_replayed);
        metrics.count("FailedEventsLeft", self.failed_events_left);
        metrics.count("CatalogMissingIndexed", self.missing_indexed);
        metrics.count("CatalogGhostsRemoved", self.ghosts_removed);
        metrics.count("CatalogDifferencesBusy", self.differences_busy);
        metrics.count("CatalogRepairsFailed", self.repairs_failed);
        metrics.emit();
    }
}

/// Why a repair run failed (Lambda retries a failed scheduled invocation twice; the next hour's
/// run starts afresh).
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    #[error("a repair run needs BUCKET_NAME (the bucket to check the table against)")]
    NotConfigured,
    #[error("reading the failure queue failed")]
    Receive(#[source] Box<aws_sdk_sqs::error::SdkError<ReceiveMessageError>>),
    #[error("deleting a replayed event from the failure queue failed")]
    DeleteMessage(#[source] Box<aws_sdk_sqs::error::SdkError<DeleteMessageError>>),
    #[error("listing s3://{bucket}/{folder} failed")]
    List {
        bucket: String,
        folder: String,
        #[source]
        source: Box<aws_sdk_s3::error::SdkError<ListObjectsV2Error>>,
    },
    #[error("reading the items of {folder} failed")]
    Query {
        folder: String,
        #[source]
        source: Box<aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::query::QueryError>>,
    },
    #[error("listing the table's folders failed")]
    Scan(#[source] Box<aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::scan::ScanError>>),
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// The invocation's deadline, less the run's reserve.
pub(crate) fn deadline_of(context: &Context) -> Deadline {
    Deadline::of(context, TIME_RESERVE)
}

/// Replays the failure queue, then checks the bucket against the table, as of now.
pub(crate) async fn run(deps: &Deps, deadline: Deadline) -> Result<RepairSummary, RepairError> {
    let settings = deps.config.repair.as_ref().ok_or(RepairError::NotConfigured)?;
    let mut summary = RepairSummary::default();
    if let Some(queue_url) = &settings.failed_uploads_queue_url {
        replay_failed_events(deps, queue_url, deadline, &mut summary)
            .instrument(tracing::info_span!("replay"))
            .await?;
    }
    let quiet_since = SystemTime::now()
        .checked_sub(settings.quiet_period)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    check_bucket(deps, &settings.bucket, quiet_since, deadline, &mut summary)
        .instrument(tracing::info_span!("bucket_check"))
        .await?;
    tracing::info!(
        replayed = summary.failed_events_replayed,
        left_in_queue = summary.failed_events_left,
        folders = summary.folders_checked,
        objects = summary.objects_checked,
        missing_indexed = summary.missing_indexed,
        ghosts_removed = summary.ghosts_removed,
        busy = summary.differences_busy,
        failed = summary.repairs_failed,
        stopped_early = summary.stopped_early,
        "repair run done"
    );
    summary.emit_metrics();
    Ok(summary)
}

/// Applies each event waiting in the failure queue, and deletes the ones that succeed.
async fn replay_failed_events(
    deps: &Deps,
    queue_url: &str,
    deadline: Deadline,
    summary: &mut RepairSummary,
) -> Result<(), RepairError> {
    while deadline.allows(Duration::ZERO) {
        let received = deps
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(VISIBILITY_TIMEOUT_SECONDS)
            .send()
            .instrument(tracing::info_span!("SQS.ReceiveMessage"))
            .await
            .map_err(|source| RepairError::Receive(Box::new(source)))?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(());
        }
        for message in messages {
            if replay(deps, &message).await {
                let Some(receipt) = message.receipt_handle() else {
                    continue;
                };
                deps.sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .instrument(tracing::info_span!("SQS.DeleteMessage"))
                    .await
                    .map_err(|source| RepairError::DeleteMessage(Box::new(source)))?;
                summary.failed_events_replayed += 1;
            } else {
                summary.failed_events_left += 1;
            }
        }
    }
    summary.stopped_early = true;
    Ok(())
}

/// Applies one failed event again; whether all its records were applied.
async fn replay(deps: &Deps, message: &Message) -> bool {
    let id = message.message_id().unwrap_or_default();
    let event = match failed_event(message.body().unwrap_or_default()) {
        Ok(event) => event,
        Err(reason) => {
            tracing::error!(
                message_id = id,
                reason,
                "a failure-queue message that is not an S3 event: left in the queue"
            );
            return false;
        }
    };
    // The repair run's own schedule parks a run that failed every retry here too: this run is
    // its retry.
    if event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
        tracing::info!(message_id = id, "a failed repair run: this run stands in for it");
        return true;
    }
    match index_event(deps, &event).await {
        Ok(applied) => {
            tracing::info!(message_id = id, ?applied, "failed event replayed");
            true
        }
        Err(error) => {
            tracing::warn!(message_id = id, error = %shared::error::chain(&error), "failed event failed again: left in the queue");
            false
        }
    }
}

/// The S3 event in a failure-queue message: Lambda's on-failure destination wraps it in an
/// invocation record (`requestPayload`); a dead-letter queue holds the event itself.
fn failed_event(body: &str) -> Result<Value, &'static str> {
    let mut message: Value = serde_json::from_str(body).map_err(|_| "its body is not JSON")?;
    if let Some(payload) = message.get_mut("requestPayload") {
        return Ok(payload.take());
    }
    if message.get("Records").is_some() {
        return Ok(message);
    }
    Err("neither an invocation record with a requestPayload nor an event with Records")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failed_event_is_read_from_an_invocation_record_or_as_it_is() {
        let event = json!({"Records": [{"eventName": "ObjectCreated:Put"}]});
        let record = json!({
            "version": "1.0",
            "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": event,
            "responsePayload": {"errorType": "RecordsFailed"},
        });
        assert_eq!(failed_event(&record.to_string()).unwrap(), event);
        assert_eq!(failed_event(&event.to_string()).unwrap(), event);
        assert!(failed_event("not json").is_err());
        assert!(failed_event(r#"{"hello": "world"}"#).is_err());
    }
}
