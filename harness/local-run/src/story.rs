//! The workshop story the local run tells, step by step, each step checked.

use std::path::Path;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use serde_json::{json, Value};

use super::runtimes::{invoke, Runtimes};
use super::{heading, Result, PATIENCE};
use crate::logs;
use anyhow::{anyhow, Context};
use support::http;
use template_plan::Plan;

/// The workshop story, step by step, each checked.
pub struct Story<'a> {
    pub aws: &'a SdkConfig,
    pub plan: &'a Plan,
    pub runtimes: &'a Runtimes,
    pub root: &'a Path,
}

/// The files the story uploads: (key under the prefix, content type, content).
const FILES: [(&str, &str, &str); 3] = [
    ("reports/Q3 report + notes.txt", "text/plain", "hello, world"),
    ("reports/summary.csv", "text/csv", "quarter,revenue\nQ3,42\n"),
    ("photos/café.jpg", "image/jpeg", "not really a jpeg"),
];

impl Story<'_> {
    pub fn api(&self, path: &str) -> String {
        let port = self.runtimes.port("api-gateway-http").unwrap_or_default();
        format!("http://127.0.0.1:{port}/lambda-url/api-gateway-http{path}")
    }

    async fn step<F: std::future::Future<Output = Result<()>>>(
        &self,
        number: usize,
        title: &str,
        body: F,
    ) -> Result<()> {
        heading(&format!("{number}. {title}"));
        let started = Instant::now();
        body.await
            .map_err(|error| anyhow!("step {number} ({title}): {error}"))?;
        println!("    ok, {} ms", started.elapsed().as_millis());
        Ok(())
    }

    async fn get(&self, path: &str) -> Result<(u16, Value)> {
        let answer = http::send("GET", &self.api(path), &[], Vec::new()).await?;
        Ok((answer.status, serde_json::from_str(&answer.body).unwrap_or(Value::Null)))
    }

    /// Polls `path` until `done` accepts the answer, up to [`PATIENCE`].
    async fn wait_for(&self, path: &str, done: impl Fn(u16, &Value) -> bool) -> Result<Value> {
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
    async fn wait_for_stats(&self, folder: &str, objects: usize, bytes: usize) -> Result<()> {
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

    pub async fn tell(&self) -> Result<()> {
        let prefix = self.plan.upload_prefix();
        let bucket = self.plan.uploads_bucket()?.to_owned();
        let reports = format!("{prefix}reports/");

        self.step(1, "List the account's buckets with s3-list-buckets", async {
            let event: Value = serde_json::from_str(include_str!("../../../crates/s3-list-buckets/events/scheduled.json"))
                .map_err(|e| anyhow!("{e}"))?;
            let target = self.runtimes.target("s3-list-buckets")?;
            println!(
                "    $ cargo lambda invoke -A 127.0.0.1 -P {} s3-list-buckets --data-file crates/s3-list-buckets/events/scheduled.json",
                target.port
            );
            let (answer, failed) = invoke(&target, &event).await?;
            println!("    {answer}");
            let expected = format!("[\"{bucket}\"]");
            if failed || answer["statusCode"] != 200 || answer["body"] != expected.as_str() {
                return Err(anyhow!("expected the body {expected}"));
            }
            Ok(())
        })
        .await?;

        let mut urls = Vec::new();
        self.step(2, "Ask the HTTP API for upload URLs (POST /uploads)", async {
            let (status, health) = self.get("/health").await?;
            println!("    $ curl $API/health\n    {status} {health}");
            if status != 200 {
                return Err(anyhow!("the API is not healthy"));
            }
            let page = http::send("GET", &self.api("/"), &[], Vec::new()).await?;
            println!(
                "    $ curl $API/    (the web page: open it in a browser)\n    {} {} bytes of HTML",
                page.status,
                page.body.len()
            );
            if page.status != 200 || !page.body.starts_with("<!doctype html>") {
                return Err(anyhow!("GET / answered {} instead of the web page", page.status));
            }
            for (key, content_type, content) in FILES {
                let request = json!({"key": key, "content_type": content_type, "size": content.len()}).to_string();
                println!("    $ curl -X POST $API/uploads -H 'content-type: application/json' -d '{request}'");
                let answer = http::send(
                    "POST",
                    &self.api("/uploads"),
                    &[("content-type", "application/json")],
                    request.into_bytes(),
                )
                .await?;
                let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
                println!(
                    "    {} key {} (URL valid {} s)",
                    answer.status, body["key"], body["expires_in"]
                );
                match (answer.status, body["url"].as_str()) {
                    (201, Some(_)) if body["key"] == format!("{prefix}{key}").as_str() => urls.push(body),
                    _ => {
                        return Err(anyhow!(
                            "expected 201 with a URL, got {} {}",
                            answer.status,
                            answer.body
                        ))
                    }
                }
            }
            Ok(())
        })
        .await?;

        self.step(
            3,
            "Upload each file to its URL (a plain HTTP PUT with the signed headers, as a browser would)",
            async {
                for ((key, _, content), upload) in FILES.iter().zip(&urls) {
                    // The length is signed into the URL; the HTTP client sets the header itself.
                    let headers: Vec<(&str, &str)> = upload["headers"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter(|(name, _)| *name != "content-length")
                        .filter_map(|(name, value)| Some((name.as_str(), value.as_str()?)))
                        .collect();
                    let answer = http::send(
                        upload["method"].as_str().unwrap_or("PUT"),
                        upload["url"].as_str().unwrap_or_default(),
                        &headers,
                        content.as_bytes().to_vec(),
                    )
                    .await?;
                    println!("    PUT {prefix}{key}: {}", answer.status);
                    if answer.status != 200 {
                        return Err(anyhow!("the upload of {key} was refused: {}", answer.body));
                    }
                }
                Ok(())
            },
        )
        .await?;

        self.step(
            4,
            "See each file indexed: S3 notification -> s3-put-handler -> objects table (GET /objects/{key})",
            async {
                for (key, _, content) in FILES {
                    let path = format!("/objects/{}", encode_path(&format!("{prefix}{key}")));
                    let item = self.wait_for(&path, |status, _| status == 200).await?;
                    println!(
                        "    {}: {} bytes, sha256 {}…",
                        item["key"],
                        item["size"],
                        item["sha256"]
                            .as_str()
                            .unwrap_or_default()
                            .get(..12)
                            .unwrap_or_default()
                    );
                    if item["size"] != content.len() {
                        return Err(anyhow!("{key} was indexed with the wrong size: {item}"));
                    }
                }
                let (status, page) = self
                    .get(&format!("/objects?folder={}&limit=10", encode_path(&reports)))
                    .await?;
                let listed = page["items"].as_array().map(Vec::len).unwrap_or_default();
                println!("    $ curl '$API/objects?folder={reports}&limit=10'\n    {status}, {listed} items");
                if status != 200 || listed != 2 {
                    return Err(anyhow!("expected the 2 reports, got {status} {page}"));
                }
                Ok(())
            },
        )
        .await?;

        let report_bytes: usize = FILES
            .iter()
            .filter(|(key, ..)| key.starts_with("reports/"))
            .map(|(.., content)| content.len())
            .sum();
        self.step(
            5,
            "See the folder statistics: objects stream -> dynamodb-stream-consumer (GET /stats)",
            async {
                self.wait_for_stats(&reports, 2, report_bytes).await?;
                let (_, all) = self.get("/stats").await?;
                let folders: Vec<&str> = all["folders"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|stats| stats["folder"].as_str())
                    .collect();
                println!("    GET /stats: folders {folders:?}");
                Ok(())
            },
        )
        .await?;

        self.step(
            6,
            "Delete a file from the bucket and see the catalog and the statistics follow",
            async {
                let (key, _, content) = FILES[1];
                let key = format!("{prefix}{key}");
                shared::aws::s3_client(self.aws)
                    .delete_object()
                    .bucket(&bucket)
                    .key(&key)
                    .send()
                    .await
                    .map_err(|error| anyhow!(shared::error::chain(&error)))?;
                // What a reader can paste: boto3 is in the project's tools, the AWS CLI is not.
                println!(
                    "    $ python -c 'import boto3; boto3.client(\"s3\").delete_object(Bucket=\"{bucket}\", Key=\"{key}\")'"
                );
                let path = format!("/objects/{}", encode_path(&key));
                let gone = self.wait_for(&path, |status, _| status == 404).await?;
                println!("    GET /objects/{key}: 404 {}", gone["detail"]);
                self.wait_for_stats(&reports, 1, report_bytes - content.len()).await?;
                Ok(())
            },
        )
        .await?;

        self.step(
            7,
            "A record the consumer cannot apply: retried, then parked in the failure queue",
            async {
                let objects = self.plan.objects_table()?;
                let consumer = self
                    .plan
                    .functions
                    .iter()
                    .find_map(|function| function.stream.as_ref())
                    .context("no stream trigger")?;
                let queue = consumer
                    .failure_queue
                    .as_deref()
                    .context("the stream trigger has no on-failure queue")?;
                let poison = format!("{prefix}quarantine/not-an-object");
                // An item without size or hash: its stream record is not an object item.
                shared::aws::dynamodb_client(self.aws)
                    .put_item()
                    .table_name(objects)
                    .item(
                        "folder",
                        aws_sdk_dynamodb::types::AttributeValue::S(format!("{prefix}quarantine/")),
                    )
                    .item("key", aws_sdk_dynamodb::types::AttributeValue::S(poison.clone()))
                    .send()
                    .await
                    .map_err(|error| anyhow!(shared::error::chain(&error)))?;
                println!("    wrote an item that is not an object item: {poison}");
                let sqs = aws_sdk_sqs::Client::new(self.aws);
                let url = sqs
                    .get_queue_url()
                    .queue_name(queue)
                    .send()
                    .await
                    .map_err(|error| anyhow!(shared::error::chain(&error)))?;
                let url = url.queue_url().unwrap_or_default().to_owned();
                let deadline = Instant::now() + PATIENCE;
                loop {
                    let received = sqs.receive_message().queue_url(&url).wait_time_seconds(1).send().await;
                    let received = received.map_err(|error| anyhow!(shared::error::chain(&error)))?;
                    if let Some(body) = received
                        .messages()
                        .iter()
                        .filter_map(|message| message.body())
                        .find(|body| body.contains(&poison))
                    {
                        let records = serde_json::from_str::<Value>(body)
                            .map(|body| body["records"].as_array().map(Vec::len).unwrap_or(0));
                        println!(
                            "    {queue} received the batch after {} retries ({} record)",
                            consumer.max_retries,
                            records.unwrap_or(0)
                        );
                        break;
                    }
                    if Instant::now() > deadline {
                        return Err(anyhow!("{queue} received nothing within {} s", PATIENCE.as_secs()));
                    }
                }
                Ok(())
            },
        )
        .await?;

        self.step(
            8,
            "Drift repaired: the scheduled statistics-reconciler recounts every folder",
            async {
                let statistics = self.plan.statistics_table()?;
                let ghost = format!("{prefix}ghost/");
                // Statistics for a folder that holds no object, last changed long ago: the drift a
                // stream record parked in the failure queue leaves behind.
                let number = |value: &str| aws_sdk_dynamodb::types::AttributeValue::N(value.to_owned());
                let text = |value: &str| aws_sdk_dynamodb::types::AttributeValue::S(value.to_owned());
                shared::aws::dynamodb_client(self.aws)
                    .put_item()
                    .table_name(statistics)
                    .item("folder", text(&ghost))
                    .item("object_count", number("3"))
                    .item("total_bytes", number("300"))
                    .item("updated_at", text("2001-01-01T00:00:00Z"))
                    .send()
                    .await
                    .map_err(|error| anyhow!(shared::error::chain(&error)))?;
                println!("    wrote statistics for {ghost}: 3 objects, 300 bytes; it holds none");
                let event: Value =
                    serde_json::from_str(include_str!("../../../crates/statistics-reconciler/events/scheduled.json"))
                        .map_err(|e| anyhow!("{e}"))?;
                let target = self.runtimes.target("statistics-reconciler")?;
                println!(
                    "    $ cargo lambda invoke -A 127.0.0.1 -P {} statistics-reconciler --data-file crates/statistics-reconciler/events/scheduled.json",
                    target.port
                );
                let (answer, failed) = invoke(&target, &event).await?;
                println!("    {answer}");
                if failed {
                    return Err(anyhow!("the reconciler failed"));
                }
                // (Its schedule also runs it every minute locally: either run repairs the folder.)
                self.wait_for_stats(&ghost, 0, 0).await
            },
        )
        .await?;

        self.step(
            9,
            "Each function's logs: no secrets, no whole events, and the metrics in them",
            async {
                for function in &self.plan.functions {
                    let log = format!("target/local/logs/{}.log", function.binary);
                    let text =
                        std::fs::read_to_string(self.root.join(&log)).map_err(|error| anyhow!("{log}: {error}"))?;
                    // Nothing secret and no whole event in any line, the runtime emulator's included.
                    if let Some((number, leaked)) = logs::first_leak(&text) {
                        return Err(anyhow!("{log}:{number}: {} in the log", leaked.join(", ")));
                    }
                    let needle = format!("\"function_name\":\"{}\"", function.binary);
                    let lines = text.lines().filter(|line| line.contains(&needle)).count();
                    println!("    {:<26} {lines:>3} JSON lines in {log}", function.binary);
                    if lines == 0 {
                        return Err(anyhow!("{} logged nothing", function.binary));
                    }
                    // What CloudWatch would make of the function's Embedded Metric Format lines.
                    let totals = logs::metric_totals(&text);
                    let shown: Vec<String> = totals.iter().map(|(name, total)| format!("{name} {total}")).collect();
                    println!("    {:<26} metrics: {}", "", shown.join(", "));
                    if !totals.get("ColdStart").is_some_and(|count| count.sum >= 1.0) || totals.len() < 2 {
                        return Err(anyhow!(
                            "{} must report one ColdStart and its own metrics, got {totals:?}",
                            function.binary
                        ));
                    }
                }
                println!("    read one: cargo xtask logs s3-put-handler");
                Ok(())
            },
        )
        .await?;

        heading("Done: every trigger fired and every function answered as the story says");
        Ok(())
    }
}

/// Percent-encodes a key for a URL path, keeping its slashes.
fn encode_path(key: &str) -> String {
    key.split('/')
        .map(|segment| {
            segment
                .bytes()
                .map(|byte| match byte {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (byte as char).to_string(),
                    other => format!("%{other:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
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
