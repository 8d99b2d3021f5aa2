#!/bin/bash
# Plain-Harbor verifier of splay_adversary. Under looplab this is not run: the harness's candidate
# runner follows tests/run.toml (each step in a jail of its own). Here (the container is the
# isolation) verify.py runs /app/gen.py and counts the rotations of what it printed.
set -u
mkdir -p /logs/verifier
exec python3 /tests/verify.py --app /app --out /logs/verifier
