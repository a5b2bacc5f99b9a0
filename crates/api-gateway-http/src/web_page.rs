//! `GET /`: the catalog's web page. One self-contained HTML file (its CSS and a little plain
//! JavaScript inline, no build step), compiled into the binary, which calls this same API from
//! the browser: see `web_page.html`.

use std::sync::LazyLock;

use base64::Engine as _;
use lambda_http::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

const PAGE: &str = include_str!("web_page.html");

/// Where the page expects the upload prefix, so it opens that folder first.
const PREFIX_PLACEHOLDER: &str = "{{UPLOAD_PREFIX}}";

/// The page's one inline script and one inline style, by their SHA-256 (CSP level 2 hashes):
/// a browser runs those and nothing else, not even a script an attacker got into the page.
/// Computed once from the page itself, so editing the page can never leave a stale hash.
static INLINE_HASHES: LazyLock<(String, String)> = LazyLock::new(|| {
    (
        csp_hash(inline_block(PAGE, "script")),
        csp_hash(inline_block(PAGE, "style")),
    )
});

/// What the page may do, for a browser that enforces it: run its own script and style (by
/// hash, no `unsafe-inline`), call this API (`'self'`) and the bucket's endpoint (the presigned
/// `PUT`: `https://<bucket>.s3.<region>.amazonaws.com` deployed, the emulator's loopback address
/// in the local run), and nothing else: no other host, no frames, no forms posted anywhere.
pub fn content_security_policy(bucket_origin: Option<&str>) -> String {
    let (script, style) = &*INLINE_HASHES;
    let connect = match bucket_origin {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'none'; script-src '{script}'; style-src '{style}'; connect-src {connect}; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// The page, with the upload prefix written in. `bucket_origin`: where its uploads go (see
/// [`content_security_policy`]); without it the page can list but not upload.
pub fn page(upload_prefix: &str, bucket_origin: Option<&str>) -> Response<Body> {
    let html = PAGE.replace(PREFIX_PLACEHOLDER, &escape_html(upload_prefix));
    let mut response = Response::new(Body::Text(html));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    // A new deploy's page must replace the old one at once.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(policy) = HeaderValue::from_str(&content_security_policy(bucket_origin)) {
        headers.insert("content-security-policy", policy);
    }
    response
}

/// The text between the page's first `<tag>` and its `</tag>`: what a browser hashes.
fn inline_block<'a>(html: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    html.split_once(&open)
        .and_then(|(_, rest)| rest.split_once(&close))
        .map_or("", |(block, _)| block)
}

/// A CSP source expression for `text`: `sha256-<base64 of its SHA-256>`.
fn csp_hash(text: &str) -> String {
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()))
    )
}

/// `text` safe inside an HTML attribute or element.
fn escape_html(text: &str) -> String {
    text.chars()
        .map(|character| match character {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            other => other.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(response: Response<Body>) -> String {
        match response.into_body() {
            Body::Text(text) => text,
            other => panic!("the page is text, not {other:?}"),
        }
    }

    #[test]
    fn the_page_is_html_with_the_upload_prefix_written_in() {
        let response = page("files/", Some("https://uploads.s3.us-east-1.amazonaws.com"));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        let html = html(response);
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains(r#"data-prefix="files/""#));
        assert!(!html.contains(PREFIX_PLACEHOLDER));
    }

    #[test]
    fn a_prefix_cannot_break_out_of_its_attribute() {
        let html = html(page(r#""><script>alert(1)</script>/"#, None));
        assert!(html.contains("data-prefix=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;/\""));
    }

    #[test]
    fn every_input_has_a_label() {
        let html = html(page("uploads/", None));
        for id in ["folder", "files"] {
            assert!(html.contains(&format!(r#"<label for="{id}""#)), "no label for #{id}");
        }
    }

    #[test]
    fn only_the_pages_own_script_and_style_run_and_it_talks_to_the_api_and_the_bucket_only() {
        let policy = content_security_policy(Some("http://127.0.0.1:5000"));
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert!(!policy.contains("https:;") && !policy.contains("https: "), "{policy}");
        assert!(policy.contains("connect-src 'self' http://127.0.0.1:5000;"), "{policy}");
        assert_eq!(content_security_policy(None).matches("connect-src 'self';").count(), 1);
        // The hashes are those of the blocks a browser sees, and change when the page does.
        let script = inline_block(PAGE, "script");
        assert!(script.contains("fetch(") && !script.contains("</script>"));
        assert!(
            policy.contains(&format!("script-src '{}'", csp_hash(script))),
            "{policy}"
        );
        assert!(policy.contains(&format!("style-src '{}'", csp_hash(inline_block(PAGE, "style")))));
        assert_ne!(csp_hash(script), csp_hash(&format!("{script} ")));
        // A known value: the SHA-256 of the empty string, as CSP writes it.
        assert_eq!(csp_hash(""), "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    }

    #[test]
    fn the_page_has_one_inline_script_and_one_inline_style() {
        // A second block would run unhashed, that is not at all: say so here first.
        assert_eq!(PAGE.matches("<script").count(), 1);
        assert_eq!(PAGE.matches("<style").count(), 1);
        // Nor may an element carry a `style` or `on...` attribute: those would need `unsafe-inline`.
        let attributes: Vec<&str> = PAGE
            .split(|character: char| character.is_whitespace() || character == '<')
            .filter(|word| word.starts_with("style=") || (word.starts_with("on") && word.contains("=\"")))
            .collect();
        assert!(attributes.is_empty(), "{attributes:?}");
    }
}
