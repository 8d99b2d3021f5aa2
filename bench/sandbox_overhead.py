"""Benchmark: what the bubblewrap sandbox and the trial harness cost.

1. One command (`/bin/true`): bare subprocess vs a one-shot sandbox (start, exec, stop)
   vs an exec in an already-running sandbox; median of many runs, ratios side by side.
2. Per-trial harness overhead: a whole trial of a trivial task with the nop agent
   (environment cached): wall time per phase, median of several trials.

Run: .venv/bin/python bench/sandbox_overhead.py [--runs 200] [--trials 10]
Writes bench/results/sandbox_overhead.json and .md.
"""

from __future__ import annotations

import argparse
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
from looplab.sandbox.bwrap import BwrapSandbox  # noqa: E402
from looplab.tasks.loader import load_task  # noqa: E402
from looplab.trial import TrialConfig, run_trial  # noqa: E402


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
    samples: dict[str, list[float]] = {"bare": [], "exec_in_running_sandbox": [], "one_shot_sandbox": []}
    for _ in range(args.runs):
        samples["bare"] += timeit(bare, 1)
        samples["exec_in_running_sandbox"] += timeit(in_running, 1)
        samples["one_shot_sandbox"] += timeit(one_shot, 1)
    running.stop()
    med = {k: statistics.median(v) for k, v in samples.items()}
    cmd_rows = {
        k: {"median_ms": round(med[k] * 1000, 3), "p90_ms": round(sorted(v)[int(0.9 * len(v))] * 1000, 3),
            "ratio_to_bare": round(med[k] / med["bare"], 2)}
        for k, v in samples.items()
    }  # fmt: skip

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
        "trials": args.trials,
        "command": cmd_rows,
        "trial_median_ms": trial_rows,
    }
    out = REPO / "bench" / "results"
    atomic_write_json(out / "sandbox_overhead.json", result)
    md = [
        "# Sandbox and harness overhead",
        "",
        f"Host: {result['host']['cpu_model']}, {result['host']['cpu_count']} cores, kernel {result['host']['kernel']}.",
        "",
        f"## One command (`/bin/true`), {args.runs} runs each, interleaved",
        "",
        "| how | median (ms) | p90 (ms) | × bare |",
        "|---|---|---|---|",
    ]
    for k, r in cmd_rows.items():
        md.append(f"| {k} | {r['median_ms']} | {r['p90_ms']} | {r['ratio_to_bare']} |")
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
