#!/usr/bin/env bash
# The project's main job, on this machine, with no AWS account, no Docker and no internet:
#   1. installs the pinned tools if they are missing (setup.sh) and builds the function;
#   2. starts the local AWS emulator (moto's server) on a free loopback port, with a few buckets;
#   3. starts the function binaries under cargo-lambda's Lambda runtime emulator (`cargo lambda watch`);
#   4. invokes s3-list-buckets twice (a cold start, then a warm one) and checks its answer;
#   5. stops everything it started, also on Ctrl-C or failure.
# Exits non-zero if the function did not answer what it should.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

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

step "Building the function (the first build compiles the AWS SDK: a few minutes)"
cargo build --quiet -p s3-list-buckets

step "Starting the local AWS emulator"
emulator_port=$(free_port)
export AWS_ENDPOINT_URL="http://127.0.0.1:$emulator_port" AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
# setsid: each service leads its own process group, so stop_all ends its children too.
setsid moto_server -H 127.0.0.1 -p "$emulator_port" >"$logs/emulator.log" 2>&1 &
started+=($!)
wait_for_port "$emulator_port" "the emulator" "$logs/emulator.log"
echo "emulator: $AWS_ENDPOINT_URL"

buckets=(workshop-invoices workshop-photos workshop-uploads)
python - "${buckets[@]}" <<'PY'
import sys, boto3
s3 = boto3.client("s3")
for name in sys.argv[1:]:
    s3.create_bucket(Bucket=name)
    print(f"created bucket {name}")
PY

step "Starting the functions under cargo lambda watch"
runtime_port=$(free_port)
setsid cargo lambda watch --quiet --invoke-address 127.0.0.1 --invoke-port "$runtime_port" >"$logs/functions.log" 2>&1 &
started+=($!)
wait_for_port "$runtime_port" "cargo lambda watch" "$logs/functions.log"
echo "runtime emulator: http://127.0.0.1:$runtime_port"

expected='{"statusCode":200,"body":"[\"workshop-invoices\", \"workshop-photos\", \"workshop-uploads\"]"}'
for attempt in cold warm; do
  step "Invoking s3-list-buckets ($attempt)"
  echo "\$ cargo lambda invoke s3-list-buckets --data-file crates/s3-list-buckets/events/scheduled.json"
  response=$(cargo lambda invoke s3-list-buckets --invoke-address 127.0.0.1 --invoke-port "$runtime_port" \
    --data-file "$ROOT/crates/s3-list-buckets/events/scheduled.json")
  echo "$response"
  [ "$response" = "$expected" ] || fail "expected $expected"
done

step "The function's log lines (one JSON object each; full log: target/local/logs/functions.log)"
grep '"listed buckets"' "$logs/functions.log" || fail "the function logged no 'listed buckets' line"
step "Done: s3-list-buckets listed the emulator's buckets under the Lambda runtime emulator"
