#!/usr/bin/env python3
"""The VLIW scheduling problem of the vliw_scheduler task: instances, schedule checking, bounds.

An instance is a straight-line block of operations in program order; each has a
functional-unit class, a latency and the earlier operations it depends on. A
machine issues one *bundle* per cycle holding at most ``width`` operations, at
most ``units[class]`` of each class; every unit is pipelined. A schedule gives
each operation its issue cycle (cycle numbers start at 0); it is valid when every
operation issues at least ``latency(d)`` cycles after each dependency ``d`` and no
bundle breaks the slot limits. Its length is ``max(cycle + latency)``. The
generator is seeded, so a seed names a batch of instances; the verifier draws its
seed at verification time. The verifier uses its own pristine copy of this file.

Usage: python3 vliw.py [--seed N] [--count K] [--scheduler /app/scheduler.py]
  generates a batch, runs the scheduler on it, checks every schedule, prints totals.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import time

# (operation name, unit class, latency, relative frequency)
KINDS = [
    ("add", "alu", 1, 30), ("logic", "alu", 1, 10), ("shift", "alu", 1, 6), ("cmp", "alu", 1, 4),
    ("mul", "mul", 3, 10), ("load", "mem", 3, 18), ("store", "mem", 1, 7),
    ("fadd", "fpu", 3, 8), ("fmul", "fpu", 4, 6), ("fdiv", "fpu", 10, 1),
]  # fmt: skip
# (bundle width, slots per unit class)
MACHINES = [
    (2, {"alu": 2, "mul": 1, "mem": 1, "fpu": 1}),
    (3, {"alu": 2, "mul": 2, "mem": 1, "fpu": 1}),
    (4, {"alu": 3, "mul": 1, "mem": 2, "fpu": 1}),
    (6, {"alu": 4, "mul": 2, "mem": 2, "fpu": 2}),
]
MIN_OPS, MAX_OPS = 100, 400
WINDOWS = (16, 32, 64, 128)  # how far back dependencies usually reach (sets the parallelism)
BATCH = 60  # instances per verification batch
MAX_CYCLE = 1_000_000


class ScheduleError(Exception):
    """A schedule breaks a rule (message names the instance, the operation and the rule)."""


def generate_instance(rng: random.Random, name: str) -> dict:
    n = rng.randint(MIN_OPS, MAX_OPS)
    width, units = rng.choice(MACHINES)
    window = rng.choice(WINDOWS)
    weights = [k[3] for k in KINDS]
    ops = []
    for i in range(n):
        op, unit, lat, _ = rng.choices(KINDS, weights=weights)[0]
        ndeps = rng.choices([0, 1, 2, 3], weights=[1, 4, 4, 1])[0] if i else 0
        deps = set()
        for _ in range(ndeps):
            if rng.random() < 0.85:  # mostly recent producers, sometimes any earlier one
                deps.add(i - 1 - min(i - 1, int(rng.expovariate(3 / window))))
            else:
                deps.add(rng.randrange(i))
        ops.append({"op": op, "unit": unit, "latency": lat, "deps": sorted(deps)})
    return {"name": name, "width": width, "units": dict(units), "ops": ops}


def generate_batch(seed: int, count: int = BATCH) -> list[dict]:
    rng = random.Random(seed)
    return [generate_instance(rng, f"s{seed}-{k}") for k in range(count)]


def check_schedule(inst: dict, sched: object) -> int:
    """The schedule's length in cycles; raises ScheduleError if it is invalid."""
    ops = inst["ops"]
    name = inst["name"]
    if not isinstance(sched, list) or len(sched) != len(ops):
        got = len(sched) if isinstance(sched, list) else type(sched).__name__
        raise ScheduleError(f"instance {name}: expected a list of {len(ops)} issue cycles, got {got}")
    for i, c in enumerate(sched):
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= MAX_CYCLE:
            raise ScheduleError(
                f"instance {name}: op {i}: issue cycle must be an integer in 0..{MAX_CYCLE}, got {c!r}"
            )
    per_unit: dict[tuple[int, str], int] = {}
    per_cycle: dict[int, int] = {}
    length = 0
    for i, o in enumerate(ops):
        c = sched[i]
        for d in o["deps"]:
            if c < sched[d] + ops[d]["latency"]:
                raise ScheduleError(
                    f"instance {name}: op {i} issues at {c} but depends on op {d} "
                    f"(issued at {sched[d]}, latency {ops[d]['latency']})"
                )
        key = (c, o["unit"])
        per_unit[key] = per_unit.get(key, 0) + 1
        if per_unit[key] > inst["units"][o["unit"]]:
            raise ScheduleError(
                f"instance {name}: cycle {c} has more than {inst['units'][o['unit']]} {o['unit']} ops"
            )
        per_cycle[c] = per_cycle.get(c, 0) + 1
        if per_cycle[c] > inst["width"]:
            raise ScheduleError(f"instance {name}: cycle {c} has more than {inst['width']} ops")
        length = max(length, c + o["latency"])
    return length


def inorder_schedule(inst: dict) -> list[int]:
    """The baseline: one operation per bundle, in program order, waiting for its operands."""
    ops = inst["ops"]
    sched: list[int] = []
    t = 0
    for o in ops:
        c = max([t] + [sched[d] + ops[d]["latency"] for d in o["deps"]])
        sched.append(c)
        t = c + 1
    return sched


def lower_bound(inst: dict) -> int:
    """No valid schedule is shorter: the critical path, and for each unit class (and the bundle
    width) the earliest start of its ops + ceil(count / slots) - 1 + the shortest tail after one."""
    ops = inst["ops"]
    n = len(ops)
    succ: list[list[int]] = [[] for _ in range(n)]
    for i, o in enumerate(ops):
        for d in o["deps"]:
            succ[d].append(i)
    head = [0] * n  # earliest possible issue cycle
    for i, o in enumerate(ops):
        head[i] = max((head[d] + ops[d]["latency"] for d in o["deps"]), default=0)
    tail = [0] * n  # cycles from issue to the end of the longest path through i
    for i in range(n - 1, -1, -1):
        tail[i] = ops[i]["latency"] + max((tail[s] for s in succ[i]), default=0)
    best = max(head[i] + tail[i] for i in range(n))
    groups = [([i for i in range(n) if ops[i]["unit"] == u], s) for u, s in inst["units"].items()]
    groups.append((list(range(n)), inst["width"]))
    for idx, slots in groups:
        if idx:
            bound = min(head[i] for i in idx) + math.ceil(len(idx) / slots) - 1 + min(tail[i] for i in idx)
            best = max(best, bound)
    return best


def score_batch(instances: list[dict], schedules: object) -> dict:
    """Check every schedule; totals of the candidate, the in-order baseline and the lower bound.

    The score, ``excess_ratio``, is the candidate's excess over the lower bound as a
    fraction of the baseline's: (cycles - bound) / (baseline - bound). The baseline
    scores exactly 1, a schedule meeting the lower bound everywhere 0.
    """
    if not isinstance(schedules, list) or len(schedules) != len(instances):
        got = len(schedules) if isinstance(schedules, list) else type(schedules).__name__
        raise ScheduleError(f"expected {len(instances)} schedules, got {got}")
    total = base = bound = 0
    for inst, sched in zip(instances, schedules, strict=True):
        total += check_schedule(inst, sched)
        base += check_schedule(inst, inorder_schedule(inst))
        bound += lower_bound(inst)
    return {
        "excess_ratio": (total - bound) / (base - bound),
        "cycles": total,
        "baseline_cycles": base,
        "lower_bound_cycles": bound,
        "cycles_over_lower_bound": total / bound,
        "cycles_vs_baseline": total / base,
    }


def parse_output(data: bytes) -> object:
    try:
        obj = json.loads(data.decode("utf-8", errors="replace"))
    except ValueError as exc:
        raise ScheduleError(f"the scheduler's output is not JSON: {exc}") from None
    if not isinstance(obj, dict) or "schedules" not in obj:
        raise ScheduleError('the scheduler\'s output must be a JSON object {"schedules": [...]}')
    return obj["schedules"]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="Run a scheduler on a generated batch and check it.")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=BATCH)
    ap.add_argument("--scheduler", default="/app/scheduler.py")
    args = ap.parse_args(argv[1:])
    instances = generate_batch(args.seed, args.count)
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, args.scheduler], input=json.dumps({"instances": instances}).encode(),
        capture_output=True, check=False,
    )  # fmt: skip
    secs = time.monotonic() - t0
    sys.stderr.write(proc.stderr.decode("utf-8", "replace")[-2000:])
    if proc.returncode != 0:
        print(f"FAIL: the scheduler exited with {proc.returncode}")
        return 1
    try:
        res = score_batch(instances, parse_output(proc.stdout))
    except ScheduleError as exc:
        print(f"FAIL: {exc}")
        return 1
    print(
        f"OK: seed {args.seed}, {len(instances)} instances, scheduler ran {secs:.1f} s (limit 60 s); "
        f"cycles={res['cycles']} baseline={res['baseline_cycles']} lower bound={res['lower_bound_cycles']}; "
        f"excess_ratio={res['excess_ratio']:.5f} (cycles x{res['cycles_over_lower_bound']:.4f} the lower bound)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
