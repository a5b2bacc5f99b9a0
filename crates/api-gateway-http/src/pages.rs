//! Paging for `/objects` and `/stats`: the `limit` of a page and the `cursor` to the next one.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use shared::catalog::folder_of;

use crate::{Failure, MAX_FOLDER_BYTES, MAX_KEY_BYTES};

/// The most items one page of `/objects` or `/stats` holds. With keys and folders at most 2 KiB,
/// a page stays far below Lambda's 6 MB response limit, however large the tables grow.
const MAX_PAGE_ITEMS: i32 = 100;

/// The `limit` of a page: 20 unless asked, at most [`MAX_PAGE_ITEMS`].
pub(crate) fn page_limit(limit: Option<&str>) -> Result<i32, Failure> {
    match limit {
        None => Ok(20),
        Some(limit) => limit
            .parse::<i32>()
            .ok()
            .filter(|limit| (1..=MAX_PAGE_ITEMS).contains(limit))
            .ok_or_else(|| {
                Failure::bad_request(format!(
                    "limit must be a whole number from 1 to {MAX_PAGE_ITEMS}, not {limit:?}."
                ))
            }),
    }
}

/// The cursor is the last key of the page, as JSON, hex-encoded: opaque to clients, checked when
/// it comes back.
pub(crate) fn encode_cursor(last_key: &HashMap<String, AttributeValue>) -> Option<String> {
    let position: serde_json::Map<String, Value> = last_key
        .iter()
        .map(|(name, value)| Some((name.clone(), Value::from(value.as_s().ok()?.as_str()))))
        .collect::<Option<_>>()?;
    Some(hex::encode(Value::Object(position).to_string()))
}

/// The string attributes a cursor names; `None` if it is not one [`encode_cursor`] could give.
fn cursor_fields(cursor: &str) -> Option<serde_json::Map<String, Value>> {
    // Twice the hex of the longest folder and key, with room for the JSON around them.
    if cursor.len() > 4 * (MAX_FOLDER_BYTES + MAX_KEY_BYTES) {
        return None;
    }
    match serde_json::from_slice(&hex::decode(cursor).ok()?).ok()? {
        Value::Object(fields) => Some(fields),
        _ => None,
    }
}

/// The start key of the next page of `folder`'s objects, checked as DynamoDB would (a key longer
/// than it allows would fail the query with a 500, not the 400 the client deserves).
pub(crate) fn decode_cursor(cursor: &str, folder: &str) -> Result<HashMap<String, AttributeValue>, Failure> {
    let invalid = || Failure::bad_request("cursor is not one this API gave out for this folder.");
    let fields = cursor_fields(cursor).ok_or_else(invalid)?;
    match (
        fields.get("folder").and_then(Value::as_str),
        fields.get("key").and_then(Value::as_str),
    ) {
        (Some(cursor_folder), Some(key))
            if cursor_folder == folder && folder_of(key) == folder && key.len() <= MAX_KEY_BYTES =>
        {
            Ok(HashMap::from([
                ("folder".to_owned(), AttributeValue::S(folder.to_owned())),
                ("key".to_owned(), AttributeValue::S(key.to_owned())),
            ]))
        }
        _ => Err(invalid()),
    }
}

/// The start key of the next page of `/stats`.
pub(crate) fn decode_stats_cursor(cursor: &str) -> Result<HashMap<String, AttributeValue>, Failure> {
    let invalid = || Failure::bad_request("cursor is not one this API gave out for /stats.");
    let fields = cursor_fields(cursor).ok_or_else(invalid)?;
    match fields.get("folder").and_then(Value::as_str) {
        Some(folder) if fields.len() == 1 && !folder.is_empty() && folder.len() <= MAX_FOLDER_BYTES => Ok(
            HashMap::from([("folder".to_owned(), AttributeValue::S(folder.to_owned()))]),
        ),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_cursor_round_trips_and_is_refused_for_another_folder() {
        let last = HashMap::from([
            ("folder".to_owned(), AttributeValue::S("uploads/a/".to_owned())),
            ("key".to_owned(), AttributeValue::S("uploads/a/2.txt".to_owned())),
        ]);
        let cursor = encode_cursor(&last).unwrap();
        assert_eq!(decode_cursor(&cursor, "uploads/a/").unwrap(), last);
        assert!(decode_cursor(&cursor, "uploads/b/").is_err());
        assert!(decode_cursor("not-hex", "uploads/a/").is_err());
    }

    #[test]
    fn a_cursor_whose_key_dynamodb_would_refuse_is_a_client_error() {
        let long_key = format!("uploads/a/{}", "k".repeat(MAX_KEY_BYTES));
        let cursor = hex::encode(json!({"folder": "uploads/a/", "key": long_key}).to_string());
        assert!(matches!(
            decode_cursor(&cursor, "uploads/a/"),
            Err(Failure::Client(problem)) if problem.status == 400
        ));
        let folder_cursor = hex::encode(json!({"folder": "x".repeat(MAX_FOLDER_BYTES + 1)}).to_string());
        assert!(decode_stats_cursor(&folder_cursor).is_err());
        let stats_cursor = encode_cursor(&HashMap::from([(
            "folder".to_owned(),
            AttributeValue::S("uploads/a/".to_owned()),
        )]))
        .unwrap();
        assert!(decode_stats_cursor(&stats_cursor).is_ok());
    }
}
