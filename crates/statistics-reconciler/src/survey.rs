//! The survey, folder by folder: the statistics table read first, then the objects table's
//! folders, then each folder recounted from its items (a `Query`) and repaired at once if it
//! drifted. Memory holds one entry per folder, never the items, and a run cut short has repaired
//! every folder it reached.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::QueryError;
use aws_sdk_dynamodb::operation::scan::ScanError;
use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;
use shared::catalog::FolderStats;
use tracing::Instrument;

use crate::{Counts, Deps, Error, Repair};

/// The fields of an objects-table item a recount needs: an object's size and time, or a
/// tombstone's time (its `removed_at`: a removal is a change too, and may still be in the stream).
#[derive(Deserialize)]
struct Counted {
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    indexed_at: Option<String>,
    #[serde(default)]
    removed_at: Option<String>,
}

/// What a recount reads of an objects-table item; `size` is a reserved word in expressions.
const COUNTED_ATTRIBUTES: &str = "#size, indexed_at, removed_at";

/// Every folder either table knows, each with its statistics item as read (`None`: it has none).
///
/// The statistics are read first: a consumer write after this read cancels the folder's repair
/// (its condition is this read), so every change the statistics hold was made before the folder's
/// items are read, and its recount holds it too. The objects table is then scanned for its
/// folders only (a folder whose first records never reached the statistics has no item there).
pub async fn folders(deps: &Deps) -> Result<BTreeMap<String, Option<FolderStats>>, Error> {
    let mut folders = BTreeMap::new();
    let table = &deps.config.statistics_table;
    let mut statistics = deps.dynamodb.scan().table_name(table).into_paginator().items().send();
    let span = tracing::info_span!("DynamoDB.Scan", table = "statistics");
    while let Some(item) = statistics.next().instrument(span.clone()).await {
        let item = item.map_err(|source| scan_error(table, source))?;
        let stats: Result<FolderStats, _> = serde_dynamo::from_item(item);
        match stats {
            Ok(stats) => {
                folders.insert(stats.folder.clone(), Some(stats));
            }
            Err(error) => tracing::warn!(%error, "a statistics item that cannot be read: left alone"),
        }
    }

    let table = &deps.config.objects_table;
    let mut objects = deps
        .dynamodb
        .scan()
        .table_name(table)
        .projection_expression("folder")
        .into_paginator()
        .items()
        .send();
    let span = tracing::info_span!("DynamoDB.Scan", table = "objects");
    while let Some(item) = objects.next().instrument(span.clone()).await {
        let item = item.map_err(|source| scan_error(table, source))?;
        if let Some(AttributeValue::S(folder)) = item.get("folder") {
            folders.entry(folder.clone()).or_insert(None);
        }
    }
    Ok(folders)
}

/// What a folder's recount found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Its statistics equal its recount.
    Agrees,
    /// It differs, but changed within the quiet period: left for the next run.
    Busy,
    /// It holds this many items that are neither objects nor tombstones: it cannot be recounted.
    Unreadable(usize),
    /// It differs and has been quiet: this repair sets it right.
    Drifted(Repair),
}

/// Recounts `folder` from its items and compares it with `stats` (its statistics as
/// [`folders`] read them), as of `quiet_since` (milliseconds since the epoch).
pub async fn recount(
    deps: &Deps,
    folder: &str,
    stats: Option<FolderStats>,
    quiet_since: i64,
) -> Result<Verdict, Error> {
    let table = &deps.config.objects_table;
    let mut items = deps
        .dynamodb
        .query()
        .table_name(table)
        .key_condition_expression("folder = :folder")
        .projection_expression(COUNTED_ATTRIBUTES)
        .expression_attribute_names("#size", "size")
        .expression_attribute_values(":folder", AttributeValue::S(folder.to_owned()))
        .into_paginator()
        .items()
        .send();
    let mut recount = Counts::default();
    // When an object of the folder was last written or removed, in milliseconds since the epoch.
    let mut newest_change: Option<i64> = None;
    let mut unreadable = 0;
    let span = tracing::info_span!("DynamoDB.Query", table = "objects", %folder);
    while let Some(item) = items.next().instrument(span.clone()).await {
        let item = item.map_err(|source| Error::Query {
            folder: folder.to_owned(),
            source: Box::new(source),
        })?;
        let counted: Result<Counted, _> = serde_dynamo::from_item(item);
        match counted {
            Ok(Counted {
                size: Some(size),
                indexed_at: Some(indexed_at),
                removed_at: None,
            }) => {
                recount.objects += 1;
                recount.bytes += i64::try_from(size).unwrap_or(i64::MAX);
                newest_change = newest_change.max(parse_time(&indexed_at));
            }
            Ok(Counted {
                removed_at: Some(removed_at),
                ..
            }) => newest_change = newest_change.max(parse_time(&removed_at)),
            Ok(_) => {
                unreadable += 1;
                tracing::warn!(%folder, "an objects item that is neither an object nor a tombstone: its folder is left alone");
            }
            Err(error) => {
                unreadable += 1;
                tracing::warn!(%folder, %error, "an objects item that cannot be read: its folder is left alone");
            }
        }
    }
    if unreadable > 0 {
        return Ok(Verdict::Unreadable(unreadable));
    }
    let recorded = stats.as_ref().map_or(Counts::default(), |stats| Counts {
        objects: stats.object_count,
        bytes: stats.total_bytes,
    });
    if recorded == recount {
        return Ok(Verdict::Agrees);
    }
    let stats_changed = stats.as_ref().and_then(|stats| parse_time(&stats.updated_at));
    let recently = |time: Option<i64>| time.is_none_or(|time| time >= quiet_since);
    // A folder with no statistics item has no time of its own: its newest change decides.
    if recently(newest_change.or(stats_changed)) || (stats.is_some() && recently(stats_changed)) {
        tracing::info!(%folder, "differs but changed recently: left for the next run");
        return Ok(Verdict::Busy);
    }
    Ok(Verdict::Drifted(Repair {
        folder: folder.to_owned(),
        seen: stats,
        recount,
    }))
}

fn scan_error(table: &str, source: SdkError<ScanError>) -> Error {
    Error::Scan {
        table: table.to_owned(),
        source: Box::new(source),
    }
}

/// Boxed where it is built: SDK errors are large.
pub(crate) type QueryFailure = Box<SdkError<QueryError>>;

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
