#!/bin/bash
# Verifier of the reward-reproducibility bench task. Builds the pristine baseline and the
# candidate into /tmp/rr (the [looplab.paired] commands run them from there), checks the
# candidate against the baseline on sizes drawn now, and - only when TIME_CANDIDATE=1,
# the AutoLab-style variant - times the candidate alone (median of 3 wall times) as time_s.
set -u
R=/logs/verifier/reward.json
W=/tmp/rr
mkdir -p /logs/verifier "$W"
fail() { printf '{"reward": 0.0, "correct": false, "reason": "%s"}\n' "$1" > "$R"; exit 0; }
gcc -O2 -o "$W/base" /orig/primes.c 2>"$W/base.err" || fail "the pristine baseline does not build"
gcc -O2 -o "$W/cand" /app/primes.c 2>"$W/cand.err" || fail "primes.c does not build"
for n in 0 1 2 3 4 $((RANDOM % 1000 + 5)) $((RANDOM * 4 + 1000)); do
    [ "$("$W/base" "$n")" = "$("$W/cand" "$n" 2>/dev/null)" ] || fail "wrong count below $n"
done
if [ "${TIME_CANDIDATE:-0}" = 1 ]; then
    python3 - "$W/cand" "$N" "$R" <<'PY'
import json, statistics, subprocess, sys, time
cand, n, out = sys.argv[1], sys.argv[2], sys.argv[3]
times = []
for _ in range(3):
    t0 = time.perf_counter()
    subprocess.run([cand, n], check=True, stdout=subprocess.DEVNULL)
    times.append(time.perf_counter() - t0)
json.dump({"reward": 0.0, "correct": True, "time_s": statistics.median(times)}, open(out, "w"))
PY
else
    echo '{"reward": 0.0, "correct": true}' > "$R"
fi
