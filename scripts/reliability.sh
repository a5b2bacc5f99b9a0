#!/usr/bin/env bash
# The reliability suite in one command (docs/reliability.md has its figures and what each part
# checks): the template's security scan, the least-privilege check, the injected-fault tests of
# every function, fuzzing of every decoder of outside input, and the whole application under load.
#
#   ./scripts/reliability.sh            the full suite: 5 minutes of fuzzing per target and the
#                                       full load (the better part of an hour on 2 cores)
#   ./scripts/reliability.sh --quick    the bounded run CI makes: 20 s per fuzz target and the
#                                       quick load (about 12 minutes, half of it the first fuzz build)
#
# Installs what it needs on first use (the pinned tools, a nightly toolchain for cargo fuzz only).
# Stops at the first part that fails.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

quick=""
case "${1:-}" in
  "") ;;
  --quick) quick="--quick" ;;
  *) fail "usage: ./scripts/reliability.sh [--quick]" ;;
esac

bash scripts/setup.sh

step "1/5 The template's security: cfn-lint and checkov"
bash scripts/scan-template.sh

step "2/5 Least privilege: each policy grants exactly what its function's code calls"
cargo test --quiet --manifest-path harness/Cargo.toml -p policy least_privilege

step "3/5 Injected faults: every function against a broken, slow or throttling dependency"
cargo test --quiet --workspace --test integration -- faults::
cargo test --quiet -p api-gateway-http --test integration -- dependency throttled

step "4/5 Fuzzing every decoder of outside input"
bash scripts/fuzz.sh $quick

step "5/5 Load: a burst of uploads through the whole pipeline, then concurrent HTTP requests"
cargo xtask load $quick

step "The reliability suite passed"
