//! Changes applied in DynamoDB transactions, each record exactly once: a record's change and a
//! marker naming it go in the same transaction, which fails if the marker exists.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use tracing::Instrument;

use crate::{Change, Config, Deps, RecordError};
use shared::deadline::Deadline;

/// The statistics item's attribute the reconciler sets when it repairs a folder: its recount
/// included every change made before this time (milliseconds since the Unix epoch), so the
/// consumer must not apply those again, however late their records come.
pub(crate) const REPAIRED_THROUGH: &str = "repaired_through";

/// DynamoDB's limit of actions in one transaction.
const MAX_TRANSACTION_ACTIONS: usize = 100;
/// How often a transaction cancelled by a conflict or by throttling is tried again within one
/// invocation, waiting [`CONFLICT_BACKOFF`] doubled each time (0.1 + 0.2 + ... + 1.6 seconds), before its
/// records are reported as failed. A short burst of contention then costs a few hundred
/// milliseconds, not one of the event source mapping's retries (and, after the last of those,
/// records parked in the failure queue: statistics that drift for good).
pub(crate) const CONFLICT_RETRIES: u32 = 5;
const CONFLICT_BACKOFF: Duration = Duration::from_millis(100);

/// Cancellation reasons that say "try again": another transaction or write touched the same item
/// at the same time, or the table was throttled. (`ConditionalCheckFailed` means the marker exists:
/// the record was applied before.)
const TRANSIENT_REASONS: [&str; 3] = [
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
];

/// Whether `next` can join `pending` without the transaction exceeding its action limit: one
/// marker per record plus one update per distinct folder.
pub(crate) fn fits_one_transaction(pending: &[(usize, Change)], next: &Change) -> bool {
    let mut folders: Vec<&str> = pending.iter().map(|(_, change)| change.folder.as_str()).collect();
    folders.push(&next.folder);
    folders.sort_unstable();
    folders.dedup();
    pending.len() + 1 + folders.len() <= MAX_TRANSACTION_ACTIONS
}

/// What one call of [`apply_in_one_transaction`] did with its records.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Applied {
    /// Applied now.
    pub now: usize,
    /// Left out because the reconciler's last repair of their folder already counted them.
    pub counted_by_a_repair: usize,
}

/// Applies `changes` atomically, each exactly once: records whose marker already exists were
/// applied before (a redelivery) and are left out, and so are records older than their folder's
/// `repaired_through` (the reconciler's recount included them; see its README).
///
/// A conflict is waited out only while the wait leaves the invocation time to answer (see
/// [`Deadline`]); otherwise the records are given back as failed, for Lambda to retry.
pub(crate) async fn apply_in_one_transaction(
    deps: &Deps,
    changes: &[(usize, Change)],
    deadline: Deadline,
) -> Result<Applied, (usize, RecordError)> {
    let mut remaining: Vec<&(usize, Change)> = changes.iter().collect();
    let mut applied = Applied::default();
    let mut conflicts = 0;
    // Each pass either succeeds, learns which markers exist or which records a repair counted and
    // drops those records, or waits out a conflict; so it ends after at most one pass per record
    // plus `CONFLICT_RETRIES`.
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
                applied.now = remaining.len();
                return Ok(applied);
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
                // After the markers, one update per folder, in the folders' order: its condition
                // fails when a repair of the folder already counted one of these records.
                let folders: BTreeSet<&str> = remaining.iter().map(|(_, change)| change.folder.as_str()).collect();
                let repaired: Vec<String> = reasons
                    .iter()
                    .skip(remaining.len())
                    .zip(&folders)
                    .filter(|(reason, _)| reason.code() == Some("ConditionalCheckFailed"))
                    .map(|(_, folder)| (*folder).to_owned())
                    .collect();
                if !repaired.is_empty() {
                    let before = remaining.len();
                    for folder in &repaired {
                        let through = repaired_through(deps, folder).await.map_err(|source| {
                            (
                                first,
                                RecordError::Watermark {
                                    folder: folder.clone(),
                                    source,
                                },
                            )
                        })?;
                        remaining.retain(|(_, change)| &change.folder != folder || change.changed_at_ms >= through);
                    }
                    applied.counted_by_a_repair += before - remaining.len();
                    tracing::info!(
                        count = before - remaining.len(),
                        "records older than their folder's last repair: counted by it, skipped"
                    );
                    continue;
                }
                let transient = reasons
                    .iter()
                    .any(|reason| reason.code().is_some_and(|code| TRANSIENT_REASONS.contains(&code)));
                if already_applied.is_empty() && !(transient && conflicts < CONFLICT_RETRIES) {
                    let source = Box::new(SdkError::ServiceError(error));
                    return Err((first, RecordError::Transaction { first, last, source }));
                }
                if already_applied.is_empty() {
                    let wait = CONFLICT_BACKOFF * 2u32.pow(conflicts);
                    if !deadline.allows(wait) {
                        tracing::warn!(
                            first,
                            last,
                            "transaction conflicted and no time is left to wait: reported"
                        );
                        return Err((first, RecordError::OutOfTime { first, last }));
                    }
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
    // Every record had been applied before, or counted by a repair.
    Ok(applied)
}

/// The folder's `repaired_through`, in milliseconds since the Unix epoch (0 if it has none):
/// read consistently, since a repair has just been seen to set it.
async fn repaired_through(
    deps: &Deps,
    folder: &str,
) -> Result<i64, Box<SdkError<aws_sdk_dynamodb::operation::get_item::GetItemError>>> {
    let output = deps
        .dynamodb
        .get_item()
        .table_name(&deps.config.statistics_table)
        .key("folder", AttributeValue::S(folder.to_owned()))
        .projection_expression(REPAIRED_THROUGH)
        .consistent_read(true)
        .send()
        .instrument(tracing::info_span!("DynamoDB.GetItem", folder))
        .await
        .map_err(Box::new)?;
    let through = output
        .item()
        .and_then(|item| item.get(REPAIRED_THROUGH))
        .and_then(|value| value.as_n().ok())
        .and_then(|number| number.parse().ok());
    Ok(through.unwrap_or(0))
}

/// One marker `Put` per record (first, in record order, so cancellation reasons line up with
/// records), then one `Update` per folder with the sum of its records' changes.
fn transaction_items(config: &Config, changes: &[&(usize, Change)]) -> Vec<TransactWriteItem> {
    let now = SystemTime::now();
    let expires_at = now.duration_since(UNIX_EPOCH).unwrap_or_default() + config.marker_ttl;
    let updated_at = DateTime::from(now).fmt(DateTimeFormat::DateTime).unwrap_or_default();

    let mut items = Vec::new();
    // Per folder: objects, bytes, and the oldest change's time.
    let mut per_folder: BTreeMap<&str, (i64, i64, i64)> = BTreeMap::new();
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
        let totals = per_folder.entry(&change.folder).or_insert((0, 0, i64::MAX));
        totals.0 += change.objects;
        totals.1 += change.bytes;
        totals.2 = totals.2.min(change.changed_at_ms);
    }
    for (folder, (objects, bytes, oldest)) in per_folder {
        // Not if the reconciler's last repair of the folder counted one of these changes already.
        let update = Update::builder()
            .table_name(&config.statistics_table)
            .key("folder", AttributeValue::S(folder.to_owned()))
            .update_expression("ADD object_count :objects, total_bytes :bytes SET updated_at = :now")
            .condition_expression("attribute_not_exists(#through) OR #through <= :oldest")
            .expression_attribute_names("#through", REPAIRED_THROUGH)
            .expression_attribute_values(":objects", AttributeValue::N(objects.to_string()))
            .expression_attribute_values(":bytes", AttributeValue::N(bytes.to_string()))
            .expression_attribute_values(":now", AttributeValue::S(updated_at.clone()))
            .expression_attribute_values(":oldest", AttributeValue::N(oldest.to_string()));
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
    use super::*;

    #[test]
    fn a_transaction_holds_at_most_100_actions() {
        let change = |n: usize, folder: &str| Change {
            record_id: n.to_string(),
            folder: folder.to_owned(),
            objects: 1,
            bytes: 1,
            changed_at_ms: 0,
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
}
