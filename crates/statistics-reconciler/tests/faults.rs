//! The reconciler with its DynamoDB calls going through a proxy that breaks chosen requests
//! (`testkit::faults`): throttling is retried by the SDK within the run, a table that keeps failing
//! fails the run (EventBridge retries it, and the next hour's run comes anyway), and the run after
//! recovery repairs exactly what had drifted.

// Helpers here unwrap too: in a test, a panic is a failure with a line number.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::catalog::FolderStats;
use statistics_reconciler::{function_handler, Config, Deps};
use testkit::faults::{Fault, FaultProxy};
use testkit::Emulator;

const LONG_AGO: &str = "2026-01-01T00:00:00Z";

/// The tables, with folder `uploads/a/` drifted (statistics say 5 objects, the table holds 2),
/// and the function's clients through the proxy.
async fn drifted() -> (Emulator, FaultProxy, Deps, Deps) {
    let emulator = Emulator::start();
    let proxy = FaultProxy::start(emulator.endpoint());
    let config = Config {
        objects_table: "objects".to_owned(),
        statistics_table: "statistics".to_owned(),
        quiet_period: Duration::from_secs(900),
    };
    let direct = Deps::new(&emulator.sdk_config(), config.clone());
    let deps = Deps::new(&testkit::sdk_config_for(proxy.endpoint()), config);
    testkit::create_objects_table(&direct.dynamodb, "objects").await;
    testkit::create_statistics_table(&direct.dynamodb, "statistics").await;
    for (key, size) in [("uploads/a/1.txt", 10), ("uploads/a/2.txt", 20)] {
        let mut item = testkit::object_item("workshop-uploads", key, size);
        item.indexed_at = LONG_AGO.to_owned();
        let item = serde_dynamo::to_item(item).unwrap();
        direct
            .dynamodb
            .put_item()
            .table_name("objects")
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
    let wrong = FolderStats {
        folder: "uploads/a/".to_owned(),
        object_count: 5,
        total_bytes: 999,
        updated_at: LONG_AGO.to_owned(),
    };
    let wrong = serde_dynamo::to_item(wrong).unwrap();
    direct
        .dynamodb
        .put_item()
        .table_name("statistics")
        .set_item(Some(wrong))
        .send()
        .await
        .unwrap();
    (emulator, proxy, deps, direct)
}

fn scheduled() -> LambdaEvent<Value> {
    LambdaEvent::new(
        serde_json::from_str(include_str!("../events/scheduled.json")).unwrap(),
        testkit::invocation_context(Duration::from_secs(600)),
    )
}

async fn statistics(direct: &Deps) -> BTreeMap<String, (i64, i64)> {
    let items = direct
        .dynamodb
        .scan()
        .table_name("statistics")
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let stats: Vec<FolderStats> = serde_dynamo::from_items(items).unwrap();
    stats
        .into_iter()
        .map(|stats| (stats.folder, (stats.object_count, stats.total_bytes)))
        .collect()
}

#[tokio::test]
async fn throttled_scans_and_writes_are_retried_within_the_run() {
    let (_emulator, proxy, deps, direct) = drifted().await;
    proxy.inject("Scan", Fault::Throttle, 1);
    proxy.inject("UpdateItem", Fault::ServerError, 1);

    let summary = function_handler(&deps, scheduled()).await.unwrap();

    assert_eq!(summary.folders_repaired, 1);
    assert_eq!(proxy.seen("UpdateItem"), (2, 1));
    assert_eq!(
        statistics(&direct).await,
        BTreeMap::from([("uploads/a/".to_owned(), (2, 30))])
    );
}

#[tokio::test]
async fn a_table_that_keeps_failing_fails_the_run_and_the_next_run_repairs_the_drift() {
    let (_emulator, proxy, deps, direct) = drifted().await;
    proxy.inject("Scan", Fault::ServerError, 100);

    function_handler(&deps, scheduled())
        .await
        .expect_err("nothing can be recounted");
    assert_eq!(
        statistics(&direct).await,
        BTreeMap::from([("uploads/a/".to_owned(), (5, 999))]),
        "left as it was"
    );

    proxy.recover();
    let summary = function_handler(&deps, scheduled()).await.unwrap();
    assert_eq!(summary.folders_repaired, 1);
    assert_eq!(
        statistics(&direct).await,
        BTreeMap::from([("uploads/a/".to_owned(), (2, 30))])
    );
}

/// The run repairs each folder as soon as it is recounted, and stops starting folders when its
/// deadline nears: a run cut short keeps every repair it made (one that repaired only after
/// reading the whole table would have kept none).
#[tokio::test]
async fn a_run_short_of_time_keeps_the_repairs_of_the_folders_it_reached() {
    let (_emulator, proxy, deps, direct) = drifted().await;
    // A second drifted folder, after `uploads/a/` in the run's order.
    let wrong = FolderStats {
        folder: "uploads/b/".to_owned(),
        object_count: 7,
        total_bytes: 70,
        updated_at: LONG_AGO.to_owned(),
    };
    let put = direct.dynamodb.put_item().table_name("statistics");
    put.set_item(Some(serde_dynamo::to_item(wrong).unwrap()))
        .send()
        .await
        .unwrap();
    // 62 s to the deadline, less the run's 60 s reserve: 2 s of work. The first repair takes 3.
    proxy.inject("UpdateItem", Fault::Delay(Duration::from_secs(3)), 1);
    let short = LambdaEvent::new(
        serde_json::from_str(include_str!("../events/scheduled.json")).unwrap(),
        testkit::invocation_context(Duration::from_secs(62)),
    );

    let summary = function_handler(&deps, short).await.unwrap();

    assert_eq!(
        (summary.folders_checked, summary.folders_repaired),
        (1, 1),
        "{summary:?}"
    );
    assert_eq!(
        statistics(&direct).await,
        BTreeMap::from([("uploads/a/".to_owned(), (2, 30)), ("uploads/b/".to_owned(), (7, 70))]),
        "uploads/a/ repaired, uploads/b/ left for the next run"
    );
}
