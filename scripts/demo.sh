#!/usr/bin/env bash
# The main job: set up (idempotent), then run the built-in demo tasks with the oracle and nop
# agents, sandboxed and sealed, ending with a results table. Job records land in ./jobs/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/looplab run -p tasks/prime_count -p tasks/tour_puzzle -p tasks/dedupe_lines \
  -a oracle -a nop -n 2 --jobs-dir jobs --job-name "demo-$(date +%Y%m%d-%H%M%S)" "$@"
