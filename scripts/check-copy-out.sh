#!/usr/bin/env bash
# Proves what `cargo xtask copy-out` promises: each function, copied out into a folder outside the
# repository, passes its tests with the commands its own README gives and nothing else of ours.
#
# For every function of template.yaml (two at a time): copy it out, then run the first command
# block of the copy's README from the copy's folder, with this repository's tools taken off PATH
# (the copy's tests must find the emulator its own setup installed), then validate the copy's
# template as `sam deploy` would. One thing is shared with the repository: cargo's build cache
# (CARGO_TARGET_DIR), which only saves compiling the AWS SDK five more times and changes nothing
# cargo decides.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# PATH without anything under the repository (its .tools/venv), the rest of the machine as it is.
clean_path=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v "^$ROOT" | paste -sd: -)

cargo build --quiet --manifest-path harness/Cargo.toml -p xtask

# One function: copied out, its README's first block run in the copy, the copy's template validated.
check_copy() {
  local function=$1 copy="$scratch/$1" commands
  cargo xtask copy-out "$function" "$copy" || return 1
  commands=$(awk '/^```bash$/ { inside = 1; next } /^```$/ && inside { exit } inside' "$copy/README.md")
  if [ -z "$commands" ]; then
    echo "error: $function: its README has no command block"
    return 1
  fi
  echo "$commands"
  (cd "$copy" && env -u VIRTUAL_ENV -u SAM_CLI_TELEMETRY PATH="$clean_path" bash -euo pipefail -c "$commands") &&
    (cd "$copy" && env PATH="$clean_path" bash -euo pipefail -c 'source scripts/env.sh && sam validate --lint')
}

# Two functions at a time: a copy's tests mostly wait for its emulator, so two share the cores
# well (cargo's lock on the shared target/ still takes their compiles one at a time). Each one's
# output is shown whole when it ends.
set -- $(sed -n 's/^ *Binary: //p' template.yaml)
failed=()
while [ $# -gt 0 ]; do
  pair=("${@:1:2}")
  step "Copying ${pair[*]} out and running each README's commands in $scratch"
  pids=()
  for function in "${pair[@]}"; do
    check_copy "$function" >"$scratch/$function.log" 2>&1 &
    pids+=($!)
  done
  for i in "${!pair[@]}"; do
    if wait "${pids[$i]}"; then outcome="passed"; else outcome="FAILED"; failed+=("${pair[$i]}"); fi
    echo "--- ${pair[$i]}, copied out to $scratch/${pair[$i]}: $outcome"
    cat "$scratch/${pair[$i]}.log"
  done
  shift $(( $# > 1 ? 2 : 1 ))
done
[ ${#failed[@]} -eq 0 ] || fail "copied out, these failed their README's commands: ${failed[*]} (above)"
step "Every function copied out passes its tests on its own"
