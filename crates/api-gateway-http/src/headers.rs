//! The headers every answer gets, whatever the route and whether it succeeded.

use lambda_http::http::header::{HeaderValue, ORIGIN, VARY};
use lambda_http::{Body, Request, Response};

use crate::Config;

/// CORS headers on every response, errors included: a browser hides a response
/// without them from the page, even a 400 that says what to fix.
pub(crate) fn add_cors_headers(config: &Config, request: &Request, response: &mut Response<Body>) {
    let Some(origin) = request.headers().get(ORIGIN).and_then(|origin| origin.to_str().ok()) else {
        return;
    };
    let allowed = config
        .allowed_origins
        .iter()
        .any(|allowed| allowed == "*" || allowed == origin);
    let Ok(origin) = HeaderValue::from_str(origin) else {
        return;
    };
    let headers = response.headers_mut();
    headers.insert(VARY, HeaderValue::from_static("Origin"));
    if allowed {
        headers.insert("access-control-allow-origin", origin);
        headers.insert(
            "access-control-allow-methods",
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        // The signature headers too: a browser client with AWS credentials signs its requests.
        headers.insert(
            "access-control-allow-headers",
            HeaderValue::from_static(
                "content-type, authorization, x-amz-date, x-amz-security-token, x-amz-content-sha256",
            ),
        );
        headers.insert("access-control-max-age", HeaderValue::from_static("3600"));
    }
}

/// On every answer: its content type is the only one a browser may read it as (a JSON body is
/// never sniffed as HTML), and no address of ours is sent on as a `Referer` (the page's links
/// and uploads reveal nothing of where it is served).
pub(crate) fn add_security_headers(response: &mut Response<Body>) {
    let headers = response.headers_mut();
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}
