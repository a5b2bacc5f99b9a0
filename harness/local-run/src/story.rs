//! The workshop story the local run tells, step by step, each step checked.
//!
//! `tell` is the outline: one call per step, in the order the output numbers them; each step is
//! one method, here or, for the steps where something goes wrong on purpose (7 and 8), in
//! `story/recovery.rs`. How a step reaches the application (the HTTP API, a function's invoke
//! URL) is in `story/client.rs`.

mod client;
mod recovery;

use std::future::Future;
use std::path::Path;
use std::time::Instant;

use aws_config::SdkConfig;
use serde_json::{json, Value};

use super::runtimes::Runtimes;
use super::{heading, Result};
use crate::logs;
use anyhow::anyhow;
use client::encode_path;
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
    pub async fn tell(&self) -> Result<()> {
        let prefix = self.plan.upload_prefix();
        let bucket = self.plan.uploads_bucket()?;
        let reports = format!("{prefix}reports/");
        let report_bytes: usize = FILES
            .iter()
            .filter(|(key, ..)| key.starts_with("reports/"))
            .map(|(.., content)| content.len())
            .sum();

        self.step(
            1,
            "List the account's buckets with s3-list-buckets",
            self.list_buckets(bucket),
        )
        .await?;
        let urls = self
            .step(
                2,
                "Ask the HTTP API for upload URLs (POST /uploads)",
                self.ask_for_upload_urls(&prefix),
            )
            .await?;
        self.step(
            3,
            "Upload each file to its URL (a plain HTTP PUT with the signed headers, as a browser would)",
            self.upload(&prefix, &urls),
        )
        .await?;
        self.step(
            4,
            "See each file indexed: S3 notification -> s3-put-handler -> objects table (GET /objects/{key})",
            self.see_indexed(&prefix, &reports),
        )
        .await?;
        self.step(
            5,
            "See the folder statistics: objects stream -> dynamodb-stream-consumer (GET /stats)",
            self.see_statistics(&reports, report_bytes),
        )
        .await?;
        self.step(
            6,
            "Delete a file from the bucket and see the catalog and the statistics follow",
            self.delete(&prefix, bucket, &reports, report_bytes),
        )
        .await?;
        self.step(
            7,
            "A record the consumer cannot apply: retried, then parked in the failure queue",
            self.park_a_poison_record(&prefix),
        )
        .await?;
        self.step(
            8,
            "Drift repaired: the scheduled statistics-reconciler recounts every folder",
            self.repair_drift(&prefix),
        )
        .await?;
        self.step(
            9,
            "Each function's logs: no secrets, no whole events, and the metrics in them",
            self.read_logs(),
        )
        .await?;

        heading("Done: every trigger fired and every function answered as the story says");
        Ok(())
    }

    /// Runs one step under its numbered heading; its error names the step, so that a failed run
    /// says where the story stopped.
    async fn step<T>(&self, number: usize, title: &str, body: impl Future<Output = Result<T>>) -> Result<T> {
        heading(&format!("{number}. {title}"));
        let started = Instant::now();
        let value = body
            .await
            .map_err(|error| anyhow!("step {number} ({title}): {error}"))?;
        println!("    ok, {} ms", started.elapsed().as_millis());
        Ok(value)
    }

    async fn list_buckets(&self, bucket: &str) -> Result<()> {
        let (answer, failed) = self
            .invoke_with_event(
                "s3-list-buckets",
                "crates/s3-list-buckets/events/scheduled.json",
                include_str!("../../../crates/s3-list-buckets/events/scheduled.json"),
            )
            .await?;
        let expected = format!("[\"{bucket}\"]");
        if failed || answer["statusCode"] != 200 || answer["body"] != expected.as_str() {
            return Err(anyhow!("expected the body {expected}"));
        }
        Ok(())
    }

    /// Step 2; the upload instructions it returns (URL, method, headers) are step 3's input.
    async fn ask_for_upload_urls(&self, prefix: &str) -> Result<Vec<Value>> {
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
        let mut urls = Vec::new();
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
        Ok(urls)
    }

    async fn upload(&self, prefix: &str, urls: &[Value]) -> Result<()> {
        for ((key, _, content), upload) in FILES.iter().zip(urls) {
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
    }

    async fn see_indexed(&self, prefix: &str, reports: &str) -> Result<()> {
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
            .get(&format!("/objects?folder={}&limit=10", encode_path(reports)))
            .await?;
        let listed = page["items"].as_array().map(Vec::len).unwrap_or_default();
        println!("    $ curl '$API/objects?folder={reports}&limit=10'\n    {status}, {listed} items");
        if status != 200 || listed != 2 {
            return Err(anyhow!("expected the 2 reports, got {status} {page}"));
        }
        Ok(())
    }

    async fn see_statistics(&self, reports: &str, report_bytes: usize) -> Result<()> {
        self.wait_for_stats(reports, 2, report_bytes).await?;
        let (_, all) = self.get("/stats").await?;
        let folders: Vec<&str> = all["folders"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|stats| stats["folder"].as_str())
            .collect();
        println!("    GET /stats: folders {folders:?}");
        Ok(())
    }

    async fn delete(&self, prefix: &str, bucket: &str, reports: &str, report_bytes: usize) -> Result<()> {
        let (key, _, content) = FILES[1];
        let key = format!("{prefix}{key}");
        shared::aws::s3_client(self.aws)
            .delete_object()
            .bucket(bucket)
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
        self.wait_for_stats(reports, 1, report_bytes - content.len()).await
    }

    async fn read_logs(&self) -> Result<()> {
        for function in &self.plan.functions {
            let log = format!("target/local/logs/{}.log", function.binary);
            let text = std::fs::read_to_string(self.root.join(&log)).map_err(|error| anyhow!("{log}: {error}"))?;
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
    }
}
