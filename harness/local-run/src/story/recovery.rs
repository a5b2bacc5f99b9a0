//! The story's steps where something goes wrong on purpose, and the application recovers: a
//! stream record the consumer cannot apply is parked in the failure queue (step 7), and the drift
//! such a record leaves behind is repaired by the scheduled reconciler (step 8).

use std::time::Instant;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use super::Story;
use crate::{Result, PATIENCE};
use anyhow::{anyhow, Context};

impl Story<'_> {
    pub(super) async fn park_a_poison_record(&self, prefix: &str) -> Result<()> {
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
            .item("folder", AttributeValue::S(format!("{prefix}quarantine/")))
            .item("key", AttributeValue::S(poison.clone()))
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
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(anyhow!("{queue} received nothing within {} s", PATIENCE.as_secs()));
            }
        }
    }

    pub(super) async fn repair_drift(&self, prefix: &str) -> Result<()> {
        let statistics = self.plan.statistics_table()?;
        let ghost = format!("{prefix}ghost/");
        // Statistics for a folder that holds no object, last changed long ago: the drift a stream
        // record parked in the failure queue leaves behind.
        let number = |value: &str| AttributeValue::N(value.to_owned());
        let text = |value: &str| AttributeValue::S(value.to_owned());
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
        let (_, failed) = self
            .invoke_with_event(
                "statistics-reconciler",
                "crates/statistics-reconciler/events/scheduled.json",
                include_str!("../../../../crates/statistics-reconciler/events/scheduled.json"),
            )
            .await?;
        if failed {
            return Err(anyhow!("the reconciler failed"));
        }
        // (Its schedule also runs it every minute locally: either run repairs the folder.)
        self.wait_for_stats(&ghost, 0, 0).await
    }
}
