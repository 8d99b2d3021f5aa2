#!/bin/bash
# Sealed verifier of the bm25_search task. Runs the agent's /app/search.py under
# the pristine driver (/orig/bench.py) on inputs drawn fresh now, checks every
# answer against an independent BM25, and leaves the timing input in
# /tmp/bm25_search for looplab's paired timer ([looplab.paired] in task.toml).
set -u
W=/tmp/bm25_search
R=/logs/verifier/reward.json
mkdir -p /logs/verifier
rm -rf "$W" "$R"
mkdir -p "$W"
fail() {
    python3 -c 'import json,sys; json.dump({"reward": 0.0, "correct": False, "reason": sys.argv[1]}, open(sys.argv[2], "w"))' "$1" "$R"
    exit 0
}
trap '[ -s "$R" ] || fail "the verifier stopped before writing a reward"' EXIT
[ -f /app/search.py ] || fail "/app/search.py is missing"
python3 /tests/verify.py
