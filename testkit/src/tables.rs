//! The catalog's tables as `template.yaml` declares them, and a table's stream read as Lambda's
//! event source mapping delivers it.

/// Creates the objects table as `template.yaml` declares it: partition key `folder`, sort key
/// `key`, with a `NEW_AND_OLD_IMAGES` stream.
#[cfg(feature = "dynamodb")]
pub async fn create_objects_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str) {
    use aws_sdk_dynamodb::types::StreamViewType;
    create_table(
        dynamodb,
        name,
        "folder",
        Some("key"),
        Some(StreamViewType::NewAndOldImages),
    )
    .await;
}

/// Creates the statistics table as `template.yaml` declares it: partition key `folder`.
#[cfg(feature = "dynamodb")]
pub async fn create_statistics_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str) {
    create_table(dynamodb, name, "folder", None, None).await;
}

/// Creates the processed-records table as `template.yaml` declares it: partition key
/// `record_id`. (Its TTL is left out: the emulator never expires items anyway.)
#[cfg(feature = "dynamodb")]
pub async fn create_processed_records_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str) {
    create_table(dynamodb, name, "record_id", None, None).await;
}

/// An on-demand table with string keys and, if asked, a stream.
#[cfg(feature = "dynamodb")]
async fn create_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    name: &str,
    partition_key: &str,
    sort_key: Option<&str>,
    stream: Option<aws_sdk_dynamodb::types::StreamViewType>,
) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, StreamSpecification,
    };
    let keys = std::iter::once((partition_key, KeyType::Hash)).chain(sort_key.map(|key| (key, KeyType::Range)));
    let mut request = dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for (attribute, key_type) in keys {
        let element = KeySchemaElement::builder()
            .attribute_name(attribute)
            .key_type(key_type)
            .build();
        let definition = AttributeDefinition::builder()
            .attribute_name(attribute)
            .attribute_type(ScalarAttributeType::S)
            .build();
        request = request
            .key_schema(element.expect("a key schema element"))
            .attribute_definitions(definition.expect("an attribute definition"));
    }
    if let Some(view) = stream {
        let specification = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(view)
            .build();
        request = request.stream_specification(specification.expect("a stream specification"));
    }
    request
        .send()
        .await
        .unwrap_or_else(|error| panic!("creating table {name} in the emulator: {error:?}"));
}

/// Reads a table's stream from the emulator and hands out its records exactly as Lambda's event
/// source mapping would put them in an event's `Records`, in order.
#[cfg(feature = "dynamodb-streams")]
pub struct StreamReader {
    streams: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    /// The next iterator of every shard, `None` once a shard is closed and drained.
    iterators: Vec<Option<String>>,
}

#[cfg(feature = "dynamodb-streams")]
impl StreamReader {
    /// Opens `table`'s stream at its oldest record.
    pub async fn open(config: &aws_config::SdkConfig, table: &str) -> StreamReader {
        use aws_sdk_dynamodbstreams::types::ShardIteratorType;
        let dynamodb = aws_sdk_dynamodb::Client::new(config);
        let description = dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .expect("describing the table");
        let stream_arn = description
            .table()
            .and_then(|table| table.latest_stream_arn())
            .expect("the table has a stream")
            .to_owned();
        let streams = aws_sdk_dynamodbstreams::Client::new(config);
        let stream = streams
            .describe_stream()
            .stream_arn(&stream_arn)
            .send()
            .await
            .expect("describing the stream");
        let mut iterators = Vec::new();
        for shard in stream
            .stream_description()
            .map(|description| description.shards())
            .unwrap_or_default()
        {
            let iterator = streams
                .get_shard_iterator()
                .stream_arn(&stream_arn)
                .shard_id(shard.shard_id().unwrap_or_default())
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .expect("a shard iterator");
            iterators.push(iterator.shard_iterator);
        }
        StreamReader {
            streams,
            stream_arn,
            iterators,
        }
    }

    /// The records written since the last call, shaped as in a Lambda event.
    ///
    /// A shard the emulator fails to read (a busy emulator times out under load) keeps its
    /// position and is read again on the next call, as Lambda's poller would: no record is
    /// skipped and the reader never stops.
    pub async fn read(&mut self) -> Vec<serde_json::Value> {
        let mut records = Vec::new();
        for iterator in &mut self.iterators {
            let Some(current) = iterator.take() else { continue };
            let read = self.streams.get_records().shard_iterator(current.clone()).send().await;
            let Ok(output) = read else {
                *iterator = Some(current);
                continue;
            };
            records.extend(
                output
                    .records()
                    .iter()
                    .map(|record| lambda_record(record, &self.stream_arn)),
            );
            *iterator = output.next_shard_iterator;
        }
        records
    }
}

/// One stream record as Lambda delivers it: the Streams API's record plus `eventSourceARN`.
#[cfg(feature = "dynamodb-streams")]
fn lambda_record(record: &aws_sdk_dynamodbstreams::types::Record, stream_arn: &str) -> serde_json::Value {
    let image = |item: Option<&std::collections::HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>| {
        item.map(|item| serde_json::to_value(serde_dynamo::Item::from(item.clone())).expect("an image as JSON"))
    };
    let change = record.dynamodb();
    let mut dynamodb = serde_json::json!({
        "ApproximateCreationDateTime": change.and_then(|change| change.approximate_creation_date_time()).map(|time| time.secs()),
        "Keys": image(change.and_then(|change| change.keys.as_ref())),
        "SequenceNumber": change.and_then(|change| change.sequence_number()),
        "SizeBytes": change.and_then(|change| change.size_bytes()),
        "StreamViewType": change.and_then(|change| change.stream_view_type()).map(|view| view.as_str()),
    });
    for (field, item) in [
        ("NewImage", change.and_then(|change| change.new_image.as_ref())),
        ("OldImage", change.and_then(|change| change.old_image.as_ref())),
    ] {
        if let Some(image) = image(item) {
            dynamodb[field] = image;
        }
    }
    serde_json::json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(|name| name.as_str()),
        "eventVersion": record.event_version(),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.aws_region(),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    })
}
