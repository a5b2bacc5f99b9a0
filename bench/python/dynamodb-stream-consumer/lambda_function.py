# The stream consumer as a competent Python developer would write it, for the benchmarks only:
# each record applied exactly once with a marker in the same transaction, partial batch failures
# reported from the first failed record on, as crates/dynamodb-stream-consumer does.
import logging
import os
import time
from datetime import datetime, timezone

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)

dynamodb = boto3.client("dynamodb")
STATISTICS_TABLE = os.environ["STATISTICS_TABLE_NAME"]
PROCESSED_RECORDS_TABLE = os.environ["PROCESSED_RECORDS_TABLE_NAME"]
MARKER_TTL_SECONDS = 48 * 3600
deserializer = TypeDeserializer()


def image(record, name):
    raw = record["dynamodb"].get(name)
    if raw is None:
        raise ValueError(f"{name} is missing")
    return {field: deserializer.deserialize(value) for field, value in raw.items()}


def change_of(record):
    event = record["eventName"]
    if event == "INSERT":
        new = image(record, "NewImage")
        return new["folder"], 1, int(new["size"])
    if event == "MODIFY":
        old, new = image(record, "OldImage"), image(record, "NewImage")
        return new["folder"], 0, int(new["size"]) - int(old["size"])
    if event == "REMOVE":
        old = image(record, "OldImage")
        return old["folder"], -1, -int(old["size"])
    raise ValueError(f"unknown eventName {event!r}")


def apply(record):
    folder, objects, size = change_of(record)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": PROCESSED_RECORDS_TABLE,
                        "Item": {
                            "record_id": {"S": record["eventID"]},
                            "expires_at": {"N": str(int(time.time()) + MARKER_TTL_SECONDS)},
                        },
                        "ConditionExpression": "attribute_not_exists(record_id)",
                    }
                },
                {
                    "Update": {
                        "TableName": STATISTICS_TABLE,
                        "Key": {"folder": {"S": folder}},
                        "UpdateExpression": "ADD object_count :objects, total_bytes :bytes SET updated_at = :now",
                        "ExpressionAttributeValues": {
                            ":objects": {"N": str(objects)},
                            ":bytes": {"N": str(size)},
                            ":now": {"S": now},
                        },
                    }
                },
            ]
        )
    except ClientError as error:
        reasons = error.response.get("CancellationReasons", [])
        if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
            return  # applied before: a redelivery changes nothing
        raise


def lambda_handler(event, context):
    records = event.get("Records", [])
    for position, record in enumerate(records):
        try:
            apply(record)
        except Exception:
            logger.exception("record %s failed", record.get("eventID"))
            # Lambda resumes from the first reported record: report it and every later one.
            return {
                "batchItemFailures": [
                    {"itemIdentifier": later["dynamodb"]["SequenceNumber"]} for later in records[position:]
                ]
            }
    return {"batchItemFailures": []}
