//! Repairing drift: recount every folder from the objects table, compare with the statistics
//! table, and set the folders that differ to their recount.
//!
//! The stream consumer keeps the statistics exact, but only for the records it sees: a record
//! parked in the failure queue after its retries, or a table restored from a backup, leaves a
//! folder wrong for good. This function is the safety net, and it must be safe to run while the
//! consumer writes, however far the stream lags. Three rules make it so:
//!
//! - **Quiet folders only.** A folder whose statistics or objects changed within the quiet period
//!   (15 minutes by default) is left for the next run: its recount may or may not hold a change
//!   the consumer is about to apply.
//! - **A watermark.** A repair also writes `repaired_through`, the start of the quiet period: its
//!   recount holds every change made before it (no write takes 15 minutes to land) and none after
//!   (the folder would have been busy). The consumer skips the records of changes made before
//!   it, however late they come: a lagging stream cannot make a change count twice.
//! - **Conditional repair.** The statistics are read first, and the new counts are written only if
//!   the item still holds exactly what the survey read (counts and `updated_at`); if the
//!   consumer wrote in between, the repair is dropped and the folder waits for the next run.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::scan::ScanError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::catalog::FolderStats;
use tracing::Instrument;

/// What the function reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `OBJECTS_TABLE_NAME`: what is recounted.
    pub objects_table: String,
    /// `STATISTICS_TABLE_NAME`: what is repaired.
    pub statistics_table: String,
    /// `QUIET_PERIOD_SECONDS` (default 900): how long a folder must have been left alone.
    pub quiet_period: Duration,
}

impl Config {
    /// Reads the configuration through `lookup` (`std::env::var` in `main`, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let required = |name: &str| shared::config::required(&lookup, name);
        let quiet_seconds = match lookup("QUIET_PERIOD_SECONDS") {
            None => 900,
            Some(seconds) => seconds
                .parse::<u64>()
                .map_err(|_| format!("QUIET_PERIOD_SECONDS must be a whole number, not {seconds:?}"))?,
        };
        Ok(Config {
            objects_table: required("OBJECTS_TABLE_NAME")?,
            statistics_table: required("STATISTICS_TABLE_NAME")?,
            quiet_period: Duration::from_secs(quiet_seconds),
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

/// Why a run failed: Lambda retries a failed scheduled invocation twice.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("scanning {table} failed")]
    Scan {
        table: String,
        #[source]
        source: Box<SdkError<ScanError>>,
    },
    #[error("repairing the statistics of {folder} failed")]
    Repair {
        folder: String,
        #[source]
        source: Box<SdkError<UpdateItemError>>,
    },
}

impl From<Error> for Diagnostic {
    fn from(error: Error) -> Diagnostic {
        shared::error::report("ReconcileFailed", &error)
    }
}

/// What a run did; the function's return value.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Folders in either table.
    pub folders_checked: usize,
    /// Folders whose statistics were set to their recount.
    pub folders_repaired: usize,
    /// Folders that differ but changed recently, or while this run looked: left for the next run.
    pub folders_busy: usize,
    /// Items of the objects table that are not object items (their folder cannot be recounted,
    /// so it is left alone).
    pub unreadable_items: usize,
}

/// Objects and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub objects: i64,
    pub bytes: i64,
}

/// A folder whose statistics differ from its recount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    pub folder: String,
    /// The statistics item as the survey read it, `None` if there was none.
    pub seen: Option<FolderStats>,
    pub recount: Counts,
}

/// What the survey found: the repairs to make, and what it counted on the way.
#[derive(Debug, Default)]
pub struct Survey {
    pub repairs: Vec<Repair>,
    pub summary: Summary,
}

/// Recounts and repairs. The event (EventBridge's "Scheduled Event") is not read.
pub async fn function_handler(deps: &Deps, _event: LambdaEvent<Value>) -> Result<Summary, Error> {
    let now = SystemTime::now();
    let survey = survey(deps, now).await?;
    let summary = repair(deps, survey, now).await?;
    tracing::info!(
        checked = summary.folders_checked,
        repaired = summary.folders_repaired,
        busy = summary.folders_busy,
        unreadable = summary.unreadable_items,
        "reconciled"
    );
    let mut metrics = shared::metrics::Metrics::new();
    metrics.count("FoldersChecked", summary.folders_checked);
    metrics.count("FoldersRepaired", summary.folders_repaired);
    metrics.count("FoldersBusy", summary.folders_busy);
    metrics.emit();
    Ok(summary)
}

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

/// Sets each folder of `survey` to its recount, unless its statistics changed since the survey.
pub async fn repair(deps: &Deps, survey: Survey, now: SystemTime) -> Result<Summary, Error> {
    let mut summary = survey.summary;
    let updated_at = DateTime::from(now).fmt(DateTimeFormat::DateTime).unwrap_or_default();
    // Every change made before this time is in the recount (it was made a quiet period before
    // the scans began, and no write takes that long to land); none after it, since a folder that
    // changed later was left busy. The consumer skips the records of changes before it.
    let repaired_through = quiet_since(deps, now);
    for repair in survey.repairs {
        let number = |value: i64| AttributeValue::N(value.to_string());
        let request = deps
            .dynamodb
            .update_item()
            .table_name(&deps.config.statistics_table)
            .key("folder", AttributeValue::S(repair.folder.clone()))
            .update_expression(
                "SET object_count = :objects, total_bytes = :bytes, updated_at = :now, repaired_through = :through",
            )
            .expression_attribute_values(":through", AttributeValue::N(repaired_through.to_string()))
            .expression_attribute_values(":objects", number(repair.recount.objects))
            .expression_attribute_values(":bytes", number(repair.recount.bytes))
            .expression_attribute_values(":now", AttributeValue::S(updated_at.clone()));
        // Exactly what the survey read, or nothing written: a consumer write in between wins.
        let request = match &repair.seen {
            Some(seen) => request
                .condition_expression(
                    "object_count = :seen_objects AND total_bytes = :seen_bytes AND updated_at = :seen_at",
                )
                .expression_attribute_values(":seen_objects", number(seen.object_count))
                .expression_attribute_values(":seen_bytes", number(seen.total_bytes))
                .expression_attribute_values(":seen_at", AttributeValue::S(seen.updated_at.clone())),
            None => request.condition_expression("attribute_not_exists(folder)"),
        };
        let sent = request
            .send()
            .instrument(tracing::info_span!("DynamoDB.UpdateItem", folder = %repair.folder))
            .await;
        match sent {
            Ok(_) => {
                let before = repair
                    .seen
                    .as_ref()
                    .map_or((0, 0), |seen| (seen.object_count, seen.total_bytes));
                tracing::warn!(
                    folder = %repair.folder,
                    objects_before = before.0,
                    bytes_before = before.1,
                    objects_after = repair.recount.objects,
                    bytes_after = repair.recount.bytes,
                    "statistics had drifted: repaired"
                );
                summary.folders_repaired += 1;
            }
            Err(SdkError::ServiceError(error)) if error.err().is_conditional_check_failed_exception() => {
                tracing::info!(folder = %repair.folder, "changed while being checked: left for the next run");
                summary.folders_busy += 1;
            }
            Err(source) => {
                return Err(Error::Repair {
                    folder: repair.folder,
                    source: Box::new(source),
                })
            }
        }
    }
    Ok(summary)
}

/// The start of the quiet period of a run at `now`, in milliseconds since the Unix epoch: a
/// folder changed since is busy, and a repair counts every change before it.
fn quiet_since(deps: &Deps, now: SystemTime) -> i64 {
    now.checked_sub(deps.config.quiet_period)
        .and_then(|since| since.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_millis() as i64)
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
    fn config_reads_the_tables_and_a_quiet_period() {
        let env = |name: &str| match name {
            "OBJECTS_TABLE_NAME" => Some("objects".to_owned()),
            "STATISTICS_TABLE_NAME" => Some("statistics".to_owned()),
            _ => None,
        };
        let config = Config::from_lookup(env).unwrap();
        assert_eq!(config.quiet_period, Duration::from_secs(900));
        let short = Config::from_lookup(|name| match name {
            "QUIET_PERIOD_SECONDS" => Some("0".to_owned()),
            other => env(other),
        });
        assert_eq!(short.unwrap().quiet_period, Duration::ZERO);
        assert!(Config::from_lookup(|name| match name {
            "QUIET_PERIOD_SECONDS" => Some("soon".to_owned()),
            other => env(other),
        })
        .unwrap_err()
        .contains("QUIET_PERIOD_SECONDS"));
        assert!(Config::from_lookup(|_| None)
            .unwrap_err()
            .contains("OBJECTS_TABLE_NAME"));
    }

    #[test]
    fn times_read_as_rfc_3339_and_anything_else_as_unknown() {
        assert!(parse_time("2026-11-27T06:00:01Z").is_some());
        assert!(parse_time("yesterday").is_none());
    }
}
