//! The triggers, wired as AWS wires them, for every function the template gives them to: S3
//! notifications (through a local queue per function) to an asynchronous invocation with retries
//! and an on-failure queue; a table's stream in batches with batch item failures honoured; a
//! schedule. (HTTP needs no wiring: each function's runtime emulator serves its function URL.)

use std::collections::VecDeque;
use std::time::Duration;

use aws_config::SdkConfig;
use serde_json::{json, Value};
use testkit::StreamReader;

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
        max_retries: trigger.max_retries,
        failure_queue: trigger.failure_queue.clone(),
    })
}

/// How long a failed asynchronous invocation waits before its retry (Lambda waits a minute, then
/// two; a local run is in a hurry).
const ASYNC_RETRY_DELAY: Duration = Duration::from_secs(1);

/// S3 -> a function, as Lambda's asynchronous invocation does it: each event is invoked,
/// retried on failure (an error, or no answer within the function's timeout), and sent to the
/// on-failure queue after the last retry.
pub async fn deliver_s3_notifications(aws: SdkConfig, target: Target, plan: AsyncPlan, queues: Queues) {
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let url = &queues[&notifications_queue(&target.binary)];
    loop {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await;
        let Ok(received) = received else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        for message in received.messages() {
            let event: Value = serde_json::from_str(message.body().unwrap_or_default()).unwrap_or(Value::Null);
            // S3 announces a new notification configuration with a test event: not for Lambda.
            if event.get("Event").and_then(Value::as_str) != Some("s3:TestEvent") {
                let mut attempt = 0;
                loop {
                    let error = match invoke(&target, &event).await {
                        Ok((_, false)) => break,
                        Ok((error, true)) => error,
                        Err(unanswered) => json!({"errorType": "Unanswered", "errorMessage": unanswered.to_string()}),
                    };
                    if attempt >= plan.retries {
                        send_to_failure_queue(
                            &sqs,
                            &queues,
                            plan.failure_queue.as_deref(),
                            json!({"requestPayload": event, "responsePayload": error}),
                        )
                        .await;
                        break;
                    }
                    attempt += 1;
                    tokio::time::sleep(ASYNC_RETRY_DELAY).await;
                }
            }
            if let Some(receipt) = message.receipt_handle() {
                let _ = sqs.delete_message().queue_url(url).receipt_handle(receipt).send().await;
            }
        }
    }
}

/// The objects table's stream -> the consumer, as an event source mapping does it: records in
/// order, in batches; a batch's reported failures are retried from the first one, and after the
/// last retry the rest of the batch goes to the on-failure queue.
pub async fn deliver_stream_batches(aws: SdkConfig, target: Target, plan: StreamPlan, queues: Queues) {
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let mut reader = StreamReader::open(&aws, &plan.table).await;
    let mut pending: VecDeque<Value> = VecDeque::new();
    let mut attempt = 0;
    loop {
        pending.extend(reader.read().await);
        if pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        let batch: Vec<Value> = pending.iter().take(plan.batch_size).cloned().collect();
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
            let failed: Vec<Value> = pending.drain(..batch.len() - succeeded).collect();
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
