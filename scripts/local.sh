#!/usr/bin/env bash
# The project's main job, on this machine, with no AWS account, no Docker and no internet:
#   1. installs the pinned tools if they are missing (setup.sh) and builds the functions;
#   2. starts the local AWS emulator (moto's server) on a free loopback port, with the catalog's
#      bucket and tables;
#   3. starts every function under cargo-lambda's Lambda runtime emulator (`cargo lambda watch`);
#   4. invokes s3-list-buckets (cold, then warm), then walks through the catalog over its HTTP API
#      (the local function URL): an upload URL, an upload, its indexing by s3-put-handler, the
#      statistics from dynamodb-stream-consumer, every route of the API;
#   5. stops everything it started, also on Ctrl-C or failure.
# Exits non-zero if any step did not answer what it should.
# With --keep, leaves everything running after the walk-through until Ctrl-C, to play with.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
keep=false
[ "${1:-}" = "--keep" ] && keep=true

bash "$ROOT/scripts/setup.sh"

logs="$ROOT/target/local/logs"
mkdir -p "$logs"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for_port() { # port, what, log file
  for _ in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  tail -n 20 "$3" >&2
  fail "$2 did not start on port $1 (log above: $3)"
}

started=()
stop_all() {
  for pid in "${started[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all EXIT
trap 'exit 130' INT TERM

step "Building the functions (the first build compiles the AWS SDK: a few minutes)"
functions=(s3-list-buckets s3-put-handler dynamodb-stream-consumer api-gateway-http)
# One build per function, as `cargo lambda watch` builds each: same features, nothing rebuilt later.
for function in "${functions[@]}"; do cargo build --quiet -p "$function"; done

step "Starting the local AWS emulator"
emulator_port=$(free_port)
# AWS_REGION for the Rust SDK, AWS_DEFAULT_REGION for boto3.
export AWS_ENDPOINT_URL="http://127.0.0.1:$emulator_port" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
# setsid: each service leads its own process group, so stop_all ends its children too.
setsid moto_server -H 127.0.0.1 -p "$emulator_port" >"$logs/emulator.log" 2>&1 &
started+=($!)
wait_for_port "$emulator_port" "the emulator" "$logs/emulator.log"
echo "emulator: $AWS_ENDPOINT_URL"

# The catalog's resources, named as the functions' environment below names them.
export UPLOADS_BUCKET_NAME=workshop-uploads OBJECTS_TABLE_NAME=objects STATISTICS_TABLE_NAME=statistics
export PROCESSED_RECORDS_TABLE_NAME=processed-records UPLOAD_PREFIX=uploads/ ALLOWED_ORIGINS=http://localhost:5173
python - <<'PY'
import os, boto3
s3, ddb = boto3.client("s3"), boto3.client("dynamodb")
for name in ["workshop-invoices", "workshop-photos", os.environ["UPLOADS_BUCKET_NAME"]]:
    s3.create_bucket(Bucket=name)
    print(f"created bucket {name}")
def table(name, keys, stream=False):
    extra = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}} if stream else {}
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k, _ in keys],
                     KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys], **extra)
    print(f"created table {name}")
table(os.environ["OBJECTS_TABLE_NAME"], [("folder", "HASH"), ("key", "RANGE")], stream=True)
table(os.environ["STATISTICS_TABLE_NAME"], [("folder", "HASH")])
table(os.environ["PROCESSED_RECORDS_TABLE_NAME"], [("record_id", "HASH")])
PY

step "Starting the functions under cargo lambda watch"
runtime_port=$(free_port)
setsid cargo lambda watch --quiet --invoke-address 127.0.0.1 --invoke-port "$runtime_port" >"$logs/functions.log" 2>&1 &
started+=($!)
wait_for_port "$runtime_port" "cargo lambda watch" "$logs/functions.log"
echo "runtime emulator: http://127.0.0.1:$runtime_port"
invoke() { cargo lambda invoke "$1" --invoke-address 127.0.0.1 --invoke-port "$runtime_port" --data-ascii "$2"; }

expected='{"statusCode":200,"body":"[\"workshop-invoices\", \"workshop-photos\", \"workshop-uploads\"]"}'
for attempt in cold warm; do
  step "Invoking s3-list-buckets ($attempt)"
  echo "\$ cargo lambda invoke s3-list-buckets --data-file crates/s3-list-buckets/events/scheduled.json"
  response=$(cargo lambda invoke s3-list-buckets --invoke-address 127.0.0.1 --invoke-port "$runtime_port" \
    --data-file "$ROOT/crates/s3-list-buckets/events/scheduled.json")
  echo "$response"
  [ "$response" = "$expected" ] || fail "expected $expected"
done
grep '"listed buckets"' "$logs/functions.log" || fail "s3-list-buckets logged no 'listed buckets' line"

api="http://127.0.0.1:$runtime_port/lambda-url/api-gateway-http"
# call METHOD PATH EXPECTED_STATUS [JSON_BODY]: prints the exchange, fails on another status.
call() {
  local args=(-s -o "$logs/last-response" -w '%{http_code}' -X "$1" -H 'origin: http://localhost:5173')
  [ -n "${4:-}" ] && args+=(-H 'content-type: application/json' --data "$4")
  echo "\$ curl -X $1 \$API$2${4:+ -d '$4'}"
  local status
  status=$(curl "${args[@]}" "$api$2")
  echo "$status $(cat "$logs/last-response")"
  [ "$status" = "$3" ] || fail "expected status $3"
}

step "The catalog's HTTP API through the local function URL (API=$api)"
call GET /health 200
call POST /uploads 201 '{"key": "reports/Q3 report + notes.txt", "content_type": "text/plain"}'
url=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["url"])' "$logs/last-response")
call POST /uploads 400 '{"key": "../../etc/passwd"}'

step "Uploading a file to the presigned URL"
echo "\$ curl -X PUT -H 'content-type: text/plain' --data-binary 'hello, world' \"<url>\""
status=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'content-type: text/plain' --data-binary 'hello, world' "$url")
echo "$status"
[ "$status" = 200 ] || fail "the upload was refused"

step "s3-put-handler indexes it (the event as S3 writes it: a space is '+', a '+' is '%2B')"
event=$(python "$ROOT/scripts/catalog_events.py" s3-object-created "$UPLOADS_BUCKET_NAME" "uploads/reports/Q3 report + notes.txt")
echo "key in the event: $(python -c 'import json, sys; print(json.loads(sys.argv[1])["Records"][0]["s3"]["object"]["key"])' "$event")"
answer=$(invoke s3-put-handler "$event")
echo "$answer"
case "$answer" in *'"indexed":1'*) ;; *) fail "the upload was not indexed" ;; esac

step "dynamodb-stream-consumer applies the objects table's stream"
answer=$(invoke dynamodb-stream-consumer "$(python "$ROOT/scripts/catalog_events.py" stream "$OBJECTS_TABLE_NAME")")
echo "$answer"
[ "$answer" = '{"batchItemFailures":[]}' ] || fail "the stream batch reported failures"

step "Reading the catalog back"
call GET '/objects?folder=uploads/reports/&limit=10' 200
call GET '/objects/uploads/reports/Q3%20report%20%2B%20notes.txt' 200
call GET /objects/uploads/reports/missing.txt 404
call GET /stats 200
call GET /stats/uploads/reports/ 200
grep -q '"object_count":1,"total_bytes":12' "$logs/last-response" || fail "the folder's statistics are not 1 object of 12 bytes"
call DELETE /stats 405

step "Done: every function ran under the Lambda runtime emulator against the local AWS emulator"
echo "logs: target/local/logs/functions.log (functions, JSON), target/local/logs/emulator.log"
if $keep; then
  echo
  echo "Still running (Ctrl-C to stop):"
  echo "  export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
  echo "  API=$api"
  echo "  curl -s \$API/stats"
  while true; do sleep 3600; done
fi
