#!/usr/bin/env bash
# The test command: set up (idempotent), then run the test suite.
#   bash scripts/test.sh          the default suite (fast; well under 20 minutes on 2 cores)
#   bash scripts/test.sh slow     the slow target: catalog checks, A/A tests, long integrations
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${1:-}" = "slow" ]; then
  shift
  exec .venv/bin/python -m pytest -m slow "$@"
fi
exec .venv/bin/python -m pytest "$@"
