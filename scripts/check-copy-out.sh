#!/usr/bin/env bash
# Proves what `cargo xtask copy-out` promises: each function, copied out into a folder outside the
# repository, passes its tests with the commands its own README gives and nothing else of ours.
#
# For every function of template.yaml: copy it out, then run the first command block of the copy's
# README from the copy's folder, with this repository's tools taken off PATH (the copy's tests must
# find the emulator its own setup installed), then validate the copy's template as `sam deploy`
# would. One thing is shared with the repository: cargo's build cache (CARGO_TARGET_DIR), which
# only saves compiling the AWS SDK five more times and changes nothing cargo decides.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# PATH without anything under the repository (its .tools/venv), the rest of the machine as it is.
clean_path=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v "^$ROOT" | paste -sd: -)

cargo build --quiet --manifest-path harness/Cargo.toml -p xtask
for function in $(sed -n 's/^ *Binary: //p' template.yaml); do
  step "Copying $function out and running its README's commands in $scratch/$function"
  copy="$scratch/$function"
  cargo xtask copy-out "$function" "$copy"
  commands=$(awk '/^```bash$/ { inside = 1; next } /^```$/ && inside { exit } inside' "$copy/README.md")
  [ -n "$commands" ] || fail "$function: its README has no command block"
  echo "$commands"
  (cd "$copy" && env -u VIRTUAL_ENV -u SAM_CLI_TELEMETRY PATH="$clean_path" bash -euo pipefail -c "$commands")
  (cd "$copy" && env PATH="$clean_path" bash -euo pipefail -c 'source scripts/env.sh && sam validate --lint')
done
step "Every function copied out passes its tests on its own"
