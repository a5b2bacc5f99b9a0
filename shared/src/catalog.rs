//! The upload catalog's shared vocabulary: what a "folder" is, and the items the S3 put handler
//! writes to the objects table (an object, or the tombstone of a removed one), which the stream
//! consumer, the reconciler and the HTTP API read back.

use std::collections::HashMap;
use std::time::Duration;

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

/// The tombstone of a removed object: the item a removal leaves in the objects table in place of
/// the object's.
///
/// S3 invokes the put handler concurrently, so an upload's event can still be reading its object
/// when the removal's event is applied. Had the removal simply deleted the item, the upload's
/// write would then find no item and index an object that no longer exists (a ghost). The
/// tombstone keeps the removal's sequencer, and a write only replaces an item whose sequencer is
/// smaller: the older upload's write changes nothing. Readers treat a tombstone as no object; its
/// `removed_at` tells the reconciler the folder changed. DynamoDB's TTL deletes it after
/// [`TOMBSTONE_LIFETIME`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// [`folder_of`] the key.
    pub folder: String,
    /// The removed object's key, decoded.
    pub key: String,
    /// The removal event's sequencer, padded as [`ObjectItem::sequencer`] is.
    pub sequencer: String,
    /// When the removal was applied, RFC 3339. Its presence is what marks a tombstone.
    pub removed_at: String,
    /// When DynamoDB's TTL may delete the tombstone, in seconds since the Unix epoch.
    pub expires_at: u64,
}

/// How long a tombstone is kept: longer than an event of the removed key can arrive late (Lambda
/// keeps retrying an asynchronous event for at most 6 hours).
pub const TOMBSTONE_LIFETIME: Duration = Duration::from_secs(48 * 3600);

/// Whether an item of the objects table, as a map of attribute names, is a [`Tombstone`] (works
/// for the SDK's items and for a stream record's images alike).
pub fn is_tombstone<V>(item: &HashMap<String, V>) -> bool {
    item.contains_key("removed_at")
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
    fn an_item_with_removed_at_is_a_tombstone_and_an_object_item_is_not() {
        let object = HashMap::from([("folder", ()), ("key", ()), ("size", ())].map(|(k, v)| (k.to_owned(), v)));
        let mut tombstone = object.clone();
        tombstone.insert("removed_at".to_owned(), ());
        assert!(!is_tombstone(&object));
        assert!(is_tombstone(&tombstone));
    }

    #[test]
    fn unicode_keys_split_on_the_slash_not_inside_a_character() {
        assert_eq!(folder_of("uploads/日本/報告.pdf"), "uploads/日本/");
    }
}
