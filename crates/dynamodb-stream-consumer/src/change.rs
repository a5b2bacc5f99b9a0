//! One stream record decoded into the change it makes to one folder's counters, from its images
//! (typed attribute maps, read with `serde_dynamo`).

use aws_lambda_events::dynamodb::EventRecord;
use serde::Deserialize;
use serde_json::Value;
use shared::catalog::ObjectItem;

use crate::RecordError;

/// One record, decoded: the change it makes to one folder's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `eventID`, unique per record: the marker's key.
    pub record_id: String,
    pub folder: String,
    pub objects: i64,
    pub bytes: i64,
}

/// What a record changes, from its images (typed with `serde_dynamo`, never parsed by hand).
pub fn change_of(index: usize, record: &Value) -> Result<Change, RecordError> {
    let malformed = |reason: String| RecordError::Malformed { index, reason };
    let record = EventRecord::deserialize(record).map_err(|error| malformed(error.to_string()))?;
    if record.event_id.is_empty() {
        return Err(malformed("eventID is missing".to_owned()));
    }
    let image = |item: serde_dynamo::Item, name: &str| -> Result<ObjectItem, RecordError> {
        if item.is_empty() {
            return Err(malformed(format!("{name} is missing")));
        }
        serde_dynamo::from_item(item).map_err(|error| malformed(format!("{name} is not an object item: {error}")))
    };
    let bytes = |item: &ObjectItem| i64::try_from(item.size).map_err(|_| malformed("size is too large".to_owned()));
    let change = record.change;
    let (folder, objects, bytes) = match record.event_name.as_str() {
        "INSERT" => {
            let new = image(change.new_image, "NewImage")?;
            let size = bytes(&new)?;
            (new.folder, 1, size)
        }
        "MODIFY" => {
            let (old, new) = (
                image(change.old_image, "OldImage")?,
                image(change.new_image, "NewImage")?,
            );
            // The folder is the partition key: an item cannot move, so both images agree.
            (new.folder.clone(), 0, bytes(&new)? - bytes(&old)?)
        }
        "REMOVE" => {
            let old = image(change.old_image, "OldImage")?;
            let size = bytes(&old)?;
            (old.folder, -1, -size)
        }
        other => {
            return Err(malformed(format!(
                "eventName {other:?} is not INSERT, MODIFY or REMOVE"
            )))
        }
    };
    Ok(Change {
        record_id: record.event_id,
        folder,
        objects,
        bytes,
    })
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
        let change = change_of(0, &record("INSERT", None, Some(image("uploads/", "uploads/a.txt", 10)))).unwrap();
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
            (change_of(0, &grow).unwrap().objects, change_of(0, &grow).unwrap().bytes),
            (0, 15)
        );
        assert_eq!(change_of(0, &shrink).unwrap().bytes, -21);
    }

    #[test]
    fn remove_subtracts_using_the_old_image() {
        let change = change_of(0, &record("REMOVE", Some(image("uploads/", "uploads/a.txt", 7)), None)).unwrap();
        assert_eq!((change.objects, change.bytes), (-1, -7));
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
                    .map(|change| (change.objects, change.bytes))
                    .unwrap()
            })
            .collect();
        assert_eq!(changes, [(1, 12), (1, 30), (0, 28), (-1, -30)]);
    }
}
