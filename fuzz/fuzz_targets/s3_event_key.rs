//! The key decoder of S3 event notifications (`+` for a space, percent-encoding): any string
//! decodes to a key or a `KeyError`, never a panic; and a key that decodes is exactly what
//! encoding it the way S3 does would give back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    if let Ok(key) = shared::s3_key::decode_event_key(raw) {
        // Re-encode as S3 does (space -> '+', '+' and '%' percent-encoded) and decode again.
        let encoded: String = key
            .chars()
            .map(|character| match character {
                ' ' => "+".to_owned(),
                '+' => "%2B".to_owned(),
                '%' => "%25".to_owned(),
                other => other.to_string(),
            })
            .collect();
        assert_eq!(shared::s3_key::decode_event_key(&encoded).ok(), Some(key));
    }
});
