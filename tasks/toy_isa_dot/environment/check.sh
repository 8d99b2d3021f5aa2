#!/bin/bash
# Local check: simulate /app/dot.asm (or the file given) on three fixed random vector pairs
# and print the cycle count. The verifier uses fresh vectors you never see.
set -u
prog="${1:-/app/dot.asm}"
status=0
for seed in 1 2 3; do
  python3 /app/toysim.py "$prog" --seed "$seed" || status=1
done
exit $status
