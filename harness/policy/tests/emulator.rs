//! The local AWS emulator keeps the guarantees the catalog's exactness rests on. DynamoDB applies
//! the writes to one item one at a time: of two conditional writes racing for one key, the
//! second is checked against the first, and the stream shows the second as a `MODIFY` of the
//! first, or not at all. S3 does the same for conditional `PUT`s (`If-None-Match: *`), which
//! is what makes an upload URL good for one upload. moto's server answers each connection on a thread of its own, and its
//! tables take no lock: two racing writes could both pass `attribute_not_exists` and both stream
//! an `INSERT`, so the stream consumer counted one object twice (found by
//! `catalog_follows_the_bucket`, whose put handlers race on purpose). testkit's emulator takes
//! DynamoDB's requests and S3's conditional `PUT`s one at a time; these tests fail if that goes
//! (without its lock, the DynamoDB test failed 3 runs of 3, each with 1 to 4 of 25 rounds letting
//! two writes through; the S3 test 1 run of 2).

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::future::join_all;
use testkit::{Emulator, StreamReader};

const ROUNDS: usize = 25;
const WRITERS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_conditional_writes_to_one_item_are_applied_one_at_a_time() {
    let emulator = Emulator::start_interleaving_often();
    let aws = emulator.sdk_config();
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    testkit::create_objects_table(&dynamodb, "objects").await;
    let mut stream = StreamReader::open(&aws, "objects").await;

    let mut passed = Vec::new();
    for round in 0..ROUNDS {
        let key = format!("uploads/{round}.txt");
        // Each on a task (and so a connection) of its own, as concurrent Lambda instances are.
        let writes = (0..WRITERS).map(|writer| {
            let request = dynamodb
                .put_item()
                .table_name("objects")
                .item("folder", AttributeValue::S("uploads/".to_owned()))
                .item("key", AttributeValue::S(key.clone()))
                .item("writer", AttributeValue::N(writer.to_string()))
                .item("sequencer", AttributeValue::S("0055B".to_owned()))
                // The put handler's condition: a newer S3 event wins, the same one writes once.
                .condition_expression(
                    "attribute_not_exists(#key) OR attribute_not_exists(#sequencer) OR #sequencer < :sequencer",
                )
                .expression_attribute_names("#key", "key")
                .expression_attribute_names("#sequencer", "sequencer")
                .expression_attribute_values(":sequencer", AttributeValue::S("0055B".to_owned()));
            tokio::spawn(request.send())
        });
        let results = join_all(writes).await;
        passed.push(results.iter().filter(|result| matches!(result, Ok(Ok(_)))).count());
    }
    assert!(
        passed.iter().all(|&count| count == 1),
        "writes that passed the put handler's condition on one new key, per round (DynamoDB: 1): {passed:?}"
    );
    let inserts = stream
        .read()
        .await
        .iter()
        .filter(|record| record["eventName"] == "INSERT")
        .count();
    assert_eq!(inserts, ROUNDS, "one INSERT per key in the stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_conditional_puts_of_one_new_key_let_one_through() {
    let emulator = Emulator::start_interleaving_often();
    let s3 = shared::aws::s3_client(&emulator.sdk_config());
    s3.create_bucket().bucket("uploads").send().await.unwrap();
    let mut passed = Vec::new();
    for round in 0..ROUNDS {
        let puts = (0..WRITERS).map(|writer| {
            let request = s3
                .put_object()
                .bucket("uploads")
                .key(format!("uploads/{round}.txt"))
                .body(writer.to_string().into_bytes().into())
                .if_none_match("*");
            tokio::spawn(request.send())
        });
        let results = join_all(puts).await;
        passed.push(results.iter().filter(|result| matches!(result, Ok(Ok(_)))).count());
    }
    assert!(
        passed.iter().all(|&count| count == 1),
        "PUTs with If-None-Match: * that S3 took for one new key, per round (S3: 1): {passed:?}"
    );
}
