//! The upload catalog's shared vocabulary: what a "folder" is, and the item the S3 put handler
//! writes to the objects table, which the stream consumer and the HTTP API read back.

use serde::{Deserialize, Serialize};

/// The folder of an object key: the key up to and including its last `/`.
///
/// `uploads/reports/q3.pdf` is in `uploads/reports/`; a key with no `/` is in the folder `""`.
/// (Every key the catalog indexes starts with the upload prefix, so its folder is never empty:
/// DynamoDB does not accept an empty string as a key.)
pub fn folder_of(key: &str) -> &str {
    key.rfind('/').map_or("", |slash| &key[..=slash])
}

/// One indexed object: an item of the objects table.
///
/// Partition key `folder`, sort key `key`. Field names are the attribute names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectItem {
    /// [`folder_of`] the key.
    pub folder: String,
    /// The whole object key, decoded.
    pub key: String,
    /// The bucket the object is in.
    pub bucket: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
    /// The object's `Content-Type`.
    pub content_type: String,
    /// The object's ETag, without quotes.
    pub etag: String,
    /// When S3 last modified the object, RFC 3339.
    pub last_modified: String,
    /// When this item was written, RFC 3339.
    pub indexed_at: String,
    /// The S3 event's `sequencer`, right-padded with zeros to a fixed width so that later events
    /// compare greater as strings (S3's rule). Absent when the event carried none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<String>,
}

/// One folder's statistics: an item of the statistics table, partition key `folder`.
///
/// A folder whose last object is removed stays in the table at zero: deleting it would race
/// with an upload arriving in the same folder, and zero is a true answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderStats {
    /// The folder, as [`folder_of`] defines it.
    pub folder: String,
    /// How many objects the folder holds.
    pub object_count: i64,
    /// Their total size in bytes.
    pub total_bytes: i64,
    /// When the statistics last changed, RFC 3339.
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_is_everything_up_to_the_last_slash() {
        assert_eq!(folder_of("uploads/reports/2026/q3.pdf"), "uploads/reports/2026/");
        assert_eq!(folder_of("uploads/q3.pdf"), "uploads/");
    }

    #[test]
    fn a_key_ending_in_slash_is_its_own_folder() {
        assert_eq!(folder_of("uploads/empty/"), "uploads/empty/");
    }

    #[test]
    fn a_key_without_slash_is_in_the_empty_folder() {
        assert_eq!(folder_of("q3.pdf"), "");
    }

    #[test]
    fn unicode_keys_split_on_the_slash_not_inside_a_character() {
        assert_eq!(folder_of("uploads/日本/報告.pdf"), "uploads/日本/");
    }
}
