#!/bin/bash
# Local check: run /app/program.sm (or the file given) on three fixed random vector pairs
# and print the executed-instruction count. The verifier uses fresh vectors you never see.
set -u
prog="${1:-/app/program.sm}"
status=0
for seed in 1 2 3; do
  python3 /app/smvm.py "$prog" --seed "$seed" || status=1
done
exit $status
