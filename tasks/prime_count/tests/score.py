"""Plain-Harbor fallback: time baseline vs candidate interleaved on the timed n test.sh drew
(tests/run_timed.sh base|cand, jailed where possible); print reward.json (log-scaled speedup,
capped at 1)."""

import json
import math
import statistics
import subprocess
import time

NOISE_FLOOR = 1.10
REF_SPEEDUP = 68.0  # the reference solution's speedup over the baseline, measured side by side


def t(side):
    t0 = time.perf_counter()
    subprocess.run(["bash", "/tests/run_timed.sh", side], check=True, stdout=subprocess.DEVNULL, timeout=120)
    return time.perf_counter() - t0


t("base"), t("cand")  # warm-up
ratios, tb, tc = [], [], []
for _ in range(5):
    b, c = t("base"), t("cand")
    tb.append(b), tc.append(c), ratios.append(b / c)
s = statistics.median(ratios)
# a speedup within timing noise (< 10%) is no speedup: the untouched program must score 0
reward = 0.0 if s < NOISE_FLOOR else min(1.0, 0.5 * math.log(s) / math.log(REF_SPEEDUP))
print(json.dumps({"reward": round(reward, 4), "correct": True, "speedup": round(s, 3),
                  "baseline_s": round(statistics.median(tb), 4), "time_s": round(statistics.median(tc), 4)}))
