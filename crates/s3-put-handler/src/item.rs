//! The objects table's writes, each conditional on the event's sequencer, so that a duplicate or
//! late event changes nothing.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::error::SdkError;
use shared::catalog::{folder_of, ObjectItem};
use tracing::Instrument;

use crate::object::object_exists;
use crate::{Deps, Outcome, RecordError, Upload};

/// Writes the item unless the table already holds this event or a later one.
///
/// With a sequencer: written only if the stored item has none or a smaller one. Without one
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

/// Deletes the item of a removed object, unless the table holds a later event for its key.
///
/// With a sequencer (S3 always sends one): deleted only if the stored item's is smaller, so a
/// removal delivered after a newer upload's event leaves the newer item alone. Without one (the
/// local emulator): deleted only if the key is still absent from the bucket.
pub(crate) async fn remove_item(deps: &Deps, upload: &Upload) -> Result<Outcome, RecordError> {
    if upload.sequencer.is_none()
        && object_exists(deps, upload)
            .instrument(tracing::info_span!("S3.HeadObject"))
            .await?
    {
        tracing::info!("the key was written again since this removal: its newer event indexes it");
        return Ok(Outcome::Superseded);
    }
    let request = deps
        .dynamodb
        .delete_item()
        .table_name(&deps.config.objects_table)
        .key("folder", AttributeValue::S(folder_of(&upload.key).to_owned()))
        .key("key", AttributeValue::S(upload.key.clone()))
        .expression_attribute_names("#key", "key");
    let request = match &upload.sequencer {
        Some(sequencer) => request
            .condition_expression(
                "attribute_exists(#key) AND (attribute_not_exists(#sequencer) OR #sequencer < :sequencer)",
            )
            .expression_attribute_names("#sequencer", "sequencer")
            .expression_attribute_values(":sequencer", AttributeValue::S(sequencer.clone())),
        None => request.condition_expression("attribute_exists(#key)"),
    };
    match request
        .send()
        .instrument(tracing::info_span!("DynamoDB.DeleteItem"))
        .await
    {
        Ok(_) => {
            tracing::info!("object removed from the bucket: item deleted");
            Ok(Outcome::Removed)
        }
        Err(SdkError::ServiceError(error)) if error.err().is_conditional_check_failed_exception() => {
            tracing::info!("no item, or one from a later event: unchanged");
            Ok(Outcome::Unchanged)
        }
        Err(source) => Err(RecordError::Delete {
            key: upload.key.clone(),
            source: Box::new(source),
        }),
    }
}
