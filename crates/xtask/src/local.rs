//! The local run: resources, functions, triggers and the story.

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, StreamSpecification,
    StreamViewType,
};
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration,
    S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{json, Value};
use testkit::{free_port, Emulator, StreamReader};

use crate::template::{self, Function, Plan};
use crate::{http, logs};

/// The queue the bucket's notifications go to locally; in AWS, S3 invokes the function directly.
const NOTIFICATIONS_QUEUE: &str = "LocalS3Notifications";
/// How long a step may wait for the asynchronous triggers to catch up.
const PATIENCE: Duration = Duration::from_secs(60);

type Result<T> = std::result::Result<T, String>;

pub async fn run(keep: bool) -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let template_text =
        std::fs::read_to_string(root.join("template.yaml")).map_err(|error| format!("template.yaml: {error}"))?;
    let plan = template::plan(&template_text)?;
    let logs = root.join("target/local/logs");
    std::fs::create_dir_all(&logs).map_err(|error| format!("{}: {error}", logs.display()))?;

    heading("Building the functions (the first build compiles the AWS SDK: a few minutes)");
    for function in &plan.functions {
        // `-p`: each function alone, with only the features it asks for. `cargo lambda watch -p`
        // below runs the very same build, so it finds it up to date and starts at once. (Built
        // from the workspace root without `-p`, cargo would merge the features of every member
        // into each function and compile it a second, different way.) No `--quiet`: the first
        // build takes minutes and cargo's progress shows it is moving.
        run_command(
            Command::new("cargo")
                .args(["build", "-p", &function.binary])
                .current_dir(&root),
        )?;
    }

    heading("Starting the local AWS emulator and creating what template.yaml declares");
    let started = Instant::now();
    let emulator = Emulator::start();
    let aws = emulator.sdk_config();
    println!("emulator: {}", emulator.endpoint());
    let queues = create_resources(&aws, &plan).await?;
    println!("ready in {} ms", started.elapsed().as_millis());

    heading("Starting each function under its own cargo lambda watch");
    let mut runtimes = Runtimes::default();
    for function in &plan.functions {
        // Each function sees only its own environment, as in AWS.
        let mut environment: BTreeMap<String, String> =
            emulator.env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        environment.extend(function.environment.clone());
        let runtime = FunctionRuntime::start(&root, &logs, &function.binary, &environment)?;
        println!(
            "{:<26} http://127.0.0.1:{}  (logs: target/local/logs/{}.log)",
            function.binary, runtime.port, function.binary
        );
        runtimes.0.insert(function.binary.clone(), runtime);
    }

    let function = |binary: &str| plan.functions.iter().find(|function| function.binary == binary);
    let put_handler = function("s3-put-handler").ok_or("template.yaml has no s3-put-handler")?;
    let consumer = function("dynamodb-stream-consumer").ok_or("template.yaml has no dynamodb-stream-consumer")?;
    let s3_trigger = tokio::spawn(deliver_s3_notifications(
        aws.clone(),
        runtimes.port(&put_handler.binary)?,
        put_handler_plan(put_handler),
        queues.clone(),
    ));
    let stream_trigger = tokio::spawn(deliver_stream_batches(
        aws.clone(),
        runtimes.port(&consumer.binary)?,
        stream_plan(consumer)?,
        queues.clone(),
    ));

    let story = Story {
        aws: &aws,
        plan: &plan,
        runtimes: &runtimes,
        root: &root,
    };
    let outcome = story.tell().await;
    if outcome.is_ok() && keep {
        let api = story.api("");
        println!("\nStill running; Ctrl-C stops everything. In another terminal:");
        for (name, value) in emulator.env() {
            println!("  export {name}={value}");
        }
        println!(
            "  export AWS_DEFAULT_REGION={}   # for boto3\n  API={api}",
            template::REGION
        );
        println!("  curl -s $API/stats");
        println!("  curl -s -X POST $API/uploads -H 'content-type: application/json' -d '{{\"key\": \"notes/today.txt\", \"content_type\": \"text/plain\"}}'");
        std::future::pending::<()>().await;
    }
    s3_trigger.abort();
    stream_trigger.abort();
    outcome
}

fn heading(text: &str) {
    println!("\n==> {text}");
}

/// Runs a command to completion; an error names it and how it ended.
pub fn run_command(command: &mut Command) -> Result<()> {
    let status = command.status().map_err(|error| format!("{command:?}: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed: {status}"))
    }
}

/// Local queue name -> URL, for every queue.
type Queues = BTreeMap<String, String>;

async fn create_resources(aws: &SdkConfig, plan: &Plan) -> Result<Queues> {
    let s3 = shared::aws::s3_client(aws);
    let dynamodb = shared::aws::dynamodb_client(aws);
    let sqs = aws_sdk_sqs::Client::new(aws);

    let mut queues = Queues::new();
    for name in plan.queues.iter().map(String::as_str).chain([NOTIFICATIONS_QUEUE]) {
        let output = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .map_err(|error| aws_error(&format!("queue {name}"), &error))?;
        queues.insert(name.to_owned(), output.queue_url().unwrap_or_default().to_owned());
        println!("queue    {name}");
    }
    for table in &plan.tables {
        let mut request = dynamodb
            .create_table()
            .table_name(&table.name)
            .billing_mode(BillingMode::PayPerRequest);
        for (attribute, key_type) in &table.keys {
            let element = KeySchemaElement::builder()
                .attribute_name(attribute)
                .key_type(KeyType::from(key_type.as_str()));
            request = request.key_schema(element.build().map_err(|error| aws_error("key schema", &error))?);
        }
        for (attribute, kind) in &table.attributes {
            let definition = AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::from(kind.as_str()));
            request =
                request.attribute_definitions(definition.build().map_err(|error| aws_error("attribute", &error))?);
        }
        if let Some(view) = &table.stream_view {
            let stream = StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view.as_str()));
            request = request.stream_specification(stream.build().map_err(|error| aws_error("stream", &error))?);
        }
        request
            .send()
            .await
            .map_err(|error| aws_error(&format!("table {}", table.name), &error))?;
        let keys: Vec<String> = table.keys.iter().map(|(name, kind)| format!("{name} {kind}")).collect();
        let stream = table
            .stream_view
            .as_deref()
            .map(|view| format!(", stream {view}"))
            .unwrap_or_default();
        println!("table    {} ({}{stream})", table.name, keys.join(", "));
    }
    let notifications_url = &queues[NOTIFICATIONS_QUEUE];
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(notifications_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|error| aws_error("queue arn", &error))?;
    let queue_arn = attributes
        .attributes()
        .and_then(|map| map.get(&QueueAttributeName::QueueArn))
        .cloned()
        .unwrap_or_default();
    for bucket in &plan.buckets {
        s3.create_bucket()
            .bucket(&bucket.name)
            .send()
            .await
            .map_err(|error| aws_error(&format!("bucket {}", bucket.name), &error))?;
        println!("bucket   {}", bucket.name);
        let mut configuration = NotificationConfiguration::builder();
        for (event, prefix, function) in &bucket.notifications {
            // S3 can only reach a Lambda function in AWS; locally its notification goes to a
            // queue that this runner drains into the function, with the same filter.
            let filter = NotificationConfigurationFilter::builder()
                .key(
                    S3KeyFilter::builder()
                        .filter_rules(FilterRule::builder().name(FilterRuleName::Prefix).value(prefix).build())
                        .build(),
                )
                .build();
            let queue = QueueConfiguration::builder()
                .queue_arn(&queue_arn)
                .events(Event::from(event.as_str()))
                .filter(filter);
            configuration =
                configuration.queue_configurations(queue.build().map_err(|error| aws_error("notification", &error))?);
            println!("         notifies {function} of {event} under {prefix}");
        }
        s3.put_bucket_notification_configuration()
            .bucket(&bucket.name)
            .notification_configuration(configuration.build())
            .send()
            .await
            .map_err(|error| aws_error("bucket notification", &error))?;
    }
    Ok(queues)
}

fn aws_error(what: &str, error: &dyn std::error::Error) -> String {
    format!("{what}: {}", shared::error::chain(error))
}

/// Every function's runtime emulator, by binary name.
#[derive(Default)]
struct Runtimes(BTreeMap<String, FunctionRuntime>);

impl Runtimes {
    fn port(&self, binary: &str) -> Result<u16> {
        self.0
            .get(binary)
            .map(|runtime| runtime.port)
            .ok_or_else(|| format!("no function named {binary} is running"))
    }
}

/// One function under `cargo lambda watch -p <binary>`, stopped (with the function it started)
/// on drop.
///
/// One watch per function rather than one for the whole workspace: at the workspace root,
/// `cargo lambda watch` runs `cargo run --bin <binary>`, which compiles each function with the
/// features of every workspace member merged in. With `-p` it compiles exactly what
/// `cargo build -p` and `sam build` compile.
struct FunctionRuntime {
    child: Child,
    port: u16,
}

impl FunctionRuntime {
    fn start(
        root: &Path,
        logs: &Path,
        binary: &str,
        environment: &BTreeMap<String, String>,
    ) -> Result<FunctionRuntime> {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let log_name = format!("{binary}.log");
        let log = std::fs::File::create(logs.join(&log_name)).map_err(|error| format!("{log_name}: {error}"))?;
        let log_too = log.try_clone().map_err(|error| format!("{log_name}: {error}"))?;
        let child = Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--quiet",
                "--package",
                binary,
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
            ])
            .current_dir(root)
            .envs(environment)
            // Its own process group, so that stopping it stops the functions it started too.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_too)
            .spawn()
            .map_err(|error| format!("starting cargo lambda watch: {error}"))?;
        let runtime = FunctionRuntime { child, port };
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if Instant::now() > deadline {
                return Err(format!(
                    "cargo lambda watch did not start; see target/local/logs/{log_name}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(runtime)
    }
}

impl Drop for FunctionRuntime {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["--", &group]).status();
        let _ = self.child.wait();
    }
}

/// Invokes a function through the runtime emulator, as Lambda's Invoke API would.
async fn invoke(port: u16, binary: &str, payload: &Value) -> Result<(Value, bool)> {
    let url = format!("http://127.0.0.1:{port}/2015-03-31/functions/{binary}/invocations");
    let answer = http::send(
        "POST",
        &url,
        &[("content-type", "application/json")],
        payload.to_string().into_bytes(),
    )
    .await?;
    let body = serde_json::from_str(&answer.body).unwrap_or(Value::String(answer.body));
    Ok((body, answer.function_error || answer.status >= 400))
}

struct AsyncPlan {
    binary: String,
    retries: u32,
    failure_queue: Option<String>,
}

fn put_handler_plan(function: &Function) -> AsyncPlan {
    AsyncPlan {
        binary: function.binary.clone(),
        retries: function.async_retries,
        failure_queue: function.async_failure_queue.clone(),
    }
}

struct StreamPlan {
    binary: String,
    table: String,
    batch_size: usize,
    max_retries: u32,
    failure_queue: Option<String>,
}

fn stream_plan(function: &Function) -> Result<StreamPlan> {
    let trigger = function
        .stream
        .as_ref()
        .ok_or(format!("{} has no stream trigger", function.binary))?;
    if !trigger.reports_batch_item_failures {
        return Err("the stream trigger must declare ReportBatchItemFailures".to_owned());
    }
    Ok(StreamPlan {
        binary: function.binary.clone(),
        table: trigger.table.clone(),
        batch_size: trigger.batch_size,
        max_retries: trigger.max_retries,
        failure_queue: trigger.failure_queue.clone(),
    })
}

/// S3 -> the put handler, as Lambda's asynchronous invocation does it: each event is invoked,
/// retried on failure, and sent to the on-failure queue after the last retry.
async fn deliver_s3_notifications(aws: SdkConfig, port: u16, plan: AsyncPlan, queues: Queues) {
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let url = &queues[NOTIFICATIONS_QUEUE];
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
                    match invoke(port, &plan.binary, &event).await {
                        Ok((_, false)) => break,
                        Ok((error, true)) if attempt >= plan.retries => {
                            send_to_failure_queue(
                                &sqs,
                                &queues,
                                plan.failure_queue.as_deref(),
                                json!({"requestPayload": event, "responsePayload": error}),
                            )
                            .await;
                            break;
                        }
                        _ => attempt += 1,
                    }
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
async fn deliver_stream_batches(aws: SdkConfig, port: u16, plan: StreamPlan, queues: Queues) {
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
        let succeeded = match invoke(port, &plan.binary, &json!({ "Records": batch })).await {
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

/// The workshop story, step by step, each checked.
struct Story<'a> {
    aws: &'a SdkConfig,
    plan: &'a Plan,
    runtimes: &'a Runtimes,
    root: &'a Path,
}

/// The files the story uploads: (key under the prefix, content type, content).
const FILES: [(&str, &str, &str); 3] = [
    ("reports/Q3 report + notes.txt", "text/plain", "hello, world"),
    ("reports/summary.csv", "text/csv", "quarter,revenue\nQ3,42\n"),
    ("photos/café.jpg", "image/jpeg", "not really a jpeg"),
];

impl Story<'_> {
    fn api(&self, path: &str) -> String {
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
            .map_err(|error| format!("step {number} ({title}): {error}"))?;
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
                return Err(format!(
                    "GET {path} still answers {status} {body} after {} s",
                    PATIENCE.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The objects table: the one with a stream.
    fn objects_table(&self) -> Result<&str> {
        let table = self
            .plan
            .tables
            .iter()
            .find(|table| table.stream_view.is_some())
            .ok_or("no streamed table")?;
        Ok(&table.name)
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

    async fn tell(&self) -> Result<()> {
        let prefix = self
            .plan
            .functions
            .iter()
            .find_map(|function| function.environment.get("UPLOAD_PREFIX"))
            .cloned()
            .unwrap_or_default();
        let bucket = self
            .plan
            .buckets
            .first()
            .map(|bucket| bucket.name.clone())
            .unwrap_or_default();
        let reports = format!("{prefix}reports/");

        self.step(1, "List the account's buckets with s3-list-buckets", async {
            let event: Value = serde_json::from_str(include_str!("../../s3-list-buckets/events/scheduled.json"))
                .map_err(|e| e.to_string())?;
            let port = self.runtimes.port("s3-list-buckets")?;
            println!(
                "    $ cargo lambda invoke -A 127.0.0.1 -P {port} s3-list-buckets --data-file crates/s3-list-buckets/events/scheduled.json"
            );
            let (answer, failed) = invoke(port, "s3-list-buckets", &event).await?;
            println!("    {answer}");
            let expected = format!("[\"{bucket}\"]");
            if failed || answer["statusCode"] != 200 || answer["body"] != expected.as_str() {
                return Err(format!("expected the body {expected}"));
            }
            Ok(())
        })
        .await?;

        let mut urls = Vec::new();
        self.step(2, "Ask the HTTP API for upload URLs (POST /uploads)", async {
            let (status, health) = self.get("/health").await?;
            println!("    $ curl $API/health\n    {status} {health}");
            if status != 200 {
                return Err("the API is not healthy".to_owned());
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
                        return Err(format!(
                            "expected 201 with a URL, got {} {}",
                            answer.status, answer.body
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
                        return Err(format!("the upload of {key} was refused: {}", answer.body));
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
                        return Err(format!("{key} was indexed with the wrong size: {item}"));
                    }
                }
                let (status, page) = self
                    .get(&format!("/objects?folder={}&limit=10", encode_path(&reports)))
                    .await?;
                let listed = page["items"].as_array().map(Vec::len).unwrap_or_default();
                println!("    $ curl '$API/objects?folder={reports}&limit=10'\n    {status}, {listed} items");
                if status != 200 || listed != 2 {
                    return Err(format!("expected the 2 reports, got {status} {page}"));
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
                    .map_err(|error| shared::error::chain(&error))?;
                println!("    $ aws s3 rm s3://{bucket}/{key}");
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
                let objects = self.objects_table()?;
                let consumer = self
                    .plan
                    .functions
                    .iter()
                    .find_map(|function| function.stream.as_ref())
                    .ok_or("no stream trigger")?;
                let queue = consumer
                    .failure_queue
                    .as_deref()
                    .ok_or("the stream trigger has no on-failure queue")?;
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
                    .map_err(|error| shared::error::chain(&error))?;
                println!("    wrote an item that is not an object item: {poison}");
                let sqs = aws_sdk_sqs::Client::new(self.aws);
                let url = sqs
                    .get_queue_url()
                    .queue_name(queue)
                    .send()
                    .await
                    .map_err(|error| shared::error::chain(&error))?;
                let url = url.queue_url().unwrap_or_default().to_owned();
                let deadline = Instant::now() + PATIENCE;
                loop {
                    let received = sqs.receive_message().queue_url(&url).wait_time_seconds(1).send().await;
                    let received = received.map_err(|error| shared::error::chain(&error))?;
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
                        return Err(format!("{queue} received nothing within {} s", PATIENCE.as_secs()));
                    }
                }
                Ok(())
            },
        )
        .await?;

        self.step(8, "Each function's logs, and the metrics in them", async {
            for function in &self.plan.functions {
                let log = format!("target/local/logs/{}.log", function.binary);
                let text = std::fs::read_to_string(self.root.join(&log)).map_err(|error| format!("{log}: {error}"))?;
                let needle = format!("\"function_name\":\"{}\"", function.binary);
                let lines = text.lines().filter(|line| line.contains(&needle)).count();
                println!("    {:<26} {lines:>3} JSON lines in {log}", function.binary);
                if lines == 0 {
                    return Err(format!("{} logged nothing", function.binary));
                }
                // What CloudWatch would make of the function's Embedded Metric Format lines.
                let totals = logs::metric_totals(&text);
                let shown: Vec<String> = totals.iter().map(|(name, total)| format!("{name} {total}")).collect();
                println!("    {:<26} metrics: {}", "", shown.join(", "));
                if !totals.get("ColdStart").is_some_and(|count| count.sum >= 1.0) || totals.len() < 2 {
                    return Err(format!(
                        "{} must report one ColdStart and its own metrics, got {totals:?}",
                        function.binary
                    ));
                }
            }
            println!("    read one: cargo xtask logs s3-put-handler");
            Ok(())
        })
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

    fn record(sequence_number: &str) -> Value {
        json!({"dynamodb": {"SequenceNumber": sequence_number}})
    }

    #[test]
    fn records_before_the_first_reported_failure_succeeded() {
        let batch = [record("1"), record("2"), record("3"), record("4")];
        let response = json!({"batchItemFailures": [{"itemIdentifier": "4"}, {"itemIdentifier": "2"}]});
        assert_eq!(first_failure(&batch, &response), 1);
        assert_eq!(first_failure(&batch, &json!({"batchItemFailures": []})), 4);
    }

    #[test]
    fn keys_are_percent_encoded_between_their_slashes() {
        assert_eq!(
            encode_path("uploads/reports/Q3 report + notes.txt"),
            "uploads/reports/Q3%20report%20%2B%20notes.txt"
        );
        assert_eq!(encode_path("uploads/photos/café.jpg"), "uploads/photos/caf%C3%A9.jpg");
    }

    #[tokio::test]
    async fn the_emulator_holds_what_the_template_declares() {
        let plan = template::plan(include_str!("../../../template.yaml")).unwrap();
        let emulator = Emulator::start();
        let aws = emulator.sdk_config();
        create_resources(&aws, &plan).await.unwrap();

        let dynamodb = shared::aws::dynamodb_client(&aws);
        for table in &plan.tables {
            let described = dynamodb.describe_table().table_name(&table.name).send().await.unwrap();
            let described = described.table().unwrap();
            let keys: Vec<(String, String)> = described
                .key_schema()
                .iter()
                .map(|key| (key.attribute_name().to_owned(), key.key_type().as_str().to_owned()))
                .collect();
            assert_eq!(keys, table.keys, "{}", table.name);
            let view = described
                .stream_specification()
                .and_then(|stream| stream.stream_view_type())
                .map(|view| view.as_str().to_owned());
            assert_eq!(view, table.stream_view, "{}", table.name);
        }
        let s3 = shared::aws::s3_client(&aws);
        let bucket = &plan.buckets[0];
        let notifications = s3
            .get_bucket_notification_configuration()
            .bucket(&bucket.name)
            .send()
            .await
            .unwrap();
        let rules: Vec<String> = notifications
            .queue_configurations()
            .iter()
            .flat_map(|queue| {
                queue
                    .filter()
                    .and_then(|filter| filter.key())
                    .map(|key| key.filter_rules().to_vec())
                    .unwrap_or_default()
            })
            .filter_map(|rule| rule.value().map(str::to_owned))
            .collect();
        assert_eq!(rules, ["uploads/", "uploads/"]);
        let sqs = aws_sdk_sqs::Client::new(&aws);
        for queue in &plan.queues {
            sqs.get_queue_url().queue_name(queue).send().await.unwrap();
        }
    }
}
