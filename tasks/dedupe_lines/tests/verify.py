"""Check dedupe() on fresh inputs, then time it against the original, side by side."""
import json
import os
import math
import random
import statistics
import subprocess
import sys

NOISE_FLOOR = 1.10
REF_SPEEDUP = 440.0


def null(reason):
    print(json.dumps({"reward": None, "speedup": None, "time_s": None, "correct": False, "error": reason}))
    sys.exit(0)


HARNESS_MEASURES = os.environ.get("LOOPLAB_VERIFIER") == "1"  # looplab times it side by side itself
sys.path.insert(0, "/app")
try:
    from dedupe import dedupe
except Exception as exc:  # noqa: BLE001
    null(f"import failed: {exc}")
rng = random.SystemRandom()
for _ in range(20):
    n = rng.randrange(0, 300)
    lines = [str(rng.randrange(max(1, n // 3))) for _ in range(n)]
    want = list(dict.fromkeys(lines))
    try:
        got = dedupe(list(lines))
    except Exception as exc:  # noqa: BLE001
        null(f"dedupe raised {type(exc).__name__}")
    if list(got) != want:
        null("wrong result on a fresh input")


def run(d, seed):
    out = subprocess.run([sys.executable, "/orig/bench.py", d, "20000", str(seed)], capture_output=True, text=True, timeout=60)
    digest, t = out.stdout.split()
    return float(t), digest


seed = rng.randrange(1 << 30)
b, hb = run("/orig", seed)
c, hc = run("/app", seed)
if hb != hc:
    null("output differs from the original on the timing input")
if HARNESS_MEASURES:
    with open("/tmp/timing_seed", "w") as fh:
        fh.write(str(seed))
    with open("/tmp/timing_digest", "w") as fh:
        fh.write(hb + "\n")
    print(json.dumps({"reward": 0.0, "correct": True}))
    sys.exit(0)

ratios, tc = [], []
for i in range(5):
    seed = rng.randrange(1 << 30)
    b, hb = run("/orig", seed)
    c, hc = run("/app", seed)
    if hb != hc:
        null("output differs from the original on the timing input")
    ratios.append(b / max(c, 1e-9))
    tc.append(c)
s = statistics.median(ratios)
# a speedup within timing noise (< 10%) is no speedup: the untouched program must score 0
reward = 0.0 if s < NOISE_FLOOR else min(1.0, 0.5 * math.log(s) / math.log(REF_SPEEDUP))
print(json.dumps({"reward": round(reward, 4), "correct": True, "speedup": round(s, 2), "time_s": statistics.median(tc)}))
