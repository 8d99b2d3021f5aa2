#!/bin/bash
# Sealed verifier of vliw_scheduler: runs /app/scheduler.py under guard on a batch of instances
# generated now from a seed it never sees, checks every schedule and scores the total.
# exec: no shell stays behind that the candidate could tamper with.
set -u
mkdir -p /logs/verifier
exec python3 /tests/verify.py --app /app --out /logs/verifier
