#!/usr/bin/env python3
"""Verifier of data_selection: the agent's select.py on a fresh pool, the fixed model scored on held-out data.

Under looplab the candidate runner follows ``tests/run.toml`` and calls the three
trusted steps below, each in a jail of its own; select.py runs between them in its
own jail (no /tests, no /data), stopped at 60 CPU seconds of everything it started:

- ``screen SRC``: select.py exists and is at most 256 KiB;
- ``generate SEED INPUT``: a fresh pool (20,000 noisy rows) and clean dev set (300)
  from the hidden world (``world.py``), from seeds derived from SEED, to INPUT;
- ``check INPUT OUTPUT``: reads OUTPUT/selection.json as data (never imports the
  agent's code), draws the clean, class-balanced held-out set (20,000 rows) now
  from /dev/urandom, trains the pristine fixed model (``trainer.py``) on the
  selection and on 16 random selections of the same pool (``dseval.score``), and
  prints the reward JSON. Metric ``accuracy_gain``; reward linear from 0 to the
  reference's gain (1), clipped to [0, 1].

In a plain Harbor container (``test.sh``: ``verify.py --app /app --out /logs/verifier``)
the same steps run in one process, select.py as a child process with its CPU time
bounded (RLIMIT_CPU: the container is the isolation there), and reward.json is written.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dseval  # noqa: E402  (pristine copies next to this file)
import numpy as np  # noqa: E402
import world  # noqa: E402

BASELINE = 0.0  # [optimization.baseline] score: a random selection gains nothing
REFERENCE = 0.15  # [optimization.reference] score: the reference gains 0.15-0.18 over the random mean
METRIC = "accuracy_gain"
SELECT_CPU_S = 60  # CPU seconds of select.py (the runner: its whole jail)
HELDOUT_SIZE = 20000
MAX_SELECT_PY_BYTES = 256 << 10


def linear_reward(value: float) -> float:
    return min(1.0, max(0.0, (value - BASELINE) / (REFERENCE - BASELINE)))


def fail(reason: str, **info: object) -> dict:
    return {"reward": 0.0, "correct": False, "reason": reason, **info}


def screen(src: str) -> str | None:
    """Why select.py cannot be run, or None."""
    path = os.path.join(src, "select.py")
    if not os.path.isfile(path):
        return f"{path} does not exist"
    if os.path.getsize(path) > MAX_SELECT_PY_BYTES:
        return f"{path} is larger than 256 KiB"
    return None


def _save(path: str, x: np.ndarray, y: np.ndarray) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        np.savez(fh, X=x, y=y)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def generate(seed: int, inp: str) -> None:
    rng = random.Random(seed)
    px, py = world.sample("pool", world.POOL_SIZE, rng.getrandbits(63))
    dx, dy = world.sample("clean", world.DEV_SIZE, rng.getrandbits(63))
    _save(os.path.join(inp, "pool.npz"), px, py)
    _save(os.path.join(inp, "dev.npz"), dx, dy)


def check(inp: str, out: str, heldout_seed: int | None = None) -> dict:
    pool = np.load(os.path.join(inp, "pool.npz"))
    px, py = pool["X"], pool["y"]
    try:
        sel = dseval.read_selection(os.path.join(out, "selection.json"), len(py))
    except dseval.SelectionError as exc:
        return fail(f"invalid selection: {exc}")
    seed = int.from_bytes(os.urandom(8), "little") if heldout_seed is None else heldout_seed
    hx, hy = world.sample("clean", HELDOUT_SIZE, seed)  # drawn only now: the candidate is gone
    metrics = dseval.score(px, py, sel, hx, hy)
    return {"reward": linear_reward(metrics[METRIC]), "correct": True, **metrics}


def harbor(app: str, out_dir: str) -> dict:
    """Plain Harbor: screen, generate, run select.py (CPU-bounded child), check, in one process."""
    why = screen(app)
    if why:
        return fail(why)
    work = tempfile.mkdtemp(prefix="ds-verify-")
    try:
        inp, out = os.path.join(work, "input"), os.path.join(work, "output")
        os.makedirs(inp)
        os.makedirs(out)
        generate(int.from_bytes(os.urandom(8), "little"), inp)

        def limits() -> None:
            resource.setrlimit(resource.RLIMIT_CPU, (SELECT_CPU_S, SELECT_CPU_S + 5))

        env = {**os.environ, "DATA": inp, "SELECT_K": str(dseval.K), "SELECT_OUT": f"{out}/selection.json"}
        env.update({k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
        p = subprocess.run(
            [sys.executable, os.path.join(app, "select.py")], cwd=app, env=env, preexec_fn=limits,
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if p.returncode != 0 and not os.path.isfile(os.path.join(out, "selection.json")):
            return fail(f"select.py exited {p.returncode}: {p.stderr.strip()[-300:]}")
        return check(inp, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_reward(out_dir: str, data: dict) -> None:
    os.makedirs(out_dir, exist_ok=True)
    tmp = os.path.join(out_dir, ".reward.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh)
        fh.write("\n")
    os.replace(tmp, os.path.join(out_dir, "reward.json"))


def main() -> None:
    if sys.argv[1:2] == ["screen"]:
        why = screen(sys.argv[2])
        sys.exit(why)
    if sys.argv[1:2] == ["generate"]:
        generate(int(sys.argv[2]), sys.argv[3])
        return
    if sys.argv[1:2] == ["check"]:
        print(json.dumps(check(sys.argv[2], sys.argv[3])))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--app", default="/app")
    ap.add_argument("--out", default="/logs/verifier")
    args = ap.parse_args()
    try:
        result = harbor(args.app, args.out)
    except Exception as exc:  # noqa: BLE001  (a reward must always be written)
        result = fail(f"verifier error: {type(exc).__name__}: {exc}"[:500])
    write_reward(args.out, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
