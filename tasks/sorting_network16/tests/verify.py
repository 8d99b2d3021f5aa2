#!/usr/bin/env python3
"""Sealed verifier of sorting_network16: check /app/network.txt, count comparators, write the reward.

Runs the pristine checker (/tests/checknet.py, never the copy in /app) on the
agent's network; an invalid network scores 0 with the reason. The metric is the
comparator count; the reward is linear between the baseline (80 comparators, 0.0)
and the best known network (60, 1.0), clipped to [0, 1], computed with looplab's
shared formula when looplab is importable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checknet  # noqa: E402  (the pristine copy next to this file)

BASELINE = 80.0  # [optimization.baseline] score in task.toml
REFERENCE = 60.0  # [optimization.reference] score in task.toml
METRIC = "comparators"


def linear_reward(value: float) -> float:
    try:
        from looplab.verify.rewards import linear_reward as shared
    except ImportError:  # plain Harbor without looplab: the same formula
        return min(1.0, max(0.0, (BASELINE - value) / (BASELINE - REFERENCE)))
    return float(shared(value, BASELINE, REFERENCE))


def write_reward(out_dir: str, data: dict) -> None:
    os.makedirs(out_dir, exist_ok=True)
    tmp = os.path.join(out_dir, ".reward.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh)
        fh.write("\n")
    os.replace(tmp, os.path.join(out_dir, "reward.json"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", default="/app")
    ap.add_argument("--out", default="/logs/verifier")
    args = ap.parse_args()
    res = checknet.check_file(os.path.join(args.app, "network.txt"))
    if not res["valid"]:
        data = {"reward": 0.0, "correct": False, METRIC: res["comparators"], "reason": res["error"]}
    else:
        n = res["comparators"]
        data = {"reward": linear_reward(n), "correct": True, METRIC: n, "depth": res["depth"]}
    write_reward(args.out, data)
    print(json.dumps(data))


if __name__ == "__main__":
    main()
