"""Builds the events AWS would send to the catalog's functions, from the local emulator's state.

Used by scripts/local.sh, with the emulator's endpoint and credentials in the environment:
  python scripts/catalog_events.py s3-object-created BUCKET KEY   an ObjectCreated:Put event for an object
  python scripts/catalog_events.py stream TABLE                   the table's stream records, as one batch
Prints the event as JSON on stdout.
"""
import json
import sys
import urllib.parse

import boto3


def s3_object_created(bucket, key):
    head = boto3.client("s3").head_object(Bucket=bucket, Key=key)
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": head["LastModified"].strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "local"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {},
        "s3": {
            "s3SchemaVersion": "1.0", "configurationId": "index-uploads",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            # S3 form-encodes keys in events: a space is '+', a '+' is '%2B'.
            "object": {"key": urllib.parse.quote_plus(key, safe="/"), "size": head["ContentLength"],
                       "eTag": head["ETag"].strip('"')},
        },
    }]}


def stream(table):
    ddb, streams = boto3.client("dynamodb"), boto3.client("dynamodbstreams")
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for record in streams.get_records(ShardIterator=iterator)["Records"]:
            change = record["dynamodb"]
            change["ApproximateCreationDateTime"] = int(change["ApproximateCreationDateTime"].timestamp())
            record["eventSourceARN"] = arn
            records.append(record)
    return {"Records": records}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    event = {"s3-object-created": s3_object_created, "stream": stream}[command](*args)
    json.dump(event, sys.stdout)
