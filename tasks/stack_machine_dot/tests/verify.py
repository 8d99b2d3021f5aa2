#!/usr/bin/env python3
"""Sealed verifier of stack_machine_dot: run /app/program.sm on fresh vectors, count executed instructions.

The program is assembled and run by the pristine interpreter (/tests/smvm.py,
never the copy in /app) on vector pairs drawn now from a seed the agent never
sees: uniform values, vectors full of zeros, and extreme values. It must leave the
exact dot product on top of the stack for every pair. The metric is the largest
executed-instruction count over the pairs; the reward is linear between the
baseline loop (4612, 0.0) and the reference (832, 1.0), clipped to [0, 1].
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smvm  # noqa: E402  (the pristine copy next to this file)

BASELINE = 4612.0  # [optimization.baseline] score in task.toml
REFERENCE = 832.0  # [optimization.reference] score in task.toml
METRIC = "executed_instructions"
MAX_SOURCE_BYTES = 100_000


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


def test_vectors(rng: random.Random) -> list[tuple[str, list[int], list[int]]]:
    """Fresh vector pairs: four uniform, one with many zeros, one with extreme values."""
    pairs = [(f"uniform{k}", *smvm.random_vectors(rng)) for k in range(4)]
    a, b = smvm.random_vectors(rng)
    a = [0 if rng.random() < 0.3 else x for x in a]
    b = [0 if rng.random() < 0.3 else x for x in b]
    pairs.append(("zeros", a, b))
    ext = (smvm.VALUE_MIN, smvm.VALUE_MAX)
    pairs.append(
        ("extremes", [rng.choice(ext) for _ in range(smvm.N)], [rng.choice(ext) for _ in range(smvm.N)])
    )
    return pairs


def verify(app: str, seed: int) -> dict:
    path = os.path.join(app, "program.sm")
    try:
        with open(path, "rb") as fh:
            src = fh.read(MAX_SOURCE_BYTES + 1)
    except OSError as exc:
        return {"reward": 0.0, "correct": False, "reason": f"cannot read {path}: {exc.strerror}"}
    if len(src) > MAX_SOURCE_BYTES:
        return {"reward": 0.0, "correct": False, "reason": f"{path} is larger than {MAX_SOURCE_BYTES} bytes"}
    try:
        prog = smvm.assemble(src.decode("utf-8", errors="replace"))
    except smvm.SMError as exc:
        return {"reward": 0.0, "correct": False, "reason": f"assembly error: {exc}"}
    worst = 0
    for name, a, b in test_vectors(random.Random(seed)):
        ok, steps, msg = smvm.evaluate(prog, a, b)
        if not ok:
            return {"reward": 0.0, "correct": False, "reason": f"vector pair '{name}': {msg}"}
        worst = max(worst, steps)
    return {"reward": linear_reward(worst), "correct": True, METRIC: worst, "program_instructions": len(prog)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", default="/app")
    ap.add_argument("--out", default="/logs/verifier")
    args = ap.parse_args()
    seed = int.from_bytes(os.urandom(8), "little")
    data = verify(args.app, seed)
    write_reward(args.out, data)
    print(json.dumps(data))


if __name__ == "__main__":
    main()
