//! CloudFormation's intrinsic functions (`!Ref`, `!GetAtt`, `!Sub`, `!Join`) and pseudo
//! parameters resolved to the names the local run gives things, and the parts of a function's
//! resource the plan reads through them (its binary, events, destinations).

use std::collections::BTreeMap;

use anyhow::{anyhow, Context, Result};
use serde_norway::Value;

use crate::{Function, StreamTrigger, ACCOUNT_ID, REGION, STACK_NAME};

pub(crate) struct Resolver<'a> {
    pub(crate) template: &'a Value,
}

impl Resolver<'_> {
    /// The local physical name `Ref` gives for a resource or parameter.
    pub(crate) fn reference(&self, name: &str) -> Result<String> {
        match name {
            "AWS::StackName" => return Ok(STACK_NAME.to_owned()),
            "AWS::AccountId" => return Ok(ACCOUNT_ID.to_owned()),
            "AWS::Region" => return Ok(REGION.to_owned()),
            "AWS::Partition" => return Ok("aws".to_owned()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".to_owned()),
            _ => {}
        }
        if let Some(parameter) = self.template["Parameters"].get(name) {
            return match &parameter["Default"] {
                Value::String(value) => Ok(value.clone()),
                Value::Number(value) => Ok(value.to_string()),
                _ => Err(anyhow!("parameter {name} has no default")),
            };
        }
        let resource = self.template["Resources"]
            .get(name)
            .with_context(|| format!("Ref to unknown {name}"))?;
        match resource["Type"].as_str() {
            // A bucket with a BucketName has that name; everything else is named after its id.
            Some("AWS::S3::Bucket") if !resource["Properties"]["BucketName"].is_null() => {
                self.string(&resource["Properties"]["BucketName"])
            }
            _ => Ok(name.to_owned()),
        }
    }

    /// `Fn::GetAtt` for the attributes the template uses.
    fn attribute(&self, name: &str, attribute: &str) -> Result<String> {
        let local = self.reference(name)?;
        Ok(match attribute {
            "Arn" if self.type_of(name) == Some("AWS::SQS::Queue") => {
                format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{local}")
            }
            "Arn" if self.type_of(name) == Some("AWS::S3::Bucket") => format!("arn:aws:s3:::{local}"),
            "Arn" => format!("arn:aws:local:{REGION}:{ACCOUNT_ID}:{local}"),
            other => format!("{local}.{other}"),
        })
    }

    fn type_of(&self, name: &str) -> Option<&str> {
        self.template["Resources"].get(name)?["Type"].as_str()
    }

    /// A property's value with CloudFormation's short-form functions resolved.
    pub(crate) fn string(&self, value: &Value) -> Result<String> {
        match value {
            Value::String(text) => Ok(text.clone()),
            Value::Number(number) => Ok(number.to_string()),
            Value::Bool(flag) => Ok(flag.to_string()),
            Value::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                let inner = &tagged.value;
                match tag.trim_start_matches('!') {
                    "Ref" => {
                        let name = inner.as_str().context("!Ref takes a name")?;
                        let local = self.reference(name)?;
                        // A queue's Ref is its URL. The emulator reads the queue's name from the
                        // URL's last segment and answers at the SDK's endpoint, so AWS's form works.
                        Ok(match self.type_of(name) {
                            Some("AWS::SQS::Queue") => {
                                format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{local}")
                            }
                            _ => local,
                        })
                    }
                    "GetAtt" => {
                        let text = inner.as_str().context("!GetAtt takes Name.Attribute")?;
                        let (name, attribute) = text.split_once('.').context("!GetAtt takes Name.Attribute")?;
                        self.attribute(name, attribute)
                    }
                    "Sub" => self.substitute(inner.as_str().context("!Sub with a variable map is not used here")?),
                    "Join" => {
                        let parts = inner.as_sequence().context("!Join takes [delimiter, list]")?;
                        let delimiter = parts.first().and_then(Value::as_str).unwrap_or_default();
                        let list = self.list(parts.get(1).context("!Join takes [delimiter, list]")?)?;
                        Ok(list.join(delimiter))
                    }
                    other => Err(anyhow!("!{other} is not supported locally")),
                }
            }
            other => Err(anyhow!("cannot read {other:?} as a string")),
        }
    }

    /// A value that may be `!If [Condition, then, else]`: the branch the parameters' defaults
    /// choose (the local run deploys the defaults), `None` where that is `!Ref AWS::NoValue`.
    pub(crate) fn optional_string(&self, value: &Value) -> Result<Option<String>> {
        let Value::Tagged(tagged) = value else {
            return Ok(Some(self.string(value)?));
        };
        match tagged.tag.to_string().trim_start_matches('!') {
            "If" => {
                let parts = tagged
                    .value
                    .as_sequence()
                    .context("!If takes [condition, then, else]")?;
                let [condition, then, otherwise] = parts.as_slice() else {
                    return Err(anyhow!("!If takes [condition, then, else]"));
                };
                let name = condition.as_str().context("!If names its condition")?;
                let chosen = if self.condition(name)? { then } else { otherwise };
                self.optional_string(chosen)
            }
            "Ref" if tagged.value.as_str() == Some("AWS::NoValue") => Ok(None),
            _ => Ok(Some(self.string(value)?)),
        }
    }

    /// A condition of the template's `Conditions`, with the parameters' defaults.
    fn condition(&self, name: &str) -> Result<bool> {
        let condition = self.template["Conditions"]
            .get(name)
            .with_context(|| format!("unknown condition {name}"))?;
        self.holds(condition)
    }

    fn holds(&self, condition: &Value) -> Result<bool> {
        let Value::Tagged(tagged) = condition else {
            return Err(anyhow!("a condition must be !Equals, !Not or !Condition"));
        };
        let operands = tagged.value.as_sequence();
        match (
            tagged.tag.to_string().trim_start_matches('!'),
            operands.map(Vec::as_slice),
        ) {
            ("Equals", Some([left, right])) => Ok(self.string(left)? == self.string(right)?),
            ("Not", Some([inner])) => Ok(!self.holds(inner)?),
            ("Condition", _) => self.condition(tagged.value.as_str().context("!Condition takes a name")?),
            (other, _) => Err(anyhow!("the condition !{other} is not supported locally")),
        }
    }

    fn list(&self, value: &Value) -> Result<Vec<String>> {
        match value {
            Value::Sequence(items) => items.iter().map(|item| self.string(item)).collect(),
            // A CommaDelimitedList parameter.
            other => Ok(self.string(other)?.split(',').map(str::to_owned).collect()),
        }
    }

    fn substitute(&self, text: &str) -> Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .with_context(|| format!("unclosed ${{ in {text}"))?
                + start;
            let name = &rest[start + 2..end];
            out.push_str(&match name.split_once('.') {
                Some((resource, attribute)) if !name.starts_with("AWS::") => self.attribute(resource, attribute)?,
                _ => self.reference(name)?,
            });
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The binary of the function a `!GetAtt Function.Arn` names.
    pub(crate) fn function_of(&self, value: &Value) -> Result<String> {
        let Value::Tagged(tagged) = value else {
            return Err(anyhow!("a notification's Function must be !GetAtt"));
        };
        let name = tagged
            .value
            .as_str()
            .and_then(|text| text.split('.').next())
            .context("!GetAtt Function.Arn")?;
        self.template["Resources"][name]["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("{name} has no BuildProperties.Binary"))
    }

    pub(crate) fn function(&self, logical_id: &str, resource: &Value) -> Result<Function> {
        let properties = &resource["Properties"];
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .with_context(|| format!("{logical_id} has no BuildProperties.Binary"))?
            .to_owned();
        let code_uri = properties["CodeUri"]
            .as_str()
            .with_context(|| format!("{logical_id} has no CodeUri"))?
            .to_owned();
        let mut environment = BTreeMap::new();
        if let Some(variables) = properties["Environment"]["Variables"].as_mapping() {
            for (name, value) in variables {
                if let Some(value) = self.optional_string(value)? {
                    environment.insert(name.as_str().unwrap_or_default().to_owned(), value);
                }
            }
        }
        let invoke = &properties["EventInvokeConfig"];
        let mut stream = None;
        let mut schedules = Vec::new();
        // Every kind of event the local run wires; any other is an error rather than a trigger
        // that silently never fires.
        for (name, event) in properties["Events"].as_mapping().into_iter().flatten() {
            let trigger = &event["Properties"];
            match event["Type"].as_str() {
                Some("DynamoDB") => stream = Some(self.stream_trigger(trigger, &trigger["Stream"])?),
                Some("Schedule" | "ScheduleV2") => {
                    let expression = match &trigger["Schedule"] {
                        Value::Null => &trigger["ScheduleExpression"],
                        schedule => schedule,
                    };
                    schedules.push(self.string(expression)?);
                }
                // Served through each function's own function URL locally.
                Some("HttpApi" | "Api") => {}
                other => {
                    return Err(anyhow!(
                        "{logical_id}: event {:?} of type {other:?} is not wired by the local run",
                        name.as_str().unwrap_or_default()
                    ))
                }
            }
        }
        let timeout = properties["Timeout"]
            .as_u64()
            .or_else(|| self.template["Globals"]["Function"]["Timeout"].as_u64())
            .unwrap_or(3);
        let memory_mb = properties["MemorySize"]
            .as_u64()
            .or_else(|| self.template["Globals"]["Function"]["MemorySize"].as_u64())
            .unwrap_or(128);
        Ok(Function {
            logical_id: logical_id.to_owned(),
            binary,
            code_uri,
            environment,
            timeout: std::time::Duration::from_secs(timeout),
            memory_mb: u32::try_from(memory_mb)
                .map_err(|error| anyhow!("{logical_id}: MemorySize {memory_mb}: {error}"))?,
            async_retries: invoke["MaximumRetryAttempts"].as_u64().unwrap_or(2) as u32,
            async_failure_queue: self.queue_of(&invoke["DestinationConfig"]["OnFailure"])?,
            stream,
            schedules,
        })
    }

    /// The queue an `OnFailure` destination names, if any.
    fn queue_of(&self, destination: &Value) -> Result<Option<String>> {
        match &destination["Destination"] {
            Value::Null => Ok(None),
            arn => Ok(self.string(arn)?.rsplit(':').next().map(str::to_owned)),
        }
    }

    /// A stream trigger's settings, from a SAM `DynamoDB` event's properties or an
    /// `AWS::Lambda::EventSourceMapping`'s (they share these names); `stream` is its stream ARN.
    pub(crate) fn stream_trigger(&self, properties: &Value, stream: &Value) -> Result<StreamTrigger> {
        let arn = self.string(stream)?;
        Ok(StreamTrigger {
            table: arn.trim_end_matches(".StreamArn").to_owned(),
            batch_size: properties["BatchSize"].as_u64().unwrap_or(100) as usize,
            batching_window: std::time::Duration::from_secs(
                properties["MaximumBatchingWindowInSeconds"].as_u64().unwrap_or(0),
            ),
            max_retries: properties["MaximumRetryAttempts"].as_u64().unwrap_or(0) as u32,
            failure_queue: self.queue_of(&properties["DestinationConfig"]["OnFailure"])?,
            reports_batch_item_failures: properties["FunctionResponseTypes"].as_sequence().is_some_and(|types| {
                types
                    .iter()
                    .any(|kind| kind.as_str() == Some("ReportBatchItemFailures"))
            }),
        })
    }
}
