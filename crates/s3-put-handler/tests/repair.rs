//! The repair run against the local AWS emulator: events that were lost, or that failed every
//! retry, and what the run does about each.

use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use lambda_runtime::{Diagnostic, LambdaEvent};
use s3_put_handler::{handle_invocation, Answer, Deps, RepairConfig, RepairSummary};
use serde_json::{json, Value};

use crate::emulator::{catalog, created, delete, event, item, upload, BUCKET, TABLE};

/// The catalog, with the repair run's settings: differences older than `quiet_period` repaired,
/// and the failure queue, if `queue_url`, replayed.
async fn repairable(quiet_period: Duration, queue_url: Option<String>) -> (testkit::Emulator, Deps) {
    let (emulator, mut deps) = catalog().await;
    deps.config.repair = Some(RepairConfig {
        bucket: BUCKET.to_owned(),
        failed_uploads_queue_url: queue_url,
        quiet_period,
    });
    (emulator, deps)
}

fn scheduled_event() -> LambdaEvent<Value> {
    let payload = serde_json::from_str(include_str!("../events/scheduled.json")).expect("the fixture is JSON");
    LambdaEvent::new(payload, testkit::invocation_context(Duration::from_secs(300)))
}

async fn repair(deps: &Deps) -> RepairSummary {
    match handle_invocation(deps, scheduled_event()).await {
        Ok(Answer::Repair(summary)) => summary,
        other => panic!("a repair run answers its summary, not {other:?}"),
    }
}

/// The item for `key` as DynamoDB attributes (an object's or a tombstone), if any.
async fn raw_item(deps: &Deps, key: &str) -> Option<std::collections::HashMap<String, AttributeValue>> {
    deps.dynamodb
        .get_item()
        .table_name(TABLE)
        .key("folder", AttributeValue::S(shared::catalog::folder_of(key).to_owned()))
        .key("key", AttributeValue::S(key.to_owned()))
        .send()
        .await
        .expect("reading the table")
        .item
}

/// Uploads an object and applies its event, with `sequencer`.
async fn upload_and_index(deps: &Deps, key: &str, content: &[u8], sequencer: &str) {
    let etag = upload(deps, key, content).await;
    let record = created(&key.replace(' ', "+"), &etag, Some(sequencer));
    handle_invocation(deps, event(vec![record])).await.expect("indexed");
}

/// Writes an item, indexed at `indexed_at`, for an object the bucket does not hold: a ghost.
async fn put_ghost(deps: &Deps, key: &str, indexed_at: Option<String>) {
    let mut ghost = testkit::object_item(BUCKET, key, 10);
    ghost.sequencer = Some(s3_put_handler::padded_sequencer("00A1").expect("a sequencer"));
    if let Some(indexed_at) = indexed_at {
        ghost.indexed_at = indexed_at;
    }
    deps.dynamodb
        .put_item()
        .table_name(TABLE)
        .set_item(Some(serde_dynamo::to_item(ghost).expect("an item")))
        .send()
        .await
        .expect("writing the ghost");
}

#[tokio::test]
async fn a_lost_upload_is_indexed_a_ghost_becomes_a_tombstone_and_a_second_run_changes_nothing() {
    let (_emulator, deps) = repairable(Duration::ZERO, None).await;
    // Uploads whose events never came, in two folders, one nested.
    upload(&deps, "uploads/lost/one.txt", b"first").await;
    upload(&deps, "uploads/lost/deeper/two.txt", b"second").await;
    // One indexed as usual: the run leaves it alone.
    upload_and_index(&deps, "uploads/kept.txt", b"kept", "0010").await;
    // An item whose object was deleted with its removal event lost, in a folder the bucket no
    // longer has at all.
    put_ghost(&deps, "uploads/gone/ghost.txt", None).await;

    let first = repair(&deps).await;
    let second = repair(&deps).await;

    assert_eq!(
        (
            first.missing_indexed,
            first.ghosts_removed,
            first.objects_checked,
            first.differences_busy
        ),
        (2, 1, 3, 0),
        "{first:?}"
    );
    let indexed = item(&deps, "uploads/lost/deeper/two.txt")
        .await
        .expect("the lost upload is indexed");
    assert_eq!(indexed.size, 6);
    assert_eq!(
        indexed.sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"second"))
    );
    let ghost = raw_item(&deps, "uploads/gone/ghost.txt")
        .await
        .expect("the ghost's key keeps an item");
    assert!(shared::catalog::is_tombstone(&ghost), "{ghost:?}");
    assert_eq!(
        ghost
            .get("sequencer")
            .and_then(|value| value.as_s().ok())
            .map(String::as_str),
        Some("00A10000000000000000000000000000"),
        "the tombstone keeps the ghost's sequencer, so older late events stay refused"
    );
    assert_eq!((second.missing_indexed, second.ghosts_removed), (0, 0), "{second:?}");
    assert_eq!(second.objects_checked, 3);
}

#[tokio::test]
async fn a_stale_item_and_an_object_behind_a_tombstone_are_indexed_again() {
    let (_emulator, deps) = repairable(Duration::ZERO, None).await;
    // The first version indexed, the second's event lost.
    upload_and_index(&deps, "uploads/twice.txt", b"one", "0010").await;
    upload(&deps, "uploads/twice.txt", b"two, longer").await;
    // Deleted (its removal applied), then uploaded again with that event lost.
    upload_and_index(&deps, "uploads/back.txt", b"here", "0020").await;
    delete(&deps, "uploads/back.txt").await;
    let mut removal = created("uploads/back.txt", "", Some("0030"));
    removal["eventName"] = json!("ObjectRemoved:Delete");
    handle_invocation(&deps, event(vec![removal])).await.expect("removed");
    upload(&deps, "uploads/back.txt", b"back again").await;

    let summary = repair(&deps).await;

    assert_eq!(summary.missing_indexed, 2, "{summary:?}");
    assert_eq!(item(&deps, "uploads/twice.txt").await.expect("indexed").size, 11);
    let back = item(&deps, "uploads/back.txt")
        .await
        .expect("indexed over its tombstone");
    assert_eq!(back.size, 10);
    assert_eq!(
        back.sequencer.as_deref(),
        Some("00300000000000000000000000000000"),
        "the late removal it replaces stays refused"
    );
}

#[tokio::test]
async fn differences_younger_than_the_quiet_period_are_left_to_their_events() {
    let (_emulator, deps) = repairable(Duration::from_secs(900), None).await;
    upload(&deps, "uploads/just-now.txt", b"event on its way").await;
    // Indexed a moment ago: its removal's event may be on its way.
    let now = DateTime::from(SystemTime::now()).fmt(DateTimeFormat::DateTime);
    put_ghost(&deps, "uploads/just-removed.txt", Some(now.expect("now as RFC 3339"))).await;

    let summary = repair(&deps).await;

    assert_eq!(
        (
            summary.differences_busy,
            summary.missing_indexed,
            summary.ghosts_removed
        ),
        (2, 0, 0),
        "{summary:?}"
    );
    assert!(raw_item(&deps, "uploads/just-now.txt").await.is_none());
    let left = raw_item(&deps, "uploads/just-removed.txt")
        .await
        .expect("left as it was");
    assert!(!shared::catalog::is_tombstone(&left));
}

#[tokio::test]
async fn failed_events_are_replayed_and_deleted_and_one_that_is_not_an_event_stays() {
    let (_emulator, mut deps) = catalog().await;
    let queue = deps
        .sqs
        .create_queue()
        .queue_name("failed-uploads")
        .send()
        .await
        .expect("creating the queue");
    let queue_url = queue.queue_url().expect("a queue URL").to_owned();
    deps.config.repair = Some(RepairConfig {
        bucket: BUCKET.to_owned(),
        failed_uploads_queue_url: Some(queue_url.clone()),
        // No difference is old enough: only the replay can index the upload.
        quiet_period: Duration::from_secs(900),
    });
    let etag = upload(&deps, "uploads/retried.txt", b"third time lucky").await;
    // As Lambda's on-failure destination writes it: the invocation record around the event.
    let failed = json!({
        "version": "1.0",
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": {"Records": [created("uploads/retried.txt", &etag, Some("0040"))]},
        "responsePayload": {"errorType": "RecordsFailed", "errorMessage": "throttled"},
    });
    for body in [failed.to_string(), "not an event".to_owned()] {
        deps.sqs
            .send_message()
            .queue_url(&queue_url)
            .message_body(body)
            .send()
            .await
            .expect("queueing a failure");
    }

    let summary = repair(&deps).await;

    assert_eq!(
        (summary.failed_events_replayed, summary.failed_events_left),
        (1, 1),
        "{summary:?}"
    );
    assert_eq!(item(&deps, "uploads/retried.txt").await.expect("indexed").size, 16);
    let attributes = deps
        .sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .expect("the queue's attributes");
    let count = |name: aws_sdk_sqs::types::QueueAttributeName| {
        attributes
            .attributes()
            .and_then(|all| all.get(&name))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        (
            count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages),
            count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        ),
        ("0".to_owned(), "1".to_owned()),
        "the replayed event is deleted; the other waits, hidden, for the next run"
    );
}

#[tokio::test]
async fn a_scheduled_event_without_a_bucket_to_check_is_an_error_that_says_so() {
    let (_emulator, deps) = catalog().await;

    let error = handle_invocation(&deps, scheduled_event())
        .await
        .expect_err("not configured");

    assert!(
        Diagnostic::from(error).error_message.contains("BUCKET_NAME"),
        "the error names the setting"
    );
}
