#!/bin/bash
# Local dev check: run /app/select.py as the verifier does and score it on /data/check.npz (see evaluate.py).
set -eu
exec python3 /app/evaluate.py "$@"
