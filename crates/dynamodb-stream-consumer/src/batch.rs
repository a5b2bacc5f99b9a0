//! A batch applied in order, against the clock: records grouped into transactions, a failing
//! folder kept from its neighbours, and nothing started that could outlast the invocation.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use shared::deadline::Deadline;

use crate::transaction::{apply_in_one_transaction, fits_one_transaction, Applied};
use crate::{change_of, Change, Deps, RecordError};

/// How long before the invocation's deadline the function stops starting transactions and
/// reports what it has not applied: one transaction can take up to the SDK's operation timeout
/// (8 s, `shared::aws`), and the answer must reach Lambda before the deadline, or the whole
/// batch is retried as if nothing had been applied.
pub(crate) const TIME_RESERVE: Duration = Duration::from_secs(10);

/// What became of a batch's records.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Applied by this invocation.
    pub(crate) applied: usize,
    /// Found applied before (their marker exists), or twice in this batch.
    pub(crate) already_applied: usize,
    /// Changing no count (a tombstone's arrival or expiry).
    pub(crate) without_change: usize,
    /// Older than their folder's last repair, which counted them.
    pub(crate) counted_by_a_repair: usize,
    /// The first record not applied: it and every record after it are reported.
    pub(crate) first_failure: Option<usize>,
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
pub(crate) async fn apply_records(deps: &Deps, records: &[Value], deadline: Deadline) -> Tally {
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
