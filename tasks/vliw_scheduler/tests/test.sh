#!/bin/bash
# Plain-Harbor verifier of vliw_scheduler. Under looplab this is not run: the harness's candidate
# runner follows tests/run.toml (each step in a jail of its own). Here (the container is the
# isolation) verify.py draws a batch from a fresh seed, runs /app/scheduler.py and scores it.
set -u
mkdir -p /logs/verifier
exec python3 /tests/verify.py --app /app --out /logs/verifier
