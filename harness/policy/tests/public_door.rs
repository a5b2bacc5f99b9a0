//! The public demo door (`PublicDemoUrl=true`) as the template opens it: braked, confined to a
//! folder whose objects expire (and leave the catalog), watched, and trusted by the bucket's CORS
//! for this stack's own URL only; and every upload URL short-lived.

use serde_norway::Value;

fn template() -> Value {
    serde_norway::from_str(include_str!("../../../template.yaml")).unwrap()
}

/// The text of a value with its short-form tags, for matching `!If`, `!Ref` and `!Sub` shapes.
fn text(value: &Value) -> String {
    serde_norway::to_string(value).unwrap()
}

/// `[condition, then, else]` of an `!If`, or a failure naming `what`.
fn branches<'a>(value: &'a Value, what: &str) -> &'a [Value] {
    match value {
        Value::Tagged(tagged) if tagged.tag == "If" => tagged.value.as_sequence().unwrap(),
        other => panic!("{what} is not an !If on PublicDemo: {other:?}"),
    }
}

#[test]
fn the_public_door_has_a_brake_that_cannot_be_zero_or_left_out() {
    let template = template();
    let api = &template["Resources"]["ApiFunction"]["Properties"];
    let brake = branches(&api["ReservedConcurrentExecutions"], "the API's reserved concurrency");
    assert_eq!(brake[0].as_str(), Some("PublicDemo"));
    assert!(text(&brake[1]).contains("PublicDemoConcurrency"), "{brake:?}");
    assert!(text(&brake[2]).contains("AWS::NoValue"), "{brake:?}");
    let concurrency = &template["Parameters"]["PublicDemoConcurrency"];
    // Zero would throttle every request; no upper bound would be no brake.
    assert!(concurrency["MinValue"].as_u64() >= Some(1), "{concurrency:?}");
    assert!(concurrency["MaxValue"].as_u64() <= Some(100), "{concurrency:?}");
}

#[test]
fn anonymous_uploads_go_to_a_demo_folder_that_expires_and_the_catalog_follows() {
    let template = template();
    let api = &template["Resources"]["ApiFunction"]["Properties"];
    let folder = branches(
        &api["Environment"]["Variables"]["PUBLIC_DEMO_FOLDER"],
        "PUBLIC_DEMO_FOLDER",
    );
    assert_eq!(
        (folder[0].as_str(), folder[1].as_str()),
        (Some("PublicDemo"), Some("demo/"))
    );
    let limit = branches(
        &api["Environment"]["Variables"]["PUBLIC_DEMO_MAX_UPLOAD_BYTES"],
        "PUBLIC_DEMO_MAX_UPLOAD_BYTES",
    );
    assert!(text(&limit[1]).contains("PublicDemoMaxUploadBytes"), "{limit:?}");
    let demo_limit = template["Parameters"]["PublicDemoMaxUploadBytes"]["Default"].as_u64();
    let api_limit = template["Parameters"]["MaxUploadBytes"]["Default"].as_u64();
    assert!(
        demo_limit < api_limit,
        "the demo's uploads are smaller: {demo_limit:?} {api_limit:?}"
    );

    let bucket = &template["Resources"]["UploadsBucket"]["Properties"];
    let expiring = bucket["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .find_map(|rule| match rule {
            Value::Tagged(_) => Some(branches(rule, "the demo's lifecycle rule")),
            _ => None,
        })
        .expect("a lifecycle rule under the PublicDemo condition");
    assert_eq!(expiring[0].as_str(), Some("PublicDemo"));
    assert_eq!(text(&expiring[1]["Prefix"]).trim(), "!Sub ${UploadPrefix}demo/");
    assert!(expiring[1]["ExpirationInDays"].as_u64().is_some(), "{expiring:?}");
    // S3 reports an expiry as LifecycleExpiration, not ObjectRemoved: the put handler must hear it.
    let events: Vec<&str> = bucket["NotificationConfiguration"]["LambdaConfigurations"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|configuration| configuration["Event"].as_str())
        .collect();
    assert!(events.contains(&"s3:LifecycleExpiration:*"), "{events:?}");
}

#[test]
fn the_public_door_is_watched_and_trusted_by_the_bucket_for_this_stack_only() {
    let template = template();
    let alarm = &template["Resources"]["PublicDemoRequestsAlarm"];
    assert_eq!(alarm["Condition"].as_str(), Some("PublicDemo"));
    assert_eq!(alarm["Properties"]["MetricName"].as_str(), Some("UrlRequestCount"));
    assert!(text(&alarm["Properties"]["AlarmActions"]).contains("AlarmTopic"));

    let rule = &template["Resources"]["UploadsBucket"]["Properties"]["CorsConfiguration"]["CorsRules"][0];
    let origins = text(&rule["AllowedOrigins"]);
    assert!(!origins.contains('*'), "no wildcard origin: {origins}");
    assert!(
        origins.contains("ApiDemoUrl.FunctionUrl"),
        "this stack's URL: {origins}"
    );
}

#[test]
fn upload_urls_live_minutes_not_quarters_of_an_hour() {
    let template = template();
    let variables = &template["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"];
    let seconds: u64 = variables["PRESIGN_EXPIRES_IN_SECONDS"]
        .as_str()
        .and_then(|seconds| seconds.parse().ok())
        .expect("PRESIGN_EXPIRES_IN_SECONDS in seconds");
    assert!(seconds <= 300, "an upload URL lives {seconds} s");
}
