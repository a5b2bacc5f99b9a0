#!/usr/bin/env bash
# The template's security scan: cfn-lint (CloudFormation's own linter, with the SAM transform)
# and checkov (policy checks: encryption, public access, least privilege...), both offline.
# Passes only when both are clean; every check checkov skips says why, in .checkov.yaml or next
# to the resource in template.yaml. checkov lives in its own virtual environment
# (.tools/checkov): its pinned dependencies (tools/checkov-requirements.txt) clash with the SAM
# CLI's.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

bash scripts/setup.sh >/dev/null
checkov_venv="$TOOLS/checkov"
requirements="$ROOT/tools/checkov-requirements.txt"
if ! cmp -s "$requirements" "$checkov_venv/.installed-requirements" 2>/dev/null; then
  step "Installing checkov into .tools/checkov"
  [ -x "$checkov_venv/bin/python" ] || python3 -m venv "$checkov_venv"
  "$VENV/bin/uv" pip install --quiet --python "$checkov_venv/bin/python" -r "$requirements"
  cp "$requirements" "$checkov_venv/.installed-requirements"
fi

step "cfn-lint template.yaml"
cfn-lint template.yaml
echo "cfn-lint: no findings"

step "checkov -f template.yaml (settings and skipped checks in .checkov.yaml)"
"$checkov_venv/bin/checkov" -f template.yaml --config-file .checkov.yaml
