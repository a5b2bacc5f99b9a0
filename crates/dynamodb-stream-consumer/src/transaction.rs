//! Changes applied in DynamoDB transactions, each record exactly once: a record's change and a
//! marker naming it go in the same transaction, which fails if the marker exists.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use tracing::Instrument;

use crate::{Change, Config, Deps, RecordError};

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

/// Applies `changes` atomically, each exactly once: records whose marker already exists were
/// applied before (a redelivery) and are left out. Returns how many were applied now.
pub(crate) async fn apply_in_one_transaction(
    deps: &Deps,
    changes: &[(usize, Change)],
) -> Result<usize, (usize, RecordError)> {
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
    use super::*;

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
}
