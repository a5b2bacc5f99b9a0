//! The local stand-ins for what `template.yaml` declares: buckets (with their notifications),
//! tables (with their streams) and queues, created in the emulator.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, StreamSpecification,
    StreamViewType,
};
use aws_sdk_s3::types::{
    CorsConfiguration, CorsRule, Event, FilterRule, FilterRuleName, NotificationConfiguration,
    NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;

use super::Result;
use anyhow::anyhow;
use template_plan::Plan;

/// The queue a bucket's notifications for the function `binary` go to locally; in AWS, S3
/// invokes the function directly.
pub fn notifications_queue(binary: &str) -> String {
    format!("LocalS3Notifications-{binary}")
}

/// Where the web page is served from locally: the HTTP function's runtime emulator, on loopback.
pub const LOCAL_PAGE_ORIGINS: [&str; 2] = ["http://127.0.0.1:*", "http://localhost:*"];

/// Local queue name -> URL, for every queue.
pub type Queues = BTreeMap<String, String>;

pub async fn create_resources(aws: &SdkConfig, plan: &Plan) -> Result<Queues> {
    let s3 = shared::aws::s3_client(aws);
    let dynamodb = shared::aws::dynamodb_client(aws);
    let sqs = aws_sdk_sqs::Client::new(aws);

    let notified = plan
        .buckets
        .iter()
        .flat_map(|bucket| &bucket.notifications)
        .map(|(_, _, function)| notifications_queue(function));
    let mut queues = Queues::new();
    for name in plan.queues.iter().cloned().chain(notified) {
        if queues.contains_key(&name) {
            continue;
        }
        let name = name.as_str();
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
    for bucket in &plan.buckets {
        s3.create_bucket()
            .bucket(&bucket.name)
            .send()
            .await
            .map_err(|error| aws_error(&format!("bucket {}", bucket.name), &error))?;
        println!("bucket   {}", bucket.name);
        if let Some(cors) = &bucket.cors {
            // The template's rule, for the web page served on loopback (any port: the runtime
            // emulator's is chosen at start).
            let rule = CorsRule::builder()
                .set_allowed_origins(Some(LOCAL_PAGE_ORIGINS.map(str::to_owned).to_vec()))
                .set_allowed_methods(Some(cors.methods.clone()))
                .set_allowed_headers(Some(cors.headers.clone()))
                .set_expose_headers(Some(cors.exposed.clone()))
                .max_age_seconds(cors.max_age_seconds)
                .build()
                .map_err(|error| aws_error("CORS rule", &error))?;
            s3.put_bucket_cors()
                .bucket(&bucket.name)
                .cors_configuration(
                    CorsConfiguration::builder()
                        .cors_rules(rule)
                        .build()
                        .map_err(|error| aws_error("CORS configuration", &error))?,
                )
                .send()
                .await
                .map_err(|error| aws_error("bucket CORS", &error))?;
            println!(
                "         takes {} from {}",
                cors.methods.join(", "),
                LOCAL_PAGE_ORIGINS.join(" and ")
            );
        }
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
            let queue_url = &queues[&notifications_queue(function)];
            let attributes = sqs
                .get_queue_attributes()
                .queue_url(queue_url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(|error| aws_error("queue arn", &error))?;
            let queue_arn = attributes
                .attributes()
                .and_then(|map| map.get(&QueueAttributeName::QueueArn))
                .cloned()
                .unwrap_or_default();
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

pub fn aws_error(what: &str, error: &dyn std::error::Error) -> anyhow::Error {
    anyhow!("{what}: {}", shared::error::chain(error))
}

#[cfg(test)]
mod tests {
    use testkit::Emulator;

    use super::*;
    use template_plan as template;

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
        assert_eq!(rules, ["uploads/", "uploads/", "uploads/"]);
        let sqs = aws_sdk_sqs::Client::new(&aws);
        for queue in &plan.queues {
            sqs.get_queue_url().queue_name(queue).send().await.unwrap();
        }
    }
}
