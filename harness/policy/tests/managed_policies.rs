//! Every policy each function's IAM role gets once SAM has transformed the template, the
//! AWS-managed ones SAM attaches on its own included. `least_privilege` reads the template's own
//! `Policies`, which never show those: SAM adds AWSLambdaBasicExecutionRole to every role it
//! generates and a managed policy per feature or event type (AWSXrayWriteOnlyAccess for
//! `Tracing: Active`, AWSLambdaDynamoDBExecutionRole for a DynamoDB event, ...), and each grants
//! its actions on every resource.
//!
//! The transform is SAM's own: the pinned translator, run offline by `sam_transform.py`. Which
//! policies a role gets is read from it, not guessed. What a managed policy grants is not in the
//! template: it is written below, from AWS's managed policy reference (each policy's default
//! version), and the roles are held to it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// An AWS-managed policy a role may get: what it grants, and why it stays.
struct ManagedPolicy {
    /// Its ARN after `arn:<partition>:iam::aws:policy/`.
    name: &'static str,
    actions: &'static [&'static str],
    /// The resource it grants them on.
    resource: &'static str,
    why: &'static str,
}

// Not listed, on purpose: AWSLambdaDynamoDBExecutionRole (dynamodb:DescribeStream, GetRecords,
// GetShardIterator and ListStreams, and the three logs actions, on `*`), which a SAM
// `Events: Type: DynamoDB` attaches. The stream consumer is wired by a plain event source mapping
// so that its role reads the objects table's stream and no other (least_privilege's
// GRANTED_FOR_THE_PLATFORM); with that policy the narrow grants would be for show, and the role
// could read every stream in the account.
static KNOWN_MANAGED_POLICIES: [ManagedPolicy; 2] = [
    ManagedPolicy {
        name: "service-role/AWSLambdaBasicExecutionRole",
        actions: &["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        resource: "*",
        why: "SAM attaches it to every role it generates; scoping it to the function's own log group \
              means writing every role by hand instead",
    },
    ManagedPolicy {
        name: "AWSXrayWriteOnlyAccess",
        actions: &[
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "xray:GetSamplingRules",
            "xray:GetSamplingTargets",
            "xray:GetSamplingStatisticSummaries",
        ],
        resource: "*",
        why: "Globals' `Tracing: Active` needs it, and X-Ray's trace and sampling actions have no \
              resource-level permissions: `*` is the only resource they take",
    },
];

/// (function, action, why) for each grant of a role's own policies on every resource.
const GRANTED_ON_EVERY_RESOURCE: [(&str, &str, &str); 1] = [(
    "ListBucketsFunction",
    "s3:ListAllMyBuckets",
    "ListBuckets is about the account: it has no resource ARN to scope to",
)];

/// The resource types that attach policies to a role from outside it, which this test does not
/// read: SAM generates none of them for a function.
const POLICIES_FROM_OUTSIDE_THE_ROLE: [&str; 3] =
    ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"];

/// `template.yaml` after the SAM transform, by the pinned translator.
fn transformed_template() -> Value {
    let policy_crate = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = policy_crate.join("../../.tools/venv/bin/python");
    // Not a skip: without the translator this test would pass having checked nothing.
    assert!(
        python.is_file(),
        "{} is missing: run ./scripts/setup.sh, which installs the pinned SAM translator this test runs",
        python.display()
    );
    let output = Command::new(&python)
        .arg(policy_crate.join("tests/sam_transform.py"))
        // No __pycache__ left beside the script.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|error| panic!("could not run {}: {error}; run ./scripts/setup.sh", python.display()));
    assert!(
        output.status.success(),
        "the SAM transform failed (run ./scripts/setup.sh if the translator is missing or not the pinned one):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("sam_transform.py prints the transformed template as JSON")
}

/// A policy document's statements (`Statement` is one statement or a list of them).
fn statements(document: &Value) -> Vec<&Value> {
    match &document["Statement"] {
        Value::Array(statements) => statements.iter().collect(),
        Value::Null => Vec::new(),
        statement => vec![statement],
    }
}

/// The actions a statement grants (`Action` is one string or a list of them).
fn actions<'a>(role: &str, statement: &'a Value) -> Vec<&'a str> {
    match &statement["Action"] {
        Value::String(action) => vec![action.as_str()],
        Value::Array(actions) => actions
            .iter()
            .map(|action| {
                action
                    .as_str()
                    .unwrap_or_else(|| panic!("{role}: an action that is not a string: {action}"))
            })
            .collect(),
        other => panic!("{role}: an Action that is not a string or a list: {other}"),
    }
}

fn on_every_resource(statement: &Value) -> bool {
    let is_every = |resource: &Value| resource.as_str() == Some("*");
    is_every(&statement["Resource"])
        || statement["Resource"]
            .as_array()
            .is_some_and(|resources| resources.iter().any(is_every))
        // Every resource but some.
        || !statement["NotResource"].is_null()
}

#[test]
fn every_policy_a_role_gets_after_the_transform_is_known_and_each_star_says_why() {
    let transformed = transformed_template();
    let resources = transformed["Resources"]
        .as_object()
        .expect("the transformed template has Resources");

    // Each role by the functions it runs: SAM's own role for a function is `<Function>Role`, and a
    // function given a `Role` points at that one instead.
    let mut functions_of_role: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, resource) in resources {
        if resource["Type"].as_str() == Some("AWS::Lambda::Function") {
            let role_arn = &resource["Properties"]["Role"];
            let role = role_arn["Fn::GetAtt"][0]
                .as_str()
                .filter(|role| {
                    resources
                        .get(*role)
                        .is_some_and(|candidate| candidate["Type"].as_str() == Some("AWS::IAM::Role"))
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{id}: its Role ({role_arn}) is no role of this template, so this test cannot see its policies"
                    )
                });
            functions_of_role.entry(role).or_default().push(id.as_str());
        }
    }
    let function_count = functions_of_role.values().map(Vec::len).sum::<usize>();
    assert!(
        function_count >= 5,
        "only {function_count} functions in the transformed template"
    );

    let mut managed_policies_attached = BTreeSet::new();
    let mut grants_on_every_resource = BTreeSet::new();
    for (id, resource) in resources {
        let resource_type = resource["Type"].as_str().unwrap_or_default();
        assert!(
            !POLICIES_FROM_OUTSIDE_THE_ROLE.contains(&resource_type),
            "{id}: a {resource_type} gives a role policies this test does not read: put its statements in the \
             function's Policies, or teach this test to read it"
        );
        if resource_type != "AWS::IAM::Role" {
            continue;
        }
        let functions = functions_of_role.get(id.as_str()).cloned().unwrap_or_default();
        let role = if functions.is_empty() {
            format!("the role {id}, which runs no function,")
        } else {
            format!("{}'s role", functions.join(" and "))
        };
        let properties = &resource["Properties"];

        // What the managed policies grant this role on every resource, by action.
        let mut granted_by_managed_policy: BTreeMap<&str, &ManagedPolicy> = BTreeMap::new();
        for arn in properties["ManagedPolicyArns"].as_array().into_iter().flatten() {
            let name = arn
                .as_str()
                .and_then(|arn| arn.split_once(":iam::aws:policy/"))
                .map(|(_, name)| name);
            let policy = KNOWN_MANAGED_POLICIES
                .iter()
                .find(|policy| Some(policy.name) == name)
                .unwrap_or_else(|| {
                    panic!(
                        "{role} gets the managed policy {arn}, which this test does not know: take it away, or \
                         add it to KNOWN_MANAGED_POLICIES with what it grants and why it must stay"
                    )
                });
            managed_policies_attached.insert(policy.name);
            for &action in policy.actions {
                granted_by_managed_policy.insert(action, policy);
            }
        }

        // The role's own policies: the template's `Policies`, and what SAM adds for a failure
        // destination or an event.
        for policy in properties["Policies"].as_array().into_iter().flatten() {
            let policy_name = policy["PolicyName"].as_str().unwrap_or("a policy with no name");
            for statement in statements(&policy["PolicyDocument"]) {
                if statement["Effect"].as_str() != Some("Allow") {
                    continue;
                }
                for action in actions(&role, statement) {
                    if let Some(managed) = granted_by_managed_policy.get(action) {
                        panic!(
                            "{role}: {policy_name} grants {action}, which the managed policy {} grants on {} \
                             already ({}): the narrower grant is for show",
                            managed.name, managed.resource, managed.why
                        );
                    }
                    if on_every_resource(statement) {
                        let listed = GRANTED_ON_EVERY_RESOURCE
                            .iter()
                            .any(|(function, granted, _)| functions.contains(function) && *granted == action);
                        assert!(
                            listed,
                            "{role}: {policy_name} grants {action} on every resource: scope it to what the function \
                             touches, or add it to GRANTED_ON_EVERY_RESOURCE with why it cannot be"
                        );
                        for function in &functions {
                            grants_on_every_resource.insert((*function, action));
                        }
                    }
                }
            }
        }
    }

    // Neither list may outlive what it excuses.
    for policy in &KNOWN_MANAGED_POLICIES {
        assert!(
            managed_policies_attached.contains(policy.name),
            "no role gets {} any more: take it out of KNOWN_MANAGED_POLICIES",
            policy.name
        );
    }
    for (function, action, _) in GRANTED_ON_EVERY_RESOURCE {
        assert!(
            grants_on_every_resource.contains(&(function, action)),
            "{function} is no longer granted {action} on every resource: take it out of GRANTED_ON_EVERY_RESOURCE"
        );
    }
}
