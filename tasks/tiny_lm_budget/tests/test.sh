#!/bin/bash
# Sealed verifier of tiny_lm_budget: a fresh language, the agent's train.py run jailed under the
# time budget, held-out bits per character from the pristine evaluator in /tests.
# exec: no shell stays behind that the candidate could tamper with.
set -u
mkdir -p /logs/verifier
exec python3 /tests/verify.py --app /app --data /data --out /logs/verifier
