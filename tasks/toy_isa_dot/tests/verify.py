#!/usr/bin/env python3
"""Sealed verifier of toy_isa_dot: simulate /app/dot.asm on fresh vectors, count cycles.

The program is assembled and simulated by the pristine simulator
(/tests/toysim.py, never the copy in /app) on vector pairs drawn now from a seed
the agent never sees: uniform values, vectors with many zeros, and extreme values.
It must leave the exact dot product in r1 at ``halt`` for every pair. The metric is
the largest cycle count over the pairs; the reward is linear between the baseline
loop (7683 cycles, 0.0) and the reference (1574, 1.0), clipped to [0, 1].
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import toysim  # noqa: E402  (the pristine copy next to this file)

BASELINE = 7683.0  # [optimization.baseline] score in task.toml
REFERENCE = 1574.0  # [optimization.reference] score in task.toml
METRIC = "cycles"
MAX_SOURCE_BYTES = 200_000


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
    pairs = [(f"uniform{k}", *toysim.random_vectors(rng)) for k in range(4)]
    a, b = toysim.random_vectors(rng)
    a = [0 if rng.random() < 0.3 else x for x in a]
    b = [0 if rng.random() < 0.3 else x for x in b]
    pairs.append(("zeros", a, b))
    ext = (toysim.VALUE_MIN, toysim.VALUE_MAX)
    pairs.append(
        ("extremes", [rng.choice(ext) for _ in range(toysim.N)], [rng.choice(ext) for _ in range(toysim.N)])
    )
    return pairs


def verify(app: str, seed: int) -> dict:
    path = os.path.join(app, "dot.asm")
    try:
        with open(path, "rb") as fh:
            src = fh.read(MAX_SOURCE_BYTES + 1)
    except OSError as exc:
        return {"reward": 0.0, "correct": False, "reason": f"cannot read {path}: {exc.strerror}"}
    if len(src) > MAX_SOURCE_BYTES:
        return {"reward": 0.0, "correct": False, "reason": f"{path} is larger than {MAX_SOURCE_BYTES} bytes"}
    try:
        prog = toysim.assemble(src.decode("utf-8", errors="replace"))
    except toysim.TRError as exc:
        return {"reward": 0.0, "correct": False, "reason": f"assembly error: {exc}"}
    worst = None
    for name, a, b in test_vectors(random.Random(seed)):
        ok, res, msg = toysim.evaluate(prog, a, b)
        if not ok or res is None:
            return {"reward": 0.0, "correct": False, "reason": f"vector pair '{name}': {msg}"}
        if worst is None or res.cycles > worst.cycles:
            worst = res
    assert worst is not None
    return {
        "reward": linear_reward(worst.cycles),
        "correct": True,
        METRIC: worst.cycles,
        "instructions_executed": worst.instructions,
        "data_stall_cycles": worst.stall_data,
        "branch_penalty_cycles": worst.stall_branch,
        "program_instructions": len(prog),
    }


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
