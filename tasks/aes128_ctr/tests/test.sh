#!/bin/bash
# Sealed verifier of the aes128_ctr task. Rebuilds the baseline (/orig) and the
# candidate (the agent's /app/aes.c) with the pristine Makefile and harness,
# checks the candidate on inputs drawn fresh now, and leaves the timing input in
# /tmp/aes128_ctr for looplab's paired timer ([looplab.paired] in task.toml).
set -u
W=/tmp/aes128_ctr
R=/logs/verifier/reward.json
mkdir -p /logs/verifier
rm -rf "$W" "$R"
mkdir -p "$W"
fail() {
    python3 -c 'import json,sys; json.dump({"reward": 0.0, "correct": False, "reason": sys.argv[1]}, open(sys.argv[2], "w"))' "$1" "$R"
    exit 0
}
trap '[ -s "$R" ] || fail "the verifier stopped before writing a reward"' EXIT
make -s -f /orig/Makefile SRC=/orig BUILD="$W/base" >"$W/base_build.log" 2>&1 ||
    fail "the pristine baseline does not build: $(tail -c 400 "$W/base_build.log")"
make -s -f /orig/Makefile SRC=/app BUILD="$W/cand" >"$W/cand_build.log" 2>&1 ||
    fail "aes.c does not build: $(tail -c 400 "$W/cand_build.log")"
python3 /tests/verify.py
