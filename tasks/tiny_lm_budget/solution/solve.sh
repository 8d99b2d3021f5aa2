#!/bin/bash
# Reference solution: the GRU trainer replaces /app/train.py (the verifier runs it under the budget).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cp "$here/train.py" /app/train.py
