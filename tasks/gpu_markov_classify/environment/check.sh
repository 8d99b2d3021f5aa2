#!/bin/bash
# Dev check: train /app/train.py on the development world in /data under the budget, print its error rate.
set -u
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$SECONDS
timeout 80 python3 /app/train.py --data /data --out "$out" --budget 60 || echo "train.py exited with $?"
echo "train.py took $((SECONDS - start)) s (budget 60 s + 20 s grace)"
python3 - "$out" <<'EOT'
import sys, torch
pred = torch.load(sys.argv[1] + "/pred.pt", weights_only=True)
y = torch.load("/data/test_y.pt", weights_only=True)
err = float((pred.long() != y).double().mean())
print("error rate on the development world:", round(err, 5))
EOT
