#!/usr/bin/env python3
"""Sealed verifier of data_selection: run the agent's select.py on a fresh pool, score the fixed model.

1. A fresh pool (20,000 noisy rows) and a fresh clean dev set (300 rows) are drawn
   from the hidden world (``world.py``) with seeds read from /dev/urandom; inside the
   jail they are /data/pool.npz and /data/dev.npz (a read-only folder shown over the
   pristine /data, so the local test set /data/check.npz is not there).
2. ``/app/select.py`` (the only file carried from the agent) runs jailed (``jail.py``:
   read-only filesystem except /app/out, /tests and /logs hidden, own PID namespace,
   no network) and is killed once it has used 60 CPU seconds (or after 240 s). Its selection must be exactly 2,000
   distinct pool indices (``dseval.read_selection``).
3. Only then is the clean, class-balanced held-out set (20,000 rows) drawn, with
   another fresh seed. The pristine fixed model (``trainer.py``) is trained on the
   selected rows and on the random baseline's rows; both are measured on it.
4. Metric ``accuracy_gain`` = accuracy - baseline accuracy; reward linear from 0
   (the random baseline) to the reference gain (1), clipped to [0, 1].
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dseval  # noqa: E402  (pristine copies next to this file)
import jail  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import world  # noqa: E402

BASELINE = 0.0  # [optimization.baseline] score: the random selection gains nothing over itself
REFERENCE = 0.16  # [optimization.reference] score: the reference gains 0.15-0.20
METRIC = "accuracy_gain"
SELECT_CPU_S = 60  # CPU seconds of select.py's whole process tree
SELECT_WALL_S = 240  # and a wall-clock cap
HELDOUT_SIZE = 20000
MAX_SELECT_PY_BYTES = 256 << 10

try:  # imported now: nothing is imported after the candidate has run
    from looplab.verify.rewards import linear_reward as _shared_linear
except ImportError:  # plain Harbor without looplab: the same formula below
    _shared_linear = None


def linear_reward(value: float) -> float:
    if _shared_linear is None:
        return min(1.0, max(0.0, (value - BASELINE) / (REFERENCE - BASELINE)))
    return float(_shared_linear(value, BASELINE, REFERENCE))


def fail(reason: str, **info: object) -> dict:
    return {"reward": 0.0, "correct": False, "reason": reason, **info}


def _seed() -> int:
    return int.from_bytes(os.urandom(8), "little")


def _save(path: str, x: np.ndarray, y: np.ndarray) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        np.savez(fh, X=x, y=y)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def verify(app: str, data: str, pool_seed: int | None = None) -> dict:
    select_py = os.path.join(app, "select.py")
    if not os.path.isfile(select_py):
        return fail(f"{select_py} does not exist")
    if os.path.getsize(select_py) > MAX_SELECT_PY_BYTES:
        return fail(f"{select_py} is larger than 256 KiB")
    scratch = tempfile.mkdtemp(prefix="ds-verify-")  # private: the jail has its own /tmp
    os.chmod(scratch, 0o755)
    try:
        return _verify(app, data, pool_seed, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _verify(app: str, data: str, pool_seed: int | None, scratch: str) -> dict:
    select_py = os.path.join(app, "select.py")
    px, py = world.sample("pool", world.POOL_SIZE, _seed() if pool_seed is None else pool_seed)
    dx, dy = world.sample("clean", world.DEV_SIZE, _seed())
    fresh = os.path.join(scratch, "data")  # shown at /data in the jail: pool + dev, no check.npz
    os.makedirs(fresh)
    os.chmod(fresh, 0o755)
    _save(os.path.join(fresh, "pool.npz"), px, py)
    _save(os.path.join(fresh, "dev.npz"), dx, dy)
    out_dir = os.path.join(app, "out")
    if os.path.islink(out_dir) or os.path.isfile(out_dir):
        os.unlink(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    sel_path = os.path.join(out_dir, "selection.json")
    logs = os.path.join(scratch, "logs")
    jailed = jail.bwrap_works()
    res = jail.run_jailed(
        [sys.executable, select_py], cwd=app, rw=[out_dir], timeout_s=SELECT_WALL_S, cpu_limit_s=SELECT_CPU_S,
        log_dir=logs, ro_binds=[(fresh, data)] if jailed else [],
        env={"DATA": data if jailed else fresh, "SELECT_K": str(dseval.K), "SELECT_OUT": sel_path},
    )  # fmt: skip
    info = {
        "select_cpu_seconds": res.cpu_seconds,
        "select_wall_seconds": round(res.seconds, 3),
        "select_exit_code": res.exit_code,
        "jail": res.mode,
    }
    tail = (res.stderr.strip().splitlines() or [""])[-1][-300:]
    if res.timed_out:
        return fail(
            f"select.py used more than {SELECT_CPU_S} CPU seconds (or {SELECT_WALL_S} s of wall clock)",
            **info,
        )
    if res.exit_code != 0:
        return fail(f"select.py exited {res.exit_code}: {tail}", **info)
    try:
        sel = dseval.read_selection(sel_path, len(py))
    except dseval.SelectionError as exc:
        return fail(f"invalid selection: {exc}", **info)
    hx, hy = world.sample("clean", HELDOUT_SIZE, _seed())  # drawn only now: the candidate is gone
    metrics = dseval.score(px, py, sel, hx, hy)
    return {"reward": linear_reward(metrics[METRIC]), "correct": True, **metrics, **info}


def write_reward(out_dir: str, data: dict) -> None:
    """Write reward.json atomically, undoing anything done to out_dir meanwhile."""
    if os.path.islink(out_dir) or (os.path.exists(out_dir) and not os.path.isdir(out_dir)):
        os.unlink(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    for name in ("reward.json", "reward.txt"):
        p = os.path.join(out_dir, name)
        if os.path.islink(p) or os.path.isfile(p):
            os.unlink(p)
        elif os.path.isdir(p):
            shutil.rmtree(p, ignore_errors=True)
    tmp = os.path.join(out_dir, ".reward.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh)
        fh.write("\n")
    os.replace(tmp, os.path.join(out_dir, "reward.json"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--app", default="/app")
    ap.add_argument("--data", default="/data")
    ap.add_argument("--out", default="/logs/verifier")
    ap.add_argument("--pool-seed", type=int, default=None, help="fix the pool (calibration only)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    try:
        result = verify(args.app, args.data, args.pool_seed)
    except Exception as exc:  # noqa: BLE001  (a reward must always be written)
        result = fail(f"verifier error: {type(exc).__name__}: {exc}"[:500])
    write_reward(args.out, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
