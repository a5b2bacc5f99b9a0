//! Each function's IAM policy in `template.yaml` against its code: it is granted exactly the
//! actions its code calls, and only on the resources it is told about (its environment) or is
//! wired to (its triggers and failure destinations).
//!
//! The actions a function calls are read from its source: every call on an SDK client (`s3.x()`,
//! `dynamodb.x()`; every function names its clients after the service) and every item of a
//! DynamoDB transaction (`Put::builder()`...), each turned into the IAM action it needs. The few
//! actions a function is granted without calling them are listed below with the reason.
//!
//! This reads the template's `Policies` only. What SAM adds to each role on its own (AWS-managed
//! policies, granted on every resource) is checked on the transformed template: `managed_policies`.

use std::collections::BTreeSet;
use std::path::Path;

use serde_norway::Value;

/// (function, action, why it is granted although the code does not call it).
const GRANTED_FOR_THE_PLATFORM: [(&str, &str, &str); 5] = [
    (
        "StreamConsumerFunction",
        "dynamodb:DescribeStream",
        "the event source mapping reads the stream as the function",
    ),
    (
        "StreamConsumerFunction",
        "dynamodb:GetRecords",
        "the event source mapping reads the stream as the function",
    ),
    (
        "StreamConsumerFunction",
        "dynamodb:GetShardIterator",
        "the event source mapping reads the stream as the function",
    ),
    (
        "StreamConsumerFunction",
        "dynamodb:ListStreams",
        "the event source mapping finds the stream as the function",
    ),
    (
        "StreamConsumerFunction",
        "sqs:SendMessage",
        "the event source mapping parks failed batches as the function",
    ),
];

/// The IAM action an SDK operation needs, where it is not the operation's own name.
fn action(service: &str, operation: &str) -> Option<String> {
    let special = match (service, operation) {
        ("s3", "list_buckets") => "s3:ListAllMyBuckets",
        ("s3", "head_object") => "s3:GetObject",
        ("s3", "list_objects_v2") => "s3:ListBucket",
        // A transaction is authorised item by item: see `transaction_items`.
        ("dynamodb", "transact_write_items") => return None,
        _ => "",
    };
    if !special.is_empty() {
        return Some(special.to_owned());
    }
    let pascal: String = operation
        .split('_')
        .map(|word| {
            let mut characters = word.chars();
            characters
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + characters.as_str())
                .unwrap_or_default()
        })
        .collect();
    Some(format!("{service}:{pascal}"))
}

/// The IAM actions `source` (a crate's non-test code) calls.
fn actions_called(source: &str) -> BTreeSet<String> {
    let compact: String = source.chars().filter(|character| !character.is_whitespace()).collect();
    let mut actions = BTreeSet::new();
    for service in ["s3", "dynamodb", "sqs"] {
        let prefix = format!("{service}.");
        for (position, _) in compact.match_indices(&prefix) {
            let before = compact[..position].chars().next_back();
            if before.is_some_and(|character| character.is_alphanumeric() || character == '_' || character == ':') {
                continue;
            }
            let rest = &compact[position + prefix.len()..];
            let operation: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if !operation.is_empty() && rest[operation.len()..].starts_with("()") {
                actions.extend(action(service, &operation));
            }
        }
    }
    for (item, item_action) in [
        ("Put::builder()", "dynamodb:PutItem"),
        ("Update::builder()", "dynamodb:UpdateItem"),
        ("Delete::builder()", "dynamodb:DeleteItem"),
        ("ConditionCheck::builder()", "dynamodb:ConditionCheckItem"),
    ] {
        if compact.contains(item) {
            actions.insert(item_action.to_owned());
        }
    }
    actions
}

/// A crate's source without its unit tests.
fn crate_source(crate_dir: &Path) -> String {
    let mut source = String::new();
    for entry in std::fs::read_dir(crate_dir.join("src")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|extension| extension == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            source.push_str(text.split("#[cfg(test)]").next().unwrap_or_default());
        }
    }
    source
}

fn text(value: &Value) -> String {
    serde_norway::to_string(value).unwrap_or_default()
}

/// The resources a YAML value names: logical ids, and the bucket by the name it is spelled out with.
fn resources_named(value_text: &str, ids: &BTreeSet<String>, template: &Value) -> BTreeSet<String> {
    let mut named: BTreeSet<String> = value_text
        .split(|character: char| !character.is_ascii_alphanumeric())
        .filter(|word| ids.contains(*word))
        .map(str::to_owned)
        .collect();
    for id in ids {
        let bucket_name = text(&template["Resources"][id.as_str()]["Properties"]["BucketName"]);
        let spelled = bucket_name
            .trim()
            .trim_start_matches("!Sub")
            .trim()
            .trim_matches(['\'', '"']);
        if template["Resources"][id.as_str()]["Type"].as_str() == Some("AWS::S3::Bucket")
            && !spelled.is_empty()
            && value_text.contains(spelled)
        {
            named.insert(id.clone());
        }
    }
    named
}

/// The actions an IAM statement grants (`Action` is one string or a list of them).
pub(crate) fn statement_actions(function: &str, statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(action) => vec![action.clone()],
        Value::Sequence(actions) => actions.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
        other => panic!("{function}: an Action that is not a string or a list: {other:?}"),
    }
}

#[test]
fn each_function_is_granted_exactly_what_its_code_calls_on_what_it_is_wired_to() {
    let template: Value = serde_norway::from_str(include_str!("../../../template.yaml")).unwrap();
    let resources = template["Resources"].as_mapping().unwrap();
    let ids: BTreeSet<String> = resources
        .keys()
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect();
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates");
    let mut checked = 0;
    for (id, resource) in resources {
        let function = id.as_str().unwrap();
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let properties = &resource["Properties"];
        let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        let called = actions_called(&crate_source(&crates.join(binary)));

        // What it is told about, and what it is wired to: its triggers and failure destinations.
        let mut touches = resources_named(&text(&properties["Environment"]), &ids, &template);
        touches.extend(resources_named(
            &text(&properties["EventInvokeConfig"]),
            &ids,
            &template,
        ));
        for (other_id, other) in resources {
            let wires_it = text(&other["Properties"]["NotificationConfiguration"]).contains(function)
                || (other["Type"].as_str() == Some("AWS::Lambda::EventSourceMapping")
                    && text(&other["Properties"]["FunctionName"]).contains(function));
            if wires_it {
                touches.extend(resources_named(&text(&other["Properties"]), &ids, &template));
                touches.insert(other_id.as_str().unwrap().to_owned());
            }
        }
        touches.remove(function);

        let mut granted = BTreeSet::new();
        for policy in properties["Policies"].as_sequence().into_iter().flatten() {
            for statement in policy["Statement"].as_sequence().into_iter().flatten() {
                let actions = statement_actions(function, statement);
                let resource_text = text(&statement["Resource"]);
                let on = resources_named(&resource_text, &ids, &template);
                let account_level = resource_text.trim() == "'*'" && actions == ["s3:ListAllMyBuckets"];
                assert!(
                    account_level || (!on.is_empty() && on.is_subset(&touches)),
                    "{function}: {actions:?} on {resource_text:?}, which is not something it is told about or wired to ({touches:?})"
                );
                granted.extend(actions);
            }
        }
        let for_the_platform: BTreeSet<String> = GRANTED_FOR_THE_PLATFORM
            .iter()
            .filter(|(owner, _, _)| *owner == function)
            .map(|(_, action, _)| (*action).to_owned())
            .collect();
        let not_called: Vec<&String> = granted
            .difference(&called)
            .filter(|a| !for_the_platform.contains(*a))
            .collect();
        let not_granted: Vec<&String> = called.difference(&granted).collect();
        assert!(
            not_called.is_empty(),
            "{function} is granted {not_called:?} but its code never calls it"
        );
        assert!(
            not_granted.is_empty(),
            "{function} calls {not_granted:?} but is not granted it"
        );
        assert!(
            for_the_platform.is_subset(&granted),
            "{function}: a platform grant listed here is gone from the template"
        );
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} functions found in template.yaml");
}

#[test]
fn operations_become_the_actions_iam_checks() {
    let source = "deps.dynamodb\n    .put_item()\n; s3.list_buckets().send(); self.s3 . head_object(); \
                  aws_sdk_s3::Client::get_object(); TransactWriteItem::builder().update(Update::builder()); \
                  deps.dynamodb.transact_write_items(); deps.s3.list_objects_v2(); deps.sqs.receive_message()";
    let actions: Vec<String> = actions_called(source).into_iter().collect();
    assert_eq!(
        actions,
        [
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "s3:GetObject",
            "s3:ListAllMyBuckets",
            "s3:ListBucket",
            "sqs:ReceiveMessage"
        ]
    );
}
