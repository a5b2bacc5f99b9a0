//! The consumer against the local emulator, with records read from the emulator's own stream:
//! write items to the objects table, read its stream, hand the records to the handler as Lambda
//! would, and compare the statistics with a recount of the objects table.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;
use dynamodb_stream_consumer::{function_handler, Config, Deps};
use lambda_runtime::{Context, LambdaEvent};
use proptest::prelude::*;
use serde_json::{json, Value};
use shared::catalog::{folder_of, FolderStats, ObjectItem};
use testkit::{Emulator, StreamReader};

/// The catalog's tables in one emulator; `tag` keeps several catalogs apart in one emulator.
struct Catalog {
    deps: Deps,
    objects_table: String,
    stream: StreamReader,
}

async fn catalog(emulator: &Emulator, tag: &str) -> Catalog {
    let aws = emulator.sdk_config();
    let config = Config {
        statistics_table: format!("statistics-{tag}"),
        processed_records_table: format!("processed-records-{tag}"),
        marker_ttl: std::time::Duration::from_secs(3600),
    };
    let deps = Deps::new(&aws, config);
    let objects_table = format!("objects-{tag}");
    testkit::create_objects_table(&deps.dynamodb, &objects_table).await;
    testkit::create_statistics_table(&deps.dynamodb, &deps.config.statistics_table).await;
    testkit::create_processed_records_table(&deps.dynamodb, &deps.config.processed_records_table).await;
    let stream = StreamReader::open(&aws, &objects_table).await;
    Catalog {
        deps,
        objects_table,
        stream,
    }
}

impl Catalog {
    /// Writes an object's item, as the S3 put handler does (a new key: INSERT; again: MODIFY).
    async fn put(&self, key: &str, size: u64) {
        let item = testkit::object_item("workshop-uploads", key, size);
        let attributes = serde_dynamo::to_item(item).expect("an item");
        let request = self
            .deps
            .dynamodb
            .put_item()
            .table_name(&self.objects_table)
            .set_item(Some(attributes));
        request.send().await.expect("writing an object item");
    }

    async fn delete(&self, key: &str) {
        self.deps
            .dynamodb
            .delete_item()
            .table_name(&self.objects_table)
            .key("folder", AttributeValue::S(folder_of(key).to_owned()))
            .key("key", AttributeValue::S(key.to_owned()))
            .send()
            .await
            .expect("deleting an object item");
    }

    /// Hands `records` to the function as one batch; returns the reported sequence numbers.
    async fn deliver(&self, records: &[Value]) -> Vec<String> {
        let event = LambdaEvent::new(json!({ "Records": records }), Context::default());
        let response = function_handler(&self.deps, event).await.expect("a batch response");
        response
            .batch_item_failures
            .into_iter()
            .map(|failure| failure.item_identifier.unwrap_or_default())
            .collect()
    }

    /// The statistics table: folder -> (objects, bytes).
    async fn statistics(&self) -> BTreeMap<String, (i64, i64)> {
        let scan = self
            .deps
            .dynamodb
            .scan()
            .table_name(&self.deps.config.statistics_table)
            .send()
            .await;
        let items = scan.expect("scanning statistics").items.unwrap_or_default();
        let stats: Vec<FolderStats> = serde_dynamo::from_items(items).expect("statistics items");
        stats
            .into_iter()
            .map(|stats| (stats.folder, (stats.object_count, stats.total_bytes)))
            .collect()
    }

    /// The statistics recounted from the objects table, with every folder ever used at zero.
    async fn recount(&self, folders: &[&str]) -> BTreeMap<String, (i64, i64)> {
        let mut counts: BTreeMap<String, (i64, i64)> =
            folders.iter().map(|folder| (folder.to_string(), (0, 0))).collect();
        let scan = self.deps.dynamodb.scan().table_name(&self.objects_table).send().await;
        let objects: Vec<ObjectItem> =
            serde_dynamo::from_items(scan.expect("scanning objects").items.unwrap_or_default()).expect("object items");
        for object in objects {
            let entry = counts.entry(object.folder).or_default();
            entry.0 += 1;
            entry.1 += object.size as i64;
        }
        counts
    }
}

fn sequence_number(record: &Value) -> String {
    record["dynamodb"]["SequenceNumber"]
        .as_str()
        .expect("a sequence number")
        .to_owned()
}

fn stats(entries: &[(&str, i64, i64)]) -> BTreeMap<String, (i64, i64)> {
    entries
        .iter()
        .map(|(folder, objects, bytes)| (folder.to_string(), (*objects, *bytes)))
        .collect()
}

#[tokio::test]
async fn inserts_growing_and_shrinking_updates_and_deletes_give_exact_statistics() {
    let emulator = Emulator::start();
    let mut catalog = catalog(&emulator, "crud").await;
    catalog.put("uploads/a/1.txt", 10).await;
    catalog.put("uploads/a/2.txt", 20).await;
    catalog.put("uploads/b/1.txt", 5).await;
    catalog.put("uploads/a/1.txt", 15).await; // grows by 5
    catalog.put("uploads/a/2.txt", 3).await; // shrinks by 17
    catalog.delete("uploads/b/1.txt").await; // empties uploads/b/

    let records = catalog.stream.read().await;
    let names: Vec<&str> = records
        .iter()
        .map(|record| record["eventName"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["INSERT", "INSERT", "INSERT", "MODIFY", "MODIFY", "REMOVE"]);
    let failures = catalog.deliver(&records).await;

    assert_eq!(failures, Vec::<String>::new());
    assert_eq!(
        catalog.statistics().await,
        stats(&[("uploads/a/", 2, 18), ("uploads/b/", 0, 0)])
    );
    assert_eq!(catalog.statistics().await, catalog.recount(&["uploads/b/"]).await);
}

#[tokio::test]
async fn a_poison_record_is_reported_with_every_record_after_it_and_the_ones_before_apply_once() {
    let emulator = Emulator::start();
    let mut catalog = catalog(&emulator, "poison").await;
    catalog.put("uploads/1.txt", 1).await;
    catalog.put("uploads/2.txt", 2).await;
    // An item that is not an ObjectItem (no size, no hash): its stream record can't be applied.
    catalog
        .deps
        .dynamodb
        .put_item()
        .table_name(&catalog.objects_table)
        .item("folder", AttributeValue::S("uploads/".to_owned()))
        .item("key", AttributeValue::S("uploads/poison".to_owned()))
        .send()
        .await
        .unwrap();
    catalog.put("uploads/3.txt", 3).await;
    catalog.put("uploads/4.txt", 4).await;
    let records = catalog.stream.read().await;
    assert_eq!(records.len(), 5);

    let failures = catalog.deliver(&records).await;
    let expected: Vec<String> = records[2..].iter().map(sequence_number).collect();
    assert_eq!(failures, expected, "the poison record and the two after it");
    assert_eq!(catalog.statistics().await, stats(&[("uploads/", 2, 3)]));

    // Lambda retries from the first reported record; and a whole-batch redelivery changes nothing.
    assert_eq!(catalog.deliver(&records[2..]).await, expected);
    assert_eq!(catalog.deliver(&records).await, expected);
    assert_eq!(catalog.statistics().await, stats(&[("uploads/", 2, 3)]));
}

#[tokio::test]
async fn the_same_batch_delivered_twice_changes_the_statistics_once() {
    let emulator = Emulator::start();
    let mut catalog = catalog(&emulator, "twice").await;
    catalog.put("uploads/x/1.bin", 100).await;
    catalog.put("uploads/x/2.bin", 50).await;
    catalog.delete("uploads/x/1.bin").await;
    let records = catalog.stream.read().await;

    assert!(catalog.deliver(&records).await.is_empty());
    let once = catalog.statistics().await;
    assert!(catalog.deliver(&records).await.is_empty());
    assert!(catalog.deliver(&records[1..]).await.is_empty());

    assert_eq!(once, stats(&[("uploads/x/", 1, 50)]));
    assert_eq!(catalog.statistics().await, once);
}

#[tokio::test]
async fn a_batch_whose_first_attempt_failed_counts_once_when_retried() {
    let emulator = Emulator::start();
    let aws = emulator.sdk_config();
    let mut catalog = catalog(&emulator, "retry").await;
    for n in 0..5 {
        catalog.put(&format!("uploads/r/{n}.txt"), 10).await;
    }
    let records = catalog.stream.read().await;
    // The first attempt fails as a whole: its marker table is gone (think of throttling).
    let broken = Deps::new(
        &aws,
        Config {
            processed_records_table: "missing".to_owned(),
            ..catalog.deps.config.clone()
        },
    );
    let event = LambdaEvent::new(json!({ "Records": records }), Context::default());
    let response = function_handler(&broken, event).await.unwrap();
    let reported: Vec<String> = response
        .batch_item_failures
        .into_iter()
        .filter_map(|failure| failure.item_identifier)
        .collect();
    assert_eq!(reported, records.iter().map(sequence_number).collect::<Vec<_>>());
    assert_eq!(
        catalog.statistics().await,
        BTreeMap::new(),
        "a failed transaction applies nothing"
    );

    // The retry starts from the first reported record: here, all of them.
    assert!(catalog.deliver(&records).await.is_empty());
    assert_eq!(catalog.statistics().await, stats(&[("uploads/r/", 5, 50)]));
}

#[tokio::test]
async fn a_batch_larger_than_one_transaction_counts_every_record_once() {
    let emulator = Emulator::start();
    let mut catalog = catalog(&emulator, "large").await;
    for n in 0..150 {
        catalog
            .put(&format!("uploads/{}/{n}.txt", ["left", "right"][n % 2]), n as u64)
            .await;
    }
    let records = catalog.stream.read().await;

    assert!(catalog.deliver(&records).await.is_empty());
    assert!(
        catalog.deliver(&records[40..]).await.is_empty(),
        "a redelivery spanning the transaction boundary"
    );

    assert_eq!(catalog.statistics().await, catalog.recount(&[]).await);
    assert_eq!(
        catalog.statistics().await["uploads/left/"],
        (75, (0..150).step_by(2).sum())
    );
}

#[tokio::test]
async fn an_event_without_records_fails_the_invocation_clearly() {
    let emulator = Emulator::start();
    let catalog = catalog(&emulator, "malformed").await;

    let no_records = function_handler(&catalog.deps, LambdaEvent::new(json!({"hello": 1}), Context::default())).await;
    let unnamed = json!({"Records": [{"eventName": "INSERT", "dynamodb": {}}]});
    let unidentifiable = function_handler(&catalog.deps, LambdaEvent::new(unnamed, Context::default())).await;

    assert_eq!(
        no_records.unwrap_err().to_string(),
        "not a DynamoDB stream event: it has no `Records` array"
    );
    assert_eq!(
        unidentifiable.unwrap_err().to_string(),
        "record 0 has no dynamodb.SequenceNumber, so it cannot be reported on its own"
    );
}

// The property: whatever happens to the objects table, and however often and in whatever batches
// its records are delivered again, the statistics equal a recount of the table.

#[derive(Debug, Clone)]
enum Op {
    Put { folder: usize, key: usize, size: u64 },
    Delete { folder: usize, key: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, 0..4usize, 0..1000u64).prop_map(|(folder, key, size)| Op::Put { folder, key, size }),
        1 => (0..3usize, 0..4usize).prop_map(|(folder, key)| Op::Delete { folder, key }),
    ]
}

/// How one batch is delivered: its size, whether it comes again whole, and where a retry of
/// part of it starts (as after a reported failure).
fn delivery() -> impl Strategy<Value = (usize, bool, Option<usize>)> {
    (1..8usize, any::<bool>(), proptest::option::of(0..8usize))
}

const FOLDERS: [&str; 3] = ["uploads/a/", "uploads/b/", "uploads/a/b/"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn statistics_equal_a_recount_under_duplicates_and_retries(
        ops in proptest::collection::vec(op(), 1..30),
        deliveries in proptest::collection::vec(delivery(), 1..12),
    ) {
        static EMULATOR: std::sync::OnceLock<Emulator> = std::sync::OnceLock::new();
        static CASE: AtomicUsize = AtomicUsize::new(0);
        let emulator = EMULATOR.get_or_init(Emulator::start);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (statistics, recount) = runtime.block_on(async {
            let mut catalog = catalog(emulator, &format!("property-{}", CASE.fetch_add(1, Ordering::Relaxed))).await;
            for op in &ops {
                match op {
                    Op::Put { folder, key, size } => catalog.put(&format!("{}{key}.txt", FOLDERS[*folder]), *size).await,
                    Op::Delete { folder, key } => catalog.delete(&format!("{}{key}.txt", FOLDERS[*folder])).await,
                }
            }
            let records = catalog.stream.read().await;
            let mut start = 0;
            for (size, again, retry_from) in deliveries.iter().cycle() {
                if start >= records.len() {
                    break;
                }
                let batch = &records[start..(start + size).min(records.len())];
                assert!(catalog.deliver(batch).await.is_empty());
                if *again {
                    assert!(catalog.deliver(batch).await.is_empty());
                }
                if let Some(from) = retry_from.filter(|from| *from < batch.len()) {
                    assert!(catalog.deliver(&batch[from..]).await.is_empty());
                }
                start += batch.len();
            }
            (catalog.statistics().await, catalog.recount(&[]).await)
        });
        // Folders emptied stay at zero in the statistics; a recount does not know them.
        let nonzero: BTreeMap<_, _> = statistics.into_iter().filter(|(_, counts)| *counts != (0, 0)).collect();
        prop_assert_eq!(nonzero, recount);
    }
}
