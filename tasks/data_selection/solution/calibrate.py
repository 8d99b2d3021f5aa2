#!/usr/bin/env python3
"""Calibrate data_selection's reference constant: run the verifier with the reference selector.

For each pool seed, ``tests/verify.py`` runs for real (fresh pool of that seed,
fresh dev and held-out sets, jailed select.py) with ``solution/select.py``, and
once with the starting ``environment/select.py`` (whose gain must be exactly 0).
Prints one JSON line per run and the mean, minimum and 10th percentile of the
reference's accuracy gain:

    python3 solution/calibrate.py --seeds 1 2 3 4 5 6 7 8 9 10 --work /var/tmp/ds-calibration
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


def run(selector: Path, seed: int, work: Path) -> dict:
    app, data, out = work / "app", work / "data", work / "out"
    for p in (app, data, out):
        shutil.rmtree(p, ignore_errors=True)
        p.mkdir(parents=True)
    for f in ("trainer.py", "dseval.py"):
        shutil.copy(TASK / "environment" / f, app / f)
    shutil.copy(selector, app / "select.py")
    r = subprocess.run(
        [sys.executable, str(TASK / "tests" / "verify.py"), "--app", str(app), "--data", str(data),
         "--out", str(out), "--pool-seed", str(seed)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(1, 11)))
    ap.add_argument("--work", default="/var/tmp/ds-calibration", help="not under /tmp (the jail hides /tmp)")
    args = ap.parse_args()
    gains = []
    for seed in args.seeds:
        for name, path in (
            ("baseline", TASK / "environment" / "select.py"),
            ("reference", TASK / "solution" / "select.py"),
        ):
            res = run(path, seed, Path(args.work))
            print(json.dumps({"selector": name, "pool_seed": seed, **res}), flush=True)
            if name == "reference" and res.get("correct"):
                gains.append(res["accuracy_gain"])
    gains.sort()
    p10 = gains[max(0, int(0.1 * len(gains)) - 1)] if len(gains) >= 10 else gains[0]
    print(f"reference accuracy_gain: mean {statistics.mean(gains):.4f} min {gains[0]:.4f} "
          f"p10 {p10:.4f} max {gains[-1]:.4f} over {len(gains)} pools")  # fmt: skip


if __name__ == "__main__":
    main()
