#!/usr/bin/env python3
"""Sealed verifier of splay_adversary: run /app/gen.py, count the splay tree's rotations on its sequence.

gen.py runs once, guarded (guard.py: non-dumpable verifier, subreaper that kills
everything the candidate leaves behind, stdout captured to a file, 60 s wall
limit). Its standard output must be exactly 10000 integer keys in 1..1023 and
nothing else; the pristine simulator (/tests/splay.py, imported before gen.py
starts) counts the rotations. Nothing gen.py prints besides the keys, nor any file
it writes, can change the count. The reward is linear between the baseline (random
keys, 114459 rotations, 0.0) and the reference (154483, 1.0), clipped to [0, 1].
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guard  # noqa: E402  (pristine copies next to this file)
import splay  # noqa: E402

BASELINE = 114459.0  # [optimization.baseline] score in task.toml
REFERENCE = 154483.0  # [optimization.reference] score in task.toml
METRIC = "rotations"
GEN_TIMEOUT_S = 60.0

try:  # imported now: nothing is imported after the candidate has run
    from looplab.verify.rewards import linear_reward as _shared_linear
except ImportError:  # plain Harbor without looplab: the same formula below
    _shared_linear = None


def linear_reward(value: float) -> float:
    if _shared_linear is None:
        return min(1.0, max(0.0, (value - BASELINE) / (REFERENCE - BASELINE)))
    return float(_shared_linear(value, BASELINE, REFERENCE))


def verify(app: str) -> dict:
    gen = os.path.join(app, "gen.py")
    if not os.path.isfile(gen):
        return {"reward": 0.0, "correct": False, "reason": f"{gen} does not exist"}
    res = guard.run_candidate([sys.executable, gen], None, GEN_TIMEOUT_S, splay.MAX_OUTPUT_BYTES)
    info = {"gen_seconds": round(res.seconds, 3)}
    if res.timed_out:
        return {
            "reward": 0.0,
            "correct": False,
            "reason": f"gen.py ran longer than {GEN_TIMEOUT_S:.0f} s",
            **info,
        }
    if res.exit_code != 0:
        tail = res.stderr.decode("utf-8", "replace")[-500:]
        return {
            "reward": 0.0,
            "correct": False,
            "reason": f"gen.py exited with {res.exit_code}: {tail}",
            **info,
        }
    if len(res.stdout) > splay.MAX_OUTPUT_BYTES:
        return {"reward": 0.0, "correct": False, "reason": "gen.py printed more than 1 MiB", **info}
    try:
        seq = splay.parse_sequence(res.stdout.decode("utf-8", errors="replace"))
    except splay.SequenceError as exc:
        return {"reward": 0.0, "correct": False, "reason": f"gen.py's output: {exc}", **info}
    rot = splay.total_rotations(seq)
    return {
        "reward": linear_reward(rot),
        "correct": True,
        METRIC: rot,
        "rotations_per_access": rot / len(seq),
        **info,
    }


def main() -> None:
    guard.harden_self()
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", default="/app")
    ap.add_argument("--out", default="/logs/verifier")
    args = ap.parse_args()
    try:
        data = verify(args.app)
    except Exception as exc:  # never leave without a reward file
        data = {"reward": 0.0, "correct": False, "reason": f"verifier error: {type(exc).__name__}: {exc}"}
    guard.write_reward(args.out, data)
    print(json.dumps(data))


if __name__ == "__main__":
    main()
