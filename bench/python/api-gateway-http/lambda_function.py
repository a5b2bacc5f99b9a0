# The catalog's HTTP API as a competent Python developer would write it, for the benchmarks only:
# the routes, validation and problem+json errors of crates/api-gateway-http, for HTTP API (v2)
# events, with boto3 and the standard library (no web framework).
import json
import logging
import os
from urllib.parse import unquote

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)

s3 = boto3.client("s3")
dynamodb = boto3.resource("dynamodb")
objects = dynamodb.Table(os.environ["OBJECTS_TABLE_NAME"])
statistics = dynamodb.Table(os.environ["STATISTICS_TABLE_NAME"])
BUCKET = os.environ["UPLOADS_BUCKET_NAME"]
PREFIX = os.environ.get("UPLOAD_PREFIX", "uploads/")
EXPIRES_IN = int(os.environ.get("PRESIGN_EXPIRES_IN_SECONDS", "900"))
ALLOWED_ORIGINS = [o.strip() for o in os.environ.get("ALLOWED_ORIGINS", "").split(",") if o.strip()]
MAX_BODY_BYTES = 16 * 1024
MAX_KEY_BYTES = 1024
MAX_FOLDER_BYTES = 2048


class Problem(Exception):
    def __init__(self, status, detail, headers=None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


TITLES = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Content Too Large",
          500: "Internal Server Error"}


def plain(value):
    # DynamoDB numbers come back as Decimal.
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "as_integer_ratio") and not isinstance(value, (int, float)):
        return int(value)
    return value


def respond(status, body, content_type="application/json", headers=None):
    return {"statusCode": status, "headers": {"content-type": content_type, **(headers or {})},
            "body": json.dumps(plain(body))}


def folder_of(key):
    slash = key.rfind("/")
    return key[: slash + 1] if slash >= 0 else ""


def check_folder(folder):
    if not folder or len(folder.encode()) > MAX_FOLDER_BYTES:
        raise Problem(400, f"folder must be 1 to {MAX_FOLDER_BYTES} bytes.")


def create_upload(event):
    content_type = event.get("headers", {}).get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise Problem(400, f"Send the body as application/json, not {content_type!r}.")
    body = event.get("body") or ""
    if len(body.encode()) > MAX_BODY_BYTES:
        raise Problem(413, f"The body is {len(body.encode())} bytes; at most {MAX_BODY_BYTES} are accepted.")
    try:
        request = json.loads(body)
        key = request["key"]
        object_type = request.get("content_type") or "application/octet-stream"
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise Problem(400, f"The body is not a valid request: {error}.")
    if not isinstance(key, str) or not key or key.startswith("/") or ".." in key.split("/") \
            or any(ord(c) < 32 for c in key):
        raise Problem(400, "key must be a non-empty relative path of printable characters.")
    full_key = PREFIX + key
    if len(full_key.encode()) > MAX_KEY_BYTES:
        raise Problem(400, f"The key is {len(full_key.encode())} bytes with its prefix; S3 allows {MAX_KEY_BYTES}.")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": full_key,
                                                          "ContentType": object_type}, ExpiresIn=EXPIRES_IN)
    return respond(201, {"key": full_key, "url": url, "expires_in": EXPIRES_IN})


def list_objects(query):
    folder = query.get("folder", PREFIX)
    check_folder(folder)
    try:
        limit = int(query.get("limit", "20"))
        assert 1 <= limit <= 100
    except (ValueError, AssertionError):
        raise Problem(400, f"limit must be a whole number from 1 to 100, not {query.get('limit')!r}.")
    kwargs = {"KeyConditionExpression": Key("folder").eq(folder), "Limit": limit}
    if "cursor" in query:
        try:
            position = json.loads(bytes.fromhex(query["cursor"]))
            assert position["folder"] == folder and folder_of(position["key"]) == folder
        except (ValueError, KeyError, TypeError, AssertionError):
            raise Problem(400, "cursor is not one this API gave out for this folder.")
        kwargs["ExclusiveStartKey"] = {"folder": folder, "key": position["key"]}
    page = objects.query(**kwargs)
    answer = {"items": page.get("Items", [])}
    last = page.get("LastEvaluatedKey")
    if last:
        answer["next_cursor"] = json.dumps({"folder": last["folder"], "key": last["key"]}).encode().hex()
    return respond(200, answer)


def get_object(key):
    if not folder_of(key):
        raise Problem(404, f"No object {key!r} is indexed.")
    item = objects.get_item(Key={"folder": folder_of(key), "key": key}).get("Item")
    if item is None:
        raise Problem(404, f"No object {key!r} is indexed.")
    return respond(200, item)


def list_stats():
    folders, kwargs = [], {}
    while True:
        page = statistics.scan(**kwargs)
        folders.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return respond(200, {"folders": sorted(folders, key=lambda item: item["folder"])})


def get_stats(folder):
    check_folder(folder)
    item = statistics.get_item(Key={"folder": folder}).get("Item")
    if item is None:
        raise Problem(404, f"No statistics for folder {folder!r}.")
    return respond(200, item)


def route(event):
    method = event["requestContext"]["http"]["method"]
    path = event.get("rawPath", "/")
    query = event.get("queryStringParameters") or {}
    if method == "OPTIONS":
        return {"statusCode": 204, "headers": {}, "body": ""}
    routes = {"/health": "GET", "/uploads": "POST", "/objects": "GET", "/stats": "GET"}
    if path in routes:
        allowed = routes[path]
    elif path.startswith("/objects/") or path.startswith("/stats/"):
        allowed = "GET"
    else:
        raise Problem(404, f"No route for {path}.")
    if method != allowed:
        raise Problem(405, f"{path} accepts {allowed} only.", {"allow": f"{allowed}, OPTIONS"})
    if path == "/health":
        return respond(200, {"status": "ok"})
    if path == "/uploads":
        return create_upload(event)
    if path == "/objects":
        return list_objects(query)
    if path == "/stats":
        return list_stats()
    if path.startswith("/objects/"):
        return get_object(unquote(path[len("/objects/"):]))
    return get_stats(unquote(path[len("/stats/"):]))


def lambda_handler(event, context):
    try:
        response = route(event)
    except Problem as problem:
        response = respond(problem.status, {"type": "about:blank", "title": TITLES[problem.status],
                                            "status": problem.status, "detail": problem.detail,
                                            "request_id": context.aws_request_id},
                           "application/problem+json", problem.headers)
    except ClientError:
        logger.exception("AWS call failed")
        response = respond(500, {"type": "about:blank", "title": TITLES[500], "status": 500,
                                 "detail": "The server could not answer; the cause is in its log.",
                                 "request_id": context.aws_request_id}, "application/problem+json")
    origin = (event.get("headers") or {}).get("origin")
    if origin and ("*" in ALLOWED_ORIGINS or origin in ALLOWED_ORIGINS):
        response["headers"]["access-control-allow-origin"] = origin
        response["headers"]["vary"] = "origin"
    return response
