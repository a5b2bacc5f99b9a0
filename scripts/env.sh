# Sourced by the other scripts: where the project's tools live and how they are called.
# Not meant to be run on its own.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
export PATH="$VENV/bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# No usage data leaves the machine, and there is no network to send it over anyway.
export SAM_CLI_TELEMETRY=0
# One target directory for cargo, cargo-lambda and `sam build`: the AWS SDK is compiled once.
export CARGO_TARGET_DIR="$ROOT/target"

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }
