//! Phase 2 of the load: concurrent requests to the HTTP function, timed per route.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Load, HTTP_FUNCTION};
use crate::{heading, Result};
use anyhow::anyhow;
use support::http;

/// The nearest-rank percentile: the smallest value that `percent` of the sorted values do not
/// exceed.
fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

fn milliseconds(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1_000.0)
}

impl Load<'_> {
    /// Phase 2: requests to the HTTP function through its function URL, a mix of its routes,
    /// from one client and then from many at once.
    ///
    /// One instance of the function serves them, one at a time, as one Lambda instance does:
    /// the requests that arrive together queue in the runtime emulator. (cargo-lambda can run
    /// more instances, `--concurrency`, but with more than one it answered a few requests in
    /// thousands with its own 500 although the function had answered 200; on two cores more
    /// instances add no throughput either.)
    pub(super) async fn requests(&self, prefix: &str) -> Result<()> {
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
    fn percentiles_pick_from_the_sorted_values() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 99), Duration::from_millis(99));
        assert_eq!(percentile(&sorted, 100), Duration::from_millis(100));
        assert_eq!(percentile(&[], 99), Duration::ZERO);
    }
}
