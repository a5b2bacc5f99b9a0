# The S3 put handler as a competent Python developer would write it, for the benchmarks only:
# same event, same reads and writes, same item, same outcomes as crates/s3-put-handler.
import hashlib
import logging
import os
from datetime import datetime, timezone
from urllib.parse import unquote_plus

import boto3
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)

# Clients built once per sandbox, outside the handler.
s3 = boto3.client("s3")
table = boto3.resource("dynamodb").Table(os.environ["OBJECTS_TABLE_NAME"])
UPLOAD_PREFIX = os.environ.get("UPLOAD_PREFIX", "uploads/")
SEQUENCER_WIDTH = 32
CHUNK = 1024 * 1024


def rfc3339(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def folder_of(key):
    slash = key.rfind("/")
    return key[: slash + 1] if slash >= 0 else ""


def read_object(bucket, key, etag):
    kwargs = {"Bucket": bucket, "Key": key}
    if etag:
        kwargs["IfMatch"] = f'"{etag}"'
    try:
        response = s3.get_object(**kwargs)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("NoSuchKey", "404"):
            return "deleted", None
        if code in ("PreconditionFailed", "412"):
            return "superseded", None
        raise
    digest = hashlib.sha256()
    size = 0
    for chunk in response["Body"].iter_chunks(CHUNK):
        size += len(chunk)
        digest.update(chunk)
    return "object", {
        "size": size,
        "sha256": digest.hexdigest(),
        "content_type": response.get("ContentType", "binary/octet-stream"),
        "etag": response.get("ETag", "").strip('"'),
        "last_modified": rfc3339(response["LastModified"]),
    }


def write_item(item):
    names = {"#key": "key", "#sequencer": "sequencer"}
    if "sequencer" in item:
        condition = "attribute_not_exists(#key) OR attribute_not_exists(#sequencer) OR #sequencer < :sequencer"
        values = {":sequencer": item["sequencer"]}
    else:
        condition = (
            "attribute_not_exists(#key) OR (attribute_not_exists(#sequencer) AND (#last_modified < :last_modified "
            "OR (#last_modified = :last_modified AND #etag <> :etag)))"
        )
        names.update({"#last_modified": "last_modified", "#etag": "etag"})
        values = {":last_modified": item["last_modified"], ":etag": item["etag"]}
    try:
        table.put_item(
            Item=item,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        return "indexed"
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return "unchanged"
        raise


def index_record(record):
    bucket = record["s3"]["bucket"]["name"]
    key = unquote_plus(record["s3"]["object"]["key"])
    if not key.startswith(UPLOAD_PREFIX):
        return "outside_prefix"
    if not record.get("eventName", "").startswith("ObjectCreated:"):
        return "not_created"
    found, facts = read_object(bucket, key, record["s3"]["object"].get("eTag"))
    if found != "object":
        return found
    item = {
        "folder": folder_of(key),
        "key": key,
        "bucket": bucket,
        "indexed_at": rfc3339(datetime.now(timezone.utc)),
        **facts,
    }
    sequencer = record["s3"]["object"].get("sequencer")
    if sequencer:
        item["sequencer"] = sequencer.upper().rjust(SEQUENCER_WIDTH, "0")
    return write_item(item)


def lambda_handler(event, context):
    if event.get("Event") == "s3:TestEvent":
        return {}
    summary = {}
    failures = []
    for index, record in enumerate(event["Records"]):
        try:
            outcome = index_record(record)
            summary[outcome] = summary.get(outcome, 0) + 1
        except Exception as error:  # every record is attempted before the invocation fails
            logger.exception("record %d failed", index)
            failures.append(error)
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(event['Records'])} records failed") from failures[0]
    return summary
