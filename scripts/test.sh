#!/usr/bin/env bash
# Everything a change must pass, in the order that fails fastest: formatting, lints, every test
# (unit tests and tests against the local AWS emulator, which they start themselves), and the
# SAM template's validation and security scan. Installs the pinned tools first if they are missing.
# Two workspaces: the product at the root, and the harness (harness/: the local run, the
# benchmarks, the docs check, copy-out and the repository's policy tests) beside it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

bash scripts/setup.sh

harness=(--manifest-path harness/Cargo.toml)

step "cargo fmt --all --check (the product, then the harness)"
cargo fmt --all --check
cargo fmt "${harness[@]}" --all --check

step "cargo clippy --workspace --all-targets -- -D warnings (the product, then the harness)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy "${harness[@]}" --workspace --all-targets -- -D warnings

step "cargo test --workspace (the product: the functions, shared, testkit)"
cargo test --workspace

step "cargo test --manifest-path harness/Cargo.toml --workspace (the harness and the policy tests)"
cargo test "${harness[@]}" --workspace

step "sam validate --lint"
sam validate --lint

# cfn-lint and checkov on the template, offline (see the script for what each checks).
bash scripts/scan-template.sh

step "cargo xtask docs (every shell block in the docs is valid bash)"
cargo xtask docs
