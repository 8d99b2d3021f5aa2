#!/bin/bash
# Sealed verifier: a fresh world, the pristine and the agent's train.py jailed on this trial's GPU under
# the same budget, held-out loss from the pristine evaluator in /tests (tests/verify.py).
set -u
mkdir -p /logs/verifier
python3 /tests/verify.py --out /logs/verifier
if [ ! -s /logs/verifier/reward.json ]; then
    echo '{"correct": false, "gain": 0.0, "reason": "verify.py wrote no result"}' > /logs/verifier/reward.json
fi
exit 0
