#!/bin/bash
# Dev check: the verifier's trusted driver on /app/kernel.py against the pristine /orig/kernel.py, quickly
# (fewer rounds than the verifier). Prints the JSON result: correct, speedup, its interval, the CVs.
set -u
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cat > "$d/gpu.toml" <<EOT
spec = "/app/spec.py"
baseline = "/orig/kernel.py"
candidate = "/app/kernel.py"
correctness_runs = 2
warmup = 2
min_pairs = 4
max_pairs = 8
max_seconds = 20
EOT
python3 -m looplab.measure.gpu verify --decl "$d/gpu.toml" --out "$d/result.json"
