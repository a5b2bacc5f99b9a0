#!/usr/bin/env bash
# Everything a change must pass, in the order that fails fastest: formatting, lints, every test
# (unit tests and tests against the local AWS emulator, which they start themselves), and the
# SAM template's validation and security scan. Installs the pinned tools first if they are missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

bash scripts/setup.sh

step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test --workspace"
cargo test --workspace

step "sam validate --lint"
sam validate --lint

# cfn-lint and checkov on the template, offline (see the script for what each checks).
bash scripts/scan-template.sh

step "cargo xtask docs (every shell block in the docs is valid bash)"
cargo xtask docs
