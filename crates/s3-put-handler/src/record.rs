//! One record of an S3 event notification, read and checked: its bucket, its key decoded as S3
//! encodes it (`+` for a space), its ETag, and its sequencer padded so that string order is S3's.

use aws_lambda_events::s3::S3Entity;
use serde::Deserialize;
use serde_json::Value;
use shared::s3_key::decode_event_key;

use crate::RecordError;

/// Sequencers are right-padded with zeros to this many hex digits before they are stored, so that
/// DynamoDB's string comparison orders them as S3 intends (S3's are 16 to 20 digits today; a
/// longer one is refused as malformed rather than compared wrongly).
const SEQUENCER_WIDTH: usize = 32;

/// One record, checked and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub event_name: String,
    pub bucket: String,
    /// The key as it is in the bucket (decoded).
    pub key: String,
    pub etag: Option<String>,
    /// The sequencer, padded for comparison (see [`padded_sequencer`]).
    pub sequencer: Option<String>,
}

/// What this function reads of an event record. Not `aws_lambda_events::s3::S3EventRecord`: that
/// type also requires `eventTime`, `userIdentity` and `requestParameters`, which we never use and
/// which the local emulator's events leave out. The `s3` part is the library's own type.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventRecord {
    #[serde(default)]
    event_name: Option<String>,
    s3: S3Entity,
}

/// Reads one record of the event, naming what is wrong when it can't.
pub fn parse_record(index: usize, record: &Value) -> Result<Upload, RecordError> {
    let malformed = |reason: String| RecordError::Malformed { index, reason };
    let record = EventRecord::deserialize(record).map_err(|error| malformed(error.to_string()))?;
    let non_empty = |value: Option<String>, field: &str| match value {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(malformed(format!("{field} is missing"))),
    };
    let bucket = non_empty(record.s3.bucket.name, "s3.bucket.name")?;
    let raw_key = non_empty(record.s3.object.key, "s3.object.key")?;
    let sequencer = match record.s3.object.sequencer {
        Some(sequencer) => Some(padded_sequencer(&sequencer).ok_or_else(|| {
            malformed(format!(
                "sequencer {sequencer:?} is not 1 to {SEQUENCER_WIDTH} hex digits"
            ))
        })?),
        None => None,
    };
    Ok(Upload {
        event_name: record.event_name.unwrap_or_default(),
        bucket,
        key: decode_event_key(&raw_key)?,
        etag: record.s3.object.e_tag.filter(|etag| !etag.is_empty()),
        sequencer,
    })
}

/// S3's rule for comparing the sequencers of two events for the same key: pad the shorter one with
/// zeros *on the right*, then compare as strings (S3 User Guide, "Event message structure").
/// Storing every sequencer right-padded to one width lets DynamoDB's string comparison apply that
/// rule for us. (Older guides said left-pad; on some pairs the two rules disagree, and a newer
/// event would then be taken for an older one.)
pub fn padded_sequencer(sequencer: &str) -> Option<String> {
    if sequencer.is_empty() || sequencer.len() > SEQUENCER_WIDTH || !sequencer.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(format!("{:0<SEQUENCER_WIDTH$}", sequencer.to_ascii_uppercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Value {
        serde_json::from_str(include_str!("../events/object-created.json")).unwrap()
    }

    #[test]
    fn fixture_record_decodes_plus_as_space_and_percent_2b_as_plus() {
        let upload = parse_record(0, &fixture()["Records"][0]).unwrap();
        assert_eq!(upload.key, "uploads/reports/Q3 report + notes.txt");
        assert_eq!(upload.bucket, "workshop-uploads");
        assert_eq!(upload.event_name, "ObjectCreated:Put");
        assert_eq!(upload.etag.as_deref(), Some("e4d7f1b4ed2e42d15898f4b27b019da4"));
    }

    #[test]
    fn fields_the_function_does_not_use_may_be_missing() {
        let mut record = fixture()["Records"][0].clone();
        for unused in ["userIdentity", "requestParameters", "eventTime", "responseElements"] {
            record.as_object_mut().unwrap().remove(unused);
        }
        assert_eq!(
            parse_record(0, &record).unwrap().key,
            "uploads/reports/Q3 report + notes.txt"
        );
    }

    #[test]
    fn record_without_a_key_names_the_missing_field() {
        let event: Value = serde_json::from_str(include_str!("../events/malformed.json")).unwrap();
        let error = parse_record(0, &event["Records"][0]).unwrap_err();
        assert_eq!(error.to_string(), "record 0 is malformed: s3.object.key is missing");
    }

    #[test]
    fn record_of_the_wrong_shape_says_what_serde_expected() {
        let error = parse_record(3, &serde_json::json!({"s3": "nope"})).unwrap_err();
        assert!(error.to_string().starts_with("record 3 is malformed: "), "{error}");
    }

    #[test]
    fn sequencers_are_right_padded_so_string_order_is_s3s_order() {
        assert_eq!(
            padded_sequencer("0065643a1b2c3d4e5f").unwrap(),
            "0065643A1B2C3D4E5F00000000000000"
        );
        // A pair on which the two rules disagree. S3's rule (right-pad): "0066" -> "00660" is
        // after "00655". The old left-pad rule ("00066" < "00655") would call it older.
        let (shorter, longer) = ("0066", "00655");
        assert!(padded_sequencer(shorter).unwrap() > padded_sequencer(longer).unwrap());
        assert!(
            format!("{shorter:0>5}").as_str() < longer,
            "the old rule orders them the other way"
        );
    }

    #[test]
    fn a_sequencer_that_is_not_hex_or_too_long_is_rejected() {
        assert_eq!(padded_sequencer("12G4"), None);
        assert_eq!(padded_sequencer(""), None);
        assert_eq!(padded_sequencer(&"A".repeat(33)), None);
        assert!(padded_sequencer(&"A".repeat(32)).is_some());
    }
}
