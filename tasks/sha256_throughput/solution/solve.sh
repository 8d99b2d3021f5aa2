#!/bin/bash
# Reference solution: install the SHA-NI / unrolled-scalar SHA-256 (see reference.md) as /app/solve.c.
set -eu
cp "$(dirname "$0")/solve.c" /app/solve.c
cd /app && make -s prog && bash /app/check.sh --quick
