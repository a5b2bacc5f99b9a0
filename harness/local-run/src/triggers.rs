//! The triggers, wired as AWS wires them, for every function the template gives them to, and
//! delivering as AWS delivers (`delivery.rs`): S3 notifications (through a local queue per
//! function) to an asynchronous invocation, concurrent, at least once and out of order, with
//! retries and an on-failure queue; a table's stream in batches, late as you like, with batch item
//! failures honoured; a schedule. (HTTP needs no wiring: each function's runtime emulator serves its function URL.)

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use serde_json::{json, Value};
use testkit::StreamReader;
use tokio::sync::Semaphore;

use super::delivery::{stamp_sequencers, Delivery};
use super::resources::{notifications_queue, Queues};
use super::runtimes::{invoke, Target};
use super::Result;
use anyhow::{anyhow, Context};
use template_plan::Function;

pub struct AsyncPlan {
    retries: u32,
    failure_queue: Option<String>,
}

pub fn async_plan(function: &Function) -> AsyncPlan {
    AsyncPlan {
        retries: function.async_retries,
        failure_queue: function.async_failure_queue.clone(),
    }
}

pub struct StreamPlan {
    table: String,
    batch_size: usize,
    batching_window: Duration,
    max_retries: u32,
    failure_queue: Option<String>,
}

pub fn stream_plan(function: &Function) -> Result<StreamPlan> {
    let trigger = function
        .stream
        .as_ref()
        .with_context(|| format!("{} has no stream trigger", function.binary))?;
    if !trigger.reports_batch_item_failures {
        return Err(anyhow!("the stream trigger must declare ReportBatchItemFailures"));
    }
    Ok(StreamPlan {
        table: trigger.table.clone(),
        batch_size: trigger.batch_size,
        batching_window: trigger.batching_window,
        max_retries: trigger.max_retries,
        failure_queue: trigger.failure_queue.clone(),
    })
}

/// How long a failed asynchronous invocation waits before its retry (Lambda waits a minute, then
/// two; a local run is in a hurry).
const ASYNC_RETRY_DELAY: Duration = Duration::from_secs(1);

/// S3 -> a function, as S3 and Lambda's asynchronous invocation do it (see `delivery.rs`): each
/// event stamped with its sequencer, some delivered twice, each a little late and on any of up to
/// `delivery.concurrency` instances at once; each delivery retried on failure (an error, or no
/// answer within the function's timeout) and sent to the on-failure queue after the last retry.
pub async fn deliver_s3_notifications(
    aws: SdkConfig,
    target: Target,
    plan: AsyncPlan,
    queues: Queues,
    delivery: Delivery,
) {
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let url = queues[&notifications_queue(&target.binary)].clone();
    let invoker = Arc::new(AsyncInvoker {
        sqs: sqs.clone(),
        target,
        plan,
        queues,
        instances: Semaphore::new(delivery.concurrency),
    });
    let mut random = fastrand::Rng::with_seed(delivery.seed);
    let mut sequencer = 0;
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await;
        let Ok(received) = received else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        for message in received.messages() {
            let mut event: Value = serde_json::from_str(message.body().unwrap_or_default()).unwrap_or(Value::Null);
            // S3 announces a new notification configuration with a test event: not for Lambda.
            if event.get("Event").and_then(Value::as_str) != Some("s3:TestEvent") {
                // Stamped in the order the emulator announced the events, before any reordering.
                stamp_sequencers(&mut event, &mut sequencer);
                let twice = delivery.duplicate_one_in > 0 && random.u32(..delivery.duplicate_one_in) == 0;
                for _ in 0..if twice { 2 } else { 1 } {
                    let late = delivery.reorder_window.mul_f64(random.f64());
                    tokio::spawn(invoker.clone().deliver(event.clone(), late));
                }
            }
            // Handed over, as S3 hands an event to Lambda's own queue: from here it is the
            // invoker's to retry or park.
            if let Some(receipt) = message.receipt_handle() {
                let _ = sqs
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(receipt)
                    .send()
                    .await;
            }
        }
    }
}

/// Lambda's asynchronous invocation of one function: its instances, retries and failure queue.
struct AsyncInvoker {
    sqs: aws_sdk_sqs::Client,
    target: Target,
    plan: AsyncPlan,
    queues: Queues,
    /// One permit per instance: an event waits for a free instance, as it would for Lambda's
    /// concurrency, rather than for the runtime emulator's queue (which would count the wait
    /// against the function's timeout).
    instances: Semaphore,
}

impl AsyncInvoker {
    /// Delivers `event` after `late`, retrying as the template says.
    async fn deliver(self: Arc<Self>, event: Value, late: Duration) {
        tokio::time::sleep(late).await;
        let mut attempt = 0;
        loop {
            let invoked = {
                let Ok(_instance) = self.instances.acquire().await else {
                    return;
                };
                invoke(&self.target, &event).await
            };
            let error = match invoked {
                Ok((_, false)) => return,
                Ok((error, true)) => error,
                Err(unanswered) => json!({"errorType": "Unanswered", "errorMessage": unanswered.to_string()}),
            };
            if attempt >= self.plan.retries {
                send_to_failure_queue(
                    &self.sqs,
                    &self.queues,
                    self.plan.failure_queue.as_deref(),
                    json!({"requestPayload": event, "responsePayload": error}),
                )
                .await;
                return;
            }
            attempt += 1;
            tokio::time::sleep(ASYNC_RETRY_DELAY).await;
        }
    }
}

/// The objects table's stream -> the consumer, as an event source mapping does it: records in
/// order, one batch at a time, sent when it is full or its oldest record has waited the batching
/// window; each record seen `delivery.stream_lag` after it was written. A batch's reported
/// failures are retried from the first one, and after the last retry the rest of the batch goes
/// to the on-failure queue.
pub async fn deliver_stream_batches(
    aws: SdkConfig,
    target: Target,
    plan: StreamPlan,
    queues: Queues,
    delivery: Delivery,
) {
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let mut reader = StreamReader::open(&aws, &plan.table).await;
    // Each record with the time the mapping may first deliver it.
    let mut pending: VecDeque<(Instant, Value)> = VecDeque::new();
    let mut attempt = 0;
    loop {
        let visible_from = Instant::now() + delivery.stream_lag;
        pending.extend(reader.read().await.into_iter().map(|record| (visible_from, record)));
        let now = Instant::now();
        let visible = pending.iter().take_while(|(from, _)| *from <= now).count();
        let waited_long_enough = pending
            .front()
            .is_some_and(|(from, _)| now >= *from + plan.batching_window);
        if visible == 0 || (visible < plan.batch_size && !waited_long_enough) {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        let batch: Vec<Value> = pending
            .iter()
            .take(visible.min(plan.batch_size))
            .map(|(_, record)| record.clone())
            .collect();
        let succeeded = match invoke(&target, &json!({ "Records": batch })).await {
            Ok((response, false)) => first_failure(&batch, &response),
            _ => 0,
        };
        pending.drain(..succeeded);
        if succeeded == batch.len() {
            attempt = 0;
            continue;
        }
        attempt += 1;
        if attempt > plan.max_retries {
            let failed: Vec<Value> = pending
                .drain(..batch.len() - succeeded)
                .map(|(_, record)| record)
                .collect();
            send_to_failure_queue(&sqs, &queues, plan.failure_queue.as_deref(), json!({"records": failed})).await;
            attempt = 0;
        }
    }
}

/// How many records of `batch` succeeded: those before the first reported failure.
fn first_failure(batch: &[Value], response: &Value) -> usize {
    let reported: Vec<&str> = response["batchItemFailures"]
        .as_array()
        .map(|failures| {
            failures
                .iter()
                .filter_map(|failure| failure["itemIdentifier"].as_str())
                .collect()
        })
        .unwrap_or_default();
    batch
        .iter()
        .position(|record| reported.contains(&record["dynamodb"]["SequenceNumber"].as_str().unwrap_or_default()))
        .unwrap_or(batch.len())
}

async fn send_to_failure_queue(sqs: &aws_sdk_sqs::Client, queues: &Queues, queue: Option<&str>, body: Value) {
    if let Some(url) = queue.and_then(|queue| queues.get(queue)) {
        let _ = sqs
            .send_message()
            .queue_url(url)
            .message_body(body.to_string())
            .send()
            .await;
    }
}

/// How often a schedule fires locally: its own rate, but at least once a minute, so a local run
/// shows it working. It also fires once as soon as the run starts.
const LOCAL_SCHEDULE_CEILING: Duration = Duration::from_secs(60);

/// The interval of a `rate(...)` expression (`rate(1 hour)`, `rate(5 minutes)`); `cron(...)`
/// expressions are not run locally.
pub fn rate(expression: &str) -> Result<Duration> {
    let inner = expression
        .strip_prefix("rate(")
        .and_then(|rest| rest.strip_suffix(')'))
        .with_context(|| format!("the local run understands rate(...) schedules only, not {expression:?}"))?;
    let (count, unit) = inner
        .split_once(' ')
        .with_context(|| format!("{expression:?} is not `rate(N unit)`"))?;
    let count: u64 = count
        .parse()
        .map_err(|_| anyhow!("{expression:?}: {count:?} is not a number"))?;
    let seconds = match unit.trim_end_matches('s') {
        "minute" => 60,
        "hour" => 3_600,
        "day" => 86_400,
        other => return Err(anyhow!("{expression:?}: unknown unit {other:?}")),
    };
    Ok(Duration::from_secs(count * seconds))
}

/// An EventBridge schedule -> a function: the "Scheduled Event" EventBridge sends.
pub async fn deliver_schedule(target: Target, every: Duration) {
    let every = every.min(LOCAL_SCHEDULE_CEILING);
    loop {
        let event = json!({
            "version": "0", "id": "local-schedule", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": template_plan::ACCOUNT_ID,
            "time": "1970-01-01T00:00:00Z", "region": template_plan::REGION,
            "resources": [], "detail": {}
        });
        // Asynchronous, like EventBridge's own invocation: a failure is in the function's log.
        let _ = invoke(&target, &event).await;
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sequence_number: &str) -> Value {
        json!({"dynamodb": {"SequenceNumber": sequence_number}})
    }

    #[test]
    fn rates_read_as_durations_and_cron_is_refused() {
        assert_eq!(rate("rate(1 hour)").unwrap(), Duration::from_secs(3_600));
        assert_eq!(rate("rate(5 minutes)").unwrap(), Duration::from_secs(300));
        assert!(rate("cron(0 * * * ? *)").unwrap_err().to_string().contains("rate(...)"));
        assert!(rate("rate(2 fortnights)").is_err());
    }

    #[test]
    fn records_before_the_first_reported_failure_succeeded() {
        let batch = [record("1"), record("2"), record("3"), record("4")];
        let response = json!({"batchItemFailures": [{"itemIdentifier": "4"}, {"itemIdentifier": "2"}]});
        assert_eq!(first_failure(&batch, &response), 1);
        assert_eq!(first_failure(&batch, &json!({"batchItemFailures": []})), 4);
    }
}
