//! The function against the local AWS emulator: real objects in a real (emulated) bucket, real
//! conditional writes to a real (emulated) table. Each test starts its own emulator.

use aws_sdk_s3::primitives::ByteStream;
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use s3_put_handler::{function_handler, Config, Deps, Error, Summary};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use shared::catalog::ObjectItem;
use testkit::Emulator;

pub(crate) const BUCKET: &str = "workshop-uploads";
pub(crate) const TABLE: &str = "objects";

/// A fresh emulator with the uploads bucket and the objects table, and the function's `Deps`.
pub(crate) async fn catalog() -> (Emulator, Deps) {
    let emulator = Emulator::start();
    let config = Config {
        objects_table: TABLE.to_owned(),
        upload_prefix: "uploads/".to_owned(),
        repair: None,
    };
    let deps = Deps::new(&emulator.sdk_config(), config);
    deps.s3
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("creating the bucket");
    testkit::create_objects_table(&deps.dynamodb, TABLE).await;
    (emulator, deps)
}

/// Stores an object; returns its ETag without quotes, as events carry it.
pub(crate) async fn upload(deps: &Deps, key: &str, content: &[u8]) -> String {
    let output = deps
        .s3
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .content_type("text/plain")
        .body(ByteStream::from(content.to_vec()))
        .send()
        .await
        .expect("uploading to the emulator");
    output.e_tag().expect("an ETag").trim_matches('"').to_owned()
}

/// An `ObjectCreated:Put` record as S3 sends it, from the fixture, for another object.
pub(crate) fn created(encoded_key: &str, etag: &str, sequencer: Option<&str>) -> Value {
    let fixture: Value = serde_json::from_str(include_str!("../events/object-created.json")).expect("fixture is JSON");
    let mut record = fixture["Records"][0].clone();
    record["s3"]["object"]["key"] = json!(encoded_key);
    record["s3"]["object"]["eTag"] = json!(etag);
    match sequencer {
        Some(sequencer) => record["s3"]["object"]["sequencer"] = json!(sequencer),
        None => {
            record["s3"]["object"]
                .as_object_mut()
                .expect("object")
                .remove("sequencer");
        }
    }
    record
}

pub(crate) fn event(records: Vec<Value>) -> LambdaEvent<Value> {
    LambdaEvent::new(json!({ "Records": records }), Context::default())
}

pub(crate) async fn item(deps: &Deps, key: &str) -> Option<ObjectItem> {
    let output = deps
        .dynamodb
        .get_item()
        .table_name(TABLE)
        .key(
            "folder",
            aws_sdk_dynamodb::types::AttributeValue::S(shared::catalog::folder_of(key).to_owned()),
        )
        .key("key", aws_sdk_dynamodb::types::AttributeValue::S(key.to_owned()))
        .send()
        .await
        .expect("reading the table");
    output
        .item
        .map(|item| serde_dynamo::from_item(item).expect("an ObjectItem"))
}

async fn item_count(deps: &Deps) -> i32 {
    deps.dynamodb
        .scan()
        .table_name(TABLE)
        .send()
        .await
        .expect("scanning the table")
        .count
}

fn sha256_hex(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

#[tokio::test]
async fn keys_with_spaces_plus_percent_unicode_and_nested_folders_are_indexed_with_their_hash() {
    let (_emulator, deps) = catalog().await;
    // (the key in the bucket, the key as S3 writes it in the event, its folder)
    let cases = [
        ("uploads/annual report.pdf", "uploads/annual+report.pdf", "uploads/"),
        ("uploads/c++/notes.txt", "uploads/c%2B%2B/notes.txt", "uploads/c++/"),
        ("uploads/100% done.txt", "uploads/100%25+done.txt", "uploads/"),
        (
            "uploads/café/日本 語.txt",
            "uploads/caf%C3%A9/%E6%97%A5%E6%9C%AC+%E8%AA%9E.txt",
            "uploads/café/",
        ),
        (
            "uploads/2026/11/27/deep.bin",
            "uploads/2026/11/27/deep.bin",
            "uploads/2026/11/27/",
        ),
    ];
    for (key, encoded, folder) in cases {
        let content = format!("content of {key}");
        let etag = upload(&deps, key, content.as_bytes()).await;

        let summary = function_handler(&deps, event(vec![created(encoded, &etag, None)]))
            .await
            .unwrap();

        assert_eq!(
            summary,
            Summary {
                indexed: 1,
                ..Summary::default()
            },
            "{key}"
        );
        let item = item(&deps, key).await.unwrap_or_else(|| panic!("no item for {key}"));
        assert_eq!(item.folder, folder);
        assert_eq!(item.key, key);
        assert_eq!(item.bucket, BUCKET);
        assert_eq!(item.size, content.len() as u64);
        assert_eq!(item.sha256, sha256_hex(content.as_bytes()));
        assert_eq!(item.content_type, "text/plain");
        assert_eq!(item.etag, etag);
        assert!(
            item.last_modified.ends_with('Z') && item.last_modified.len() == 20,
            "{}",
            item.last_modified
        );
        assert!(
            item.indexed_at.starts_with("20") && item.indexed_at.ends_with('Z'),
            "{}",
            item.indexed_at
        );
    }
    assert_eq!(item_count(&deps).await, 5);
}

#[tokio::test]
async fn the_fixture_event_indexes_its_object_under_the_decoded_key() {
    let (_emulator, deps) = catalog().await;
    upload(&deps, "uploads/reports/Q3 report + notes.txt", b"hello, world").await;
    let fixture = serde_json::from_str(include_str!("../events/object-created.json")).unwrap();

    let summary = function_handler(&deps, LambdaEvent::new(fixture, Context::default()))
        .await
        .unwrap();

    assert_eq!(summary.indexed, 1);
    let item = item(&deps, "uploads/reports/Q3 report + notes.txt").await.unwrap();
    assert_eq!(item.folder, "uploads/reports/");
    assert_eq!(item.size, 12);
    assert_eq!(
        item.sha256,
        "09ca7e4eaa6e8ae9c7d261167129184883644d07dfba7cbfbc4c8a2e08360d5b"
    );
    assert_eq!(item.sequencer.as_deref(), Some("0065643A1B2C3D4E5F00000000000000"));
}

#[tokio::test]
async fn the_same_event_delivered_twice_writes_one_item_once() {
    let (_emulator, deps) = catalog().await;
    let etag = upload(&deps, "uploads/once.txt", b"exactly once").await;
    let record = created("uploads/once.txt", &etag, Some("0065643A1B2C3D4E60"));

    let first = function_handler(&deps, event(vec![record.clone()])).await.unwrap();
    let written = item(&deps, "uploads/once.txt").await.unwrap();
    let second = function_handler(&deps, event(vec![record])).await.unwrap();

    assert_eq!(
        first,
        Summary {
            indexed: 1,
            ..Summary::default()
        }
    );
    assert_eq!(
        second,
        Summary {
            unchanged: 1,
            ..Summary::default()
        }
    );
    assert_eq!(
        item(&deps, "uploads/once.txt").await.unwrap(),
        written,
        "the second delivery changed the item"
    );
    assert_eq!(item_count(&deps).await, 1);
}

#[tokio::test]
async fn without_a_sequencer_a_duplicate_is_still_written_once() {
    let (_emulator, deps) = catalog().await;
    let etag = upload(&deps, "uploads/no-sequencer.txt", b"the emulator sends no sequencer").await;
    let record = created("uploads/no-sequencer.txt", &etag, None);

    let first = function_handler(&deps, event(vec![record.clone()])).await.unwrap();
    let written = item(&deps, "uploads/no-sequencer.txt").await.unwrap();
    let second = function_handler(&deps, event(vec![record])).await.unwrap();

    assert_eq!((first.indexed, second.unchanged), (1, 1));
    assert_eq!(item(&deps, "uploads/no-sequencer.txt").await.unwrap(), written);
}

#[tokio::test]
async fn an_older_event_arriving_after_a_newer_one_does_not_overwrite_it() {
    let (_emulator, deps) = catalog().await;
    let old_etag = upload(&deps, "uploads/report.txt", b"first draft").await;
    let new_etag = upload(&deps, "uploads/report.txt", b"final version").await;

    let newer = function_handler(
        &deps,
        event(vec![created("uploads/report.txt", &new_etag, Some("0066"))]),
    )
    .await;
    let older = function_handler(
        &deps,
        event(vec![created("uploads/report.txt", &old_etag, Some("0065"))]),
    )
    .await;

    assert_eq!(newer.unwrap().indexed, 1);
    assert_eq!(
        older.unwrap(),
        Summary {
            superseded: 1,
            ..Summary::default()
        }
    );
    assert_eq!(
        item(&deps, "uploads/report.txt").await.unwrap().sha256,
        sha256_hex(b"final version")
    );
}

#[tokio::test]
async fn an_older_sequencer_for_the_same_content_leaves_the_newer_item() {
    let (_emulator, deps) = catalog().await;
    // The same bytes uploaded twice: two events with one ETag, told apart only by the sequencer.
    upload(&deps, "uploads/twice.txt", b"same bytes").await;
    let etag = upload(&deps, "uploads/twice.txt", b"same bytes").await;

    let newer = function_handler(&deps, event(vec![created("uploads/twice.txt", &etag, Some("00A2"))])).await;
    let older = function_handler(&deps, event(vec![created("uploads/twice.txt", &etag, Some("009F"))])).await;
    let newest = function_handler(&deps, event(vec![created("uploads/twice.txt", &etag, Some("0100"))])).await;

    assert_eq!(newer.unwrap().indexed, 1);
    assert_eq!(older.unwrap().unchanged, 1);
    assert_eq!(newest.unwrap().indexed, 1);
    let item = item(&deps, "uploads/twice.txt").await.unwrap();
    assert_eq!(item.sequencer.as_deref(), Some("01000000000000000000000000000000"));
}

#[tokio::test]
async fn a_key_outside_the_upload_prefix_is_never_read_or_written() {
    let (_emulator, deps) = catalog().await;
    // If the function read these it would find no object and count them as deleted.
    let records = vec![
        created("thumbnails/photo.jpg", "0123456789abcdef0123456789abcdef", None),
        created("uploads-old/photo.jpg", "0123456789abcdef0123456789abcdef", None),
    ];

    let summary = function_handler(&deps, event(records)).await.unwrap();

    assert_eq!(
        summary,
        Summary {
            outside_prefix: 2,
            ..Summary::default()
        }
    );
    assert_eq!(item_count(&deps).await, 0);
}

#[tokio::test]
async fn an_object_deleted_before_it_is_read_is_skipped_not_retried() {
    let (_emulator, deps) = catalog().await;
    let etag = upload(&deps, "uploads/short-lived.txt", b"here and gone").await;
    deps.s3
        .delete_object()
        .bucket(BUCKET)
        .key("uploads/short-lived.txt")
        .send()
        .await
        .unwrap();

    let summary = function_handler(&deps, event(vec![created("uploads/short-lived.txt", &etag, None)])).await;

    assert_eq!(
        summary.unwrap(),
        Summary {
            deleted: 1,
            ..Summary::default()
        }
    );
    assert_eq!(item_count(&deps).await, 0);
}

#[tokio::test]
async fn a_failing_record_fails_the_invocation_after_the_others_are_indexed() {
    let (_emulator, deps) = catalog().await;
    let first = upload(&deps, "uploads/first.txt", b"first").await;
    let last = upload(&deps, "uploads/last.txt", b"last").await;
    let mut in_a_missing_bucket = created("uploads/middle.txt", &first, None);
    in_a_missing_bucket["s3"]["bucket"]["name"] = json!("no-such-bucket");
    let records = vec![
        created("uploads/first.txt", &first, None),
        in_a_missing_bucket,
        created("uploads/last.txt", &last, None),
    ];

    let error = function_handler(&deps, event(records)).await.unwrap_err();

    assert!(
        matches!(
            error,
            Error::RecordsFailed {
                failed: 1,
                total: 3,
                ..
            }
        ),
        "{error:?}"
    );
    let diagnostic = Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "RecordsFailed");
    assert!(
        diagnostic
            .error_message
            .contains("s3://no-such-bucket/uploads/middle.txt"),
        "{}",
        diagnostic.error_message
    );
    assert!(item(&deps, "uploads/first.txt").await.is_some());
    assert!(item(&deps, "uploads/last.txt").await.is_some());
}

#[tokio::test]
async fn a_malformed_event_is_an_error_that_says_what_is_wrong() {
    let (_emulator, deps) = catalog().await;

    let not_s3 = function_handler(&deps, LambdaEvent::new(json!({"hello": "world"}), Context::default())).await;
    let empty = function_handler(&deps, event(vec![])).await;
    let malformed = serde_json::from_str(include_str!("../events/malformed.json")).unwrap();
    let no_key = function_handler(&deps, LambdaEvent::new(malformed, Context::default())).await;
    let bad_bytes = function_handler(&deps, event(vec![created("uploads/%FF.txt", "00", None)])).await;

    let message = |result: Result<Summary, Error>| Diagnostic::from(result.unwrap_err()).error_message;
    assert_eq!(
        message(not_s3),
        "not an S3 event notification: it has no `Records` array"
    );
    assert_eq!(
        message(empty),
        "not an S3 event notification: `Records` is not a non-empty array"
    );
    assert!(message(no_key).ends_with("record 0 is malformed: s3.object.key is missing"));
    assert!(message(bad_bytes).ends_with(r#"object key "uploads/%FF.txt" does not decode to UTF-8 text"#));
}

#[tokio::test]
async fn the_s3_test_event_is_acknowledged_with_nothing_indexed() {
    let (_emulator, deps) = catalog().await;
    let test_event = serde_json::from_str(include_str!("../events/s3-test-event.json")).unwrap();

    let summary = function_handler(&deps, LambdaEvent::new(test_event, Context::default())).await;

    assert_eq!(summary.unwrap(), Summary::default());
}

/// An `ObjectRemoved:Delete` record as S3 sends it: no ETag, no size.
fn removed(encoded_key: &str, sequencer: Option<&str>) -> Value {
    let mut record = created(encoded_key, "", sequencer);
    record["eventName"] = json!("ObjectRemoved:Delete");
    let object = record["s3"]["object"].as_object_mut().expect("object");
    object.remove("eTag");
    object.remove("size");
    record
}

pub(crate) async fn delete(deps: &Deps, key: &str) {
    deps.s3
        .delete_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .expect("deleting from the emulator");
}

/// An expiry by a lifecycle rule (the public demo's folder, see template.yaml) is a removal too:
/// S3 reports it as `LifecycleExpiration:Delete`, not as `ObjectRemoved`.
#[tokio::test]
async fn an_object_a_lifecycle_rule_expired_loses_its_item() {
    let (_emulator, deps) = catalog().await;
    let etag = upload(&deps, "uploads/demo/old.txt", b"old").await;
    function_handler(&deps, event(vec![created("uploads/demo/old.txt", &etag, None)]))
        .await
        .unwrap();
    delete(&deps, "uploads/demo/old.txt").await;
    let mut expired = removed("uploads/demo/old.txt", None);
    expired["eventName"] = json!("LifecycleExpiration:Delete");

    let summary = function_handler(&deps, event(vec![expired])).await;

    assert_eq!(
        summary.unwrap(),
        Summary {
            removed: 1,
            ..Summary::default()
        }
    );
    assert_eq!(item(&deps, "uploads/demo/old.txt").await, None);
}

#[tokio::test]
async fn a_removed_object_loses_its_item() {
    let (_emulator, deps) = catalog().await;
    let etag = upload(&deps, "uploads/gone soon.txt", b"brief").await;
    function_handler(&deps, event(vec![created("uploads/gone+soon.txt", &etag, None)]))
        .await
        .unwrap();
    delete(&deps, "uploads/gone soon.txt").await;

    let summary = function_handler(&deps, event(vec![removed("uploads/gone+soon.txt", None)])).await;
    let again = function_handler(&deps, event(vec![removed("uploads/gone+soon.txt", None)])).await;

    assert_eq!(
        summary.unwrap(),
        Summary {
            removed: 1,
            ..Summary::default()
        }
    );
    assert_eq!(
        again.unwrap(),
        Summary {
            unchanged: 1,
            ..Summary::default()
        }
    );
    assert_eq!(item(&deps, "uploads/gone soon.txt").await, None);
}

#[tokio::test]
async fn a_removal_delivered_after_a_newer_upload_leaves_the_newer_item() {
    let (_emulator, deps) = catalog().await;
    // Uploaded, removed, uploaded again: the removal's event arrives last.
    upload(&deps, "uploads/back.txt", b"first life").await;
    delete(&deps, "uploads/back.txt").await;
    let etag = upload(&deps, "uploads/back.txt", b"second life").await;
    function_handler(&deps, event(vec![created("uploads/back.txt", &etag, Some("0067"))]))
        .await
        .unwrap();

    let late = function_handler(&deps, event(vec![removed("uploads/back.txt", Some("0066"))])).await;

    assert_eq!(late.unwrap().unchanged, 1);
    assert_eq!(
        item(&deps, "uploads/back.txt").await.unwrap().sha256,
        sha256_hex(b"second life")
    );
}

#[tokio::test]
async fn without_a_sequencer_a_removal_of_a_key_written_again_changes_nothing() {
    let (_emulator, deps) = catalog().await;
    let etag = upload(&deps, "uploads/back.txt", b"again").await;
    function_handler(&deps, event(vec![created("uploads/back.txt", &etag, None)]))
        .await
        .unwrap();

    let stale = function_handler(&deps, event(vec![removed("uploads/back.txt", None)])).await;

    assert_eq!(stale.unwrap().superseded, 1);
    assert!(item(&deps, "uploads/back.txt").await.is_some());
}

#[tokio::test]
async fn sequencers_compare_by_s3s_right_padding_rule() {
    let (_emulator, deps) = catalog().await;
    // "0066" is after "00655" by S3's rule (right-pad: "00660" > "00655"), before it by the old
    // left-pad rule ("00066" < "00655"), which would leave the first version in the catalog.
    let first = upload(&deps, "uploads/padded.txt", b"first").await;
    function_handler(&deps, event(vec![created("uploads/padded.txt", &first, Some("00655"))]))
        .await
        .unwrap();
    let second = upload(&deps, "uploads/padded.txt", b"second").await;

    let newer = function_handler(&deps, event(vec![created("uploads/padded.txt", &second, Some("0066"))])).await;

    assert_eq!(newer.unwrap().indexed, 1);
    assert_eq!(
        item(&deps, "uploads/padded.txt").await.unwrap().sha256,
        sha256_hex(b"second")
    );
}

#[tokio::test]
async fn an_event_that_is_neither_created_nor_removed_is_ignored() {
    let (_emulator, deps) = catalog().await;
    let etag = upload(&deps, "uploads/kept.txt", b"kept").await;
    let mut tagged = created("uploads/kept.txt", &etag, None);
    tagged["eventName"] = json!("ObjectTagging:Put");

    let summary = function_handler(&deps, event(vec![tagged])).await;

    assert_eq!(
        summary.unwrap(),
        Summary {
            other_event: 1,
            ..Summary::default()
        }
    );
    assert_eq!(item_count(&deps).await, 0);
}

#[tokio::test]
async fn a_removal_leaves_a_tombstone_that_keeps_older_events_out() {
    let (_emulator, deps) = catalog().await;
    let etag = upload(&deps, "uploads/short.txt", b"short-lived").await;
    let first = function_handler(&deps, event(vec![created("uploads/short.txt", &etag, Some("0066"))])).await;
    delete(&deps, "uploads/short.txt").await;

    let removal = function_handler(&deps, event(vec![removed("uploads/short.txt", Some("0067"))])).await;
    let removal_again = function_handler(&deps, event(vec![removed("uploads/short.txt", Some("0067"))])).await;
    let upload_again = function_handler(&deps, event(vec![created("uploads/short.txt", &etag, Some("0066"))])).await;

    assert_eq!(first.unwrap().indexed, 1);
    assert_eq!(removal.unwrap().removed, 1);
    assert_eq!(removal_again.unwrap().unchanged, 1);
    // Late, and the object is gone: the tombstone's sequencer is larger, so nothing is written
    // (without it, this read would find no object and count it as deleted; had it been read
    // before the removal, it would be a ghost: see faults.rs).
    assert_eq!(upload_again.unwrap().indexed, 0);
    let stored = deps
        .dynamodb
        .get_item()
        .table_name(TABLE)
        .key(
            "folder",
            aws_sdk_dynamodb::types::AttributeValue::S("uploads/".to_owned()),
        )
        .key(
            "key",
            aws_sdk_dynamodb::types::AttributeValue::S("uploads/short.txt".to_owned()),
        )
        .send()
        .await
        .expect("reading the table")
        .item
        .expect("the tombstone");
    let tombstone: shared::catalog::Tombstone = serde_dynamo::from_item(stored).expect("a tombstone");
    assert_eq!(tombstone.sequencer, s3_put_handler::padded_sequencer("0067").unwrap());
}
