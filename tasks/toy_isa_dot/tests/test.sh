#!/bin/bash
# Sealed verifier of toy_isa_dot: the pristine simulator in /tests runs /app/dot.asm on
# vectors drawn now (seed from /dev/urandom) and counts cycles.
set -u
mkdir -p /logs/verifier
python3 /tests/verify.py --app /app --out /logs/verifier
if [ ! -s /logs/verifier/reward.json ]; then
  printf '{"reward": 0.0, "correct": false, "reason": "the verifier crashed before writing a reward"}\n' \
    > /logs/verifier/reward.json
fi
exit 0
