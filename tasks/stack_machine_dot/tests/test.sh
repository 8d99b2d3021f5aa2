#!/bin/bash
# Sealed verifier of stack_machine_dot: the pristine interpreter in /tests runs /app/program.sm
# on vectors drawn now (seed from /dev/urandom) and counts executed instructions.
set -u
mkdir -p /logs/verifier
python3 /tests/verify.py --app /app --out /logs/verifier
if [ ! -s /logs/verifier/reward.json ]; then
  printf '{"reward": 0.0, "correct": false, "reason": "the verifier crashed before writing a reward"}\n' \
    > /logs/verifier/reward.json
fi
exit 0
