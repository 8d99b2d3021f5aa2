#!/bin/bash
# How solution/weights.pt was made: the task's own trainer (environment/train.py) on the reference
# architecture, with a larger learning rate. Run from anywhere; needs the dataset, built here.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
env_dir="$here/../environment"
data=$(mktemp -d)/connect3.npz
python3 "$env_dir/connect3.py" --out "$data"
python3 "$env_dir/train.py" --model "$here/model.py" --out "$here/weights.pt" --data "$data" \
  --epochs 30 --lr 1e-2 --seed 0 --threads 1
rm -f "$data"
