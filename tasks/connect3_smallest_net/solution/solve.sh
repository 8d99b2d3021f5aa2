#!/bin/bash
# Reference solution: the mirror-symmetric conv net (solution/model.py) and its trained weights
# (made by solution/train_reference.sh).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cp "$here/model.py" /app/model.py
cp "$here/weights.pt" /app/weights.pt
