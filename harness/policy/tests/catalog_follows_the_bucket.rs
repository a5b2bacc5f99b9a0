//! The catalog follows the bucket, end to end against the local AWS emulator: whatever is put,
//! overwritten and deleted, and however S3 delivers the events (twice, late, out of order, and
//! at the same time as each other and as the operations on their keys, or never, then found by
//! the next repair run), with the put handler's repair run at the same time as all of that, the
//! objects table ends equal to the bucket, and the statistics, fed from the objects table's
//! stream (delivered twice too), equal a recount of it, also when the reconciler runs while the
//! stream lags behind.
//!
//! The events are made here as S3 would send them, with sequencers (the emulator's own carry
//! none), so the ordering rule the deployed stack relies on is the one under test.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use futures_util::future::join_all;
use lambda_runtime::LambdaEvent;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};
use shared::catalog::{FolderStats, ObjectItem};
use testkit::{Emulator, StreamReader};

const KEYS: [&str; 4] = [
    "uploads/a/one.txt",
    "uploads/a/two words.txt",
    "uploads/b/plus+sign.txt",
    "uploads/a/b/deep.txt",
];
const CONTENTS: [&str; 4] = ["", "x", "hello, world", "hello, world, again"];

#[derive(Debug, Clone)]
enum Op {
    Put { key: usize, content: usize },
    Delete { key: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..KEYS.len(), 0..CONTENTS.len()).prop_map(|(key, content)| Op::Put { key, content }),
        1 => (0..KEYS.len()).prop_map(|key| Op::Delete { key }),
    ]
}

/// A key as S3 writes it into an event: form-encoded (space as `+`), slashes kept.
fn event_key(key: &str) -> String {
    key.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'/' => (byte as char).to_string(),
            b' ' => "+".to_owned(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The `n`th sequencer of the run: increasing by S3's rule. Every other one carries a trailing
/// zero, so lengths differ as S3's do; by the old left-pad rule they would be out of order.
fn sequencer(n: usize) -> String {
    let digits = format!("{n:016X}");
    if n.is_multiple_of(2) {
        digits + "0"
    } else {
        digits
    }
}

fn record(bucket: &str, event_name: &str, key: &str, etag: Option<&str>, sequencer: String) -> Value {
    let mut object = json!({"key": event_key(key), "sequencer": sequencer});
    if let Some(etag) = etag {
        object["eTag"] = json!(etag);
    }
    json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": testkit::REGION,
        "eventName": event_name,
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket}, "object": object}
    })
}

struct Catalog {
    aws: SdkConfig,
    bucket: String,
    indexer: s3_put_handler::Deps,
    statistics: dynamodb_stream_consumer::Deps,
    /// With a quiet period of 0: the stream lags longer than it, whenever it runs.
    reconciler: statistics_reconciler::Deps,
}

impl Catalog {
    async fn new(emulator: &Emulator, tag: &str) -> Catalog {
        let aws = emulator.sdk_config();
        let indexer = s3_put_handler::Deps::new(
            &aws,
            s3_put_handler::Config {
                objects_table: format!("objects-{tag}"),
                upload_prefix: "uploads/".to_owned(),
                // Its repair run with a quiet period of 0: it acts on every difference it sees,
                // events in flight included.
                repair: Some(s3_put_handler::RepairConfig {
                    bucket: format!("catalog-{tag}"),
                    failed_uploads_queue_url: None,
                    quiet_period: Duration::ZERO,
                }),
            },
        );
        let statistics = dynamodb_stream_consumer::Deps::new(
            &aws,
            dynamodb_stream_consumer::Config {
                statistics_table: format!("statistics-{tag}"),
                processed_records_table: format!("processed-{tag}"),
                marker_ttl: std::time::Duration::from_secs(3600),
            },
        );
        let bucket = format!("catalog-{tag}");
        indexer.s3.create_bucket().bucket(&bucket).send().await.unwrap();
        testkit::create_objects_table(&indexer.dynamodb, &indexer.config.objects_table).await;
        testkit::create_statistics_table(&statistics.dynamodb, &statistics.config.statistics_table).await;
        testkit::create_processed_records_table(&statistics.dynamodb, &statistics.config.processed_records_table).await;
        let reconciler = statistics_reconciler::Deps::new(
            &aws,
            statistics_reconciler::Config {
                objects_table: indexer.config.objects_table.clone(),
                statistics_table: statistics.config.statistics_table.clone(),
                quiet_period: Duration::ZERO,
            },
        );
        Catalog {
            aws,
            bucket,
            indexer,
            statistics,
            reconciler,
        }
    }

    /// Applies `ops` to the bucket; returns the event record S3 would send for each.
    async fn apply(&self, ops: &[Op]) -> Vec<Value> {
        let mut records = Vec::new();
        for (n, op) in ops.iter().enumerate() {
            records.push(self.apply_one(n, op).await);
        }
        records
    }

    /// Applies the `n`th operation; returns its event record.
    async fn apply_one(&self, n: usize, op: &Op) -> Value {
        let s3 = &self.indexer.s3;
        match op {
            Op::Put { key, content } => {
                let output = s3
                    .put_object()
                    .bucket(&self.bucket)
                    .key(KEYS[*key])
                    .body(ByteStream::from_static(CONTENTS[*content].as_bytes()))
                    .send()
                    .await
                    .unwrap();
                let etag = output.e_tag().unwrap().trim_matches('"').to_owned();
                record(
                    &self.bucket,
                    "ObjectCreated:Put",
                    KEYS[*key],
                    Some(&etag),
                    sequencer(n + 1),
                )
            }
            Op::Delete { key } => {
                s3.delete_object()
                    .bucket(&self.bucket)
                    .key(KEYS[*key])
                    .send()
                    .await
                    .unwrap();
                record(&self.bucket, "ObjectRemoved:Delete", KEYS[*key], None, sequencer(n + 1))
            }
        }
    }

    /// Applies `ops` while delivering events as AWS may: each of `deliveries` is (which event,
    /// after which operation) and is invoked at the same time as the operations that follow it
    /// and the other deliveries due then, so an upload's event is read and hashed while its key
    /// is overwritten or deleted. The repair run starts with the operations `repairs` name, at
    /// the same time. Then every event once more, all at once, as the latest possible
    /// deliveries, but for the `lost` ones; and if any was lost, one more repair run, as the next
    /// hour's. Returns the events.
    async fn apply_delivering(
        &self,
        ops: &[Op],
        deliveries: &[(Index, Index)],
        repairs: &[Index],
        lost: &[Index],
    ) -> Vec<Value> {
        let mut records: Vec<Value> = Vec::new();
        for (n, op) in ops.iter().enumerate() {
            let due: Vec<&Value> = if records.is_empty() {
                Vec::new()
            } else {
                deliveries
                    .iter()
                    .filter(|(_, after)| after.index(ops.len()) == n)
                    .map(|(which, _)| which.get(&records))
                    .collect()
            };
            let repair_now = repairs.iter().any(|at| at.index(ops.len()) == n);
            let (record, _, _) = tokio::join!(
                self.apply_one(n, op),
                join_all(due.into_iter().map(|due| self.index(due))),
                async {
                    if repair_now {
                        self.repair().await;
                    }
                }
            );
            records.push(record);
        }
        let lost: Vec<usize> = lost.iter().map(|which| which.index(records.len())).collect();
        let delivered = records
            .iter()
            .enumerate()
            .rev()
            .filter(|(n, _)| !lost.contains(n))
            .map(|(_, record)| self.index(record));
        join_all(delivered).await;
        if !lost.is_empty() {
            self.repair().await;
        }
        records
    }

    async fn repair(&self) {
        let event = LambdaEvent::new(
            json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}),
            testkit::invocation_context(Duration::from_secs(300)),
        );
        match s3_put_handler::handle_invocation(&self.indexer, event).await.unwrap() {
            s3_put_handler::Answer::Repair(summary) => assert_eq!(summary.repairs_failed, 0, "{summary:?}"),
            other => panic!("a repair run answers its summary, not {other:?}"),
        }
    }

    async fn index(&self, record: &Value) {
        let event = LambdaEvent::new(
            json!({ "Records": [record] }),
            testkit::invocation_context(Duration::from_secs(60)),
        );
        s3_put_handler::function_handler(&self.indexer, event).await.unwrap();
    }

    /// The bucket: key -> (ETag, size).
    async fn bucket_contents(&self) -> BTreeMap<String, (String, u64)> {
        let listed = self
            .indexer
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .send()
            .await
            .unwrap();
        listed
            .contents()
            .iter()
            .map(|object| {
                let etag = object.e_tag().unwrap().trim_matches('"').to_owned();
                (object.key().unwrap().to_owned(), (etag, object.size().unwrap() as u64))
            })
            .collect()
    }

    /// The objects table's objects (a removal leaves a tombstone, which is none).
    async fn objects(&self) -> Vec<ObjectItem> {
        let scan = self
            .indexer
            .dynamodb
            .scan()
            .table_name(&self.indexer.config.objects_table)
            .send()
            .await;
        let items = scan.unwrap().items.unwrap_or_default();
        let objects = items.into_iter().filter(|item| !shared::catalog::is_tombstone(item));
        objects.map(|item| serde_dynamo::from_item(item).unwrap()).collect()
    }

    /// The objects table's stream, through the stream consumer, every batch delivered twice; the
    /// reconciler runs before batch `reconcile_before`, if the stream has that many.
    async fn count(&self, batch_size: usize, reconcile_before: Option<usize>) {
        let mut stream = StreamReader::open(&self.aws, &self.indexer.config.objects_table).await;
        let records = stream.read().await;
        for (n, batch) in records.chunks(batch_size).enumerate() {
            if reconcile_before == Some(n) {
                self.reconcile().await;
            }
            for _ in 0..2 {
                let event = LambdaEvent::new(
                    json!({ "Records": batch }),
                    testkit::invocation_context(Duration::from_secs(60)),
                );
                let response = dynamodb_stream_consumer::function_handler(&self.statistics, event)
                    .await
                    .unwrap();
                assert!(response.batch_item_failures.is_empty());
            }
        }
    }

    async fn reconcile(&self) {
        let event = LambdaEvent::new(json!({}), testkit::invocation_context(Duration::from_secs(600)));
        statistics_reconciler::function_handler(&self.reconciler, event)
            .await
            .unwrap();
    }

    /// Folder -> (objects, bytes), leaving out folders at zero (the statistics keep them).
    async fn statistics(&self) -> BTreeMap<String, (i64, i64)> {
        let scan = self
            .statistics
            .dynamodb
            .scan()
            .table_name(&self.statistics.config.statistics_table)
            .send()
            .await;
        let stats: Vec<FolderStats> = serde_dynamo::from_items(scan.unwrap().items.unwrap_or_default()).unwrap();
        stats
            .into_iter()
            .filter(|stats| (stats.object_count, stats.total_bytes) != (0, 0))
            .map(|stats| (stats.folder, (stats.object_count, stats.total_bytes)))
            .collect()
    }
}

/// The stream lags past the reconciler's quiet period (here 0): the run recounts changes whose
/// records the consumer has not applied yet. Applied afterwards, they must not count again.
#[tokio::test]
async fn a_stream_lagging_past_the_quiet_period_counts_nothing_twice() {
    let emulator = Emulator::start();
    let catalog = Catalog::new(&emulator, "lagging").await;
    let ops = [
        Op::Put { key: 0, content: 1 },
        Op::Put { key: 1, content: 2 },
        Op::Put { key: 2, content: 3 },
        Op::Delete { key: 0 },
    ];
    for record in catalog.apply(&ops).await {
        catalog.index(&record).await;
    }

    // The first record, then the run, then the rest of the stream.
    catalog.count(1, Some(1)).await;

    let objects = catalog.objects().await;
    let mut recount: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for item in &objects {
        let entry = recount.entry(item.folder.clone()).or_default();
        entry.0 += 1;
        entry.1 += item.size as i64;
    }
    assert_eq!(catalog.statistics().await, recount);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    #[test]
    fn the_catalog_equals_the_bucket_and_the_statistics_a_recount(
        ops in proptest::collection::vec(op(), 1..16),
        deliveries in proptest::collection::vec((any::<Index>(), any::<Index>()), 0..32),
        batch_size in 1..6usize,
        reconcile_before in proptest::option::of(0..8usize),
        repairs in proptest::collection::vec(any::<Index>(), 0..3),
        lost in proptest::collection::vec(any::<Index>(), 0..3),
    ) {
        static EMULATOR: std::sync::OnceLock<Emulator> = std::sync::OnceLock::new();
        static CASE: AtomicUsize = AtomicUsize::new(0);
        let emulator = EMULATOR.get_or_init(Emulator::start_interleaving_often);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (bucket, objects, statistics) = runtime.block_on(async {
            let catalog = Catalog::new(emulator, &CASE.fetch_add(1, Ordering::Relaxed).to_string()).await;
            catalog.apply_delivering(&ops, &deliveries, &repairs, &lost).await;
            catalog.count(batch_size, reconcile_before).await;
            (catalog.bucket_contents().await, catalog.objects().await, catalog.statistics().await)
        });

        let indexed: BTreeMap<String, (String, u64)> = objects
            .iter()
            .map(|item| (item.key.clone(), (item.etag.clone(), item.size)))
            .collect();
        prop_assert_eq!(&indexed, &bucket);
        let mut recount: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for item in &objects {
            let entry = recount.entry(item.folder.clone()).or_default();
            entry.0 += 1;
            entry.1 += item.size as i64;
        }
        prop_assert_eq!(statistics, recount);
    }
}
