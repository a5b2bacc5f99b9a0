//! How the story reaches the running application: through the HTTP function's URL, as a reader's
//! `curl` does, and by invoking a function with its event file, as `cargo lambda invoke` does.

use std::time::{Duration, Instant};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

use super::Story;
use crate::runtimes::invoke;
use crate::{Result, PATIENCE};
use anyhow::anyhow;
use support::http;

impl Story<'_> {
    pub fn api(&self, path: &str) -> String {
        let port = self.runtimes.port("api-gateway-http").unwrap_or_default();
        format!("http://127.0.0.1:{port}/lambda-url/api-gateway-http{path}")
    }

    pub(super) async fn get(&self, path: &str) -> Result<(u16, Value)> {
        let answer = http::send("GET", &self.api(path), &[], Vec::new()).await?;
        Ok((answer.status, serde_json::from_str(&answer.body).unwrap_or(Value::Null)))
    }

    /// Polls `path` until `done` accepts the answer, up to [`PATIENCE`]: the triggers behind the
    /// API are asynchronous, so what a step caused shows up a little later.
    pub(super) async fn wait_for(&self, path: &str, done: impl Fn(u16, &Value) -> bool) -> Result<Value> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (status, body) = self.get(path).await?;
            if done(status, &body) {
                return Ok(body);
            }
            if Instant::now() > deadline {
                return Err(anyhow!(
                    "GET {path} still answers {status} {body} after {} s",
                    PATIENCE.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the API reports `objects` objects of `bytes` bytes in `folder`.
    pub(super) async fn wait_for_stats(&self, folder: &str, objects: usize, bytes: usize) -> Result<()> {
        let path = format!("/stats/{}", encode_path(folder));
        let stats = self
            .wait_for(&path, |status, body| {
                status == 200 && body["object_count"] == objects && body["total_bytes"] == bytes
            })
            .await?;
        println!(
            "    GET /stats/{folder}: {} objects, {} bytes",
            stats["object_count"], stats["total_bytes"]
        );
        Ok(())
    }

    /// Invokes `binary` with the event file at `event_path` (whose text is `event`, built in so a
    /// run does not depend on the working directory), printing the command a reader would type.
    pub(super) async fn invoke_with_event(&self, binary: &str, event_path: &str, event: &str) -> Result<(Value, bool)> {
        let event: Value = serde_json::from_str(event).map_err(|e| anyhow!("{e}"))?;
        let target = self.runtimes.target(binary)?;
        println!(
            "    $ cargo lambda invoke -A 127.0.0.1 -P {} {binary} --data-file {event_path}",
            target.port
        );
        let (answer, failed) = invoke(&target, &event).await?;
        println!("    {answer}");
        Ok((answer, failed))
    }
}

/// What stays as it is in a key put in a URL path: RFC 3986's unreserved characters, and the
/// slashes between the key's segments.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a key for a URL path, keeping its slashes.
pub(super) fn encode_path(key: &str) -> String {
    utf8_percent_encode(key, PATH).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_percent_encoded_between_their_slashes() {
        assert_eq!(
            encode_path("uploads/reports/Q3 report + notes.txt"),
            "uploads/reports/Q3%20report%20%2B%20notes.txt"
        );
        assert_eq!(encode_path("uploads/photos/café.jpg"), "uploads/photos/caf%C3%A9.jpg");
    }
}
