//! The object an upload event is about, read from S3 and hashed as it streams in; and whether a
//! key is still in the bucket.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};

use crate::{Deps, RecordError, Upload};

/// What reading the object the event is about found.
pub(crate) enum Read {
    Object(ObjectFacts),
    /// Deleted since the event.
    Deleted,
    /// Overwritten since the event.
    Superseded,
}

/// What we learn by reading the object.
pub(crate) struct ObjectFacts {
    pub(crate) size: u64,
    pub(crate) sha256: String,
    pub(crate) content_type: String,
    pub(crate) etag: String,
    pub(crate) last_modified: String,
}

/// Reads the object the event is about and hashes it as it streams in, so memory use stays the
/// same whatever the object's size.
pub(crate) async fn read_object(deps: &Deps, upload: &Upload) -> Result<Read, RecordError> {
    let read_error = |source| RecordError::Read {
        bucket: upload.bucket.clone(),
        key: upload.key.clone(),
        source: Box::new(source),
    };
    // With the event's ETag as a precondition we read exactly the version the event is about,
    // never a newer one under the older event's sequencer.
    let request = deps.s3.get_object().bucket(&upload.bucket).key(&upload.key);
    let request = match &upload.etag {
        Some(etag) => request.if_match(format!("\"{etag}\"")),
        None => request,
    };
    let output = match request.send().await {
        Ok(output) => output,
        Err(SdkError::ServiceError(error)) if error.err().is_no_such_key() => {
            tracing::warn!("object deleted before it could be read: skipped");
            return Ok(Read::Deleted);
        }
        Err(SdkError::ServiceError(error)) if error.err().code() == Some("PreconditionFailed") => {
            tracing::info!("object overwritten since this event: its newer event indexes it");
            return Ok(Read::Superseded);
        }
        Err(error) => return Err(read_error(error)),
    };

    let content_type = output.content_type().unwrap_or("binary/octet-stream").to_owned();
    let etag = output.e_tag().unwrap_or_default().trim_matches('"').to_owned();
    let last_modified = output.last_modified().map(|time| rfc3339(*time)).unwrap_or_default();
    let mut body = output.body;
    // ring's SHA-256, with assembly for both of Lambda's architectures: as fast as Python's
    // hashlib, where the portable sha2 crate at opt-level "z" is half that.
    let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
    let mut size = 0u64;
    while let Some(chunk) = body.try_next().await.map_err(|source| RecordError::Stream {
        bucket: upload.bucket.clone(),
        key: upload.key.clone(),
        source,
    })? {
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok(Read::Object(ObjectFacts {
        size,
        sha256: hex::encode(hasher.finish()),
        content_type,
        etag,
        last_modified,
    }))
}

/// Whether the bucket holds the key now.
pub(crate) async fn object_exists(deps: &Deps, upload: &Upload) -> Result<bool, RecordError> {
    let head = deps
        .s3
        .head_object()
        .bucket(&upload.bucket)
        .key(&upload.key)
        .send()
        .await;
    match head {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(error)) if error.err().is_not_found() => Ok(false),
        Err(source) => Err(RecordError::Head {
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            source: Box::new(source),
        }),
    }
}

pub(crate) fn rfc3339(time: DateTime) -> String {
    // Formatting a valid timestamp as RFC 3339 only fails for years beyond 9999.
    time.fmt(DateTimeFormat::DateTime).unwrap_or_default()
}
