//! The reconciler with its DynamoDB calls going through a proxy that breaks chosen requests
//! (`testkit::faults`): throttling is retried by the SDK within the run, a table that keeps failing
//! fails the run (EventBridge retries it, and the next hour's run comes anyway), and the run after
//! recovery repairs exactly what had drifted.

// Helpers here unwrap too: in a test, a panic is a failure with a line number.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use lambda_runtime::{Context, LambdaEvent};
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
        Context::default(),
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
