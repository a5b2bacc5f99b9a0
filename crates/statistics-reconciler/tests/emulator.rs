//! The reconciler against the local emulator: real tables, real conditional writes.

// Helpers here unwrap too: in a test, a panic is a failure with a line number.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::catalog::FolderStats;
use statistics_reconciler::{folders, function_handler, recount, repair, Config, Deps, Summary, Verdict};
use testkit::Emulator;

const LONG_AGO: &str = "2026-01-01T00:00:00Z";

async fn catalog(emulator: &Emulator, quiet_period: Duration) -> Deps {
    let config = Config {
        objects_table: "objects".to_owned(),
        statistics_table: "statistics".to_owned(),
        quiet_period,
    };
    let deps = Deps::new(&emulator.sdk_config(), config);
    testkit::create_objects_table(&deps.dynamodb, "objects").await;
    testkit::create_statistics_table(&deps.dynamodb, "statistics").await;
    deps
}

fn now_text() -> String {
    DateTime::from(SystemTime::now()).fmt(DateTimeFormat::DateTime).unwrap()
}

/// An object item as the put handler writes it, indexed at `indexed_at`.
async fn put_object(deps: &Deps, key: &str, size: u64, indexed_at: &str) {
    let mut item = testkit::object_item("workshop-uploads", key, size);
    item.indexed_at = indexed_at.to_owned();
    let attributes = serde_dynamo::to_item(item).unwrap();
    deps.dynamodb
        .put_item()
        .table_name("objects")
        .set_item(Some(attributes))
        .send()
        .await
        .unwrap();
}

/// A removed object's tombstone, as the put handler writes it, removed at `removed_at`.
async fn put_tombstone(deps: &Deps, key: &str, removed_at: &str) {
    let tombstone = shared::catalog::Tombstone {
        folder: shared::catalog::folder_of(key).to_owned(),
        key: key.to_owned(),
        sequencer: "0067".to_owned(),
        removed_at: removed_at.to_owned(),
        expires_at: 1_795_000_000,
    };
    deps.dynamodb
        .put_item()
        .table_name("objects")
        .set_item(Some(serde_dynamo::to_item(tombstone).unwrap()))
        .send()
        .await
        .unwrap();
}

async fn set_stats(deps: &Deps, folder: &str, objects: i64, bytes: i64, updated_at: &str) {
    let stats = FolderStats {
        folder: folder.to_owned(),
        object_count: objects,
        total_bytes: bytes,
        updated_at: updated_at.to_owned(),
    };
    deps.dynamodb
        .put_item()
        .table_name("statistics")
        .set_item(Some(serde_dynamo::to_item(stats).unwrap()))
        .send()
        .await
        .unwrap();
}

/// What the stream consumer does for one new object: ADD to the counters.
async fn consumer_adds(deps: &Deps, folder: &str, objects: i64, bytes: i64) {
    deps.dynamodb
        .update_item()
        .table_name("statistics")
        .key("folder", AttributeValue::S(folder.to_owned()))
        .update_expression("ADD object_count :objects, total_bytes :bytes SET updated_at = :now")
        .expression_attribute_values(":objects", AttributeValue::N(objects.to_string()))
        .expression_attribute_values(":bytes", AttributeValue::N(bytes.to_string()))
        .expression_attribute_values(":now", AttributeValue::S(now_text()))
        .send()
        .await
        .unwrap();
}

async fn statistics(deps: &Deps) -> BTreeMap<String, (i64, i64)> {
    let scan = deps.dynamodb.scan().table_name("statistics").send().await.unwrap();
    let stats: Vec<FolderStats> = serde_dynamo::from_items(scan.items.unwrap_or_default()).unwrap();
    stats
        .into_iter()
        .map(|stats| (stats.folder, (stats.object_count, stats.total_bytes)))
        .collect()
}

fn scheduled() -> LambdaEvent<Value> {
    let event = serde_json::from_str(include_str!("../events/scheduled.json")).unwrap();
    LambdaEvent::new(event, testkit::invocation_context(Duration::from_secs(600)))
}

#[tokio::test]
async fn drifted_folders_are_set_to_their_recount_and_a_second_run_finds_nothing() {
    let emulator = Emulator::start();
    let deps = catalog(&emulator, Duration::from_secs(900)).await;
    put_object(&deps, "uploads/a/1.txt", 10, LONG_AGO).await;
    put_object(&deps, "uploads/a/2.txt", 20, LONG_AGO).await;
    put_object(&deps, "uploads/b/1.txt", 7, LONG_AGO).await;
    put_object(&deps, "uploads/ok/1.txt", 4, LONG_AGO).await;
    set_stats(&deps, "uploads/a/", 5, 999, LONG_AGO).await; // wrong
    set_stats(&deps, "uploads/ghost/", 3, 30, LONG_AGO).await; // no objects any more
    set_stats(&deps, "uploads/ok/", 1, 4, LONG_AGO).await; // right; uploads/b/ has none

    let first = function_handler(&deps, scheduled()).await.unwrap();
    let second = function_handler(&deps, scheduled()).await.unwrap();

    assert_eq!(
        first,
        Summary {
            folders_checked: 4,
            folders_repaired: 3,
            ..Summary::default()
        }
    );
    assert_eq!(second.folders_repaired, 0);
    assert_eq!(
        statistics(&deps).await,
        BTreeMap::from([
            ("uploads/a/".to_owned(), (2, 30)),
            ("uploads/b/".to_owned(), (1, 7)),
            ("uploads/ghost/".to_owned(), (0, 0)),
            ("uploads/ok/".to_owned(), (1, 4)),
        ])
    );
}

#[tokio::test]
async fn a_folder_that_changed_within_the_quiet_period_is_left_for_the_next_run() {
    let emulator = Emulator::start();
    let deps = catalog(&emulator, Duration::from_secs(900)).await;
    // Statistics just written (the consumer is busy with this folder)...
    put_object(&deps, "uploads/a/1.txt", 10, LONG_AGO).await;
    set_stats(&deps, "uploads/a/", 5, 50, &now_text()).await;
    // ...and an object just indexed whose stream record may not be applied yet.
    put_object(&deps, "uploads/b/1.txt", 7, &now_text()).await;

    let summary = function_handler(&deps, scheduled()).await.unwrap();

    assert_eq!((summary.folders_repaired, summary.folders_busy), (0, 2));
    assert_eq!(
        statistics(&deps).await,
        BTreeMap::from([("uploads/a/".to_owned(), (5, 50))])
    );
}

#[tokio::test]
async fn a_consumer_write_during_a_run_is_never_overwritten_nor_counted_twice() {
    let emulator = Emulator::start();
    let deps = catalog(&emulator, Duration::from_secs(900)).await;
    put_object(&deps, "uploads/a/1.txt", 10, LONG_AGO).await;
    set_stats(&deps, "uploads/a/", 5, 999, LONG_AGO).await;

    // The run reads the folder's statistics and recounts it; then, before it writes, an upload
    // lands and the consumer applies it.
    let now = SystemTime::now();
    let found = recount_of(&deps, "uploads/a/", now).await;
    let Verdict::Drifted(drifted) = found else {
        panic!("the folder has drifted: {found:?}")
    };
    put_object(&deps, "uploads/a/2.txt", 5, &now_text()).await;
    consumer_adds(&deps, "uploads/a/", 1, 5).await;
    let repaired = repair(&deps, drifted, now).await.unwrap();

    // The repair is dropped: the consumer's write stands.
    assert!(!repaired);
    assert_eq!(statistics(&deps).await["uploads/a/"], (6, 1004));

    // Once the folder is quiet again, the next run repairs it to the recount, both objects once.
    let later = SystemTime::now() + Duration::from_secs(3600);
    let Verdict::Drifted(drifted) = recount_of(&deps, "uploads/a/", later).await else {
        panic!("still drifted")
    };
    assert!(repair(&deps, drifted, later).await.unwrap());
    assert_eq!(statistics(&deps).await["uploads/a/"], (2, 15));
}

/// A run's look at one folder at `now`: its statistics read, then its items recounted.
async fn recount_of(deps: &Deps, folder: &str, now: SystemTime) -> Verdict {
    let mut folders = folders(deps).await.unwrap();
    let stats = folders.remove(folder).expect("the folder is in the tables");
    let quiet_since = now - deps.config.quiet_period;
    let quiet_since = quiet_since.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    recount(deps, folder, stats, quiet_since).await.unwrap()
}

#[tokio::test]
async fn a_folder_holding_an_item_that_is_not_an_object_is_left_alone() {
    let emulator = Emulator::start();
    let deps = catalog(&emulator, Duration::from_secs(900)).await;
    deps.dynamodb
        .put_item()
        .table_name("objects")
        .item("folder", AttributeValue::S("uploads/odd/".to_owned()))
        .item("key", AttributeValue::S("uploads/odd/no-size".to_owned()))
        .send()
        .await
        .unwrap();
    set_stats(&deps, "uploads/odd/", 4, 40, LONG_AGO).await;

    let summary = function_handler(&deps, scheduled()).await.unwrap();

    assert_eq!((summary.unreadable_items, summary.folders_repaired), (1, 0));
    assert_eq!(statistics(&deps).await["uploads/odd/"], (4, 40));
}

/// A removal applied to the objects table a moment ago, whose stream record is still in the
/// stream's batching window: the statistics still count the object. Repairing the folder now
/// would subtract the object, and the consumer would then subtract it again.
#[tokio::test]
async fn a_removal_still_on_its_way_through_the_stream_leaves_its_folder_alone() {
    let emulator = Emulator::start();
    let deps = catalog(&emulator, Duration::from_secs(900)).await;
    put_object(&deps, "uploads/r/kept.txt", 10, LONG_AGO).await;
    put_tombstone(&deps, "uploads/r/removed.txt", &now_text()).await;
    set_stats(&deps, "uploads/r/", 2, 15, LONG_AGO).await; // the removal not yet applied

    let summary = function_handler(&deps, scheduled()).await.unwrap();

    assert_eq!((summary.folders_repaired, summary.folders_busy), (0, 1), "{summary:?}");
    assert_eq!(statistics(&deps).await["uploads/r/"], (2, 15));
}

/// Tombstones are not objects: a folder whose statistics lost count of a removal long ago is
/// repaired to the objects that remain.
#[tokio::test]
async fn an_old_tombstone_is_not_counted() {
    let emulator = Emulator::start();
    let deps = catalog(&emulator, Duration::from_secs(900)).await;
    put_object(&deps, "uploads/old/kept.txt", 10, LONG_AGO).await;
    put_tombstone(&deps, "uploads/old/removed.txt", LONG_AGO).await;
    set_stats(&deps, "uploads/old/", 2, 15, LONG_AGO).await;

    let summary = function_handler(&deps, scheduled()).await.unwrap();

    assert_eq!(summary.folders_repaired, 1, "{summary:?}");
    assert_eq!(statistics(&deps).await["uploads/old/"], (1, 10));
}

/// A repair says which changes its recount holds: every one made before the quiet period began.
/// The stream consumer skips the records of those changes, however late they come.
#[tokio::test]
async fn a_repair_writes_the_time_its_recount_is_complete_through() {
    let emulator = Emulator::start();
    let deps = catalog(&emulator, Duration::from_secs(900)).await;
    put_object(&deps, "uploads/w/1.txt", 10, LONG_AGO).await;
    let started = SystemTime::now();

    let summary = function_handler(&deps, scheduled()).await.unwrap();

    assert_eq!(summary.folders_repaired, 1);
    let item = deps
        .dynamodb
        .get_item()
        .table_name("statistics")
        .key("folder", AttributeValue::S("uploads/w/".to_owned()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let through: u128 = item["repaired_through"].as_n().unwrap().parse().unwrap();
    let quiet_start = |time: SystemTime| {
        (time - Duration::from_secs(900))
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    };
    assert!(
        (quiet_start(started)..=quiet_start(SystemTime::now())).contains(&through),
        "{through}"
    );
}
