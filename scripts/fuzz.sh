#!/usr/bin/env bash
# Fuzzes every decoder of outside input (see fuzz/fuzz_targets/): the S3 event key decoder, an S3
# event record, a DynamoDB stream record, any bytes as the HTTP function's raw event through
# lambda_http's conversion, and generated HTTP requests through the whole HTTP handler.
#
#   ./scripts/fuzz.sh            five minutes per target
#   ./scripts/fuzz.sh --quick    twenty seconds per target, unoptimised, two at a time (CI)
#
# Installs what it needs on first use: a nightly Rust toolchain (cargo fuzz needs it; the project
# itself stays on stable) and cargo-fuzz, pinned, into .tools/. Fails on the first crash, with the
# input that caused it saved under fuzz/artifacts/<target>/: turn it into a regression test.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

CARGO_FUZZ_VERSION=0.13.1
# Any recent nightly works; set FUZZ_TOOLCHAIN=nightly-YYYY-MM-DD to reproduce a run exactly.
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
seconds=300
[ "${1:-}" = "--quick" ] && seconds=20

command -v rustup >/dev/null || fail "rustup not found: install Rust with rustup (https://rustup.rs)"
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  step "Installing the $toolchain toolchain (for cargo fuzz only)"
  rustup toolchain install "$toolchain" --profile minimal
fi
export PATH="$TOOLS/bin:$PATH"
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  step "Installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools/bin"
  cargo install --quiet --locked --root "$TOOLS" cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

# Seeds: the crates' own example events, split into the pieces each target reads.
corpus="$ROOT/target/fuzz-corpus"
python3 - "$corpus" <<'PY'
import json, os, sys, glob
corpus = sys.argv[1]
def seed(target, name, text):
    os.makedirs(os.path.join(corpus, target), exist_ok=True)
    with open(os.path.join(corpus, target, name), "w") as f:
        f.write(text)
for path in glob.glob("crates/s3-put-handler/events/*.json"):
    for i, record in enumerate(json.load(open(path)).get("Records", [])):
        seed("s3_event_record", f"{os.path.basename(path)}-{i}", json.dumps(record))
        key = record.get("s3", {}).get("object", {}).get("key", "")
        seed("s3_event_key", f"{os.path.basename(path)}-{i}", key)
for path in glob.glob("crates/dynamodb-stream-consumer/events/*.json"):
    for i, record in enumerate(json.load(open(path)).get("Records", [])):
        seed("stream_record", f"{os.path.basename(path)}-{i}", json.dumps(record))
for path in glob.glob("crates/api-gateway-http/events/*.json"):
    seed("api_gateway_event", os.path.basename(path), open(path).read())
os.makedirs(os.path.join(corpus, "http_request"), exist_ok=True)
PY

cd fuzz
targets=$(cargo "+$toolchain" fuzz list)
# No sanitizer: the code is safe Rust (`unsafe_code = "forbid"`), so a crash is a panic, which
# libFuzzer catches as it is. 16 codegen units instead of cargo fuzz's 1, so that each of the
# AWS SDK's large crates compiles on every core, for slightly slower runs.
build_flags=(--sanitizer none --codegen-units 16)
# The quick run (CI) proves that every target builds, runs its seeds and survives a first search:
# an unoptimised build compiles in 2.4 minutes instead of 5.7 and runs about 15 times fewer inputs
# a second, which 20 s can afford. The five-minute run is the search, optimised.
[ "$seconds" = 300 ] || build_flags=(--sanitizer none --dev)
step "Building the fuzz targets (nightly, the first build compiles the AWS SDK again)"
cargo "+$toolchain" fuzz build "${build_flags[@]}"
# libFuzzer runs one input at a time, on one core: two targets at a time keep both cores busy.
fuzz_one() {
  local target=$1 log="$ROOT/target/fuzz-$1.log"
  if ! cargo "+$toolchain" fuzz run "${build_flags[@]}" "$target" "$corpus/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "$target crashed: the input is in fuzz/artifacts/$target/" >&2
    return 1
  fi
  local runs features
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  features=$(sed -n 's/^stat::new_units_added: *//p' "$log")
  echo "$target: $runs executions in $seconds s, no crash ($features new inputs kept)"
}
set -- $targets
crashed=0
while [ $# -gt 0 ]; do
  step "Fuzzing $1${2:+ and $2} for $seconds s"
  fuzz_one "$1" & first=$!
  second=""
  if [ $# -gt 1 ]; then fuzz_one "$2" & second=$!; fi
  wait "$first" || crashed=1
  if [ -n "$second" ]; then wait "$second" || crashed=1; fi
  shift $(( $# > 1 ? 2 : 1 ))
done
[ "$crashed" = 0 ] || fail "a fuzz target crashed (above): turn its input into a regression test"
