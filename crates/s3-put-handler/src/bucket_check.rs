//! The bucket against the table, folder by folder, and each difference put right.
//!
//! A folder's objects are listed (`ListObjectsV2` with `Delimiter=/`, which also names its
//! subfolders, visited next) and its items read (`Query` on the folder), both in key order, and
//! the two walked side by side: memory holds a page of each, never a folder's whole contents.
//! Folders the table has and the bucket no longer has are found by a scan of the table's `folder`
//! attribute, one entry per folder.
//!
//! For each key:
//!
//! | the bucket | the table | what is done |
//! |---|---|---|
//! | an object | its item, same ETag | nothing: they agree |
//! | an object | nothing, a tombstone, or an item of another ETag | the object is read and indexed (missing) |
//! | nothing | an item | the item becomes a tombstone (a ghost) |
//! | nothing | a tombstone | nothing |
//!
//! A difference is touched only once both sides are older than the quiet period, counted back
//! from the run's start: a younger one may be an event on its way, which will put it right
//! itself, and nothing written after the run began is ever touched (so an upload that lands
//! between a folder's listing and the read of its items, in the table but not in the listing, is
//! left alone). And each write is conditional on the item being exactly what the check read
//! (`put_if_unchanged`): an event applied meanwhile wins, and the difference waits for the next run. A repaired item keeps the sequencer of the
//! item it replaces, so a late event older than that item stays refused.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use shared::deadline::Deadline;
use tracing::Instrument;

use crate::item::{object_item, put_if_unchanged, to_attributes, tombstone, SeenItem};
use crate::object::{read_object, Read};
use crate::repair::{RepairError, RepairSummary};
use crate::{Deps, RecordError, Upload};

/// The sequencer a ghost's tombstone gets when its item had none (the local emulator's events
/// carry none): smaller than any S3 assigns, so any later event for the key applies.
const NO_SEQUENCER: &str = "00000000000000000000000000000000";

/// One object as the bucket lists it.
struct Listed {
    key: String,
    etag: String,
    last_modified: Option<SystemTime>,
}

/// Checks every folder under the upload prefix, and every folder the table has.
pub(crate) async fn check_bucket(
    deps: &Deps,
    bucket: &str,
    quiet_since: SystemTime,
    deadline: Deadline,
    summary: &mut RepairSummary,
) -> Result<(), RepairError> {
    let mut table_folders = table_folders(deps).await?;
    let mut to_visit = vec![deps.config.upload_prefix.clone()];
    while let Some(folder) = to_visit.pop().or_else(|| table_folders.pop_first()) {
        if !deadline.allows(Duration::ZERO) {
            summary.stopped_early = true;
        }
        if summary.stopped_early {
            tracing::warn!(%folder, "the run's time is up: the rest is left for the next run");
            return Ok(());
        }
        table_folders.remove(&folder);
        let check = FolderCheck {
            deps,
            bucket,
            folder: &folder,
            quiet_since,
        };
        to_visit.extend(check.run(deadline, summary).await?);
        summary.folders_checked += 1;
    }
    Ok(())
}

/// The folders the objects table holds items in (one entry each, whatever their size).
async fn table_folders(deps: &Deps) -> Result<BTreeSet<String>, RepairError> {
    let mut folders = BTreeSet::new();
    let mut items = deps
        .dynamodb
        .scan()
        .table_name(&deps.config.objects_table)
        .projection_expression("folder")
        .into_paginator()
        .items()
        .send();
    let span = tracing::info_span!("DynamoDB.Scan");
    while let Some(item) = items.next().instrument(span.clone()).await {
        let item = item.map_err(|source| RepairError::Scan(Box::new(source)))?;
        if let Some(AttributeValue::S(folder)) = item.get("folder") {
            folders.insert(folder.clone());
        }
    }
    Ok(folders)
}

/// One folder's check.
struct FolderCheck<'a> {
    deps: &'a Deps,
    bucket: &'a str,
    folder: &'a str,
    quiet_since: SystemTime,
}

/// Which side of the walk holds the next key.
enum Next {
    Both,
    ObjectOnly,
    ItemOnly,
    Done,
}

impl FolderCheck<'_> {
    /// Compares the folder's objects with its items; returns its subfolders.
    async fn run(&self, deadline: Deadline, summary: &mut RepairSummary) -> Result<Vec<String>, RepairError> {
        let deps = self.deps;
        let mut listing = deps
            .s3
            .list_objects_v2()
            .bucket(self.bucket)
            .prefix(self.folder)
            .delimiter("/")
            .into_paginator()
            .send();
        let mut items = deps
            .dynamodb
            .query()
            .table_name(&deps.config.objects_table)
            .key_condition_expression("#folder = :folder")
            .projection_expression("#key, sequencer, etag, indexed_at, removed_at")
            .expression_attribute_names("#folder", "folder")
            .expression_attribute_names("#key", "key")
            .expression_attribute_values(":folder", AttributeValue::S(self.folder.to_owned()))
            .into_paginator()
            .items()
            .send();
        let (mut objects, mut listing_done) = (VecDeque::new(), false);
        let (mut next_item, mut items_done) = (None::<(String, SeenItem)>, false);
        let mut subfolders = Vec::new();
        loop {
            while objects.is_empty() && !listing_done {
                match listing.next().instrument(tracing::info_span!("S3.ListObjectsV2")).await {
                    None => listing_done = true,
                    Some(page) => {
                        let page = page.map_err(|source| RepairError::List {
                            bucket: self.bucket.to_owned(),
                            folder: self.folder.to_owned(),
                            source: Box::new(source),
                        })?;
                        subfolders.extend(
                            page.common_prefixes()
                                .iter()
                                .filter_map(|p| p.prefix().map(str::to_owned)),
                        );
                        objects.extend(page.contents().iter().filter_map(|object| {
                            Some(Listed {
                                key: object.key()?.to_owned(),
                                etag: object.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
                                last_modified: object.last_modified().and_then(|time| SystemTime::try_from(*time).ok()),
                            })
                        }));
                    }
                }
            }
            while next_item.is_none() && !items_done {
                match items.next().instrument(tracing::info_span!("DynamoDB.Query")).await {
                    None => items_done = true,
                    Some(item) => {
                        let item = item.map_err(|source| RepairError::Query {
                            folder: self.folder.to_owned(),
                            source: Box::new(source),
                        })?;
                        if let Some(AttributeValue::S(key)) = item.get("key") {
                            next_item = Some((key.clone(), SeenItem::from_item(&item)));
                        }
                    }
                }
            }
            let next = match (objects.front(), &next_item) {
                (None, None) => Next::Done,
                (Some(object), Some((key, _))) if object.key == *key => Next::Both,
                (Some(object), Some((key, _))) if object.key > *key => Next::ItemOnly,
                (Some(_), _) => Next::ObjectOnly,
                (None, Some(_)) => Next::ItemOnly,
            };
            if !matches!(next, Next::Done) && !deadline.allows(Duration::ZERO) {
                summary.stopped_early = true;
                return Ok(subfolders);
            }
            match next {
                Next::Done => return Ok(subfolders),
                Next::Both => {
                    if let (Some(object), Some((_, seen))) = (objects.pop_front(), next_item.take()) {
                        summary.objects_checked += 1;
                        if seen.is_tombstone() || seen.etag.as_deref() != Some(object.etag.as_str()) {
                            let fix = self.index_missing(&object, Some(&seen)).await;
                            fix.count(
                                &mut summary.missing_indexed,
                                &mut summary.differences_busy,
                                &mut summary.repairs_failed,
                            );
                        }
                    }
                }
                Next::ObjectOnly => {
                    if let Some(object) = objects.pop_front() {
                        summary.objects_checked += 1;
                        let fix = self.index_missing(&object, None).await;
                        fix.count(
                            &mut summary.missing_indexed,
                            &mut summary.differences_busy,
                            &mut summary.repairs_failed,
                        );
                    }
                }
                Next::ItemOnly => {
                    if let Some((key, seen)) = next_item.take() {
                        if !seen.is_tombstone() {
                            let fix = self.remove_ghost(&key, &seen).await;
                            fix.count(
                                &mut summary.ghosts_removed,
                                &mut summary.differences_busy,
                                &mut summary.repairs_failed,
                            );
                        }
                    }
                }
            }
        }
    }

    /// An object with no item of its version: read it and index it, unless it is too recent or
    /// changed meanwhile.
    async fn index_missing(&self, object: &Listed, seen: Option<&SeenItem>) -> Fix {
        let span = tracing::info_span!("missing", key = %object.key);
        let quiet = self.is_quiet(object.last_modified) && seen.is_none_or(|seen| self.item_is_quiet(seen));
        if !quiet {
            tracing::info!(parent: &span, "an object without its item, changed recently: left for its event");
            return Fix::Busy;
        }
        let upload = Upload {
            event_name: "ObjectCreated:Put".to_owned(),
            bucket: self.bucket.to_owned(),
            key: object.key.clone(),
            etag: Some(object.etag.clone()),
            sequencer: seen.and_then(|seen| seen.sequencer.clone()),
        };
        let written = async {
            let object = match read_object(self.deps, &upload).await? {
                Read::Object(object) => object,
                // Removed or overwritten since the listing: its own event is on its way.
                Read::Deleted | Read::Superseded => return Ok(false),
            };
            let attributes = to_attributes(&upload.key, object_item(&upload, object))?;
            put_if_unchanged(self.deps, &upload.key, attributes, seen).await
        }
        .instrument(span.clone())
        .await;
        Fix::of(written, &span, "an object the catalog had missed: indexed")
    }

    /// An item whose object is gone: it becomes a tombstone, unless it is too recent or changed.
    async fn remove_ghost(&self, key: &str, seen: &SeenItem) -> Fix {
        let span = tracing::info_span!("ghost", %key);
        if !self.item_is_quiet(seen) {
            tracing::info!(parent: &span, "an item without its object, written recently: left for its event");
            return Fix::Busy;
        }
        let sequencer = seen.sequencer.as_deref().unwrap_or(NO_SEQUENCER);
        let written = async {
            let attributes = to_attributes(key, tombstone(key, sequencer))?;
            put_if_unchanged(self.deps, key, attributes, Some(seen)).await
        }
        .instrument(span.clone())
        .await;
        Fix::of(written, &span, "an item whose object is gone: now a tombstone")
    }

    /// Whether a time is before the quiet period (an unknown time is taken as "just now").
    fn is_quiet(&self, time: Option<SystemTime>) -> bool {
        time.is_some_and(|time| time < self.quiet_since)
    }

    fn item_is_quiet(&self, seen: &SeenItem) -> bool {
        let written_at = seen
            .written_at()
            .and_then(|text| DateTime::from_str(text, DateTimeFormat::DateTime).ok())
            .and_then(|time| SystemTime::try_from(time).ok());
        self.is_quiet(written_at)
    }
}

/// What became of one difference.
enum Fix {
    Done,
    /// Too recent, or changed while the check looked: left for the next run.
    Busy,
    /// A call failed: logged, and left for the next run.
    Failed,
}

impl Fix {
    fn of(written: Result<bool, RecordError>, span: &tracing::Span, done: &'static str) -> Fix {
        match written {
            Ok(true) => {
                tracing::warn!(parent: span, "{done}");
                Fix::Done
            }
            Ok(false) => {
                tracing::info!(parent: span, "changed while the check looked: left for the next run");
                Fix::Busy
            }
            Err(error) => {
                tracing::error!(parent: span, error = %shared::error::chain(&error), "repair failed: left for the next run");
                Fix::Failed
            }
        }
    }

    fn count(self, done: &mut usize, summary_busy: &mut usize, summary_failed: &mut usize) {
        match self {
            Fix::Done => *done += 1,
            Fix::Busy => *summary_busy += 1,
            Fix::Failed => *summary_failed += 1,
        }
    }
}
