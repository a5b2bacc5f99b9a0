//! Just enough HTTP for the local run: plain HTTP/1.1 on loopback, whole bodies.

use std::sync::OnceLock;

use anyhow::{anyhow, Result};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// One client for the whole run: it keeps connections open between requests, as a browser or
/// a load generator does, so that a request's time is the server's and not a TCP handshake's.
fn client() -> &'static Client<HttpConnector, Full<Bytes>> {
    static CLIENT: OnceLock<Client<HttpConnector, Full<Bytes>>> = OnceLock::new();
    CLIENT.get_or_init(|| Client::builder(TokioExecutor::new()).build_http())
}

/// A response: status and body text.
pub struct Answer {
    pub status: u16,
    pub body: String,
    /// `X-Amz-Function-Error`, set when a Lambda invocation failed.
    pub function_error: bool,
}

/// Sends one request; `headers` are (name, value) pairs.
pub async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Result<Answer> {
    let mut request = hyper::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|error| anyhow!("{method} {url}: {error}"))?;
    let response = client()
        .request(request)
        .await
        .map_err(|error| anyhow!("{method} {url}: {error}"))?;
    let status = response.status().as_u16();
    let function_error = response.headers().contains_key("x-amz-function-error");
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|error| anyhow!("{method} {url}: {error}"))?
        .to_bytes();
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        function_error,
    })
}
