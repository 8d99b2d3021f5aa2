"""Time baseline vs candidate interleaved; print reward.json (log-scaled speedup, capped at 1)."""
import json
import math
import statistics
import subprocess
import sys
import time

base, cand, n = sys.argv[1], sys.argv[2], sys.argv[3]
NOISE_FLOOR = 1.10
REF_SPEEDUP = 68.0  # the reference solution's speedup over the baseline, measured side by side


def t(cmd):
    t0 = time.perf_counter()
    subprocess.run([cmd, n], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


t(base), t(cand)  # warm-up
ratios, tb, tc = [], [], []
for _ in range(5):
    b, c = t(base), t(cand)
    tb.append(b), tc.append(c), ratios.append(b / c)
s = statistics.median(ratios)
# a speedup within timing noise (< 10%) is no speedup: the untouched program must score 0
reward = 0.0 if s < NOISE_FLOOR else min(1.0, 0.5 * math.log(s) / math.log(REF_SPEEDUP))
print(json.dumps({"reward": round(reward, 4), "correct": True, "speedup": round(s, 3),
                  "baseline_s": round(statistics.median(tb), 4), "time_s": round(statistics.median(tc), 4)}))
