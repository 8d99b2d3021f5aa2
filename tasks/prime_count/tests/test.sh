#!/bin/bash
# Sealed verifier for prime_count: build-file pin, fresh correctness, then timing.
# Under looplab (LOOPLAB_VERIFIER=1) the harness times /orig/primes against /app/primes side by
# side ([looplab.paired] in task.toml); under plain Harbor this script times them itself.
set -u
out=/logs/verifier/reward.json
mkdir -p /logs/verifier
fail() { printf '{"reward": 0.0, "correct": false, "reason": "%s"}\n' "$1" > "$out"; echo "FAIL: $1"; exit 0; }

# 1. the build files must be the pristine ones (AutoLab-style SHA pin)
want=$(cat /tests/Makefile.sha256)
got=$(sha256sum /app/Makefile | cut -d' ' -f1)
[ "$want" = "$got" ] || fail "Makefile was modified"

# 2. build the candidate (the pristine program was built into /orig with the environment)
[ -x /orig/primes ] || fail "pristine program missing"
make -s -C /app >/dev/null 2>/tmp/build.err || fail "candidate build failed: $(head -c 200 /tmp/build.err | tr '\"\n' "' ")"

# 3. correctness on values of n drawn now
ns=$(python3 -c "import random; r=random.SystemRandom(); print(' '.join(str(x) for x in [0,1,2,3,r.randrange(4,1000),r.randrange(1000,10**5),r.randrange(10**5,3*10**6),r.randrange(3*10**6,2*10**7)]))")
exp=$(python3 /tests/reference_count.py $ns) || fail "reference checker failed"
act=$(timeout 60 /app/primes $ns 2>/dev/null) || fail "candidate crashed or took over 60 s"
[ "$(echo $exp)" = "$(echo $act)" ] || fail "wrong count for some n in: $ns"

# 4. timing
if [ "${LOOPLAB_VERIFIER:-}" = 1 ]; then
  echo '{"reward": 0.0, "correct": true}' > "$out"
else
  python3 /tests/score.py /orig/primes /app/primes 4000000 > /tmp/reward.json && mv /tmp/reward.json "$out" || fail "timing failed"
fi
cat "$out"
