# The classic Python version of this function, kept to prove the Rust one answers the same.
# tests/emulator.rs runs it against the local emulator and compares the two responses.
import json

import boto3

s3 = boto3.resource('s3')


def lambda_handler(event, context):
    bucketlist = []
    for bucket in s3.buckets.all():
        bucketlist.append(bucket.name)
    print(json.dumps(bucketlist))
    return {'statusCode': 200, 'body': json.dumps(bucketlist)}
