#!/bin/bash
# Local dev check: score /app/model.py + /app/weights.pt exactly as the verifier does (see evaluate.py).
set -eu
exec python3 /app/evaluate.py "$@"
