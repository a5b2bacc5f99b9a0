#!/usr/bin/env bash
# Proves the promise each crate README makes: copy one function crate plus shared/ and testkit/ (and the root
# Cargo.toml and Cargo.lock they inherit versions from) into an empty folder, and it builds and
# passes its tests there. Checks every function crate under crates/, each in a fresh temporary folder.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

for crate_dir in crates/*/; do
  crate=$(basename "$crate_dir")
  # xtask is the workspace's task runner, not a function: it needs the whole repository.
  [ "$crate" = xtask ] && continue
  step "Copying $crate out into an empty folder"
  dest="$scratch/$crate"
  mkdir -p "$dest/crates"
  # The same commands the crate README's "Copy it out" section gives.
  cp Cargo.toml Cargo.lock rustfmt.toml clippy.toml "$dest/"
  cp -r shared testkit "$dest/"
  cp -r "crates/$crate" "$dest/crates/$crate"
  (cd "$dest" && cargo build --quiet && cargo test --quiet -p "$crate")
done
step "Every crate builds and passes its tests on its own"
