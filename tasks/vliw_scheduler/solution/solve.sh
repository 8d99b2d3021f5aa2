#!/bin/bash
# Reference solution: list scheduling with critical-path priority (see reference.md).
set -euo pipefail
cp /solution/scheduler.py /app/scheduler.py
bash /app/check.sh
