#!/bin/bash
# Sealed verifier of data_selection: a fresh pool, the agent's select.py run jailed, the pristine fixed
# model trained on its selection and on the random baseline's, both measured on a held-out set drawn after.
# exec: no shell stays behind that the candidate could tamper with.
set -u
mkdir -p /logs/verifier
exec python3 /tests/verify.py --app /app --data /data --out /logs/verifier
