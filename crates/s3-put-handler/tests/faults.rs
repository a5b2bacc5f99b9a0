//! The function with every AWS call going through a proxy that breaks chosen requests
//! (`testkit::faults`): the SDK retries what it should, the invocation fails when it cannot
//! succeed (S3 then delivers the event again), and after recovery the redelivered event leaves
//! the object indexed exactly once, with the right hash.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::ByteStream;
use lambda_runtime::{Context, LambdaEvent};
use s3_put_handler::{function_handler, Config, Deps, Summary};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use shared::catalog::ObjectItem;
use testkit::faults::{Fault, FaultProxy};
use testkit::Emulator;

const BUCKET: &str = "workshop-uploads";
const TABLE: &str = "objects";
const KEY: &str = "uploads/faults/report.bin";

struct Setup {
    _emulator: Emulator,
    proxy: FaultProxy,
    /// The function's clients, through the proxy.
    deps: Deps,
    /// Clients straight to the emulator, to set up and to check.
    direct: Deps,
    content: Vec<u8>,
    etag: String,
}

/// The bucket, the table, one 256 KiB object in the bucket, and the function behind the proxy.
async fn setup() -> Setup {
    let emulator = Emulator::start();
    let proxy = FaultProxy::start(emulator.endpoint());
    let config = Config {
        objects_table: TABLE.to_owned(),
        upload_prefix: "uploads/".to_owned(),
        repair: None,
    };
    let direct = Deps::new(&emulator.sdk_config(), config.clone());
    let deps = Deps::new(&testkit::sdk_config_for(proxy.endpoint()), config);
    direct
        .s3
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("creating the bucket");
    testkit::create_objects_table(&direct.dynamodb, TABLE).await;
    let content: Vec<u8> = (0..256 * 1024).map(|index| (index % 251) as u8).collect();
    let output = direct
        .s3
        .put_object()
        .bucket(BUCKET)
        .key(KEY)
        .body(ByteStream::from(content.clone()))
        .send()
        .await
        .expect("uploading");
    let etag = output.e_tag().expect("an ETag").trim_matches('"').to_owned();
    Setup {
        _emulator: emulator,
        proxy,
        deps,
        direct,
        content,
        etag,
    }
}

fn event(etag: &str) -> LambdaEvent<Value> {
    let fixture: Value = serde_json::from_str(include_str!("../events/object-created.json")).expect("fixture is JSON");
    let mut record = fixture["Records"][0].clone();
    record["s3"]["object"]["key"] = json!(KEY);
    record["s3"]["object"]["eTag"] = json!(etag);
    LambdaEvent::new(json!({ "Records": [record] }), Context::default())
}

/// Every item in the objects table.
async fn items(setup: &Setup) -> Vec<HashMap<String, AttributeValue>> {
    let scan = setup.direct.dynamodb.scan().table_name(TABLE).send().await;
    scan.expect("scanning").items.unwrap_or_default()
}

/// The catalog must hold this one object, once, with its real hash.
async fn assert_indexed_once(setup: &Setup) {
    let items = items(setup).await;
    assert_eq!(items.len(), 1, "{items:?}");
    let item: ObjectItem = serde_dynamo::from_item(items[0].clone()).expect("an ObjectItem");
    assert_eq!(item.key, KEY);
    assert_eq!(item.size, setup.content.len() as u64);
    assert_eq!(item.sha256, hex::encode(Sha256::digest(&setup.content)));
    let by_key = setup
        .direct
        .dynamodb
        .get_item()
        .table_name(TABLE)
        .key("folder", AttributeValue::S("uploads/faults/".to_owned()))
        .key("key", AttributeValue::S(KEY.to_owned()))
        .send()
        .await
        .expect("reading the item");
    assert!(by_key.item.is_some());
}

/// The dependency comes back and S3 delivers the event again: indexed now, and once.
async fn recover_and_redeliver(setup: &Setup) {
    setup.proxy.recover();
    let summary = function_handler(&setup.deps, event(&setup.etag))
        .await
        .expect("the redelivery succeeds");
    assert_eq!(summary.indexed, 1);
    assert_indexed_once(setup).await;
}

#[tokio::test]
async fn throttled_and_failing_writes_are_retried_by_the_sdk_within_one_invocation() {
    let setup = setup().await;
    setup.proxy.inject("PutItem", Fault::Throttle, 1);
    setup.proxy.inject("PutItem", Fault::ServerError, 1);

    let summary = function_handler(&setup.deps, event(&setup.etag))
        .await
        .expect("the SDK's retries succeed");

    assert_eq!(
        summary,
        Summary {
            indexed: 1,
            ..Summary::default()
        }
    );
    assert_eq!(
        setup.proxy.seen("PutItem"),
        (3, 2),
        "two broken attempts, then the one that worked"
    );
    assert_indexed_once(&setup).await;
}

#[tokio::test]
async fn an_object_cut_off_mid_body_fails_the_invocation_and_the_redelivery_indexes_it_once() {
    let setup = setup().await;
    setup.proxy.inject(&format!("GET /{BUCKET}/"), Fault::CutMidBody, 1);

    let error = function_handler(&setup.deps, event(&setup.etag))
        .await
        .expect_err("half an object is not indexed");
    assert!(format!("{error:?}").contains("IncompleteBody"), "{error:?}");
    assert!(items(&setup).await.is_empty(), "nothing is written from half an object");

    recover_and_redeliver(&setup).await;
}

#[tokio::test]
async fn a_table_slower_than_the_timeouts_fails_the_invocation_in_time_and_nothing_counts_twice() {
    let setup = setup().await;
    // Every attempt answers late; each is still applied once it arrives, as a slow AWS call can be.
    setup.proxy.inject("PutItem", Fault::Delay(Duration::from_secs(4)), 3);

    let started = Instant::now();
    let error = function_handler(&setup.deps, event(&setup.etag))
        .await
        .expect_err("the write never answers in time");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "gave up after {took:?}, past the function's 10 s timeout"
    );
    assert!(format!("{error:?}").to_lowercase().contains("timeout"), "{error:?}");

    setup.proxy.recover();
    // The late writes land meanwhile; the redelivery finds its own write and changes nothing.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let summary = function_handler(&setup.deps, event(&setup.etag))
        .await
        .expect("the redelivery succeeds");
    assert_eq!(summary.indexed + summary.unchanged, 1, "{summary:?}");
    assert_indexed_once(&setup).await;
}

#[tokio::test]
async fn an_unreachable_table_fails_the_invocation_and_the_redelivery_indexes_it_once() {
    let setup = setup().await;
    setup.proxy.inject("PutItem", Fault::Refuse, 10);

    function_handler(&setup.deps, event(&setup.etag))
        .await
        .expect_err("nothing can be written");
    let (attempts, broken) = setup.proxy.seen("PutItem");
    assert_eq!((attempts, broken), (3, 3), "the SDK's three attempts, all refused");

    recover_and_redeliver(&setup).await;
}

/// S3 invokes the function concurrently. Here one instance has read and hashed the object and its
/// write to the table is held up (as by a slow network), while the object is deleted and another
/// instance applies the removal's event. The held write arrives last: it must not index an
/// object that no longer exists (a ghost item, which the folder's statistics would count for good).
#[tokio::test]
async fn an_upload_whose_write_arrives_after_its_removal_leaves_no_ghost_item() {
    let setup = setup().await;
    setup.proxy.inject("PutItem", Fault::Delay(Duration::from_secs(2)), 1);
    // The fixture's sequencer is the upload's; the removal came after it.
    let removal = {
        let mut event = event(&setup.etag).payload;
        let record = &mut event["Records"][0];
        record["eventName"] = json!("ObjectRemoved:Delete");
        record["s3"]["object"]["sequencer"] = json!("0065643A1B2C3D4E60");
        LambdaEvent::new(event, Context::default())
    };

    let remove_while_the_write_is_held = async {
        while setup.proxy.seen("PutItem").0 == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        setup
            .direct
            .s3
            .delete_object()
            .bucket(BUCKET)
            .key(KEY)
            .send()
            .await
            .expect("deleting the object");
        function_handler(&setup.direct, removal).await
    };
    let (upload, removal) = tokio::join!(
        function_handler(&setup.deps, event(&setup.etag)),
        remove_while_the_write_is_held
    );

    assert_eq!(upload.expect("the upload's record").unchanged, 1);
    removal.expect("the removal's record");
    let objects: Vec<_> = items(&setup)
        .await
        .into_iter()
        .filter(|item| !shared::catalog::is_tombstone(item))
        .collect();
    assert_eq!(objects, Vec::new(), "the bucket is empty, so the catalog must be");
}

/// The repair run lists a folder, then reads its items. An object uploaded in between, its event
/// applied at once, is in the table but was not in the listing: it looks like a ghost. Written
/// after the run began, it must be left alone, even with a quiet period of 0: a tombstone would
/// bury an object that exists under its own event's sequencer, so no redelivery of that event
/// could bring it back.
#[tokio::test]
async fn a_repair_run_leaves_alone_an_upload_that_lands_between_its_listing_and_its_reading_of_the_table() {
    let mut setup = setup().await;
    setup.deps.config.repair = Some(s3_put_handler::RepairConfig {
        bucket: BUCKET.to_owned(),
        failed_uploads_queue_url: None,
        quiet_period: Duration::ZERO,
    });
    // The object is not there when the run lists its folder; a neighbour keeps the folder listed.
    let delete = setup.direct.s3.delete_object().bucket(BUCKET).key(KEY).send().await;
    delete.expect("deleting the object");
    let neighbour = setup
        .direct
        .s3
        .put_object()
        .bucket(BUCKET)
        .key("uploads/faults/neighbour.txt");
    neighbour
        .body(ByteStream::from_static(b"here"))
        .send()
        .await
        .expect("uploading");
    // Each folder's Query waits 2 s: `uploads/`, then `uploads/faults/`.
    setup.proxy.inject("Query", Fault::Delay(Duration::from_secs(2)), 2);
    let scheduled = LambdaEvent::new(
        serde_json::from_str(include_str!("../events/scheduled.json")).expect("the fixture is JSON"),
        testkit::invocation_context(Duration::from_secs(300)),
    );

    let upload_while_the_folder_is_read = async {
        let waiting = Instant::now();
        while setup.proxy.seen("Query").0 < 2 {
            assert!(
                waiting.elapsed() < Duration::from_secs(30),
                "the run never read the folder"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let output = setup
            .direct
            .s3
            .put_object()
            .bucket(BUCKET)
            .key(KEY)
            .body(ByteStream::from(setup.content.clone()))
            .send()
            .await
            .expect("uploading again");
        let etag = output.e_tag().expect("an ETag").trim_matches('"').to_owned();
        function_handler(&setup.direct, event(&etag)).await.expect("its event")
    };
    let (repair, indexed) = tokio::join!(
        s3_put_handler::handle_invocation(&setup.deps, scheduled),
        upload_while_the_folder_is_read
    );

    assert_eq!(indexed.indexed, 1);
    match repair.expect("the repair run") {
        // The neighbour had no item: indexed, as an upload whose event was lost.
        s3_put_handler::Answer::Repair(summary) => assert_eq!(
            (
                summary.ghosts_removed,
                summary.differences_busy,
                summary.missing_indexed
            ),
            (0, 1, 1),
            "{summary:?}"
        ),
        other => panic!("a repair run answers its summary, not {other:?}"),
    }
    let items = items(&setup).await;
    let object = items
        .iter()
        .find(|item| item.get("key") == Some(&AttributeValue::S(KEY.to_owned())));
    let object = object.expect("the object's item");
    assert!(!shared::catalog::is_tombstone(object), "the object exists: {object:?}");
}
