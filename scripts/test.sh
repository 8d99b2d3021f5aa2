#!/usr/bin/env bash
# The test command: set up (idempotent), then run the test suite.
#   bash scripts/test.sh          the default suite (fast; well under 20 minutes on 2 cores)
#   bash scripts/test.sh slow     the slow target: catalog checks, A/A tests, long integrations
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# the report and live-viewer tests drive Debian's headless Chromium (never a downloaded browser)
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "test: installing chromium (for the HTML report and viewer tests)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "test: chromium is missing (apt-get install -y chromium); the browser tests will be skipped" >&2
  fi
fi
if [ "${1:-}" = "slow" ]; then
  shift
  exec .venv/bin/python -m pytest -m slow "$@"
fi
exec .venv/bin/python -m pytest "$@"
