#!/bin/bash
# Reference solution: the filtering selector replaces /app/select.py (the verifier runs it on a fresh pool).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cp "$here/select.py" /app/select.py
