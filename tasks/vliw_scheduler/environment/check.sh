#!/bin/bash
# Local check: run /app/scheduler.py (or the file given) on the fixed local batch (seed 1, 60
# instances), check every schedule and print the totals and the score. The verifier does the
# same on a batch drawn from a seed you never see.
set -u
exec python3 /app/vliw.py --seed "${SEED:-1}" --scheduler "${1:-/app/scheduler.py}"
