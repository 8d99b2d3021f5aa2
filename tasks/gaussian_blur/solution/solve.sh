#!/bin/bash
# Reference solution: install the separable AVX2 Gaussian blur (see reference.md) as /app/solve.c.
set -eu
cp "$(dirname "$0")/solve.c" /app/solve.c
cd /app && make -s prog && bash /app/check.sh --quick
