#!/usr/bin/env bash
# Installs everything the project needs that cargo does not, at pinned versions, into .tools/
# (which git ignores): cargo-lambda, zig, aws-sam-cli, moto (the local AWS emulator), cfn-lint and
# awslambdaric (the Python runtime client, for the benchmarks against Python),
# all from PyPI, listed with their exact dependencies in tools/requirements.txt.
# Also adds the Rust target for arm64 Lambda builds.
#
# Safe to run again: when nothing changed it checks and returns in a second.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

command -v cargo >/dev/null || fail "cargo not found: install Rust with rustup (https://rustup.rs)"
command -v python3 >/dev/null || fail "python3 not found: install Python 3.9 or newer"

requirements="$ROOT/tools/requirements.txt"
UV_VERSION=0.13.9
stamp="$VENV/.installed-requirements"
# What is installed: the pinned list and the installer's own version.
wanted="$(cat "$requirements")
uv==$UV_VERSION"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  echo "tools: up to date in .tools/venv"
else
  step "Installing pinned tools into .tools/venv (under a minute the first time)"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  # uv installs the hundred pinned packages in seconds where pip takes a minute, and links them
  # from its cache when another project (or a copied-out function) asks for the same versions.
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" -r "$requirements"
  printf '%s\n' "$wanted" > "$stamp"
fi

if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  echo "rust: aarch64-unknown-linux-gnu target installed"
else
  step "Adding the aarch64-unknown-linux-gnu Rust target (Lambda arm64)"
  rustup target add aarch64-unknown-linux-gnu ||
    fail "could not add the arm64 target; run 'rustup target add aarch64-unknown-linux-gnu' with network access"
fi
