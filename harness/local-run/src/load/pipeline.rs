//! Phase 1 of the load: the burst of uploads and deletes straight into the bucket, then the wait
//! until the catalog and the statistics are exactly what the burst leaves.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use shared::catalog::folder_of;

use super::{Load, Size};
use crate::{heading, Result};
use anyhow::anyhow;

/// How long the pipeline may take to catch up with the burst before the run fails.
const CATCH_UP: Duration = Duration::from_secs(600);

/// What happens to one key during the burst, in order: each version uploaded, then perhaps a
/// delete.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct KeyPlan {
    key: String,
    /// Which contents are uploaded, in order (`[0, 1]`: overwritten; `[0, 0]`: the same bytes
    /// uploaded twice, a new S3 event each time).
    versions: Vec<usize>,
    deleted: bool,
}

/// Every key of the burst: spread over `size.folders` folders, named with a space and a `+` (the
/// characters S3 encodes differently in its events), one in ten overwritten, one in ten uploaded
/// twice, one in ten deleted.
pub(super) fn burst(size: Size, prefix: &str) -> Vec<KeyPlan> {
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

impl Load<'_> {
    /// Phase 1: the burst of uploads, until the catalog and the statistics are exact.
    pub(super) async fn burst(&self, bucket: &str, keys: &[KeyPlan]) -> Result<()> {
        let uploads: usize = keys.iter().map(|plan| plan.versions.len()).sum();
        let deletes = keys.iter().filter(|plan| plan.deleted).count();
        heading(&format!(
            "1. A burst of {uploads} uploads and {deletes} deletes over {} keys in {} folders, from {} clients at once",
            keys.len(),
            self.size.folders,
            self.size.uploaders
        ));
        let started = Instant::now();
        self.send(bucket, keys).await?;
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
        self.wait_until_exact(&expected, &statistics_expected, started, uploads + deletes)
            .await?;
        self.failure_queues_are_empty().await
    }

    /// Every key's uploads and delete, from `size.uploaders` clients at once, each taking the next
    /// key not yet taken.
    async fn send(&self, bucket: &str, keys: &[KeyPlan]) -> Result<()> {
        let s3 = shared::aws::s3_client(self.aws);
        let s3 = aws_sdk_s3::Client::from_conf(s3.config().to_builder().timeout_config(super::patient()).build());
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
        Ok(())
    }

    /// Reads both tables until they are exactly `expected` and `statistics_expected`, reporting
    /// progress every 10 s, for up to [`CATCH_UP`] from `started`; `requests` is how many S3
    /// requests the burst made, for the throughput.
    async fn wait_until_exact(
        &self,
        expected: &BTreeMap<String, (u64, String)>,
        statistics_expected: &BTreeMap<String, (i64, i64)>,
        started: Instant,
        requests: usize,
    ) -> Result<()> {
        let deadline = started + CATCH_UP;
        let mut last_report = Instant::now();
        loop {
            // A read the busy emulator does not answer in time is the checker's problem, not the
            // pipeline's: read again next round (the deadline still bounds the wait).
            let (catalog, statistics) = match (self.catalog().await, self.statistics().await) {
                (Ok(catalog), Ok(statistics)) => (catalog, statistics),
                (Err(error), _) | (_, Err(error)) if Instant::now() <= deadline => {
                    println!(
                        "    after {:>3} s: reading the tables failed ({error}); reading again",
                        started.elapsed().as_secs()
                    );
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
                (Err(error), _) | (_, Err(error)) => return Err(error),
            };
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
            if catalog == *expected && right_folders == statistics_expected.len() && stray_statistics == 0 {
                let took = started.elapsed();
                println!(
                    "    exact after {:.1} s from the first upload: {} objects indexed with their SHA-256, {} folders' statistics equal to a recount ({:.0} objects/s through the pipeline)",
                    took.as_secs_f64(),
                    catalog.len(),
                    statistics_expected.len(),
                    requests as f64 / took.as_secs_f64()
                );
                return Ok(());
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
    }
}

#[cfg(test)]
mod tests {
    use super::super::QUICK;
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
}
