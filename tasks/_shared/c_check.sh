#!/bin/bash
# Local dev check: build /app/prog with the fixed Makefile, check correctness on
# small fixed inputs, then time the baseline and your build once on the timing
# size. `bash /app/check.sh --quick` skips the timing.
set -u
cd /app || exit 1
make -s prog || { echo "build FAILED"; exit 1; }
python3 /app/check.py "$@"
