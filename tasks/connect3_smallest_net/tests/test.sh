#!/bin/bash
# Plain-Harbor verifier of connect3_smallest_net. Under looplab this is not run: the harness's
# candidate runner follows tests/run.toml (the export in a jail of its own, the graph scored in a
# trusted one). Here (the container is the isolation) verify.py exports /app/model.py +
# /app/weights.pt in a child process, then counts and runs the graph with the pristine code.
set -u
mkdir -p /logs/verifier
exec python3 /tests/verify.py --app /app --out /logs/verifier
