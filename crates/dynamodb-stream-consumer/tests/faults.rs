//! The consumer with its DynamoDB calls going through a proxy that breaks chosen requests
//! (`testkit::faults`): throttling is retried within the invocation, a failure it cannot get past
//! is reported (that record and the rest of the batch, which Lambda delivers again), and after
//! recovery every record is applied exactly once: the statistics equal a recount, even when a
//! write that timed out was applied after all.

use std::collections::BTreeMap;
use std::time::Duration;

use dynamodb_stream_consumer::{function_handler, Config, Deps};
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};
use shared::catalog::{FolderStats, ObjectItem};
use testkit::faults::{Fault, FaultProxy};
use testkit::{Emulator, StreamReader};

const OBJECTS: &str = "objects";

struct Setup {
    _emulator: Emulator,
    proxy: FaultProxy,
    /// The function's clients, through the proxy.
    deps: Deps,
    /// Clients straight to the emulator, to set up and to check.
    direct: Deps,
    /// The objects table's stream records for three new objects in two folders.
    records: Vec<Value>,
}

async fn setup() -> Setup {
    let emulator = Emulator::start();
    let proxy = FaultProxy::start(emulator.endpoint());
    let config = Config {
        statistics_table: "statistics".to_owned(),
        processed_records_table: "processed-records".to_owned(),
        marker_ttl: Duration::from_secs(3600),
    };
    let direct = Deps::new(&emulator.sdk_config(), config.clone());
    let deps = Deps::new(&testkit::sdk_config_for(proxy.endpoint()), config);
    testkit::create_objects_table(&direct.dynamodb, OBJECTS).await;
    testkit::create_statistics_table(&direct.dynamodb, &direct.config.statistics_table).await;
    testkit::create_processed_records_table(&direct.dynamodb, &direct.config.processed_records_table).await;
    let mut stream = StreamReader::open(&emulator.sdk_config(), OBJECTS).await;
    for (key, size) in [("uploads/a/1.txt", 10), ("uploads/a/2.txt", 20), ("uploads/b/1.txt", 5)] {
        let item = serde_dynamo::to_item(testkit::object_item("workshop-uploads", key, size)).expect("an item");
        direct
            .dynamodb
            .put_item()
            .table_name(OBJECTS)
            .set_item(Some(item))
            .send()
            .await
            .expect("writing an object");
    }
    let records = stream.read().await;
    assert_eq!(records.len(), 3);
    Setup {
        _emulator: emulator,
        proxy,
        deps,
        direct,
        records,
    }
}

/// Delivers `records` as one batch; returns the sequence numbers reported as failed.
async fn deliver(deps: &Deps, records: &[Value]) -> Vec<String> {
    let event = LambdaEvent::new(
        json!({ "Records": records }),
        testkit::invocation_context(Duration::from_secs(60)),
    );
    let response = function_handler(deps, event)
        .await
        .expect("a batch response, never an error");
    response
        .batch_item_failures
        .into_iter()
        .map(|failure| failure.item_identifier.unwrap_or_default())
        .collect()
}

/// Lambda's retry after a partial failure: the batch again from the first failed record on.
fn from_first_failure<'a>(records: &'a [Value], failed: &[String]) -> &'a [Value] {
    let first = records
        .iter()
        .position(|record| {
            failed
                .first()
                .is_some_and(|failed| record["dynamodb"]["SequenceNumber"] == **failed)
        })
        .unwrap_or(records.len());
    &records[first..]
}

/// (statistics, recount): folder -> (objects, bytes), each from its own table.
async fn statistics_and_recount(setup: &Setup) -> (BTreeMap<String, (i64, i64)>, BTreeMap<String, (i64, i64)>) {
    let dynamodb = &setup.direct.dynamodb;
    let stats_items = dynamodb
        .scan()
        .table_name(&setup.direct.config.statistics_table)
        .send()
        .await
        .expect("scan");
    let stats: Vec<FolderStats> = serde_dynamo::from_items(stats_items.items.unwrap_or_default()).expect("statistics");
    let object_items = dynamodb.scan().table_name(OBJECTS).send().await.expect("scan");
    let objects: Vec<ObjectItem> = serde_dynamo::from_items(object_items.items.unwrap_or_default()).expect("objects");
    let mut recount: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for object in objects {
        let entry = recount.entry(object.folder).or_default();
        entry.0 += 1;
        entry.1 += object.size as i64;
    }
    (
        stats
            .into_iter()
            .map(|stats| (stats.folder, (stats.object_count, stats.total_bytes)))
            .collect(),
        recount,
    )
}

#[tokio::test]
async fn throttled_transactions_are_retried_and_every_record_applies_once() {
    let setup = setup().await;
    setup.proxy.inject("TransactWriteItems", Fault::Throttle, 2);

    let failed = deliver(&setup.deps, &setup.records).await;

    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(
        setup.proxy.seen("TransactWriteItems"),
        (3, 2),
        "the three records in one transaction: throttled twice, then written"
    );
    let (statistics, recount) = statistics_and_recount(&setup).await;
    assert_eq!(statistics, recount);
}

#[tokio::test]
async fn a_failing_table_reports_the_batch_and_the_retry_after_recovery_applies_each_record_once() {
    let setup = setup().await;
    setup.proxy.inject("TransactWriteItems", Fault::ServerError, 100);

    let failed = deliver(&setup.deps, &setup.records).await;
    assert_eq!(failed.len(), 3, "the first record failed: it and the rest are reported");
    let (statistics, _) = statistics_and_recount(&setup).await;
    assert!(statistics.is_empty(), "{statistics:?}");

    setup.proxy.recover();
    let failed = deliver(&setup.deps, from_first_failure(&setup.records, &failed)).await;
    assert!(failed.is_empty(), "{failed:?}");
    let (statistics, recount) = statistics_and_recount(&setup).await;
    assert_eq!(statistics, recount);
}

#[tokio::test]
async fn a_write_that_timed_out_but_landed_is_not_counted_again_on_the_retry() {
    let setup = setup().await;
    // Every attempt answers after the SDK gave up, and is applied anyway: the three of the
    // transaction, and the three of each folder's own transaction that follows its failure.
    setup
        .proxy
        .inject("TransactWriteItems", Fault::Delay(Duration::from_secs(4)), 9);

    let failed = deliver(&setup.deps, &setup.records).await;
    assert_eq!(
        failed.len(),
        3,
        "the first record timed out: it and the rest are reported"
    );

    setup.proxy.recover();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let failed = deliver(&setup.deps, from_first_failure(&setup.records, &failed)).await;
    assert!(failed.is_empty(), "{failed:?}");
    let (statistics, recount) = statistics_and_recount(&setup).await;
    assert_eq!(
        statistics, recount,
        "the late write and the retry counted once between them"
    );
}

#[tokio::test]
async fn the_same_batch_again_after_an_outage_changes_nothing() {
    let setup = setup().await;
    assert!(deliver(&setup.deps, &setup.records).await.is_empty());
    let (before, _) = statistics_and_recount(&setup).await;

    setup.proxy.inject("", Fault::Refuse, 100);
    let failed = deliver(&setup.deps, &setup.records).await;
    assert_eq!(failed.len(), 3, "nothing reachable: every record reported");
    setup.proxy.recover();
    assert!(deliver(&setup.deps, &setup.records).await.is_empty());

    let (after, recount) = statistics_and_recount(&setup).await;
    assert_eq!(after, before);
    assert_eq!(after, recount);
}
