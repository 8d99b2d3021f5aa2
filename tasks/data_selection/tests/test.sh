#!/bin/bash
# Plain-Harbor verifier of data_selection. Under looplab this is not run: the harness's candidate
# runner follows tests/run.toml (each step in a jail of its own). Here (the container is the
# isolation) verify.py draws a fresh pool, runs /app/select.py under its CPU budget and scores it.
set -u
mkdir -p /logs/verifier
exec python3 /tests/verify.py --app /app --out /logs/verifier
