#!/bin/bash
# Sealed verifier of sorting_network16: the pristine checker in /tests scores /app/network.txt.
set -u
mkdir -p /logs/verifier
python3 /tests/verify.py --app /app --out /logs/verifier
if [ ! -s /logs/verifier/reward.json ]; then
  printf '{"reward": 0.0, "correct": false, "reason": "the verifier crashed before writing a reward"}\n' \
    > /logs/verifier/reward.json
fi
exit 0
