//! The consumer against the local emulator, with records read from the emulator's own stream:
//! write items to the objects table, read its stream, hand the records to the handler as Lambda
//! would, and compare the statistics with a recount of the objects table.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use dynamodb_stream_consumer::{function_handler, Config, Deps};
use lambda_runtime::LambdaEvent;
use proptest::prelude::*;
use serde_json::{json, Value};
use shared::catalog::{folder_of, is_tombstone, FolderStats, ObjectItem, Tombstone};
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

    /// Replaces the key's item with a tombstone, as the S3 put handler does for a removal.
    async fn remove(&self, key: &str) {
        let tombstone = Tombstone {
            folder: folder_of(key).to_owned(),
            key: key.to_owned(),
            sequencer: "0067".to_owned(),
            removed_at: "2026-11-27T06:00:02Z".to_owned(),
            expires_at: 1_795_000_000,
        };
        let attributes = serde_dynamo::to_item(tombstone).expect("an item");
        let request = self
            .deps
            .dynamodb
            .put_item()
            .table_name(&self.objects_table)
            .set_item(Some(attributes));
        request.send().await.expect("writing a tombstone");
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
        let event = LambdaEvent::new(
            json!({ "Records": records }),
            testkit::invocation_context(Duration::from_secs(60)),
        );
        let response = function_handler(&self.deps, event).await.expect("a batch response");
        response
            .batch_item_failures
            .into_iter()
            .map(|failure| failure.item_identifier.unwrap_or_default())
            .collect()
    }

    /// The statistics table: folder -> (objects, bytes). Every item must be a statistics item.
    async fn statistics(&self) -> BTreeMap<String, (i64, i64)> {
        let items = self.statistics_items().await;
        let stats: Vec<FolderStats> = serde_dynamo::from_items(items).expect("statistics items");
        stats
            .into_iter()
            .map(|stats| (stats.folder, (stats.object_count, stats.total_bytes)))
            .collect()
    }

    /// The statistics items that are readable ones: folder -> (objects, bytes).
    async fn statistics_readable(&self) -> BTreeMap<String, (i64, i64)> {
        let items = self.statistics_items().await;
        items
            .into_iter()
            .filter_map(|item| serde_dynamo::from_item::<_, FolderStats>(item).ok())
            .map(|stats| (stats.folder, (stats.object_count, stats.total_bytes)))
            .collect()
    }

    async fn statistics_items(&self) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        let scan = self
            .deps
            .dynamodb
            .scan()
            .table_name(&self.deps.config.statistics_table)
            .send()
            .await;
        scan.expect("scanning statistics").items.unwrap_or_default()
    }

    /// The statistics recounted from the objects table, with every folder ever used at zero.
    async fn recount(&self, folders: &[&str]) -> BTreeMap<String, (i64, i64)> {
        let mut counts: BTreeMap<String, (i64, i64)> =
            folders.iter().map(|folder| (folder.to_string(), (0, 0))).collect();
        let scan = self.deps.dynamodb.scan().table_name(&self.objects_table).send().await;
        let items = scan.expect("scanning objects").items.unwrap_or_default();
        let objects: Vec<ObjectItem> = items
            .into_iter()
            .filter(|item| !is_tombstone(item))
            .map(|item| serde_dynamo::from_item(item).expect("an object item"))
            .collect();
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
    let event = LambdaEvent::new(
        json!({ "Records": records }),
        testkit::invocation_context(Duration::from_secs(60)),
    );
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
async fn a_removal_is_counted_once_and_a_tombstone_alone_counts_nothing() {
    let emulator = Emulator::start();
    let mut catalog = catalog(&emulator, "tombstones").await;
    catalog.put("uploads/t/kept.txt", 5).await;
    catalog.put("uploads/t/gone.txt", 7).await;
    catalog.remove("uploads/t/gone.txt").await;
    catalog.remove("uploads/t/never-indexed.txt").await;
    catalog.remove("uploads/u/never-indexed.txt").await;
    catalog.put("uploads/t/gone.txt", 9).await;
    catalog.remove("uploads/t/gone.txt").await;
    let records = catalog.stream.read().await;

    assert!(catalog.deliver(&records).await.is_empty());

    assert_eq!(catalog.statistics().await, stats(&[("uploads/t/", 1, 5)]));
    assert_eq!(catalog.statistics().await, catalog.recount(&[]).await);
}

/// A statistics item DynamoDB cannot add to (`object_count` written as a string by hand, say)
/// fails its own folder's records, for good; the other folders in the same batch are counted.
#[tokio::test]
async fn an_unusable_statistics_item_fails_its_own_folder_not_its_neighbours() {
    let emulator = Emulator::start();
    let mut catalog = catalog(&emulator, "isolation").await;
    catalog
        .deps
        .dynamodb
        .put_item()
        .table_name(&catalog.deps.config.statistics_table)
        .item("folder", AttributeValue::S("uploads/bad/".to_owned()))
        .item("object_count", AttributeValue::S("many".to_owned()))
        .send()
        .await
        .expect("writing the broken statistics item");
    catalog.put("uploads/good/1.txt", 3).await;
    catalog.put("uploads/bad/1.txt", 5).await;
    catalog.put("uploads/good/2.txt", 4).await;
    let records = catalog.stream.read().await;

    let reported = catalog.deliver(&records).await;
    let retried = catalog.deliver(&records[1..]).await;

    // Lambda resumes from the lowest reported record: the bad folder's and all after it.
    assert_eq!(reported, records[1..].iter().map(sequence_number).collect::<Vec<_>>());
    assert_eq!(retried, reported, "the retry fails the same way");
    let statistics = catalog.statistics_readable().await;
    assert_eq!(
        statistics.get("uploads/good/"),
        Some(&(2, 7)),
        "counted once, although delivered twice"
    );
}

/// The reconciler repaired the folder while the stream lagged: its recount holds every change
/// made before `repaired_through`. A record of such a change, however late, counts nothing more;
/// a record of a later change counts.
#[tokio::test]
async fn a_record_older_than_its_folders_last_repair_is_skipped_a_newer_one_applied() {
    let emulator = Emulator::start();
    let mut catalog = catalog(&emulator, "watermark").await;
    catalog.put("uploads/w/old.txt", 10).await; // indexed 2026-11-27T06:00:01Z
    let mut newer = testkit::object_item("workshop-uploads", "uploads/w/new.txt", 5);
    newer.indexed_at = "2026-11-27T07:00:00Z".to_owned();
    catalog
        .deps
        .dynamodb
        .put_item()
        .table_name(&catalog.objects_table)
        .set_item(Some(serde_dynamo::to_item(newer).unwrap()))
        .send()
        .await
        .unwrap();
    // The repair: one object, 10 bytes, every change before 06:30 included.
    let through = aws_sdk_dynamodb::primitives::DateTime::from_str(
        "2026-11-27T06:30:00Z",
        aws_sdk_dynamodb::primitives::DateTimeFormat::DateTime,
    )
    .unwrap()
    .to_millis()
    .unwrap();
    catalog
        .deps
        .dynamodb
        .put_item()
        .table_name(&catalog.deps.config.statistics_table)
        .item("folder", AttributeValue::S("uploads/w/".to_owned()))
        .item("object_count", AttributeValue::N("1".to_owned()))
        .item("total_bytes", AttributeValue::N("10".to_owned()))
        .item("updated_at", AttributeValue::S("2026-11-27T06:30:00Z".to_owned()))
        .item("repaired_through", AttributeValue::N(through.to_string()))
        .send()
        .await
        .unwrap();
    let records = catalog.stream.read().await;

    assert!(catalog.deliver(&records).await.is_empty());

    assert_eq!(catalog.statistics().await, stats(&[("uploads/w/", 2, 15)]));
}

#[tokio::test]
async fn an_event_without_records_fails_the_invocation_clearly() {
    let emulator = Emulator::start();
    let catalog = catalog(&emulator, "malformed").await;

    let no_records = function_handler(
        &catalog.deps,
        LambdaEvent::new(
            json!({"hello": 1}),
            testkit::invocation_context(Duration::from_secs(60)),
        ),
    )
    .await;
    let unnamed = json!({"Records": [{"eventName": "INSERT", "dynamodb": {}}]});
    let unidentifiable = function_handler(
        &catalog.deps,
        LambdaEvent::new(unnamed, testkit::invocation_context(Duration::from_secs(60))),
    )
    .await;

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
    Remove { folder: usize, key: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, 0..4usize, 0..1000u64).prop_map(|(folder, key, size)| Op::Put { folder, key, size }),
        1 => (0..3usize, 0..4usize).prop_map(|(folder, key)| Op::Delete { folder, key }),
        1 => (0..3usize, 0..4usize).prop_map(|(folder, key)| Op::Remove { folder, key }),
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
                    Op::Remove { folder, key } => catalog.remove(&format!("{}{key}.txt", FOLDERS[*folder])).await,
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
