//! Repairing drift: recount every folder from the objects table, compare with the statistics
//! table, and set the folders that differ to their recount, one folder at a time (see `survey`):
//! memory holds one entry per folder, and a run that its deadline cuts short has repaired every
//! folder it reached.
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

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::scan::ScanError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use shared::catalog::FolderStats;
use shared::deadline::Deadline;
use tracing::Instrument;

mod survey;

pub use survey::{folders, recount, Verdict};

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

/// How long one call may take here: longer than `shared::aws`'s 3 s per attempt and 8 s per call,
/// which are sized for functions a caller waits on. This one is a batch job (a 600 s timeout,
/// nobody waiting) reading whole tables a page at a time, so one slow page (a busy table; the
/// local emulator takes seconds per page at 100,000 items) should delay the run, not fail it.
pub const SCAN_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// See [`SCAN_ATTEMPT_TIMEOUT`]: three attempts and their backoff.
pub const SCAN_OPERATION_TIMEOUT: Duration = Duration::from_secs(100);

impl Deps {
    /// The client for `aws` (see `shared::aws`), with the longer timeouts above, and `config`.
    pub fn new(aws: &aws_config::SdkConfig, config: Config) -> Deps {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(shared::aws::CONNECT_TIMEOUT)
            .operation_attempt_timeout(SCAN_ATTEMPT_TIMEOUT)
            .operation_timeout(SCAN_OPERATION_TIMEOUT)
            .build();
        let dynamodb = aws_sdk_dynamodb::config::Builder::from(aws)
            .timeout_config(timeouts)
            .build();
        Deps {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb),
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
    #[error("reading the items of {folder} failed")]
    Query {
        folder: String,
        #[source]
        source: survey::QueryFailure,
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
    /// Folders recounted: every folder either table knows, unless the run's time ran out.
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

/// How long before the invocation's deadline the run stops starting folders: a recount and a
/// repair take a few calls (100 s each at most, see [`SCAN_OPERATION_TIMEOUT`]; far less in
/// practice), and the answer must reach Lambda in time.
const TIME_RESERVE: Duration = Duration::from_secs(60);

/// Recounts and repairs, folder by folder. The event (EventBridge's "Scheduled Event") is not read.
pub async fn function_handler(deps: &Deps, event: LambdaEvent<Value>) -> Result<Summary, Error> {
    let deadline = Deadline::of(&event.context, TIME_RESERVE);
    let now = SystemTime::now();
    let quiet_since = quiet_since(deps, now);
    let mut summary = Summary::default();
    for (folder, stats) in folders(deps).await? {
        if !deadline.allows(Duration::ZERO) {
            tracing::warn!(%folder, "the run's time is up: the remaining folders wait for the next run");
            break;
        }
        summary.folders_checked += 1;
        match recount(deps, &folder, stats, quiet_since).await? {
            Verdict::Agrees => {}
            Verdict::Busy => summary.folders_busy += 1,
            Verdict::Unreadable(items) => summary.unreadable_items += items,
            Verdict::Drifted(drifted) => match repair(deps, drifted, now).await? {
                true => summary.folders_repaired += 1,
                false => summary.folders_busy += 1,
            },
        }
    }
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

/// Sets a drifted folder to its recount, unless its statistics changed since they were read;
/// whether it was repaired.
pub async fn repair(deps: &Deps, repair: Repair, now: SystemTime) -> Result<bool, Error> {
    let updated_at = DateTime::from(now).fmt(DateTimeFormat::DateTime).unwrap_or_default();
    // Every change made before this time is in the recount (it was made a quiet period before
    // the run began, and no write takes that long to land); none after it, since a folder that
    // changed later was left busy. The consumer skips the records of changes before it.
    let repaired_through = quiet_since(deps, now);
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
        .expression_attribute_values(":now", AttributeValue::S(updated_at));
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
            Ok(true)
        }
        Err(SdkError::ServiceError(error)) if error.err().is_conditional_check_failed_exception() => {
            tracing::info!(folder = %repair.folder, "changed while being checked: left for the next run");
            Ok(false)
        }
        Err(source) => Err(Error::Repair {
            folder: repair.folder,
            source: Box::new(source),
        }),
    }
}

/// The start of the quiet period of a run at `now`, in milliseconds since the Unix epoch: a
/// folder changed since is busy, and a repair counts every change before it.
pub(crate) fn quiet_since(deps: &Deps, now: SystemTime) -> i64 {
    now.checked_sub(deps.config.quiet_period)
        .and_then(|since| since.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn its_scans_are_given_longer_than_a_function_a_caller_waits_on() {
        let aws = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .timeout_config(shared::aws::timeouts())
            .build();
        let config = Config::from_lookup(|name| name.ends_with("_NAME").then(|| name.to_lowercase())).unwrap();
        let deps = Deps::new(&aws, config);
        let timeouts = deps.dynamodb.config().timeout_config().unwrap();
        assert_eq!(timeouts.operation_attempt_timeout(), Some(SCAN_ATTEMPT_TIMEOUT));
        assert_eq!(timeouts.operation_timeout(), Some(SCAN_OPERATION_TIMEOUT));
        assert!(SCAN_ATTEMPT_TIMEOUT > shared::aws::ATTEMPT_TIMEOUT);
        // Three attempts fit in a call, and a call in the function's 600 s.
        assert!(
            SCAN_OPERATION_TIMEOUT >= 3 * SCAN_ATTEMPT_TIMEOUT && SCAN_OPERATION_TIMEOUT < Duration::from_secs(600)
        );
    }

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
}
