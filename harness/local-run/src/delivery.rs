//! How the local run delivers events: as AWS does, not as a kind emulator would.
//!
//! AWS promises little about delivery, and the functions are written for exactly that little:
//! - S3 sends each notification at least once, and Lambda's asynchronous invocation may run an
//!   event more than once: the put handler sees duplicates.
//! - Lambda runs as many instances of a function at once as events arrive, so events for one key
//!   are processed at the same time and finish in any order; only each event's `sequencer` (one
//!   per operation, increasing per key) says which came first.
//! - An event source mapping reads a table's stream in order per shard, one batch at a time, and
//!   waits up to its batching window for a batch to fill; a throttled or failing consumer falls
//!   behind, by minutes or hours.
//!
//! Each setting below reproduces one of these, and each can be changed for a run with an
//! environment variable (see [`Delivery::from_env`]), so that a failure seen once can be run
//! again with the same seed, or with the lag that broke it.

use std::time::Duration;

use super::Result;
use anyhow::anyhow;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Delivery {
    /// Instances of each asynchronously invoked function that may run at once
    /// (`cargo lambda watch --concurrency`).
    pub concurrency: usize,
    /// One S3 event in this many is delivered twice; 0: none.
    pub duplicate_one_in: u32,
    /// Each S3 event waits a random time up to this before it is invoked, so that events overtake
    /// one another within it.
    pub reorder_window: Duration,
    /// How long each stream record waits before the mapping may deliver it, on top of the
    /// template's batching window: a consumer that far behind.
    pub stream_lag: Duration,
    /// Seeds the random choices (which events twice, how late each one), printed at the start.
    pub seed: u64,
}

/// The settings a run starts from: a few instances, one event in ten twice, a second's
/// reordering, no extra stream lag.
const AWS_LIKE: Delivery = Delivery {
    concurrency: 4,
    duplicate_one_in: 10,
    reorder_window: Duration::from_millis(1_000),
    stream_lag: Duration::ZERO,
    seed: 0,
};

impl Delivery {
    /// [`AWS_LIKE`], with any of `LOCAL_CONCURRENCY`, `LOCAL_DUPLICATE_ONE_IN`,
    /// `LOCAL_REORDER_MS`, `LOCAL_STREAM_LAG_SECONDS` and `LOCAL_SEED` set in the environment
    /// taking its place. (`LOCAL_CONCURRENCY=1 LOCAL_DUPLICATE_ONE_IN=0 LOCAL_REORDER_MS=0` is
    /// the old, kind delivery: one event at a time, in order, once.)
    pub fn from_env() -> Result<Delivery> {
        Delivery::from_settings(|name| std::env::var(name).ok())
    }

    /// [`Delivery::from_env`], with the environment `lookup` gives.
    fn from_settings(lookup: impl Fn(&str) -> Option<String>) -> Result<Delivery> {
        let setting = |name: &str, default: u64| -> Result<u64> {
            match lookup(name) {
                Some(text) => text
                    .trim()
                    .parse()
                    .map_err(|_| anyhow!("{name}={text:?} is not a whole number")),
                None => Ok(default),
            }
        };
        let concurrency = setting("LOCAL_CONCURRENCY", AWS_LIKE.concurrency as u64)?;
        if concurrency == 0 {
            return Err(anyhow!("LOCAL_CONCURRENCY must be at least 1"));
        }
        Ok(Delivery {
            concurrency: concurrency as usize,
            duplicate_one_in: u32::try_from(setting("LOCAL_DUPLICATE_ONE_IN", u64::from(AWS_LIKE.duplicate_one_in))?)
                .map_err(|_| anyhow!("LOCAL_DUPLICATE_ONE_IN is too large"))?,
            reorder_window: Duration::from_millis(setting(
                "LOCAL_REORDER_MS",
                AWS_LIKE.reorder_window.as_millis() as u64,
            )?),
            stream_lag: Duration::from_secs(setting("LOCAL_STREAM_LAG_SECONDS", AWS_LIKE.stream_lag.as_secs())?),
            seed: setting("LOCAL_SEED", fastrand::u64(..))?,
        })
    }

    /// One line for the run's output: what this run does, and how to run it again.
    pub fn describe(&self) -> String {
        let duplicates = match self.duplicate_one_in {
            0 => "no duplicates".to_owned(),
            n => format!("1 S3 event in {n} twice"),
        };
        format!(
            "up to {} instances of each function S3 invokes, {duplicates}, reordered within {} ms, stream lag {} s \
             (LOCAL_SEED={} repeats these choices)",
            self.concurrency,
            self.reorder_window.as_millis(),
            self.stream_lag.as_secs(),
            self.seed
        )
    }
}

/// Gives each record of an S3 event the sequencer S3 would, where it has none (the emulator's
/// events carry none): the next of `next`, as 16 hex digits, so sequencers increase in the order
/// the emulator announced the events. That is each key's order of operations as long as no two
/// clients write one key at the same instant, which nothing in the local run does.
pub fn stamp_sequencers(event: &mut Value, next: &mut u64) {
    let Some(records) = event.get_mut("Records").and_then(Value::as_array_mut) else {
        return;
    };
    for record in records {
        let Some(object) = record.pointer_mut("/s3/object").and_then(Value::as_object_mut) else {
            continue;
        };
        if !object.contains_key("sequencer") {
            *next += 1;
            object.insert("sequencer".to_owned(), Value::String(format!("{:016X}", *next)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_come_from_the_environment_and_a_bad_one_is_an_error() {
        let kind = Delivery::from_settings(|name| {
            let value = match name {
                "LOCAL_CONCURRENCY" => "1",
                "LOCAL_DUPLICATE_ONE_IN" => "0",
                "LOCAL_REORDER_MS" => "0",
                "LOCAL_STREAM_LAG_SECONDS" => "30",
                "LOCAL_SEED" => "7",
                _ => return None,
            };
            Some(value.to_owned())
        })
        .unwrap();
        assert_eq!(
            (
                kind.concurrency,
                kind.duplicate_one_in,
                kind.reorder_window,
                kind.stream_lag,
                kind.seed
            ),
            (1, 0, Duration::ZERO, Duration::from_secs(30), 7)
        );
        assert!(kind.describe().contains("no duplicates") && kind.describe().contains("LOCAL_SEED=7"));
        let aws_like = Delivery::from_settings(|_| None).unwrap();
        assert_eq!((aws_like.concurrency, aws_like.duplicate_one_in), (4, 10));
        let error =
            Delivery::from_settings(|name| (name == "LOCAL_REORDER_MS").then(|| "soon".to_owned())).unwrap_err();
        assert_eq!(error.to_string(), "LOCAL_REORDER_MS=\"soon\" is not a whole number");
        assert!(Delivery::from_settings(|name| (name == "LOCAL_CONCURRENCY").then(|| "0".to_owned())).is_err());
    }

    #[test]
    fn sequencers_are_stamped_increasing_and_never_replaced() {
        let mut next = 0;
        let mut first = json!({"Records": [{"s3": {"object": {"key": "a"}}}, {"s3": {"object": {"key": "b"}}}]});
        let mut second = json!({"Records": [{"s3": {"object": {"key": "a", "sequencer": "00AB"}}}]});
        stamp_sequencers(&mut first, &mut next);
        stamp_sequencers(&mut second, &mut next);
        assert_eq!(first["Records"][0]["s3"]["object"]["sequencer"], "0000000000000001");
        assert_eq!(first["Records"][1]["s3"]["object"]["sequencer"], "0000000000000002");
        assert_eq!(second["Records"][0]["s3"]["object"]["sequencer"], "00AB");
        // Not an S3 event (the test event S3 sends first): left as it is.
        let mut test_event = json!({"Event": "s3:TestEvent"});
        stamp_sequencers(&mut test_event, &mut next);
        assert_eq!(test_event, json!({"Event": "s3:TestEvent"}));
    }
}
