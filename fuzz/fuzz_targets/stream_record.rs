//! One record of a DynamoDB stream batch, as the stream consumer reads it: any JSON gives the
//! change it makes to a folder's statistics (none, for a tombstone's own) or a `Malformed` error,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let _ = dynamodb_stream_consumer::change_of(0, &record);
});
