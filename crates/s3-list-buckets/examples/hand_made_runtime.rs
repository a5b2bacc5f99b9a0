//! A Lambda function without `lambda_runtime`: the Runtime API loop written by hand, to see what
//! the library does for every other function here (workshop module 1). Not for production: it
//! has no deadline, no tracing, and a panic kills the process.
//!
//! Run it locally (two terminals, from the repository root, after `source scripts/env.sh`):
//!
//! ```text
//! cargo lambda watch -p s3-list-buckets --example hand_made_runtime --invoke-address 127.0.0.1
//! cargo lambda invoke -A 127.0.0.1 --data-ascii '{"name": "Ada"}'
//! ```
//!
//! (An example is the emulator's only function, so `invoke` names none.)

use std::error::Error;
use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::{json, Value};

/// The Runtime API's paths, version 2018-06-01.
const NEXT: &str = "/2018-06-01/runtime/invocation/next";

fn main() -> Result<(), Box<dyn Error>> {
    // The one thing the OS-only runtime gives the process: where the Runtime API is. Lambda
    // writes `host:port`; cargo-lambda's emulator a URL with a path (`http://host:port/.rt`).
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")?;
    let api = api.strip_prefix("http://").unwrap_or(&api);
    let (host, base) = api.find('/').map_or((api, ""), |slash| api.split_at(slash));
    loop {
        // 1. Wait for the next event. The answer's body is the event; a header names it.
        let (headers, event) = http(host, "GET", &format!("{base}{NEXT}"), "")?;
        let request_id = header(&headers, "lambda-runtime-aws-request-id").ok_or("no request id")?;
        // 2. Handle it. 3. Answer it, or report the error, under its request id.
        let (path, body) = match handle(&event) {
            Ok(answer) => (
                format!("{base}/2018-06-01/runtime/invocation/{request_id}/response"),
                answer,
            ),
            Err(message) => (
                format!("{base}/2018-06-01/runtime/invocation/{request_id}/error"),
                json!({"errorType": "BadEvent", "errorMessage": message}),
            ),
        };
        http(host, "POST", &path, &body.to_string())?;
    }
}

/// The function itself: greets `name`.
fn handle(event: &str) -> Result<Value, String> {
    let event: Value = serde_json::from_str(event).map_err(|error| format!("the event is not JSON: {error}"))?;
    let name = event["name"].as_str().ok_or("the event has no \"name\"")?;
    Ok(json!({ "greeting": format!("hello, {name}") }))
}

/// One HTTP/1.1 request on its own connection: (the response's head, its body).
fn http(host: &str, method: &str, path: &str, body: &str) -> std::io::Result<(String, String)> {
    let mut stream =
        TcpStream::connect(host).map_err(|error| std::io::Error::new(error.kind(), format!("{host}: {error}")))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    Ok((head.to_owned(), body.to_owned()))
}

/// A header's value from a response head, by case-insensitive name.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}
