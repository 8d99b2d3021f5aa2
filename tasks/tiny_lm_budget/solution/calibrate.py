#!/usr/bin/env python3
"""Calibrate tiny_lm_budget's reference constant: run the verifier with the reference trainer.

For each of several fixed language seeds, ``tests/verify.py`` runs for real (fresh
corpus of that language, the reference ``solution/train.py`` and the starting
``environment/train.py`` each trained jailed under the CPU budget, held-out rows
from fresh seeds) and prints its reward.json as one JSON line; then the mean and
range of the baseline's bpc, the reference's bpc and the gain. Run on the machine
the task is scored on:

    python3 solution/calibrate.py --seeds 11 12 13 14 15 --work /var/tmp/lm-calibration
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

TASK = Path(__file__).resolve().parents[1]


def run(seed: int, work: Path) -> dict:
    app, orig, data, out = work / "app", work / "orig", work / "data", work / "out"
    for p in (app, orig, data, out):
        shutil.rmtree(p, ignore_errors=True)
        p.mkdir(parents=True)
    for f in ("lmdata.py", "lmeval.py"):
        shutil.copy(TASK / "environment" / f, app / f)
    shutil.copy(TASK / "solution" / "train.py", app / "train.py")
    for f in ("lmdata.py", "train.py"):
        shutil.copy(TASK / "environment" / f, orig / f)
    r = subprocess.run(
        [sys.executable, str(TASK / "tests" / "verify.py"), "--app", str(app), "--data", str(data),
         "--out", str(out), "--lang-seed", str(seed), "--pristine", str(orig)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13, 14, 15])
    ap.add_argument("--work", default="/var/tmp/lm-calibration", help="not under /tmp (the jail hides /tmp)")
    args = ap.parse_args()
    rows = []
    for seed in args.seeds:
        res = run(seed, Path(args.work))
        print(json.dumps({"lang_seed": seed, **res}), flush=True)
        if res.get("correct"):
            rows.append(res)
    for key in ("baseline_bpc", "bpc", "bpc_gain", "train_cpu_seconds", "train_wall_seconds"):
        vals = [r[key] for r in rows]
        print(
            f"{key}: mean {statistics.mean(vals):.4f} min {min(vals):.4f} max {max(vals):.4f} over {len(vals)}"
        )


if __name__ == "__main__":
    main()
