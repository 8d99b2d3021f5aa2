"""Benchmark: what the bubblewrap sandbox and the trial harness cost.

1. One command (`/bin/true`): bare subprocess vs bare `bwrap` vs the candidate runner's
   one-shot jail (``looplab.sandbox.jail.run_jail``: cgroup, rlimits, uid drop, fresh
   namespaces, every process reaped) vs a one-shot sandbox (start, exec, stop) vs an exec in
   an already-running sandbox; median of many runs, ratios side by side. Target: the one-shot
   jail's median at most 15 ms.
2. Per-trial harness overhead: a whole trial of a trivial task with the nop agent
   (environment cached): wall time per phase, median of several trials.

Run: .venv/bin/python bench/sandbox_overhead.py [--runs 200] [--trials 10]
Writes bench/results/sandbox_overhead.json and .md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from looplab.environment.build import build_environment  # noqa: E402
from looplab.fsutil import atomic_write_json, atomic_write_text  # noqa: E402
from looplab.hostinfo import host_info  # noqa: E402
from looplab.sandbox.base import SandboxSpec  # noqa: E402
from looplab.sandbox.bwrap import BwrapSandbox, bwrap_path  # noqa: E402
from looplab.sandbox.jail import JailCgroup, JailSpec, run_jail  # noqa: E402
from looplab.tasks.loader import load_task  # noqa: E402
from looplab.trial import run_trial  # noqa: E402
from looplab.trial_config import TrialConfig  # noqa: E402


def timeit(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--trials", type=int, default=10)
    args = ap.parse_args()
    task = load_task(REPO / "tests" / "fixtures" / "tiny_task")
    env = build_environment(task)
    spec = SandboxSpec(root=env.root, binds=[], workdir="/")

    def bare() -> None:
        subprocess.run(["/bin/true"], check=True)

    bare_bwrap_argv = [bwrap_path(), "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "/bin/true"]

    def bare_bwrap() -> None:
        subprocess.run(bare_bwrap_argv, check=True)

    # as the candidate runner runs its jails: one cgroup, emptied between runs; not pinned (bare
    # bwrap may use any core too)
    jail_cg = JailCgroup("bench", None, 2048, 256)
    jail_spec = JailSpec(root=env.root, timeout_s=30, cgroup=jail_cg)

    def one_shot_jail() -> None:
        assert run_jail(["/bin/true"], jail_spec).ok

    def one_shot() -> None:
        sb = BwrapSandbox(spec)
        sb.start()
        assert sb.exec(["/bin/true"]).ok
        sb.stop()

    running = BwrapSandbox(spec)
    running.start()

    def in_running() -> None:
        assert running.exec(["/bin/true"]).ok

    # interleave the three so drift in machine load hits all equally
    fns = {
        "bare": bare,
        "bare_bwrap": bare_bwrap,
        "one_shot_jail": one_shot_jail,
        "exec_in_running_sandbox": in_running,
        "one_shot_sandbox": one_shot,
    }
    samples: dict[str, list[float]] = {k: [] for k in fns}
    load_before = os.getloadavg()[0]
    for _ in range(args.runs):
        for k, fn in fns.items():
            samples[k] += timeit(fn, 1)
    running.stop()
    jail_cg.close()
    load = [round(load_before, 2), round(os.getloadavg()[0], 2)]  # a shared host: ratios mean more than ms
    med = {k: statistics.median(v) for k, v in samples.items()}
    cmd_rows = {
        k: {
            "median_ms": round(med[k] * 1000, 3),
            "p90_ms": round(sorted(v)[int(0.9 * len(v))] * 1000, 3),
            "ratio_to_bare": round(med[k] / med["bare"], 2),
        }
        for k, v in samples.items()
    }

    phases: dict[str, list[float]] = {"total": [], "agent_execution": [], "verifier": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.trials):
            t0 = time.perf_counter()
            res = run_trial(task, env, TrialConfig(agent="nop"), Path(tmp) / f"t{i}").record()
            phases["total"].append(time.perf_counter() - t0)
            for ph in ("agent_execution", "verifier"):
                phases[ph].append(res["timing"][ph]["duration_s"])
            assert res["status"] == "completed", res
        shutil.rmtree(tmp, ignore_errors=True)
    trial_rows = {k: round(statistics.median(v) * 1000, 1) for k, v in phases.items()}

    result = {
        "host": {k: host_info()[k] for k in ("cpu_model", "cpu_count", "kernel", "tools")},
        "runs": args.runs,
        "load_avg_1min_before_after": load,
        "trials": args.trials,
        "command": cmd_rows,
        "one_shot_jail_target_ms": 15.0,
        "one_shot_jail_vs_bare_bwrap": round(med["one_shot_jail"] / med["bare_bwrap"], 2),
        "trial_median_ms": trial_rows,
    }
    out = REPO / "bench" / "results"
    atomic_write_json(out / "sandbox_overhead.json", result)
    md = [
        "# Sandbox and harness overhead",
        "",
        f"Host: {result['host']['cpu_model']}, {result['host']['cpu_count']} cores, kernel {result['host']['kernel']}.",
        "",
        f"## One command (`/bin/true`), {args.runs} runs each, interleaved, load {load[0]} → {load[1]}",
        "",
        "| how | median (ms) | p90 (ms) | × bare |",
        "|---|---|---|---|",
    ]
    for k, r in cmd_rows.items():
        md.append(f"| {k} | {r['median_ms']} | {r['p90_ms']} | {r['ratio_to_bare']} |")
    md += [
        "",
        f"One-shot jail (the candidate runner's, target ≤ 15 ms): {cmd_rows['one_shot_jail']['median_ms']} ms, "
        f"{result['one_shot_jail_vs_bare_bwrap']}× bare bwrap ({cmd_rows['bare_bwrap']['median_ms']} ms) in the same run.",
    ]
    md += [
        "",
        f"## One whole trial (tiny task, nop agent, environment cached), median of {args.trials}",
        "",
        "| phase | median (ms) |",
        "|---|---|",
    ]
    for k, v in trial_rows.items():
        md.append(f"| {k} | {v} |")
    atomic_write_text(out / "sandbox_overhead.md", "\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
