#!/usr/bin/env python3
"""Verifier of splay_adversary: run /app/gen.py, count the splay tree's rotations on its sequence.

Under looplab the harness's candidate runner follows tests/run.toml (exact mode): gen.py
runs once in a jail of its own (60 s; no /tests, nothing writable but its /tmp and
/output), and a trusted jail that never loads gen.py runs ``verify.py check OUTPUT``
on what it printed. In a plain Harbor container (the container is the isolation)
``verify.py --app /app --out /logs/verifier`` runs gen.py and checks it in one process.
Its standard output must be exactly 10000 integer keys in 1..1023 and nothing else;
the pristine simulator (/tests/splay.py) counts the rotations. Nothing gen.py prints
besides the keys, nor any file it writes, can change the count. The reward is linear
between the baseline (random keys, 114459 rotations, 0.0) and the reference (154483,
1.0), clipped to [0, 1].
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import splay  # noqa: E402  (the pristine copy next to this file)

BASELINE = 114459.0  # [optimization.baseline] score in task.toml
REFERENCE = 154483.0  # [optimization.reference] score in task.toml
METRIC = "rotations"
GEN_TIMEOUT_S = 60.0


def linear_reward(value: float) -> float:
    try:
        from looplab.verify.rewards import linear_reward as shared
    except ImportError:  # plain Harbor without looplab: the same formula
        return min(1.0, max(0.0, (value - BASELINE) / (REFERENCE - BASELINE)))
    return float(shared(value, BASELINE, REFERENCE))


def score(stdout: bytes) -> dict:
    """The reward of what gen.py printed."""
    if len(stdout) > splay.MAX_OUTPUT_BYTES:
        return {"reward": 0.0, "correct": False, "reason": "gen.py printed more than 1 MiB"}
    try:
        seq = splay.parse_sequence(stdout.decode("utf-8", errors="replace"))
    except splay.SequenceError as exc:
        return {"reward": 0.0, "correct": False, "reason": f"gen.py's output: {exc}"}
    rot = splay.total_rotations(seq)
    return {
        "reward": linear_reward(rot),
        "correct": True,
        METRIC: rot,
        "rotations_per_access": rot / len(seq),
    }


def check(output_dir: str) -> dict:
    with open(os.path.join(output_dir, "stdout"), "rb") as fh:
        return score(fh.read(splay.MAX_OUTPUT_BYTES + 1))


def verify_plain(app: str) -> dict:
    """Plain Harbor: run gen.py (no jail: the container is the isolation) and score its output."""
    gen = os.path.join(app, "gen.py")
    if not os.path.isfile(gen):
        return {"reward": 0.0, "correct": False, "reason": f"{gen} does not exist"}
    t0 = time.monotonic()
    try:
        p = subprocess.run(
            [sys.executable, gen], stdin=subprocess.DEVNULL, capture_output=True, timeout=GEN_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return {"reward": 0.0, "correct": False, "reason": f"gen.py ran longer than {GEN_TIMEOUT_S:.0f} s"}
    info = {"gen_seconds": round(time.monotonic() - t0, 3)}
    if p.returncode != 0:
        tail = p.stderr.decode("utf-8", "replace")[-500:]
        return {
            "reward": 0.0,
            "correct": False,
            "reason": f"gen.py exited with {p.returncode}: {tail}",
            **info,
        }
    return {**score(p.stdout), **info}


def write_reward(out_dir: str, data: dict) -> None:
    os.makedirs(out_dir, exist_ok=True)
    tmp = os.path.join(out_dir, ".reward.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh)
        fh.write("\n")
    os.replace(tmp, os.path.join(out_dir, "reward.json"))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "check":  # check OUTPUT_DIR: the reward JSON
        print(json.dumps(check(sys.argv[2])))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", default="/app")
    ap.add_argument("--out", default="/logs/verifier")
    args = ap.parse_args()
    try:
        data = verify_plain(args.app)
    except Exception as exc:  # never leave without a reward file
        data = {"reward": 0.0, "correct": False, "reason": f"verifier error: {type(exc).__name__}: {exc}"}
    write_reward(args.out, data)
    print(json.dumps(data))


if __name__ == "__main__":
    main()
