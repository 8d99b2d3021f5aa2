#!/bin/bash
# Sealed verifier for attention_cpu. Builds the pristine baseline and the
# candidate (/app/solve.c with the pristine harness from /orig), checks its output
# against a float64 numpy reference on Q, K, V drawn now from a fresh seed, and
# leaves the timing arguments in /tmp/lb for the harness's paired measurement
# ([looplab.paired] in task.toml; /orig/run_timed.sh). Every build and run of the
# candidate is jailed (tests/verify.py). Without LOOPLAB_VERIFIER it times both itself.
set -u
mkdir -p /logs/verifier
python3 /tests/verify.py
rc=$?
if [ ! -s /logs/verifier/reward.json ]; then
    echo "{\"reward\": 0.0, \"correct\": false, \"reason\": \"verify.py exited with $rc without a result\"}" \
        > /logs/verifier/reward.json
fi
exit 0
