#!/bin/bash
# Reference solution: install the tuned kernel (solution/kernel.py) as /app/kernel.py.
set -eu
cp "$(dirname "$0")/kernel.py" /app/kernel.py
