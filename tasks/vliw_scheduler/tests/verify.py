#!/usr/bin/env python3
"""Sealed verifier of vliw_scheduler: run /app/scheduler.py on fresh hidden instances, check, score.

A batch of 60 instances is generated from a seed drawn now (os.urandom; it only
lives in this process's memory). The scheduler runs once on the batch, guarded
(guard.py: non-dumpable verifier, subreaper that kills whatever the candidate
leaves behind, output through files, 60 s wall limit). Every schedule must be
valid. The metric is excess_ratio = (cycles - lower bound) / (in-order baseline -
lower bound), summed over the batch: the baseline scores exactly 1.0 (reward 0)
and the reference list scheduler about 0.0048 (reward 1); linear in between,
clipped to [0, 1].
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guard  # noqa: E402  (pristine copies next to this file)
import vliw  # noqa: E402

BASELINE = 1.0  # [optimization.baseline] score in task.toml
REFERENCE = 0.0048  # [optimization.reference] score in task.toml
METRIC = "excess_ratio"
TIMEOUT_S = 60.0
MAX_OUTPUT = 16 << 20

try:  # imported now: nothing is imported after the candidate has run
    from looplab.verify.rewards import linear_reward as _shared_linear
except ImportError:  # plain Harbor without looplab: the same formula below
    _shared_linear = None


def linear_reward(value: float) -> float:
    if _shared_linear is None:
        return min(1.0, max(0.0, (BASELINE - value) / (BASELINE - REFERENCE)))
    return float(_shared_linear(value, BASELINE, REFERENCE))


def verify(app: str, seed: int, count: int) -> dict:
    sched = os.path.join(app, "scheduler.py")
    if not os.path.isfile(sched):
        return {"reward": 0.0, "correct": False, "reason": f"{sched} does not exist"}
    instances = vliw.generate_batch(seed, count)
    payload = json.dumps({"instances": instances}).encode()
    res = guard.run_candidate([sys.executable, sched], payload, TIMEOUT_S, MAX_OUTPUT)
    info = {"scheduler_seconds": round(res.seconds, 3), "instances": len(instances)}
    if res.timed_out:
        return {
            "reward": 0.0,
            "correct": False,
            "reason": f"scheduler.py ran longer than {TIMEOUT_S:.0f} s",
            **info,
        }
    if res.exit_code != 0:
        tail = res.stderr.decode("utf-8", "replace")[-500:]
        return {
            "reward": 0.0,
            "correct": False,
            "reason": f"scheduler.py exited with {res.exit_code}: {tail}",
            **info,
        }
    if len(res.stdout) > MAX_OUTPUT:
        return {"reward": 0.0, "correct": False, "reason": "scheduler.py printed more than 16 MiB", **info}
    try:
        scores = vliw.score_batch(instances, vliw.parse_output(res.stdout))
    except vliw.ScheduleError as exc:
        return {"reward": 0.0, "correct": False, "reason": str(exc), **info}
    return {"reward": linear_reward(scores[METRIC]), "correct": True, **scores, **info}


def main() -> None:
    guard.harden_self()
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", default="/app")
    ap.add_argument("--out", default="/logs/verifier")
    ap.add_argument("--count", type=int, default=vliw.BATCH)
    args = ap.parse_args()
    seed = int.from_bytes(os.urandom(8), "little")
    try:
        data = verify(args.app, seed, args.count)
    except Exception as exc:  # never leave without a reward file
        data = {"reward": 0.0, "correct": False, "reason": f"verifier error: {type(exc).__name__}: {exc}"}
    guard.write_reward(args.out, data)
    print(json.dumps(data))


if __name__ == "__main__":
    main()
