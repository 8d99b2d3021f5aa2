#!/usr/bin/env python3
"""Verifier of vliw_scheduler: fresh hidden instances, the scheduler's schedules checked and scored.

Under looplab the harness's candidate runner follows tests/run.toml (exact mode): a
trusted jail runs ``verify.py generate SEED INPUT`` with a seed drawn at verification
time (60 instances), the scheduler runs once in a jail of its own with the batch on
stdin (60 s), and a trusted jail that never loads the candidate's code runs
``verify.py check INPUT OUTPUT`` on what it printed: every schedule must be valid.
In a plain Harbor container (the container is the isolation) ``verify.py --app /app
--out /logs/verifier`` does the same three steps in one process.

The metric is excess_ratio = (cycles - lower bound) / (in-order baseline - lower
bound), summed over the batch: the baseline scores exactly 1.0 (reward 0) and the
reference list scheduler about 0.0048 (reward 1); linear in between, clipped to [0, 1].
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vliw  # noqa: E402  (the pristine copy next to this file)

BASELINE = 1.0  # [optimization.baseline] score in task.toml
REFERENCE = 0.0048  # [optimization.reference] score in task.toml
METRIC = "excess_ratio"
TIMEOUT_S = 60.0
MAX_OUTPUT = 16 << 20
INSTANCES = "instances.json"


def linear_reward(value: float) -> float:
    try:
        from looplab.verify.rewards import linear_reward as shared
    except ImportError:  # plain Harbor without looplab: the same formula
        return min(1.0, max(0.0, (BASELINE - value) / (BASELINE - REFERENCE)))
    return float(shared(value, BASELINE, REFERENCE))


def generate(seed: int, input_dir: str, count: int = vliw.BATCH) -> None:
    with open(os.path.join(input_dir, INSTANCES), "w") as fh:
        json.dump({"instances": vliw.generate_batch(seed, count)}, fh)


def score(input_dir: str, stdout: bytes) -> dict:
    """The reward of the scheduler's output ``stdout`` on the batch in ``input_dir``."""
    with open(os.path.join(input_dir, INSTANCES)) as fh:
        instances = json.load(fh)["instances"]
    info = {"instances": len(instances)}
    if len(stdout) > MAX_OUTPUT:
        return {"reward": 0.0, "correct": False, "reason": "scheduler.py printed more than 16 MiB", **info}
    try:
        scores = vliw.score_batch(instances, vliw.parse_output(stdout))
    except vliw.ScheduleError as exc:
        return {"reward": 0.0, "correct": False, "reason": str(exc), **info}
    return {"reward": linear_reward(scores[METRIC]), "correct": True, **scores, **info}


def check(input_dir: str, output_dir: str) -> dict:
    path = os.path.join(output_dir, "stdout")
    with open(path, "rb") as fh:
        return score(input_dir, fh.read(MAX_OUTPUT + 1))


def verify_plain(app: str, count: int) -> dict:
    """Plain Harbor: generate, run the scheduler (no jail: the container is the isolation), check."""
    sched = os.path.join(app, "scheduler.py")
    if not os.path.isfile(sched):
        return {"reward": 0.0, "correct": False, "reason": f"{sched} does not exist"}
    work = tempfile.mkdtemp(prefix="vliw-")
    generate(int.from_bytes(os.urandom(8), "little"), work, count)
    t0 = time.monotonic()
    with open(os.path.join(work, INSTANCES), "rb") as stdin:
        try:
            p = subprocess.run([sys.executable, sched], stdin=stdin, capture_output=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return {
                "reward": 0.0,
                "correct": False,
                "reason": f"scheduler.py ran longer than {TIMEOUT_S:.0f} s",
            }
    info = {"scheduler_seconds": round(time.monotonic() - t0, 3)}
    if p.returncode != 0:
        tail = p.stderr.decode("utf-8", "replace")[-500:]
        return {
            "reward": 0.0,
            "correct": False,
            "reason": f"scheduler.py exited with {p.returncode}: {tail}",
            **info,
        }
    return {**score(work, p.stdout), **info}


def write_reward(out_dir: str, data: dict) -> None:
    os.makedirs(out_dir, exist_ok=True)
    tmp = os.path.join(out_dir, ".reward.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh)
        fh.write("\n")
    os.replace(tmp, os.path.join(out_dir, "reward.json"))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "generate":  # generate SEED INPUT_DIR
        generate(int(sys.argv[2]), sys.argv[3])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "check":  # check INPUT_DIR OUTPUT_DIR: the reward JSON
        print(json.dumps(check(sys.argv[2], sys.argv[3])))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", default="/app")
    ap.add_argument("--out", default="/logs/verifier")
    ap.add_argument("--count", type=int, default=vliw.BATCH)
    args = ap.parse_args()
    try:
        data = verify_plain(args.app, args.count)
    except Exception as exc:  # never leave without a reward file
        data = {"reward": 0.0, "correct": False, "reason": f"verifier error: {type(exc).__name__}: {exc}"}
    write_reward(args.out, data)
    print(json.dumps(data))


if __name__ == "__main__":
    main()
