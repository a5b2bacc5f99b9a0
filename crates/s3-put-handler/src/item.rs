//! The objects table's writes, each conditional on the event's sequencer, so that a duplicate or
//! late event changes nothing: an object's item, or a removed object's tombstone.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::DateTime;
use shared::catalog::{folder_of, is_tombstone, ObjectItem, Tombstone, TOMBSTONE_LIFETIME};
use tracing::Instrument;

use crate::object::{object_exists, rfc3339, ObjectFacts};
use crate::{Deps, Outcome, RecordError, Upload};

/// Writes the item unless the table already holds this event or a later one.
///
/// With a sequencer: written only if the stored item (an object's or a tombstone) has none or a
/// smaller one. Without one
/// (the local emulator never sends it; S3 always does): written only if the object's
/// Last-Modified is later, or the same second with different content.
pub(crate) async fn write_item(deps: &Deps, item: ObjectItem) -> Result<Outcome, RecordError> {
    let key = item.key.clone();
    let request = deps
        .dynamodb
        .put_item()
        .table_name(&deps.config.objects_table)
        .expression_attribute_names("#key", "key")
        .expression_attribute_names("#sequencer", "sequencer");
    let request = match &item.sequencer {
        Some(sequencer) => request
            .condition_expression(
                "attribute_not_exists(#key) OR attribute_not_exists(#sequencer) OR #sequencer < :sequencer",
            )
            .expression_attribute_values(":sequencer", AttributeValue::S(sequencer.clone())),
        None => request
            .condition_expression(
                "attribute_not_exists(#key) OR (attribute_not_exists(#sequencer) AND (#last_modified < :last_modified \
                 OR (#last_modified = :last_modified AND #etag <> :etag)))",
            )
            .expression_attribute_names("#last_modified", "last_modified")
            .expression_attribute_names("#etag", "etag")
            .expression_attribute_values(":last_modified", AttributeValue::S(item.last_modified.clone()))
            .expression_attribute_values(":etag", AttributeValue::S(item.etag.clone())),
    };
    let attributes = to_attributes(&key, item)?;
    match request.set_item(Some(attributes)).send().await {
        Ok(_) => Ok(Outcome::Indexed),
        Err(SdkError::ServiceError(error)) if error.err().is_conditional_check_failed_exception() => {
            tracing::info!("the table already holds this event or a later one: unchanged");
            Ok(Outcome::Unchanged)
        }
        Err(source) => Err(RecordError::Write {
            key,
            source: Box::new(source),
        }),
    }
}

/// Records a removed object: its item becomes a tombstone, unless the table holds a later event
/// for its key.
///
/// With a sequencer (S3 always sends one): the tombstone replaces whatever the table holds for the
/// key if that is older (a smaller sequencer) or absent. So a removal delivered after a newer
/// upload's event leaves the newer item alone, and an older upload still being read when the
/// removal is applied finds the tombstone's larger sequencer and writes nothing (no ghost item).
/// Without one (the local emulator): the item is deleted only if the key is still absent from the
/// bucket.
pub(crate) async fn remove_item(deps: &Deps, upload: &Upload) -> Result<Outcome, RecordError> {
    let Some(sequencer) = &upload.sequencer else {
        return remove_item_without_sequencer(deps, upload).await;
    };
    let attributes = to_attributes(&upload.key, tombstone(&upload.key, sequencer))?;
    let written = deps
        .dynamodb
        .put_item()
        .table_name(&deps.config.objects_table)
        .set_item(Some(attributes))
        .condition_expression(
            "attribute_not_exists(#key) OR attribute_not_exists(#sequencer) OR #sequencer < :sequencer",
        )
        .expression_attribute_names("#key", "key")
        .expression_attribute_names("#sequencer", "sequencer")
        .expression_attribute_values(":sequencer", AttributeValue::S(sequencer.clone()))
        // What it replaced tells an object removed from a removal recorded twice.
        .return_values(ReturnValue::AllOld)
        .send()
        .instrument(tracing::info_span!("DynamoDB.PutItem"))
        .await;
    match written {
        Ok(output) if output.attributes().is_some_and(|old| !is_tombstone(old)) => {
            tracing::info!("object removed from the bucket: its item is now a tombstone");
            Ok(Outcome::Removed)
        }
        Ok(_) => {
            tracing::info!("no item for the key: the tombstone keeps any older upload out");
            Ok(Outcome::Unchanged)
        }
        Err(SdkError::ServiceError(error)) if error.err().is_conditional_check_failed_exception() => {
            tracing::info!("the table holds a later event for the key: unchanged");
            Ok(Outcome::Unchanged)
        }
        Err(source) => Err(RecordError::Write {
            key: upload.key.clone(),
            source: Box::new(source),
        }),
    }
}

/// The emulator's removal, which has no sequencer to order it by: the item is deleted if the key
/// is absent from the bucket (the object was not written again since).
async fn remove_item_without_sequencer(deps: &Deps, upload: &Upload) -> Result<Outcome, RecordError> {
    if object_exists(deps, upload)
        .instrument(tracing::info_span!("S3.HeadObject"))
        .await?
    {
        tracing::info!("the key was written again since this removal: its newer event indexes it");
        return Ok(Outcome::Superseded);
    }
    let deleted = deps
        .dynamodb
        .delete_item()
        .table_name(&deps.config.objects_table)
        .key("folder", AttributeValue::S(folder_of(&upload.key).to_owned()))
        .key("key", AttributeValue::S(upload.key.clone()))
        .condition_expression("attribute_exists(#key)")
        .expression_attribute_names("#key", "key")
        .send()
        .instrument(tracing::info_span!("DynamoDB.DeleteItem"))
        .await;
    match deleted {
        Ok(_) => {
            tracing::info!("object removed from the bucket: item deleted");
            Ok(Outcome::Removed)
        }
        Err(SdkError::ServiceError(error)) if error.err().is_conditional_check_failed_exception() => {
            tracing::info!("no item for the key: unchanged");
            Ok(Outcome::Unchanged)
        }
        Err(source) => Err(RecordError::Delete {
            key: upload.key.clone(),
            source: Box::new(source),
        }),
    }
}

/// The tombstone a removal of `key` leaves, ordered by `sequencer`.
pub(crate) fn tombstone(key: &str, sequencer: &str) -> Tombstone {
    let now = SystemTime::now();
    let expires_at = (now + TOMBSTONE_LIFETIME)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    Tombstone {
        folder: folder_of(key).to_owned(),
        key: key.to_owned(),
        sequencer: sequencer.to_owned(),
        removed_at: rfc3339(DateTime::from(now)),
        expires_at,
    }
}

/// An item (an object's or a tombstone) as DynamoDB attributes.
pub(crate) fn to_attributes(
    key: &str,
    item: impl serde::Serialize,
) -> Result<HashMap<String, AttributeValue>, RecordError> {
    serde_dynamo::to_item(item).map_err(|source| RecordError::Item {
        key: key.to_owned(),
        source,
    })
}

/// What the repair run read of a key's item: the attributes that change with every write to it.
/// A repair is written only if the item still holds exactly these (see [`put_if_unchanged`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SeenItem {
    pub(crate) sequencer: Option<String>,
    pub(crate) etag: Option<String>,
    pub(crate) indexed_at: Option<String>,
    pub(crate) removed_at: Option<String>,
}

impl SeenItem {
    pub(crate) fn from_item(item: &HashMap<String, AttributeValue>) -> SeenItem {
        let text = |name: &str| item.get(name).and_then(|value| value.as_s().ok()).cloned();
        SeenItem {
            sequencer: text("sequencer"),
            etag: text("etag"),
            indexed_at: text("indexed_at"),
            removed_at: text("removed_at"),
        }
    }

    pub(crate) fn is_tombstone(&self) -> bool {
        self.removed_at.is_some()
    }

    /// When the item was last written: its `indexed_at`, or a tombstone's `removed_at`.
    pub(crate) fn written_at(&self) -> Option<&str> {
        self.removed_at.as_deref().or(self.indexed_at.as_deref())
    }
}

/// Writes `attributes` for `key` only if the table still holds what the repair run saw: no item
/// (`seen` is `None`), or an item whose sequencer, ETag and times are unchanged. An event applied
/// since (an upload, a removal) wins: the repair is dropped (`false`) and the next run looks again.
pub(crate) async fn put_if_unchanged(
    deps: &Deps,
    key: &str,
    attributes: HashMap<String, AttributeValue>,
    seen: Option<&SeenItem>,
) -> Result<bool, RecordError> {
    let mut request = deps
        .dynamodb
        .put_item()
        .table_name(&deps.config.objects_table)
        .set_item(Some(attributes))
        .expression_attribute_names("#key", "key");
    let condition = match seen {
        None => "attribute_not_exists(#key)".to_owned(),
        Some(seen) => {
            let mut parts = vec!["attribute_exists(#key)".to_owned()];
            for (name, value) in [
                ("sequencer", &seen.sequencer),
                ("etag", &seen.etag),
                ("indexed_at", &seen.indexed_at),
                ("removed_at", &seen.removed_at),
            ] {
                request = request.expression_attribute_names(format!("#{name}"), name);
                match value {
                    Some(value) => {
                        request =
                            request.expression_attribute_values(format!(":{name}"), AttributeValue::S(value.clone()));
                        parts.push(format!("#{name} = :{name}"));
                    }
                    None => parts.push(format!("attribute_not_exists(#{name})")),
                }
            }
            parts.join(" AND ")
        }
    };
    let written = request
        .condition_expression(condition)
        .send()
        .instrument(tracing::info_span!("DynamoDB.PutItem"))
        .await;
    match written {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(error)) if error.err().is_conditional_check_failed_exception() => Ok(false),
        Err(source) => Err(RecordError::Write {
            key: key.to_owned(),
            source: Box::new(source),
        }),
    }
}

/// The item for the object an upload names, as it was just read.
pub(crate) fn object_item(upload: &Upload, object: ObjectFacts) -> ObjectItem {
    ObjectItem {
        folder: folder_of(&upload.key).to_owned(),
        key: upload.key.clone(),
        bucket: upload.bucket.clone(),
        size: object.size,
        sha256: object.sha256,
        content_type: object.content_type,
        etag: object.etag,
        last_modified: object.last_modified,
        indexed_at: rfc3339(DateTime::from(SystemTime::now())),
        sequencer: upload.sequencer.clone(),
    }
}
