//! Object keys as S3 event notifications write them.
//!
//! S3 form-encodes the key in an event: a space arrives as `+`, a real `+` as `%2B`, `%` as
//! `%25`, and any non-ASCII character as its percent-encoded UTF-8 bytes. So `reports/q3 +final é.pdf`
//! arrives as `reports/q3+%2Bfinal+%C3%A9.pdf`. Decode `+` first, then the percent escapes: the
//! other order would turn a real `+` (`%2B`) into a space. `url_decoded_key` in
//! `aws_lambda_events` is never filled in by S3, so this is the only decoding there is.

use percent_encoding::percent_decode_str;

/// The key could not be decoded.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("object key {raw:?} does not decode to UTF-8 text")]
pub struct KeyError {
    /// The key as the event carried it.
    pub raw: String,
}

/// Decodes an object key from an S3 event notification into the key as it is in the bucket.
pub fn decode_event_key(raw: &str) -> Result<String, KeyError> {
    let spaces_restored = raw.replace('+', " ");
    percent_decode_str(&spaces_restored)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| KeyError { raw: raw.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_is_a_space() {
        assert_eq!(
            decode_event_key("uploads/annual+report.pdf").unwrap(),
            "uploads/annual report.pdf"
        );
    }

    #[test]
    fn encoded_plus_is_a_plus() {
        assert_eq!(decode_event_key("uploads/c%2B%2B.txt").unwrap(), "uploads/c++.txt");
    }

    #[test]
    fn space_plus_and_percent_together() {
        assert_eq!(
            decode_event_key("uploads/a+b%2Bc%25d.txt").unwrap(),
            "uploads/a b+c%d.txt"
        );
    }

    #[test]
    fn percent_encoded_utf8_becomes_unicode() {
        assert_eq!(
            decode_event_key("uploads/caf%C3%A9/%E6%97%A5%E6%9C%AC.txt").unwrap(),
            "uploads/café/日本.txt"
        );
    }

    #[test]
    fn encoded_slash_decodes_like_a_slash() {
        // S3 leaves `/` alone, moto encodes it: both mean the same key.
        assert_eq!(
            decode_event_key("uploads%2Fnested%2Fa.txt").unwrap(),
            "uploads/nested/a.txt"
        );
    }

    #[test]
    fn a_key_without_escapes_is_unchanged() {
        assert_eq!(
            decode_event_key("uploads/2026/11/photo-01.jpg").unwrap(),
            "uploads/2026/11/photo-01.jpg"
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_an_error_not_a_replacement_character() {
        assert_eq!(
            decode_event_key("uploads/%FF.txt"),
            Err(KeyError {
                raw: "uploads/%FF.txt".to_owned()
            })
        );
    }
}
