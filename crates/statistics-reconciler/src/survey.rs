//! The survey: both tables read a page at a time into one entry per folder, and the folders that
//! differ from their recount, and have been quiet, listed for repair.

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::scan::ScanError;
use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use serde::Deserialize;
use shared::catalog::FolderStats;
use tracing::Instrument;

use crate::{quiet_since, Counts, Deps, Error, Repair, Survey};

/// The fields of an objects-table item a recount needs: an object's size and time, or a
/// tombstone's time (its `removed_at`: a removal is a change too, and may still be in the stream).
#[derive(Deserialize)]
struct Counted {
    folder: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    indexed_at: Option<String>,
    #[serde(default)]
    removed_at: Option<String>,
}

/// What the survey reads of an objects-table item; `size` is a reserved word in expressions.
const COUNTED_ATTRIBUTES: &str = "folder, #size, indexed_at, removed_at";

/// One folder as both tables describe it. The survey keeps one of these per folder, never the
/// items themselves: its memory grows with the number of folders, not of objects.
#[derive(Default)]
struct Folder {
    recount: Counts,
    /// When an object of the folder was last written or removed, in milliseconds since the epoch.
    newest_change: Option<i64>,
    unreadable: bool,
    stats: Option<FolderStats>,
}

/// Reads both tables, a page at a time, and lists the folders to repair, as of `now`.
pub async fn survey(deps: &Deps, now: SystemTime) -> Result<Survey, Error> {
    let mut folders: BTreeMap<String, Folder> = BTreeMap::new();
    let mut survey = Survey::default();
    // The statistics first: a consumer write after this read cancels the folder's repair (its
    // condition is this read), so every change the statistics hold was made before the objects
    // scan began, and the recount holds it too.
    let table = &deps.config.statistics_table;
    let mut statistics = deps.dynamodb.scan().table_name(table).into_paginator().items().send();
    let span = tracing::info_span!("DynamoDB.Scan", table = "statistics");
    while let Some(item) = statistics.next().instrument(span.clone()).await {
        let item = item.map_err(|source| scan_error(table, source))?;
        let stats: Result<FolderStats, _> = serde_dynamo::from_item(item);
        match stats {
            Ok(stats) => {
                let folder = stats.folder.clone();
                folders.entry(folder).or_default().stats = Some(stats);
            }
            Err(error) => tracing::warn!(%error, "a statistics item that cannot be read: left alone"),
        }
    }

    let table = &deps.config.objects_table;
    let mut objects = deps
        .dynamodb
        .scan()
        .table_name(table)
        .projection_expression(COUNTED_ATTRIBUTES)
        .expression_attribute_names("#size", "size")
        .into_paginator()
        .items()
        .send();
    let span = tracing::info_span!("DynamoDB.Scan", table = "objects");
    while let Some(item) = objects.next().instrument(span.clone()).await {
        let item = item.map_err(|source| scan_error(table, source))?;
        let folder_name = item.get("folder").and_then(|folder| folder.as_s().ok()).cloned();
        let counted: Result<Counted, _> = serde_dynamo::from_item(item);
        match counted {
            Ok(Counted {
                folder,
                size: Some(size),
                indexed_at: Some(indexed_at),
                removed_at: None,
            }) => {
                let folder = folders.entry(folder).or_default();
                folder.recount.objects += 1;
                folder.recount.bytes += i64::try_from(size).unwrap_or(i64::MAX);
                folder.newest_change = folder.newest_change.max(parse_time(&indexed_at));
            }
            Ok(Counted {
                folder,
                removed_at: Some(removed_at),
                ..
            }) => {
                let folder = folders.entry(folder).or_default();
                folder.newest_change = folder.newest_change.max(parse_time(&removed_at));
            }
            Ok(Counted { folder, .. }) => {
                survey.summary.unreadable_items += 1;
                tracing::warn!(%folder, "an objects item that is neither an object nor a tombstone: its folder is left alone");
                folders.entry(folder).or_default().unreadable = true;
            }
            Err(error) => {
                survey.summary.unreadable_items += 1;
                tracing::warn!(folder = ?folder_name, %error, "an objects item that cannot be read: its folder is left alone");
                if let Some(name) = folder_name {
                    folders.entry(name).or_default().unreadable = true;
                }
            }
        }
    }
    let quiet_since = quiet_since(deps, now);
    survey.summary.folders_checked = folders.len();
    for (name, folder) in folders {
        let recorded = folder.stats.as_ref().map_or(Counts::default(), |stats| Counts {
            objects: stats.object_count,
            bytes: stats.total_bytes,
        });
        if recorded == folder.recount || folder.unreadable {
            continue;
        }
        let stats_changed = folder.stats.as_ref().and_then(|stats| parse_time(&stats.updated_at));
        let recently = |time: Option<i64>| time.is_none_or(|time| time >= quiet_since);
        // A folder with no statistics item has no time of its own: its newest change decides.
        if recently(folder.newest_change.or(stats_changed)) || (folder.stats.is_some() && recently(stats_changed)) {
            tracing::info!(folder = %name, "differs but changed recently: left for the next run");
            survey.summary.folders_busy += 1;
            continue;
        }
        survey.repairs.push(Repair {
            folder: name,
            seen: folder.stats,
            recount: folder.recount,
        });
    }
    Ok(survey)
}

fn scan_error(table: &str, source: SdkError<ScanError>) -> Error {
    Error::Scan {
        table: table.to_owned(),
        source: Box::new(source),
    }
}

/// An RFC 3339 time as the tables store it, in milliseconds since the Unix epoch (the stream
/// consumer reads the same times, to the millisecond); `None` if it is not one (treated as "just
/// now").
fn parse_time(text: &str) -> Option<i64> {
    DateTime::from_str(text, DateTimeFormat::DateTime)
        .ok()
        .and_then(|time| time.to_millis().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_rfc_3339_and_anything_else_as_unknown() {
        assert!(parse_time("2026-11-27T06:00:01Z").is_some());
        assert!(parse_time("yesterday").is_none());
    }
}
