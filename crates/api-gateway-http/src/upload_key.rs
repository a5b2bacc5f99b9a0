//! The keys `POST /uploads` accepts: an allow-list a person can read (this crate's README lists
//! the same rules, in the same order), each rule with its own error and its own test.
//!
//! A key is what the catalog shows and what the presigned URL's path is made of, so it must
//! read as one name only: the same on every system, with nothing hidden, nothing a browser or a
//! URL parser rewrites before S3 checks the signature.

use icu_normalizer::ComposingNormalizer;
use icu_properties::props::GeneralCategory;
use icu_properties::CodePointMapData;

use crate::MAX_KEY_BYTES;

/// Characters refused anywhere in a key, and why.
const REFUSED: [(char, &str); 4] = [
    ('\\', "a folder separator on Windows"),
    ('?', "it ends a URL's path"),
    ('#', "it ends a URL's path"),
    (
        '%',
        "it starts an escape, so the key would read as another once decoded",
    ),
];

/// Why a requested upload key is refused, if it is.
pub fn validate_upload_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("key must not be empty.".to_owned());
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "key is {} bytes; at most {MAX_KEY_BYTES} are allowed.",
            key.len()
        ));
    }
    if !ComposingNormalizer::new_nfc().is_normalized(key) {
        return Err(
            "key must be in Unicode NFC form: send an accented letter as one character \
                    (é), not a letter and a combining accent, or the same name is two keys."
                .to_owned(),
        );
    }
    for character in key.chars() {
        if let Some((_, why)) = REFUSED.iter().find(|(refused, _)| *refused == character) {
            return Err(format!("key must not contain '{character}': {why}."));
        }
        refuse_invisible(character)?;
    }
    for segment in key.split('/') {
        match segment {
            "" => return Err("key must not have an empty segment: no leading or trailing '/', no '//'.".to_owned()),
            "." | ".." => {
                return Err(format!(
                    "key must not contain a '{segment}' segment: a browser or a path would resolve it."
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Refuses what does not show as itself: control characters, format characters (a right-to-left
/// override makes `exe.txt` display as `txt.exe`), line and paragraph separators, and every space
/// but the plain one (a no-break space looks like it).
fn refuse_invisible(character: char) -> Result<(), String> {
    let category = CodePointMapData::<GeneralCategory>::new().get(character);
    let what = match category {
        GeneralCategory::Control => "a control character",
        GeneralCategory::Format => "an invisible format character",
        GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => "a line break",
        GeneralCategory::SpaceSeparator if character != ' ' => "a space other than U+0020",
        _ => return Ok(()),
    };
    Err(format!("key must not contain U+{:04X}, {what}.", u32::from(character)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(key: &str) -> String {
        validate_upload_key(key).expect_err(key)
    }

    #[test]
    fn names_people_use_are_accepted() {
        for key in [
            "reports/q3.pdf",
            "2024 budget (final).txt",
            "file 00001 + copy.txt",
            "photos/été/plage.jpg",
            "日本語/ファイル.txt",
            ".hidden/.profile",
            "a..b/c...d",
        ] {
            assert_eq!(validate_upload_key(key), Ok(()), "{key}");
        }
    }

    #[test]
    fn an_empty_or_too_long_key_is_refused() {
        assert_eq!(refused(""), "key must not be empty.");
        assert!(refused(&"a".repeat(MAX_KEY_BYTES + 1)).contains("at most 1024"));
    }

    #[test]
    fn a_key_not_in_nfc_is_refused() {
        // "é" as "e" and U+0301 COMBINING ACUTE ACCENT: the same name as "été", another key.
        assert!(refused("photos/e\u{301}te\u{301}.jpg").contains("NFC"));
    }

    #[test]
    fn backslash_question_mark_hash_and_percent_are_refused() {
        for character in ['\\', '?', '#', '%'] {
            let message = refused(&format!("a{character}b.txt"));
            assert!(
                message.starts_with(&format!("key must not contain '{character}'")),
                "{message}"
            );
        }
    }

    #[test]
    fn control_format_and_separator_characters_are_refused() {
        for (character, what) in [
            ('\n', "a control character"),
            ('\u{7f}', "a control character"),
            ('\u{202e}', "an invisible format character"),
            ('\u{200b}', "an invisible format character"),
            ('\u{feff}', "an invisible format character"),
            ('\u{2028}', "a line break"),
            ('\u{2029}', "a line break"),
            ('\u{a0}', "a space other than U+0020"),
            ('\u{3000}', "a space other than U+0020"),
        ] {
            let message = refused(&format!("report{character}txt.exe"));
            assert!(
                message.ends_with(&format!("{what}.")),
                "U+{:04X}: {message}",
                u32::from(character)
            );
        }
    }

    #[test]
    fn empty_dot_and_dot_dot_segments_are_refused() {
        for key in [
            "/a.txt",
            "a/",
            "a//b.txt",
            "a/./b.txt",
            "./a.txt",
            "a/../b.txt",
            "..",
            "a/.",
        ] {
            let message = refused(key);
            assert!(
                message.contains("empty segment") || message.contains("segment: a browser"),
                "{key}: {message}"
            );
        }
    }
}
