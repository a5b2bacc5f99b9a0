//! `GET /objects` (one folder, a page at a time) and `GET /objects/{key+}`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::http::StatusCode;
use lambda_http::{Request, RequestExt};
use serde::{Deserialize, Serialize};
use shared::catalog::{folder_of, is_tombstone, ObjectItem};
use tracing::Instrument;

use crate::pages::{decode_cursor, encode_cursor, page_limit};
use crate::{check_folder, json_response, readable, Answer, Deps, Failure, MAX_KEY_BYTES};

/// A page of `GET /objects`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectPage {
    pub items: Vec<ObjectItem>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

pub(crate) async fn list_objects(deps: &Deps, request: &Request) -> Answer {
    let query = request.query_string_parameters();
    let folder = query.first("folder").unwrap_or(&deps.config.upload_prefix).to_owned();
    check_folder(&folder)?;
    let limit = page_limit(query.first("limit"))?;
    let start = query
        .first("cursor")
        .map(|cursor| decode_cursor(cursor, &folder))
        .transpose()?;
    // A Query on the partition key, never a Scan: the cost is the page, not the table.
    let output = deps
        .dynamodb
        .query()
        .table_name(&deps.config.objects_table)
        .key_condition_expression("folder = :folder")
        .expression_attribute_values(":folder", AttributeValue::S(folder.clone()))
        .limit(limit)
        .set_exclusive_start_key(start)
        .send()
        .instrument(tracing::info_span!("DynamoDB.Query"))
        .await
        .map_err(|error| Failure::aws("querying objects", error))?;
    // A page can come out shorter than `limit`, even empty with a cursor: tombstones and
    // unreadable items take their place in DynamoDB's page and are left out of ours.
    let items = output
        .items
        .unwrap_or_default()
        .into_iter()
        .filter_map(readable_object)
        .collect();
    let next_cursor = output.last_evaluated_key.as_ref().and_then(encode_cursor);
    Ok(json_response(StatusCode::OK, &ObjectPage { items, next_cursor }))
}

pub(crate) async fn get_object(deps: &Deps, key: &str) -> Answer {
    if key.len() > MAX_KEY_BYTES {
        return Err(Failure::bad_request(format!(
            "The key is {} bytes; S3 allows {MAX_KEY_BYTES}.",
            key.len()
        )));
    }
    // A key outside every folder can't have been indexed (and DynamoDB refuses an empty key).
    if folder_of(key).is_empty() {
        return Err(Failure::client(
            StatusCode::NOT_FOUND,
            format!("No object {key:?} is indexed."),
        ));
    }
    let object = indexed_object(deps, key)
        .await?
        .ok_or_else(|| Failure::client(StatusCode::NOT_FOUND, format!("No object {key:?} is indexed.")))?;
    Ok(json_response(StatusCode::OK, &object))
}

/// The catalog's item for `key` (whose folder is not empty), `None` if it has none or only
/// the tombstone of a removed object.
pub(crate) async fn indexed_object(deps: &Deps, key: &str) -> Result<Option<ObjectItem>, Failure> {
    let output = deps
        .dynamodb
        .get_item()
        .table_name(&deps.config.objects_table)
        .key("folder", AttributeValue::S(folder_of(key).to_owned()))
        .key("key", AttributeValue::S(key.to_owned()))
        .send()
        .instrument(tracing::info_span!("DynamoDB.GetItem"))
        .await
        .map_err(|error| Failure::aws("reading an object", error))?;
    Ok(output.item.and_then(readable_object))
}

/// The object an item of the objects table describes: `None` for the tombstone of a removed
/// object, and for an item that is not an object item (see [`readable`]).
fn readable_object(item: HashMap<String, AttributeValue>) -> Option<ObjectItem> {
    if is_tombstone(&item) {
        return None;
    }
    readable(
        item,
        "key",
        "an item of the objects table that is not an object item: left out",
    )
}
