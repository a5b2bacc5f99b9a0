//! The template against the product: every function is a crate of the root workspace, built in
//! its own folder, wired and watched (alarms) as the catalog needs, and granted nothing it could
//! abuse.

use std::collections::BTreeMap;

use serde_norway::Value;
use template_plan::{plan, Plan};

fn the_plan() -> Plan {
    plan(include_str!("../../../template.yaml")).unwrap()
}

#[test]
fn every_function_is_a_workspace_binary() {
    let binaries: Vec<String> = the_plan()
        .functions
        .into_iter()
        .map(|function| function.binary)
        .collect();
    for binary in &binaries {
        let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../crates")
            .join(binary)
            .join("Cargo.toml");
        assert!(manifest.is_file(), "{binary} has no crate at {}", manifest.display());
    }
    // And the other way: every crate with a `main.rs` under crates/ is a
    // function of the template, so a new crate cannot be forgotten there.
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates");
    let mut with_main: Vec<String> = std::fs::read_dir(&crates)
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("src/main.rs").is_file())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    with_main.sort();
    let mut sorted = binaries.clone();
    sorted.sort();
    assert_eq!(sorted, with_main);
}

#[test]
fn every_function_is_built_in_its_own_crate_folder() {
    // From the workspace root, `sam build` would compile each function with every member's
    // features merged in (see the comment at the top of template.yaml).
    for function in the_plan().functions {
        assert_eq!(function.code_uri, format!("crates/{}", function.binary));
    }
}

#[test]
fn the_objects_table_is_keyed_by_folder_and_key_with_both_images_streamed() {
    let plan = the_plan();
    let objects = plan.tables.iter().find(|table| table.name == "ObjectsTable").unwrap();
    assert_eq!(
        objects.keys,
        [
            ("folder".to_owned(), "HASH".to_owned()),
            ("key".to_owned(), "RANGE".to_owned())
        ]
    );
    assert_eq!(objects.stream_view.as_deref(), Some("NEW_AND_OLD_IMAGES"));
}

#[test]
fn environments_resolve_to_the_local_names_and_agree_with_each_other() {
    let plan = the_plan();
    let mut merged: BTreeMap<String, String> = BTreeMap::new();
    for function in &plan.functions {
        for (name, value) in &function.environment {
            assert!(!value.contains("${") && !value.is_empty(), "{name}={value}");
            let previous = merged.insert(name.clone(), value.clone());
            assert!(
                previous.is_none_or(|previous| &previous == value),
                "{name} differs between functions"
            );
        }
    }
    let bucket = &plan.buckets[0].name;
    assert_eq!(merged["UPLOADS_BUCKET_NAME"], *bucket);
    assert_eq!(bucket, "upload-catalog-uploads-123456789012-us-east-1");
    assert_eq!(merged["OBJECTS_TABLE_NAME"], "ObjectsTable");
    assert_eq!(merged["UPLOAD_PREFIX"], "uploads/");
}

#[test]
fn a_functions_timeout_is_its_own_or_the_globals() {
    let timeout = |binary: &str| {
        the_plan()
            .functions
            .into_iter()
            .find(|function| function.binary == binary)
            .map(|function| function.timeout.as_secs())
    };
    // Its own `Timeout: 300` (the largest upload), and the API's from `Globals`.
    assert_eq!(timeout("s3-put-handler"), Some(300));
    assert_eq!(timeout("api-gateway-http"), Some(10));
}

#[test]
fn triggers_come_from_the_template() {
    let plan = the_plan();
    let notification = |event: &str| (event.to_owned(), "uploads/".to_owned(), "s3-put-handler".to_owned());
    assert_eq!(
        plan.buckets[0].notifications,
        [
            notification("s3:ObjectCreated:*"),
            notification("s3:ObjectRemoved:*"),
            notification("s3:LifecycleExpiration:*")
        ]
    );
    let consumer = plan
        .functions
        .iter()
        .find(|function| function.binary == "dynamodb-stream-consumer")
        .unwrap();
    let stream = consumer.stream.as_ref().unwrap();
    assert_eq!(stream.table, "ObjectsTable");
    assert!(stream.reports_batch_item_failures);
    assert_eq!(stream.failure_queue.as_deref(), Some("StreamFailuresQueue"));
    let put_handler = plan
        .functions
        .iter()
        .find(|function| function.binary == "s3-put-handler")
        .unwrap();
    assert_eq!(put_handler.async_failure_queue.as_deref(), Some("FailedUploadsQueue"));
}

fn template() -> Value {
    serde_norway::from_str(include_str!("../../../template.yaml")).unwrap()
}

/// Every IAM statement the template's functions get: (function, statement).
fn statements(template: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for (id, resource) in template["Resources"].as_mapping().unwrap() {
        for policy in resource["Properties"]["Policies"].as_sequence().into_iter().flatten() {
            for statement in policy["Statement"].as_sequence().into_iter().flatten() {
                found.push((id.as_str().unwrap().to_owned(), statement.clone()));
            }
        }
    }
    found
}

#[test]
fn the_deployed_api_requires_iam_signatures_and_only_a_parameter_opens_a_demo_door() {
    let template = template();
    let auth = &template["Resources"]["CatalogApi"]["Properties"]["Auth"];
    assert_eq!(auth["DefaultAuthorizer"].as_str(), Some("AWS_IAM"));
    // Only the CORS preflight route is open: browsers send it without credentials.
    let events = template["Resources"]["ApiFunction"]["Properties"]["Events"]
        .as_mapping()
        .unwrap();
    for event in events.values() {
        let open = event["Properties"]["Auth"]["Authorizer"].as_str() == Some("NONE");
        let preflight = event["Properties"]["Method"].as_str() == Some("OPTIONS");
        assert_eq!(open, preflight, "{event:?}");
    }
    // CORS has one owner, the function: a CorsConfiguration would make API Gateway drop its headers.
    assert!(template["Resources"]["CatalogApi"]["Properties"]["CorsConfiguration"].is_null());
    assert_eq!(
        template["Parameters"]["PublicDemoUrl"]["Default"].as_str(),
        Some("false")
    );
    for open in ["ApiDemoUrl", "ApiDemoUrlPermission", "ApiDemoInvokePermission"] {
        assert_eq!(
            template["Resources"][open]["Condition"].as_str(),
            Some("PublicDemo"),
            "{open} must exist only when PublicDemoUrl is true"
        );
    }
}

#[test]
fn no_function_is_granted_anything_on_every_resource_but_the_bucket_listing() {
    let template = template();
    for (function, statement) in statements(&template) {
        if statement["Resource"].as_str() == Some("*") {
            assert_eq!(
                (function.as_str(), statement["Action"].as_str()),
                ("ListBucketsFunction", Some("s3:ListAllMyBuckets")),
                "{statement:?}"
            );
        }
    }
    // A SAM DynamoDB event would attach AWS's managed policy, whose stream actions are on `*`.
    for (id, resource) in template["Resources"].as_mapping().unwrap() {
        for event in resource["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flat_map(|events| events.values())
        {
            assert_ne!(event["Type"].as_str(), Some("DynamoDB"), "{id:?}");
        }
    }
}

#[test]
fn the_uploads_bucket_takes_browser_puts_from_allowed_origins_and_cleans_up_abandoned_parts() {
    let template = template();
    let bucket = &template["Resources"]["UploadsBucket"]["Properties"];
    let rule = &bucket["CorsConfiguration"]["CorsRules"][0];
    let methods: Vec<&str> = rule["AllowedMethods"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(methods, ["PUT"]);
    assert!(
        matches!(rule["AllowedOrigins"], Value::Tagged(_)),
        "the origins come from the AllowedOrigins parameter"
    );
    // The local run applies the same rule, for the page's loopback origin.
    let planned = plan(include_str!("../../../template.yaml")).unwrap();
    let cors = planned.buckets[0].cors.as_ref().expect("the bucket's CORS rule");
    assert_eq!(cors.methods, ["PUT"]);
    assert_eq!(cors.headers, ["content-type", "if-match", "if-none-match"]);
    let lifecycle = &bucket["LifecycleConfiguration"]["Rules"][0];
    assert_eq!(
        lifecycle["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"].as_u64(),
        Some(1)
    );
    assert!(
        template["Parameters"]["MaxUploadBytes"]["MaxValue"].as_u64() <= Some(1 << 30),
        "the put handler's timeout is sized for 1 GiB"
    );
}

/// The resource a `!Ref X` or `!GetAtt X.Attribute` names.
fn named(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) => tagged.value.as_str()?.split('.').next(),
        _ => None,
    }
}

#[test]
fn every_function_and_every_failure_queue_has_its_alarm_and_every_alarm_notifies() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let of_type = |kind: &str| -> Vec<String> {
        resources
            .iter()
            .filter(|(_, resource)| resource["Type"].as_str() == Some(kind))
            .map(|(id, _)| id.as_str().unwrap().to_owned())
            .collect()
    };
    let alarms: Vec<&Value> = resources
        .values()
        .filter(|resource| resource["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .map(|alarm| &alarm["Properties"])
        .collect();
    for alarm in &alarms {
        assert_eq!(named(&alarm["AlarmActions"][0]), Some("AlarmTopic"), "{alarm:?}");
    }
    let watched = |namespace: &str, metric: &str, resource: &str| {
        alarms.iter().any(|alarm| {
            alarm["Namespace"].as_str() == Some(namespace)
                && alarm["MetricName"].as_str() == Some(metric)
                && named(&alarm["Dimensions"][0]["Value"]) == Some(resource)
        })
    };
    let functions = of_type("AWS::Serverless::Function");
    assert_eq!(functions.len(), the_plan().functions.len());
    for function in &functions {
        for metric in ["Errors", "Throttles"] {
            assert!(
                watched("AWS/Lambda", metric, function),
                "no {metric} alarm for {function}"
            );
        }
    }
    for queue in of_type("AWS::SQS::Queue") {
        assert!(
            watched("AWS/SQS", "ApproximateNumberOfMessagesVisible", &queue),
            "no alarm on {queue}"
        );
    }
    for mapping in resources
        .values()
        .filter(|resource| resource["Type"].as_str() == Some("AWS::Lambda::EventSourceMapping"))
    {
        let function = named(&mapping["Properties"]["FunctionName"]).unwrap();
        assert!(
            watched("AWS/Lambda", "IteratorAge", function),
            "no IteratorAge alarm for {function}"
        );
    }
    for api in of_type("AWS::Serverless::HttpApi") {
        assert!(watched("AWS/ApiGateway", "5xx", &api), "no 5xx alarm for {api}");
    }
}
