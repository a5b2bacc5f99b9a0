//! `GET /`: the catalog's web page. One self-contained HTML file (its CSS and a little plain
//! JavaScript inline, no build step), compiled into the binary, which calls this same API from
//! the browser: see `web_page.html`.

use lambda_http::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

const PAGE: &str = include_str!("web_page.html");

/// Where the page expects the upload prefix, so it opens that folder first.
const PREFIX_PLACEHOLDER: &str = "{{UPLOAD_PREFIX}}";

/// What the page may do, for a browser that enforces it: its own inline script and style, calls
/// to this API and to S3 (the presigned `PUT`, on another origin), and nothing else: no other
/// script, no frames, no forms posted anywhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' https: http://127.0.0.1:* http://localhost:*; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The page, with the upload prefix written in.
pub fn page(upload_prefix: &str) -> Response<Body> {
    let html = PAGE.replace(PREFIX_PLACEHOLDER, &escape_html(upload_prefix));
    let mut response = Response::new(Body::Text(html));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    // A new deploy's page must replace the old one at once.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
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
        let response = page("files/");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        let html = html(response);
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains(r#"data-prefix="files/""#));
        assert!(!html.contains(PREFIX_PLACEHOLDER));
    }

    #[test]
    fn a_prefix_cannot_break_out_of_its_attribute() {
        let html = html(page(r#""><script>alert(1)</script>/"#));
        assert!(html.contains("data-prefix=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;/\""));
    }

    #[test]
    fn every_input_has_a_label() {
        let html = html(page("uploads/"));
        for id in ["folder", "files"] {
            assert!(html.contains(&format!(r#"<label for="{id}""#)), "no label for #{id}");
        }
    }
}
