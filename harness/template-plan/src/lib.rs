//! Reads `template.yaml` and works out what the stack would hold, with local names: the buckets,
//! tables and queues to create in the emulator, each function's environment, and how each
//! function is triggered. The template is the one description of the application; nothing here
//! repeats a name, a key or a setting from it.

use std::collections::BTreeMap;

mod resolver;

use anyhow::{anyhow, Context, Result};
use resolver::Resolver;
use serde_norway::Value;

/// Stand-ins for CloudFormation's pseudo parameters.
pub const STACK_NAME: &str = "upload-catalog";
pub const ACCOUNT_ID: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// Everything the local run creates and wires, read from the template.
#[derive(Debug, Default)]
pub struct Plan {
    pub buckets: Vec<Bucket>,
    pub tables: Vec<Table>,
    /// Queue names.
    pub queues: Vec<String>,
    pub functions: Vec<Function>,
}

/// What the local story and the load look up in the plan, by what it is rather than by name.
impl Plan {
    /// The upload prefix the functions are given (`UPLOAD_PREFIX`).
    pub fn upload_prefix(&self) -> String {
        self.functions
            .iter()
            .find_map(|function| function.environment.get("UPLOAD_PREFIX"))
            .cloned()
            .unwrap_or_default()
    }

    /// The uploads bucket: the template's one bucket.
    pub fn uploads_bucket(&self) -> Result<&str> {
        let bucket = self.buckets.first().context("the template declares no bucket")?;
        Ok(&bucket.name)
    }

    /// The objects table: the one with a stream.
    pub fn objects_table(&self) -> Result<&str> {
        let table = self
            .tables
            .iter()
            .find(|table| table.stream_view.is_some())
            .context("no streamed table")?;
        Ok(&table.name)
    }

    /// The statistics table, as the functions are told its name (`STATISTICS_TABLE_NAME`).
    pub fn statistics_table(&self) -> Result<&str> {
        self.functions
            .iter()
            .find_map(|function| function.environment.get("STATISTICS_TABLE_NAME"))
            .map(String::as_str)
            .context("no function names the statistics table")
    }
}

#[derive(Debug)]
pub struct Bucket {
    pub name: String,
    /// (S3 event, key prefix, the function's binary) for each Lambda notification.
    pub notifications: Vec<(String, String, String)>,
    /// Its CORS rule for browsers' uploads, without the origins: those depend on where the page
    /// is served from (locally, loopback).
    pub cors: Option<Cors>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Cors {
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub exposed: Vec<String>,
    pub max_age_seconds: i32,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    /// (attribute, HASH or RANGE), in the template's order.
    pub keys: Vec<(String, String)>,
    /// (attribute, S, N or B).
    pub attributes: Vec<(String, String)>,
    pub stream_view: Option<String>,
}

#[derive(Debug)]
pub struct Function {
    /// The resource's name in the template; `sam build` puts its artifact in `.aws-sam/build/<it>/`.
    pub logical_id: String,
    pub binary: String,
    /// The folder `sam build` builds the function in; only its test reads it (the local run
    /// builds with `cargo build -p`, which selects the same single crate).
    #[allow(dead_code)]
    pub code_uri: String,
    pub environment: BTreeMap<String, String>,
    /// `Timeout`, its own or the template's `Globals` (Lambda's default, 3 s, without either).
    pub timeout: std::time::Duration,
    /// `MemorySize` in MB, its own or the template's `Globals` (Lambda's default, 128, without either).
    pub memory_mb: u32,
    /// Asynchronous invocations: retries after the first attempt, and the on-failure queue.
    pub async_retries: u32,
    pub async_failure_queue: Option<String>,
    pub stream: Option<StreamTrigger>,
    /// The expressions of its `Schedule` events (`rate(1 hour)`).
    pub schedules: Vec<String>,
}

#[derive(Debug)]
pub struct StreamTrigger {
    pub table: String,
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds`: how long records wait for a batch to fill.
    pub batching_window: std::time::Duration,
    pub max_retries: u32,
    pub failure_queue: Option<String>,
    pub reports_batch_item_failures: bool,
}

/// Reads the plan from the template's text.
pub fn plan(template: &str) -> Result<Plan> {
    let template: Value = serde_norway::from_str(template).map_err(|error| anyhow!("template.yaml: {error}"))?;
    let resources = template["Resources"]
        .as_mapping()
        .context("template.yaml has no Resources")?;
    let resolver = Resolver { template: &template };
    let mut plan = Plan::default();
    let mut stream_mappings = Vec::new();
    for (logical_id, resource) in resources {
        let logical_id = logical_id.as_str().context("a resource id is not a string")?;
        let properties = &resource["Properties"];
        match resource["Type"].as_str() {
            Some("AWS::S3::Bucket") => {
                let mut notifications = Vec::new();
                if let Some(configurations) =
                    properties["NotificationConfiguration"]["LambdaConfigurations"].as_sequence()
                {
                    for configuration in configurations {
                        let function = resolver.function_of(&configuration["Function"])?;
                        let prefix = configuration["Filter"]["S3Key"]["Rules"]
                            .as_sequence()
                            .and_then(|rules| rules.iter().find(|rule| rule["Name"].as_str() == Some("prefix")))
                            .map(|rule| resolver.string(&rule["Value"]))
                            .transpose()?
                            .unwrap_or_default();
                        notifications.push((resolver.string(&configuration["Event"])?, prefix, function));
                    }
                }
                let rule = &properties["CorsConfiguration"]["CorsRules"][0];
                let strings = |list: &Value| -> Vec<String> {
                    list.as_sequence()
                        .into_iter()
                        .flatten()
                        .filter_map(|item| item.as_str().map(str::to_owned))
                        .collect()
                };
                let cors = rule.is_mapping().then(|| Cors {
                    methods: strings(&rule["AllowedMethods"]),
                    headers: strings(&rule["AllowedHeaders"]),
                    exposed: strings(&rule["ExposedHeaders"]),
                    max_age_seconds: rule["MaxAge"]
                        .as_i64()
                        .and_then(|age| i32::try_from(age).ok())
                        .unwrap_or(0),
                });
                plan.buckets.push(Bucket {
                    name: resolver.reference(logical_id)?,
                    notifications,
                    cors,
                });
            }
            Some("AWS::DynamoDB::Table") => {
                let pairs = |list: &Value, first: &str, second: &str| -> Vec<(String, String)> {
                    list.as_sequence()
                        .map(|items| {
                            items
                                .iter()
                                .filter_map(|item| {
                                    Some((item[first].as_str()?.to_owned(), item[second].as_str()?.to_owned()))
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                };
                plan.tables.push(Table {
                    name: resolver.reference(logical_id)?,
                    keys: pairs(&properties["KeySchema"], "AttributeName", "KeyType"),
                    attributes: pairs(&properties["AttributeDefinitions"], "AttributeName", "AttributeType"),
                    stream_view: properties["StreamSpecification"]["StreamViewType"]
                        .as_str()
                        .map(str::to_owned),
                });
            }
            Some("AWS::SQS::Queue") => plan.queues.push(logical_id.to_owned()),
            Some("AWS::Lambda::EventSourceMapping") => stream_mappings.push(properties),
            Some("AWS::Serverless::Function") => plan.functions.push(resolver.function(logical_id, resource)?),
            _ => {}
        }
    }
    for properties in stream_mappings {
        let function = resolver.string(&properties["FunctionName"])?;
        let trigger = resolver.stream_trigger(properties, &properties["EventSourceArn"])?;
        plan.functions
            .iter_mut()
            .find(|candidate| candidate.logical_id == function)
            .with_context(|| format!("an event source mapping names {function}, which is not a function"))?
            .stream = Some(trigger);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_is_read_and_an_event_type_the_local_run_cannot_wire_is_an_error() {
        let function = |events: &str| {
            format!(
                "Resources:\n  Reconciler:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildProperties:\n        Binary: reconciler\n    Properties:\n      CodeUri: crates/reconciler\n      Events:\n{events}"
            )
        };
        let scheduled = plan(&function(
            "        Hourly:\n          Type: Schedule\n          Properties:\n            Schedule: rate(1 hour)\n",
        ))
        .unwrap();
        assert_eq!(scheduled.functions[0].schedules, ["rate(1 hour)"]);
        let queued = plan(&function(
            "        Jobs:\n          Type: SQS\n          Properties:\n            Queue: arn\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            queued.contains("\"Jobs\" of type Some(\"SQS\") is not wired"),
            "{queued}"
        );
    }

    #[test]
    fn a_conditional_variable_takes_the_branch_of_the_parameters_defaults() {
        let template = |default: &str| {
            format!(
                "Parameters:\n  Door:\n    Type: String\n    Default: \"{default}\"\nConditions:\n  Open: !Equals [!Ref Door, \"true\"]\n  Shut: !Not [!Condition Open]\nResources:\n  Api:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildProperties:\n        Binary: api\n    Properties:\n      CodeUri: crates/api\n      Environment:\n        Variables:\n          FOLDER: !If [Open, demo/, !Ref AWS::NoValue]\n          SHUT: !If [Shut, \"yes\", \"no\"]\n"
            )
        };
        let shut = plan(&template("false")).unwrap();
        assert_eq!(shut.functions[0].environment.get("FOLDER"), None);
        assert_eq!(shut.functions[0].environment["SHUT"], "yes");
        let open = plan(&template("true")).unwrap();
        assert_eq!(open.functions[0].environment["FOLDER"], "demo/");
        assert_eq!(open.functions[0].environment["SHUT"], "no");
    }
}
