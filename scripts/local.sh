#!/usr/bin/env bash
# The project's main job, on this machine, with no AWS account, no Docker and no internet:
# installs the pinned tools if they are missing, then runs `cargo xtask local`, which builds the
# functions, starts the local AWS emulator with what template.yaml declares, runs every function
# under `cargo lambda watch`, wires every trigger as AWS does, walks through the workshop story
# printing each step and its duration, and stops everything (also on Ctrl-C or failure).
# Exits non-zero if any step did not do what it says.
#   ./scripts/local.sh          the story, then stop
#   ./scripts/local.sh --keep   the story, then keep everything running until Ctrl-C
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# A previous run's addresses must not pass for this run's (the runner writes them again once ready).
rm -f "$ROOT/target/local/env.sh"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec cargo xtask local "$@"
