#!/usr/bin/env bash
# The web page in a real browser: starts the whole application locally, as ./scripts/local.sh
# does, then drives headless Chromium through the page the HTTP function serves (upload a file,
# see it indexed, see the statistics change, cause an error and see it shown). See
# harness/local-run/src/browser.rs.
#
#   ./scripts/browser-test.sh                       the test; screenshot in target/local/web-page.png
#   ./scripts/browser-test.sh --update-screenshot   the same, saving the screenshot the README shows
#
# Needs Debian's chromium and chromium-driver packages (the same version of both); installs them
# with apt-get when they are missing and apt-get is there.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

screenshot="$ROOT/target/local/web-page.png"
case "${1:-}" in
  "") ;;
  --update-screenshot) screenshot="$ROOT/docs/web-page.png" ;;
  *) fail "usage: ./scripts/browser-test.sh [--update-screenshot]" ;;
esac

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  command -v apt-get >/dev/null \
    || fail "chromium and chromedriver are needed: install them with your package manager (Debian and Ubuntu: apt-get install chromium chromium-driver)"
  step "Installing chromium and chromium-driver (Debian packages)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi
step "$(chromium --version) and $(chromedriver --version | cut -d' ' -f1-2)"

bash scripts/setup.sh
cargo xtask browser --screenshot "$screenshot"
