//! The objects table's writes, each conditional on the event's sequencer, so that a duplicate or
//! late event changes nothing: an object's item, or a removed object's tombstone.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::DateTime;
use shared::catalog::{folder_of, is_tombstone, ObjectItem, Tombstone, TOMBSTONE_LIFETIME};
use tracing::Instrument;

use crate::object::{object_exists, rfc3339};
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
    let attributes = serde_dynamo::to_item(item).map_err(|source| RecordError::Item {
        key: key.clone(),
        source,
    })?;
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
    let now = SystemTime::now();
    let expires_at = (now + TOMBSTONE_LIFETIME)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let tombstone = Tombstone {
        folder: folder_of(&upload.key).to_owned(),
        key: upload.key.clone(),
        sequencer: sequencer.clone(),
        removed_at: rfc3339(DateTime::from(now)),
        expires_at,
    };
    let attributes = serde_dynamo::to_item(tombstone).map_err(|source| RecordError::Item {
        key: upload.key.clone(),
        source,
    })?;
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
