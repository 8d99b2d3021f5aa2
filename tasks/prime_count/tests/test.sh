#!/bin/bash
# Sealed verifier for prime_count: build-file pin, fresh correctness, a fresh timing input.
# Every run of the agent's code (its build included) happens in the nested jail of
# tests/run_timed.sh: read-only, /logs /tests and the expected counts out of sight, no fork.
# Under looplab (LOOPLAB_VERIFIER=1) the harness then times the baseline against the candidate
# on the timed n side by side ([looplab.paired] in task.toml, through run_timed.sh base|cand);
# under plain Harbor this script times them itself (tests/score.py).
set -u
W=/tmp/prime_count
out=/logs/verifier/reward.json
mkdir -p /logs/verifier
rm -rf "$W" "$out"
mkdir -p "$W/bin" "$W/build"
jailed=false
fail() {
    python3 -c 'import json,sys; json.dump({"reward": 0.0, "correct": False, "reason": sys.argv[1], "jailed": sys.argv[3] == "true"}, open(sys.argv[2], "w"))' "$1" "$out" "$jailed"
    echo "FAIL: $1"
    exit 0
}
trap '[ -s "$out" ] || fail "the verifier stopped before writing a reward"' EXIT
jail() { bash /tests/run_timed.sh jail "$@"; }

# 0. the nested jail: required under looplab; plain Harbor falls back to running unjailed
python3 /tests/nofork_bpf.py "$W/nofork.bpf" || fail "cannot write the seccomp filter"
touch "$W/jail.ok"
if jail /bin/true 2>"$W/jail.err"; then
    jailed=true
else
    rm -f "$W/jail.ok"
    [ "${LOOPLAB_VERIFIER:-}" = 1 ] && fail "the nested jail (bwrap) does not start: $(head -c 200 "$W/jail.err" | tr '\"\n' "' ")"
fi

# 1. the build files must be the pristine ones (AutoLab-style SHA pin)
want=$(cat /tests/Makefile.sha256)
got=$(sha256sum /app/Makefile | cut -d' ' -f1)
[ "$want" = "$got" ] || fail "Makefile was modified"

# 2. build both programs with the pristine Makefile and main.c, each in its own folder
[ -f /orig/primes.c ] || fail "pristine program missing"
for side in base cand; do
    d="$W/build/$side"
    mkdir -p "$d"
    cp /orig/Makefile /orig/main.c "$d/"
    if [ $side = base ]; then cp /orig/primes.c "$d/"; else cp /app/primes.c "$d/" || fail "primes.c is missing"; fi
    if [ "$jailed" = true ]; then
        bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --bind "$d" "$d" --tmpfs /logs --tmpfs /tests \
            --unshare-all --die-with-parent --new-session -- make -s -C "$d" >/dev/null 2>"$W/$side.err"
    else
        make -s -C "$d" >/dev/null 2>"$W/$side.err"
    fi || fail "$side build failed: $(head -c 200 "$W/$side.err" | tr '\"\n' "' ")"
    cp "$d/primes" "$W/bin/$side" || fail "$side build left no program"
done

# 3. correctness on values of n drawn now, then on the timed n, also drawn now (from 3.5 to
#    4.5 million; the same n for both programs in every timed run)
ns=$(python3 -c "import random; r=random.SystemRandom(); print(' '.join(str(x) for x in [0,1,2,3,r.randrange(4,1000),r.randrange(1000,10**5),r.randrange(10**5,3*10**6),r.randrange(3*10**6,2*10**7)]))")
tn=$(python3 -c "import random; print(random.SystemRandom().randrange(3_500_000, 4_500_001))")
exp=$(python3 /tests/reference_count.py $ns $tn) || fail "reference checker failed"
read -r -a counts <<<"$exp"
act=$(timeout 60 bash /tests/run_timed.sh jail "$W/bin/cand" $ns 2>/dev/null) || fail "candidate crashed or took over 60 s"
[ "${counts[*]:0:8}" = "$(echo $act)" ] || fail "wrong count for some n in: $ns"
echo "$tn" > "$W/timing.n"
echo "${counts[8]}" > "$W/timing.expected"
timeout 60 bash /tests/run_timed.sh cand >/dev/null 2>&1 || fail "wrong count (or no answer within 60 s) for the timed n = $tn"

# 4. timing
if [ "${LOOPLAB_VERIFIER:-}" = 1 ]; then
    echo "{\"reward\": 0.0, \"correct\": true, \"timed_n\": $tn, \"jailed\": $jailed}" > "$out"
else
    python3 /tests/score.py > "$W/reward.json" && mv "$W/reward.json" "$out" || fail "timing failed"
fi
cat "$out"
