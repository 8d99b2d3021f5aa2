#!/usr/bin/env python3
"""Local check: run /app/select.py as the verifier does and score its selection on /data/check.npz.

select.py runs jailed like in the verifier (jail.py: 60 CPU seconds, 240 s wall, only
/app/out and /tmp writable) on /data/pool.npz; its selection trains
the fixed model, which is measured on the local labelled test set /data/check.npz
next to the random baseline. The verifier does the same on a fresh pool and a fresh
test set (and check.npz is not there when it runs select.py).

    python3 /app/evaluate.py
    python3 /app/evaluate.py --select other_select.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dseval  # noqa: E402
import jail  # noqa: E402

REFERENCE_GAIN = 0.16  # [optimization.reference] score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--select", default="/app/select.py")
    ap.add_argument("--data", default="/data")
    args = ap.parse_args()
    out_dir = os.path.join(os.path.dirname(os.path.abspath(args.select)), "out")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, "selection.json")
    if os.path.lexists(out):
        os.unlink(out)
    with tempfile.TemporaryDirectory() as logs:
        res = jail.run_jailed(
            [sys.executable, os.path.abspath(args.select)], cwd=os.path.dirname(os.path.abspath(args.select)),
            rw=[out_dir], timeout_s=240, cpu_limit_s=60, log_dir=logs,
            env={"DATA": args.data, "SELECT_K": str(dseval.K), "SELECT_OUT": out},
        )  # fmt: skip
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    if res.timed_out:
        sys.exit("select.py used more than 60 CPU seconds (or 240 s)")
    if res.exit_code != 0:
        sys.exit(f"select.py exited {res.exit_code}")
    pool = np.load(os.path.join(args.data, "pool.npz"))
    check = np.load(os.path.join(args.data, "check.npz"))
    try:
        sel = dseval.read_selection(out, len(pool["y"]))
    except dseval.SelectionError as exc:
        sys.exit(f"invalid selection: {exc}")
    m = dseval.score(pool["X"], pool["y"], sel, check["X"], check["y"])
    reward = min(1.0, max(0.0, m["accuracy_gain"] / REFERENCE_GAIN))
    print(
        json.dumps({**m, "select_cpu_seconds": res.cpu_seconds, "select_wall_seconds": round(res.seconds, 2)})
    )
    print(f"accuracy {m['accuracy']:.4f} vs random {m['baseline_accuracy']:.4f}: "
          f"gain {m['accuracy_gain']:+.4f} -> reward {reward:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
