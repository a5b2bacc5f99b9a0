//! One record of an S3 event notification, as the put handler reads it: any JSON gives an
//! `Upload` or a `Malformed` error naming the record, never a panic. Sequencers that are accepted
//! are always stored 32 characters wide, so DynamoDB's string order is S3's order.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Ok(upload) = s3_put_handler::parse_record(0, &record) {
        assert!(!upload.bucket.is_empty());
        if let Some(sequencer) = &upload.sequencer {
            assert_eq!(sequencer.len(), 32, "{sequencer}");
        }
    }
});
