//! What the load reads back from the application: the bucket, the two tables and the failure
//! queues, whole, to compare with what the burst must leave.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use serde::de::DeserializeOwned;
use shared::catalog::{is_tombstone, FolderStats, ObjectItem};

use super::Load;
use crate::Result;
use anyhow::{anyhow, Context};

impl Load<'_> {
    /// Every failure queue the template declares for a trigger is empty: under load nothing was
    /// given up on.
    pub(super) async fn failure_queues_are_empty(&self) -> Result<()> {
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

    /// Every object in the bucket: key and size.
    pub(super) async fn bucket_contents(&self, bucket: &str) -> Result<BTreeMap<String, u64>> {
        let s3 = shared::aws::s3_client(self.aws);
        let s3 = aws_sdk_s3::Client::from_conf(s3.config().to_builder().timeout_config(super::patient()).build());
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

    /// The objects table: key -> (size, SHA-256). Tombstones (removed objects) are no objects.
    pub(super) async fn catalog(&self) -> Result<BTreeMap<String, (u64, String)>> {
        let items: Vec<ObjectItem> = self
            .scan(self.plan.objects_table()?, |item| !is_tombstone(item))
            .await?;
        Ok(items
            .into_iter()
            .map(|item| (item.key, (item.size, item.sha256)))
            .collect())
    }

    /// The statistics table: folder -> (object count, total bytes).
    pub(super) async fn statistics(&self) -> Result<BTreeMap<String, (i64, i64)>> {
        let items: Vec<FolderStats> = self.scan(self.plan.statistics_table()?, |_| true).await?;
        Ok(items
            .into_iter()
            .map(|stats| (stats.folder, (stats.object_count, stats.total_bytes)))
            .collect())
    }

    /// The items of `table` that `keep` accepts.
    async fn scan<T: DeserializeOwned>(
        &self,
        table: &str,
        keep: impl Fn(&HashMap<String, AttributeValue>) -> bool,
    ) -> Result<Vec<T>> {
        let dynamodb = shared::aws::dynamodb_client(self.aws);
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            dynamodb.config().to_builder().timeout_config(super::patient()).build(),
        );
        let mut pages = dynamodb.scan().table_name(table).into_paginator().send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| anyhow!(shared::error::chain(&error)))?;
            let kept: Vec<_> = page
                .items
                .unwrap_or_default()
                .into_iter()
                .filter(|item| keep(item))
                .collect();
            let page: Vec<T> = serde_dynamo::from_items(kept).map_err(|error| anyhow!("{table}: {error}"))?;
            items.extend(page);
        }
        Ok(items)
    }
}
