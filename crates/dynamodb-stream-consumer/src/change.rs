//! One stream record decoded into the change it makes to one folder's counters, from its images
//! (typed attribute maps, read with `serde_dynamo`).

use aws_lambda_events::dynamodb::EventRecord;
use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use serde::Deserialize;
use serde_json::Value;
use shared::catalog::{is_tombstone, ObjectItem, Tombstone};

use crate::RecordError;

/// One record, decoded: the change it makes to one folder's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `eventID`, unique per record: the marker's key.
    pub record_id: String,
    pub folder: String,
    pub objects: i64,
    pub bytes: i64,
    /// When the change was made, in milliseconds since the Unix epoch: the new image's
    /// `indexed_at` (an object) or `removed_at` (a tombstone), the same time the reconciler reads
    /// from the table; the record's own time where there is no new image.
    pub changed_at_ms: i64,
}

/// What a record changes, from its images (typed with `serde_dynamo`, never parsed by hand);
/// `None` when it changes no count.
///
/// An image that is a tombstone (`shared::catalog::Tombstone`, what a removal leaves) counts as
/// no object. So a removal is the `MODIFY` from an object to its tombstone, an upload after it the
/// `MODIFY` back, and a tombstone's own arrival (an `INSERT`) or expiry (a `REMOVE` by DynamoDB's
/// TTL) changes nothing.
pub fn change_of(index: usize, record: &Value) -> Result<Option<Change>, RecordError> {
    let malformed = |reason: String| RecordError::Malformed { index, reason };
    let record = EventRecord::deserialize(record).map_err(|error| malformed(error.to_string()))?;
    if record.event_id.is_empty() {
        return Err(malformed("eventID is missing".to_owned()));
    }
    // What an image shows: its folder, its object (`None` for a tombstone), and its time.
    let image = |item: serde_dynamo::Item, name: &str| -> Result<Image, RecordError> {
        if item.is_empty() {
            return Err(malformed(format!("{name} is missing")));
        }
        if is_tombstone(&item) {
            let tombstone: Tombstone = serde_dynamo::from_item(item)
                .map_err(|error| malformed(format!("{name} is not a tombstone: {error}")))?;
            let time = millis(&tombstone.removed_at);
            return Ok((tombstone.folder, None, time));
        }
        let object: ObjectItem = serde_dynamo::from_item(item)
            .map_err(|error| malformed(format!("{name} is not an object item: {error}")))?;
        let time = millis(&object.indexed_at);
        Ok((object.folder.clone(), Some(object), time))
    };
    let change = record.change;
    let record_time = change.approximate_creation_date_time.timestamp_millis();
    let ((folder, before, _), (after, changed_at)) = match record.event_name.as_str() {
        "INSERT" => {
            let (folder, new, time) = image(change.new_image, "NewImage")?;
            ((folder, None, None), (new, time))
        }
        // The folder is the partition key: an item cannot move, so both images agree.
        "MODIFY" => {
            let old = image(change.old_image, "OldImage")?;
            let (_, new, time) = image(change.new_image, "NewImage")?;
            (old, (new, time))
        }
        "REMOVE" => (image(change.old_image, "OldImage")?, (None, None)),
        other => {
            return Err(malformed(format!(
                "eventName {other:?} is not INSERT, MODIFY or REMOVE"
            )))
        }
    };
    if before.is_none() && after.is_none() {
        return Ok(None);
    }
    let counts = |object: Option<&ObjectItem>| -> Result<(i64, i64), RecordError> {
        match object {
            None => Ok((0, 0)),
            Some(object) => Ok((
                1,
                i64::try_from(object.size).map_err(|_| malformed("size is too large".to_owned()))?,
            )),
        }
    };
    let ((objects_after, bytes_after), (objects_before, bytes_before)) =
        (counts(after.as_ref())?, counts(before.as_ref())?);
    Ok(Some(Change {
        record_id: record.event_id,
        folder,
        objects: objects_after - objects_before,
        bytes: bytes_after - bytes_before,
        changed_at_ms: changed_at.unwrap_or(record_time),
    }))
}

/// An image's folder, its object (`None` for a tombstone), and its time in milliseconds.
type Image = (String, Option<ObjectItem>, Option<i64>);

/// An RFC 3339 time, as the put handler writes them, in milliseconds since the Unix epoch.
fn millis(text: &str) -> Option<i64> {
    DateTime::from_str(text, DateTimeFormat::DateTime)
        .ok()
        .and_then(|time| time.to_millis().ok())
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;

    pub(crate) fn image(folder: &str, key: &str, size: u64) -> Value {
        json!({
            "folder": {"S": folder}, "key": {"S": key}, "bucket": {"S": "workshop-uploads"},
            "size": {"N": size.to_string()}, "sha256": {"S": "00"}, "content_type": {"S": "text/plain"},
            "etag": {"S": "00"}, "last_modified": {"S": "2026-11-27T06:00:00Z"},
            "indexed_at": {"S": "2026-11-27T06:00:01Z"}
        })
    }

    pub(crate) fn record(name: &str, old: Option<Value>, new: Option<Value>) -> Value {
        let mut change = json!({"SequenceNumber": "100", "SizeBytes": 10, "StreamViewType": "NEW_AND_OLD_IMAGES",
                                "Keys": {"folder": {"S": "uploads/"}, "key": {"S": "uploads/a.txt"}}});
        if let Some(old) = old {
            change["OldImage"] = old;
        }
        if let Some(new) = new {
            change["NewImage"] = new;
        }
        json!({"eventID": "e1", "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
               "awsRegion": "us-east-1", "dynamodb": change})
    }

    #[test]
    fn insert_adds_the_object_and_its_bytes() {
        let change = change_of(0, &record("INSERT", None, Some(image("uploads/", "uploads/a.txt", 10))))
            .unwrap()
            .unwrap();
        assert_eq!(
            (change.folder.as_str(), change.objects, change.bytes),
            ("uploads/", 1, 10)
        );
    }

    #[test]
    fn modify_applies_the_size_difference_both_ways() {
        let grow = record(
            "MODIFY",
            Some(image("uploads/", "uploads/a.txt", 10)),
            Some(image("uploads/", "uploads/a.txt", 25)),
        );
        let shrink = record(
            "MODIFY",
            Some(image("uploads/", "uploads/a.txt", 25)),
            Some(image("uploads/", "uploads/a.txt", 4)),
        );
        assert_eq!(
            (
                change_of(0, &grow).unwrap().unwrap().objects,
                change_of(0, &grow).unwrap().unwrap().bytes
            ),
            (0, 15)
        );
        assert_eq!(change_of(0, &shrink).unwrap().unwrap().bytes, -21);
    }

    #[test]
    fn remove_subtracts_using_the_old_image() {
        let change = change_of(0, &record("REMOVE", Some(image("uploads/", "uploads/a.txt", 7)), None))
            .unwrap()
            .unwrap();
        assert_eq!((change.objects, change.bytes), (-1, -7));
    }

    pub(crate) fn tombstone(folder: &str, key: &str) -> Value {
        json!({
            "folder": {"S": folder}, "key": {"S": key}, "sequencer": {"S": "0067"},
            "removed_at": {"S": "2026-11-27T06:00:02Z"}, "expires_at": {"N": "1795000000"}
        })
    }

    #[test]
    fn an_object_becoming_a_tombstone_is_a_removal_and_back_an_upload() {
        let (object, removed) = (
            image("uploads/", "uploads/a.txt", 7),
            tombstone("uploads/", "uploads/a.txt"),
        );
        let removal = change_of(0, &record("MODIFY", Some(object.clone()), Some(removed.clone()))).unwrap();
        let upload_again = change_of(0, &record("MODIFY", Some(removed), Some(object))).unwrap();
        assert_eq!(removal.map(|change| (change.objects, change.bytes)), Some((-1, -7)));
        assert_eq!(upload_again.map(|change| (change.objects, change.bytes)), Some((1, 7)));
    }

    #[test]
    fn a_tombstone_arriving_replaced_or_expiring_changes_no_count() {
        let removed = || tombstone("uploads/", "uploads/a.txt");
        for record in [
            record("INSERT", None, Some(removed())),
            record("MODIFY", Some(removed()), Some(removed())),
            record("REMOVE", Some(removed()), None),
        ] {
            assert_eq!(change_of(0, &record).unwrap(), None, "{record}");
        }
    }

    #[test]
    fn a_missing_image_is_a_malformed_record_naming_it() {
        let error = change_of(4, &record("INSERT", None, None)).unwrap_err();
        assert_eq!(error.to_string(), "record 4 is malformed: NewImage is missing");
    }

    #[test]
    fn an_image_that_is_not_an_object_item_is_malformed() {
        let error = change_of(0, &record("INSERT", None, Some(json!({"folder": {"S": "uploads/"}})))).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("record 0 is malformed: NewImage is not an object item"),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_event_name_is_malformed() {
        let error = change_of(0, &record("TRUNCATE", None, None)).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("\"TRUNCATE\" is not INSERT, MODIFY or REMOVE"),
            "{error}"
        );
    }

    #[test]
    fn the_fixture_batch_decodes_to_its_four_changes() {
        let event: Value = serde_json::from_str(include_str!("../events/stream-batch.json")).unwrap();
        let records = event["Records"].as_array().unwrap();
        let changes: Vec<(i64, i64)> = records
            .iter()
            .enumerate()
            .map(|(index, record)| {
                change_of(index, record)
                    .unwrap()
                    .map(|change| (change.objects, change.bytes))
                    .unwrap()
            })
            .collect();
        assert_eq!(changes, [(1, 12), (1, 30), (0, 28), (-1, -30)]);
    }
}
