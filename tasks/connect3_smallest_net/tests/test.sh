#!/bin/bash
# Sealed verifier of connect3_smallest_net: exports /app/model.py + /app/weights.pt in a jail, then
# counts and runs the exported graph on every scored position with the pristine code in /tests.
# exec: no shell stays behind that the candidate could tamper with.
set -u
mkdir -p /logs/verifier
exec python3 /tests/verify.py --app /app --out /logs/verifier
