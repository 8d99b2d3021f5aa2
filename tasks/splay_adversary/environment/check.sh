#!/bin/bash
# Local check: run /app/gen.py (or the file given), validate its output and count rotations.
# The verifier does the same with its own pristine simulator.
set -u
gen="${1:-/app/gen.py}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s%N)
if ! python3 "$gen" > "$out"; then
  echo "FAIL: $gen exited with an error"
  exit 1
fi
end=$(date +%s%N)
echo "gen.py ran in $(( (end - start) / 1000000 )) ms (the verifier allows 60 s)"
exec python3 /app/splay.py "$out"
