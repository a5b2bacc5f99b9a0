//! `cargo xtask load [--quick]`: the local application under load, with every figure printed.
//!
//! 1. A burst of uploads straight into the bucket, from many clients at once, with overwrites,
//!    repeated uploads and deletes mixed in. It flows through the whole pipeline (S3 notification
//!    -> s3-put-handler -> objects table -> stream -> dynamodb-stream-consumer -> statistics) and
//!    the run waits until the catalog equals the bucket, object by object and hash by hash, and
//!    every folder's statistics equal a recount. Anything parked in a failure queue fails the run:
//!    under load as without it, nothing may be lost or counted twice.
//! 2. Concurrent requests to the HTTP function through its function URL, the function scaled
//!    out to a few instances as Lambda would: throughput and latency percentiles, per route.
//!
//! Bounded in count and in time: `--quick` (what CI runs) and the full size below.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use serde::de::DeserializeOwned;
use serde_json::json;
use sha2::{Digest, Sha256};
use shared::catalog::{folder_of, FolderStats, ObjectItem};

use super::resources::Queues;
use super::runtimes::Runtimes;
use super::{heading, Result};
use crate::logs;
use anyhow::{anyhow, Context};
use support::http;
use template_plan::Plan;

/// The function the HTTP load is aimed at.
pub const HTTP_FUNCTION: &str = "api-gateway-http";
/// How long the pipeline may take to catch up with the burst before the run fails.
const CATCH_UP: Duration = Duration::from_secs(600);

/// How big a load is.
#[derive(Debug, Clone, Copy)]
struct Size {
    /// Distinct keys uploaded (a tenth of them twice more: overwritten or uploaded again).
    keys: usize,
    /// Folders they are spread over.
    folders: usize,
    /// Clients uploading at once.
    uploaders: usize,
    /// Rounds of requests to the HTTP function: (clients at once, requests). One client alone
    /// shows each route's own latency; many at once show throughput and queueing.
    rounds: [(usize, usize); 2],
}

const QUICK: Size = Size {
    keys: 1_000,
    folders: 10,
    uploaders: 16,
    rounds: [(1, 400), (16, 2_000)],
};

/// (The emulator is one Python process whose queue operations slow down as the queue grows:
/// beyond a few thousand keys the limit measured is the emulator's, not the functions'.)
const FULL: Size = Size {
    keys: 2_500,
    folders: 25,
    uploaders: 16,
    rounds: [(1, 1_000), (16, 10_000)],
};

/// What happens to one key during the burst, in order: each version uploaded, then perhaps a
/// delete.
#[derive(Debug, Clone, PartialEq)]
struct KeyPlan {
    key: String,
    /// Which contents are uploaded, in order (`[0, 1]`: overwritten; `[0, 0]`: the same bytes
    /// uploaded twice, a new S3 event each time).
    versions: Vec<usize>,
    deleted: bool,
}

/// Every key of the burst: spread over `size.folders` folders, named with a space and a `+` (the
/// characters S3 encodes differently in its events), one in ten overwritten, one in ten uploaded
/// twice, one in ten deleted.
fn burst(size: Size, prefix: &str) -> Vec<KeyPlan> {
    (0..size.keys)
        .map(|index| KeyPlan {
            key: format!(
                "{prefix}load/folder-{:02}/file {index:05} + copy.txt",
                index % size.folders
            ),
            // Counted along each folder, so that every folder sees every kind.
            versions: match (index / size.folders) % 10 {
                3 => vec![0, 1],
                7 => vec![0, 0],
                _ => vec![0],
            },
            deleted: (index / size.folders) % 10 == 5,
        })
        .collect()
}

/// The content of a key's version: a few bytes to a kilobyte, different for every version.
fn content(key: &str, version: usize) -> Vec<u8> {
    let line = format!("{key}, version {version}\n");
    let spread: usize = key.bytes().map(usize::from).sum();
    let repeats = 1 + (spread * 7 + version * 13) % 40;
    line.repeat(repeats).into_bytes()
}

/// What the catalog must end up holding: every key not deleted, with its last version's size and
/// SHA-256.
fn expected_catalog(keys: &[KeyPlan]) -> BTreeMap<String, (u64, String)> {
    keys.iter()
        .filter(|plan| !plan.deleted)
        .filter_map(|plan| {
            let content = content(&plan.key, *plan.versions.last()?);
            let hash = hex::encode(Sha256::digest(&content));
            Some((plan.key.clone(), (content.len() as u64, hash)))
        })
        .collect()
}

/// Each folder's object count and total bytes, counted from a catalog.
fn recount(catalog: &BTreeMap<String, (u64, String)>) -> BTreeMap<String, (i64, i64)> {
    let mut folders: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (key, (size, _)) in catalog {
        let folder = folders.entry(folder_of(key).to_owned()).or_default();
        folder.0 += 1;
        folder.1 += *size as i64;
    }
    folders
}

/// The nearest-rank percentile: the smallest value that `percent` of the sorted values do not
/// exceed.
fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

fn milliseconds(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1_000.0)
}

pub struct Load<'a> {
    aws: &'a SdkConfig,
    plan: &'a Plan,
    runtimes: &'a Runtimes,
    queues: &'a Queues,
    root: &'a Path,
    size: Size,
}

impl<'a> Load<'a> {
    pub fn new(
        aws: &'a SdkConfig,
        plan: &'a Plan,
        runtimes: &'a Runtimes,
        queues: &'a Queues,
        root: &'a Path,
        quick: bool,
    ) -> Self {
        let size = if quick { QUICK } else { FULL };
        Load {
            aws,
            plan,
            runtimes,
            queues,
            root,
            size,
        }
    }

    pub async fn run(&self) -> Result<()> {
        let prefix = self.plan.upload_prefix();
        let keys = burst(self.size, &prefix);
        self.burst(self.plan.uploads_bucket()?, &keys).await?;
        self.requests(&prefix).await?;
        self.logs_leak_nothing()?;
        heading("Done: the pipeline ended exact and the HTTP function answered every request as expected");
        Ok(())
    }

    /// Phase 1: the burst of uploads, until the catalog and the statistics are exact.
    async fn burst(&self, bucket: &str, keys: &[KeyPlan]) -> Result<()> {
        let uploads: usize = keys.iter().map(|plan| plan.versions.len()).sum();
        let deletes = keys.iter().filter(|plan| plan.deleted).count();
        heading(&format!(
            "1. A burst of {uploads} uploads and {deletes} deletes over {} keys in {} folders, from {} clients at once",
            keys.len(),
            self.size.folders,
            self.size.uploaders
        ));
        // The uploaders are clients, not functions: they wait for a busy emulator longer than a
        // function's 8-second budget would.
        let patient = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .operation_timeout(Duration::from_secs(60))
            .operation_attempt_timeout(Duration::from_secs(30))
            .build();
        let s3 = shared::aws::s3_client(self.aws);
        let s3 = aws_sdk_s3::Client::from_conf(s3.config().to_builder().timeout_config(patient).build());
        let started = Instant::now();
        let keys_shared: Arc<Vec<KeyPlan>> = Arc::new(keys.to_vec());
        let next = Arc::new(AtomicUsize::new(0));
        let mut clients = Vec::new();
        for _ in 0..self.size.uploaders {
            let (s3, keys, next, bucket) = (s3.clone(), keys_shared.clone(), next.clone(), bucket.to_owned());
            clients.push(tokio::spawn(async move {
                while let Some(plan) = keys.get(next.fetch_add(1, Ordering::Relaxed)) {
                    for version in &plan.versions {
                        s3.put_object()
                            .bucket(&bucket)
                            .key(&plan.key)
                            .content_type("text/plain")
                            .body(content(&plan.key, *version).into())
                            .send()
                            .await
                            .map_err(|error| anyhow!("uploading {}: {}", plan.key, shared::error::chain(&error)))?;
                    }
                    if plan.deleted {
                        s3.delete_object()
                            .bucket(&bucket)
                            .key(&plan.key)
                            .send()
                            .await
                            .map_err(|error| anyhow!("deleting {}: {}", plan.key, shared::error::chain(&error)))?;
                    }
                }
                Ok::<(), anyhow::Error>(())
            }));
        }
        for client in clients {
            client.await.map_err(|error| anyhow!("{error}"))??;
        }
        let sent = started.elapsed();
        println!(
            "    sent in {:.1} s ({:.0} requests/s to S3)",
            sent.as_secs_f64(),
            (uploads + deletes) as f64 / sent.as_secs_f64()
        );

        let expected = expected_catalog(keys);
        let in_bucket = self.bucket_contents(bucket).await?;
        let bucket_sizes: BTreeMap<&String, u64> = expected.iter().map(|(key, (size, _))| (key, *size)).collect();
        if in_bucket
            .iter()
            .map(|(key, size)| (key, *size))
            .collect::<BTreeMap<_, _>>()
            != bucket_sizes
        {
            return Err(anyhow!(
                "the bucket holds {} objects, not the {} the burst leaves",
                in_bucket.len(),
                expected.len()
            ));
        }
        let statistics_expected = recount(&expected);
        println!(
            "    the bucket holds {} objects in {} folders; waiting for the catalog and the statistics",
            expected.len(),
            statistics_expected.len()
        );

        let deadline = started + CATCH_UP;
        let mut last_report = Instant::now();
        loop {
            let catalog = self.catalog().await?;
            let statistics = self.statistics().await?;
            let indexed = expected
                .iter()
                .filter(|(key, entry)| catalog.get(*key) == Some(entry))
                .count();
            let right_folders = statistics_expected
                .iter()
                .filter(|(folder, counts)| statistics.get(*folder) == Some(counts))
                .count();
            // Exact: nothing missing, nothing extra, no folder counted that holds nothing.
            let stray_statistics = statistics
                .iter()
                .filter(|(folder, counts)| !statistics_expected.contains_key(*folder) && **counts != (0, 0))
                .count();
            if catalog == expected && right_folders == statistics_expected.len() && stray_statistics == 0 {
                let took = started.elapsed();
                println!(
                    "    exact after {:.1} s from the first upload: {} objects indexed with their SHA-256, {} folders' statistics equal to a recount ({:.0} objects/s through the pipeline)",
                    took.as_secs_f64(),
                    catalog.len(),
                    statistics_expected.len(),
                    (uploads + deletes) as f64 / took.as_secs_f64()
                );
                break;
            }
            if Instant::now() > deadline {
                return Err(anyhow!(
                    "not exact after {} s: {indexed}/{} objects indexed right, {} extra in the catalog, {right_folders}/{} folders' statistics right, {stray_statistics} folders counted that hold nothing",
                    CATCH_UP.as_secs(),
                    expected.len(),
                    catalog.keys().filter(|key| !expected.contains_key(*key)).count(),
                    statistics_expected.len()
                ));
            }
            if last_report.elapsed() >= Duration::from_secs(10) {
                println!(
                    "    after {:>3} s: {indexed}/{} objects indexed, {right_folders}/{} folders' statistics right",
                    started.elapsed().as_secs(),
                    expected.len(),
                    statistics_expected.len()
                );
                last_report = Instant::now();
            }
            // Reading both tables whole is work for the emulator too: not too often.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        self.failure_queues_are_empty().await
    }

    /// Every failure queue the template declares for a trigger is empty: under load nothing was
    /// given up on.
    async fn failure_queues_are_empty(&self) -> Result<()> {
        let sqs = aws_sdk_sqs::Client::new(self.aws);
        let queues = self.plan.functions.iter().flat_map(|function| {
            let stream = function.stream.as_ref().and_then(|stream| stream.failure_queue.clone());
            function.async_failure_queue.clone().into_iter().chain(stream)
        });
        for queue in queues {
            let url = self
                .queues
                .get(&queue)
                .with_context(|| format!("no queue named {queue}"))?;
            let waiting = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                .send()
                .await
                .map_err(|error| anyhow!(shared::error::chain(&error)))?;
            let count = waiting
                .attributes()
                .and_then(|attributes| {
                    attributes.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                })
                .cloned()
                .unwrap_or_default();
            println!("    {queue}: {count} messages");
            if count != "0" {
                return Err(anyhow!("{queue} holds {count} messages: something failed under load"));
            }
        }
        Ok(())
    }

    /// Phase 2: requests to the HTTP function through its function URL, a mix of its routes,
    /// from one client and then from many at once.
    ///
    /// One instance of the function serves them, one at a time, as one Lambda instance does:
    /// the requests that arrive together queue in the runtime emulator. (cargo-lambda can run
    /// more instances, `--concurrency`, but with more than one it answered a few requests in
    /// thousands with its own 500 although the function had answered 200; on two cores more
    /// instances add no throughput either.)
    async fn requests(&self, prefix: &str) -> Result<()> {
        heading("2. Requests to the HTTP API through its function URL, one instance of the function");
        for (clients, requests) in self.size.rounds {
            self.round(prefix, clients, requests).await?;
        }
        Ok(())
    }

    async fn round(&self, prefix: &str, client_count: usize, total: usize) -> Result<()> {
        let port = self.runtimes.port(HTTP_FUNCTION)?;
        let api = format!("http://127.0.0.1:{port}/lambda-url/{HTTP_FUNCTION}");
        let folders = self.size.folders;
        let prefix = prefix.to_owned();
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut clients = Vec::new();
        for _ in 0..client_count {
            let (api, next, prefix) = (api.clone(), next.clone(), prefix.clone());
            clients.push(tokio::spawn(async move {
                let mut answers = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= total {
                        break;
                    }
                    let (route, method, path, body, expected) = request(index, folders, &prefix);
                    let sent = Instant::now();
                    let answer = http::send(
                        method,
                        &format!("{api}{path}"),
                        &[("content-type", "application/json")],
                        body.into_bytes(),
                    )
                    .await;
                    let latency = sent.elapsed();
                    let outcome = match answer {
                        Ok(answer) if answer.status == expected => Ok(()),
                        Ok(answer) => Err(anyhow!("{} {}", answer.status, answer.body)),
                        Err(error) => Err(error),
                    };
                    answers.push((route, latency, outcome));
                }
                answers
            }));
        }
        let mut answers = Vec::new();
        for client in clients {
            answers.extend(client.await.map_err(|error| anyhow!("{error}"))?);
        }
        let took = started.elapsed();

        let mut by_route: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
        for (route, latency, ..) in &answers {
            by_route.entry(route).or_default().push(*latency);
        }
        let mut all: Vec<Duration> = answers.iter().map(|(_, latency, ..)| *latency).collect();
        all.sort();
        let unexpected: Vec<String> = answers
            .iter()
            .filter_map(|(route, _, outcome)| outcome.as_ref().err().map(|error| format!("{route}: {error}")))
            .collect();
        println!(
            "    {client_count:>2} at once: {} requests in {:.1} s, {:.0} requests/s, p50 {}, p99 {}, max {}; {} unexpected answers",
            answers.len(),
            took.as_secs_f64(),
            answers.len() as f64 / took.as_secs_f64(),
            milliseconds(percentile(&all, 50)),
            milliseconds(percentile(&all, 99)),
            milliseconds(all.last().copied().unwrap_or_default()),
            unexpected.len()
        );
        for (route, mut latencies) in by_route {
            latencies.sort();
            println!(
                "        {route:<32} {:>6} requests, p50 {:>9}, p99 {:>9}",
                latencies.len(),
                milliseconds(percentile(&latencies, 50)),
                milliseconds(percentile(&latencies, 99))
            );
        }
        if answers.len() != total || !unexpected.is_empty() {
            let first: Vec<&String> = unexpected.iter().take(5).collect();
            return Err(anyhow!(
                "{} of {total} requests answered, {} unexpectedly, first: {first:?}",
                answers.len(),
                unexpected.len()
            ));
        }
        Ok(())
    }

    /// Under load too, no function logged a secret or a whole event: thousands of lines, with
    /// every kind of outcome, read one by one.
    fn logs_leak_nothing(&self) -> Result<()> {
        heading("3. Every function's log under load: no secrets, no whole events");
        for function in &self.plan.functions {
            let log = format!("target/local/logs/{}.log", function.binary);
            let text = std::fs::read_to_string(self.root.join(&log)).map_err(|error| anyhow!("{log}: {error}"))?;
            if let Some((number, leaked)) = logs::first_leak(&text) {
                return Err(anyhow!("{log}:{number}: {} in the log", leaked.join(", ")));
            }
            println!(
                "    {:<26} {:>6} lines, 0 findings",
                function.binary,
                text.lines().count()
            );
        }
        Ok(())
    }

    /// Every object in the bucket: key and size.
    async fn bucket_contents(&self, bucket: &str) -> Result<BTreeMap<String, u64>> {
        let s3 = shared::aws::s3_client(self.aws);
        let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
        let mut contents = BTreeMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| anyhow!(shared::error::chain(&error)))?;
            for object in page.contents() {
                let size = object.size().unwrap_or_default();
                contents.insert(object.key().unwrap_or_default().to_owned(), size as u64);
            }
        }
        Ok(contents)
    }

    /// The objects table: key -> (size, SHA-256).
    async fn catalog(&self) -> Result<BTreeMap<String, (u64, String)>> {
        let items: Vec<ObjectItem> = self.scan(self.plan.objects_table()?).await?;
        Ok(items
            .into_iter()
            .map(|item| (item.key, (item.size, item.sha256)))
            .collect())
    }

    /// The statistics table: folder -> (object count, total bytes).
    async fn statistics(&self) -> Result<BTreeMap<String, (i64, i64)>> {
        let items: Vec<FolderStats> = self.scan(self.plan.statistics_table()?).await?;
        Ok(items
            .into_iter()
            .map(|stats| (stats.folder, (stats.object_count, stats.total_bytes)))
            .collect())
    }

    async fn scan<T: DeserializeOwned>(&self, table: &str) -> Result<Vec<T>> {
        let dynamodb = shared::aws::dynamodb_client(self.aws);
        let mut pages = dynamodb.scan().table_name(table).into_paginator().send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| anyhow!(shared::error::chain(&error)))?;
            let page: Vec<T> = serde_dynamo::from_items(page.items.unwrap_or_default())
                .map_err(|error| anyhow!("{table}: {error}"))?;
            items.extend(page);
        }
        Ok(items)
    }
}

/// The `index`th request of the HTTP load: (route, method, path, body, the status it must get).
/// A mix of what the catalog's users do: check health, read statistics, page through a folder,
/// ask for an upload URL.
fn request(index: usize, folders: usize, prefix: &str) -> (&'static str, &'static str, String, String, u16) {
    let folder = index % folders;
    match index % 4 {
        0 => ("GET /health", "GET", "/health".to_owned(), String::new(), 200),
        1 => ("GET /stats", "GET", "/stats".to_owned(), String::new(), 200),
        2 => (
            "GET /objects?folder=…&limit=20",
            "GET",
            format!("/objects?folder={prefix}load/folder-{folder:02}/&limit=20"),
            String::new(),
            200,
        ),
        _ => (
            "POST /uploads",
            "POST",
            "/uploads".to_owned(),
            json!({"key": format!("load/folder-{folder:02}/new {index}.txt"), "content_type": "text/plain", "size": 100})
                .to_string(),
            201,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_burst_uploads_at_least_a_thousand_times_with_overwrites_repeats_and_deletes() {
        let keys = burst(QUICK, "uploads/");
        let uploads: usize = keys.iter().map(|plan| plan.versions.len()).sum();
        assert!(uploads >= 1_000, "{uploads} uploads");
        let overwritten = keys.iter().filter(|plan| plan.versions == [0, 1]).count();
        let repeated = keys.iter().filter(|plan| plan.versions == [0, 0]).count();
        let deleted = keys.iter().filter(|plan| plan.deleted).count();
        assert_eq!((overwritten, repeated, deleted), (100, 100, 100));
        let distinct: std::collections::BTreeSet<&String> = keys.iter().map(|plan| &plan.key).collect();
        assert_eq!(distinct.len(), keys.len());
        assert!(keys.iter().all(|plan| plan.key.starts_with("uploads/load/folder-")));
    }

    #[test]
    fn every_version_has_its_own_content() {
        let key = "uploads/load/folder-00/file 00003 + copy.txt";
        assert_ne!(content(key, 0), content(key, 1));
        assert_eq!(content(key, 0), content(key, 0));
    }

    #[test]
    fn the_expected_catalog_holds_the_last_version_of_every_key_not_deleted() {
        let keys = burst(QUICK, "uploads/");
        let catalog = expected_catalog(&keys);
        assert_eq!(catalog.len(), 900);
        let overwritten = &keys[3 * QUICK.folders];
        assert_eq!(overwritten.versions, [0, 1]);
        assert_eq!(catalog[&overwritten.key].0, content(&overwritten.key, 1).len() as u64);
        assert!(keys[5 * QUICK.folders].deleted);
        assert!(!catalog.contains_key(&keys[5 * QUICK.folders].key));
        let statistics = recount(&catalog);
        assert_eq!(statistics.len(), 10);
        assert_eq!(statistics.values().map(|(count, _)| count).sum::<i64>(), 900);
    }

    #[test]
    fn percentiles_pick_from_the_sorted_values() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 99), Duration::from_millis(99));
        assert_eq!(percentile(&sorted, 100), Duration::from_millis(100));
        assert_eq!(percentile(&[], 99), Duration::ZERO);
    }
}
