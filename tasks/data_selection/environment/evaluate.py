#!/usr/bin/env python3
"""Local check: run /app/select.py as the verifier does and score its selection on /data/check.npz.

select.py runs with the verifier's environment (one thread, DATA, SELECT_K, SELECT_OUT)
and its 60-CPU-second budget (RLIMIT_CPU here; the verifier stops its whole jail) on
/data/pool.npz; its selection trains the fixed model, which is measured on the local
labelled test set /data/check.npz next to 16 random selections (``dseval.score``).
The verifier does the same on a fresh pool and a fresh test set, in jails (and
/data, check.npz with it, is not there when it runs select.py).

    python3 /app/evaluate.py
    python3 /app/evaluate.py --select other_select.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dseval  # noqa: E402

REFERENCE_GAIN = 0.15  # [optimization.reference] score


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
    env = {**os.environ, "DATA": args.data, "SELECT_K": str(dseval.K), "SELECT_OUT": out}
    env.update({k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run(
        [sys.executable, os.path.abspath(args.select)], cwd=os.path.dirname(os.path.abspath(args.select)),
        env=env, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CPU, (60, 65)), check=False,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if res.returncode != 0 and not os.path.isfile(out):
        sys.exit(f"select.py exited {res.returncode} (after {cpu:.1f} CPU s; the budget is 60)")
    pool = np.load(os.path.join(args.data, "pool.npz"))
    check = np.load(os.path.join(args.data, "check.npz"))
    try:
        sel = dseval.read_selection(out, len(pool["y"]))
    except dseval.SelectionError as exc:
        sys.exit(f"invalid selection: {exc}")
    m = dseval.score(pool["X"], pool["y"], sel, check["X"], check["y"])
    reward = min(1.0, max(0.0, m["accuracy_gain"] / REFERENCE_GAIN))
    print(json.dumps({**m, "select_cpu_seconds": round(cpu, 2)}))
    print(f"accuracy {m['accuracy']:.4f} vs random {m['baseline_accuracy']:.4f} ± {m['baseline_accuracy_sd']:.4f}: "
          f"gain {m['raw_gain']:+.4f} (counted {m['accuracy_gain']:+.4f}) -> reward {reward:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
