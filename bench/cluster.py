"""Benchmark: trials per minute on one and on two nodes of a local Ray cluster, and Ray's per-trial cost.

A real cluster on this machine (``ray start``, token auth, all on 127.0.0.1): a head with
no CPUs for trials and workers of one core each (``tests/ray_helpers.LocalCluster``).
The same job of N trials (agent ``oracle``) runs on 1 worker and then on 2 workers;
then on the local pool with ``-n 1`` (no Ray). Workers share one private core-claim
folder so two workers on this host never take the same core. Each worker runs a warm-up
job before the first timed job on it (the task shipped there, its environment built).

Two kinds of trial, each its own set of jobs:

- ``bare``: the ``climb`` fixture as it is (environment cached, a few sandbox starts and a
  one-line verifier, a fraction of a second): what Ray and looplab cost per trial.
- ``work``: the same fixture whose verifier first spends ``--work-s`` CPU seconds (default
  5) in a loop: a short trial that has work to spread over the nodes.

Reported per kind: the job's wall time in a driver process (``run_job``, Ray connection
included) and trials per minute on 1 and 2 nodes and their ratio (the target, ≥ 1.8, is
for the ``work`` trials); the span from the first trial's start to the last one's end
(the job's fixed cost left out); and Ray's per-trial overhead, (1-node Ray wall − local
pool wall) / N. On this machine the head, the driver and the workers share the same two
cores, which a real cluster's nodes do not: the load average is recorded, and the nodes run
without a log monitor or metrics collection (``LocalCluster(lean=True)``; an idle 3-node cluster
here then takes 2.7% of a core instead of 4.3%).

Run: .venv/bin/python bench/cluster.py [--trials 16] [--work-s 5]
Writes bench/results/cluster.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))

from ray_helpers import LocalCluster, run_driver  # noqa: E402

from looplab.environment.build import build_environment  # noqa: E402
from looplab.fsutil import atomic_write_json, atomic_write_text, read_json  # noqa: E402
from looplab.hostinfo import host_info  # noqa: E402
from looplab.tasks.loader import load_task  # noqa: E402

CLIMB = REPO / "tests" / "fixtures" / "climb"
RATIO_TARGET = 1.8
RUNS = ("ray_1_node", "ray_2_nodes", "local_pool")


def working_climb(tmp: Path, work_s: float) -> Path:
    """The climb fixture whose verifier first burns ``work_s`` CPU seconds."""
    task = tmp / "climb_work"
    shutil.copytree(CLIMB, task)
    test = task / "tests" / "test.sh"
    spin = (
        f"python3 -c 'import time\nt = time.process_time()\nwhile time.process_time() - t < {work_s}: pass'\n"
    )
    shebang, rest = test.read_text().split("\n", 1)
    test.write_text(f"{shebang}\n{spin}{rest}")
    return task


def _job(tmp: Path, task: Path, name: str, trials: int, nodes: int | None) -> dict:
    spec = {
        "job_name": name,
        "jobs_dir": tmp / "jobs",
        "task_paths": [str(task)],
        "agents": ["oracle"],
        "attempts": trials,
        "concurrency": nodes or 1,
    }
    return {"spec": spec, "events": tmp / f"{name}.jsonl", "dir": tmp / "jobs" / name}


def _run(cluster: LocalCluster | None, job: dict, trials: int, env: dict | None = None) -> dict:
    """Run one job; its driver wall time and the span from its first trial's start to its last one's end."""
    summary = run_driver(cluster, job["spec"], job["events"], env=env)
    if summary["n_trials"] != trials or any(t["status"] != "completed" for t in summary["trials"]):
        raise SystemExit(f"{job['spec']['job_name']}: not every trial completed: {summary['trials']}")
    records = [read_json(p) for p in job["dir"].glob("*/result.json")]
    starts = [dt.datetime.fromisoformat(r["started_at"]) for r in records]
    ends = [dt.datetime.fromisoformat(r["finished_at"]) for r in records]
    per_node: dict[str, int] = {}
    for r in records:
        node = (r.get("executor") or {}).get("node_id", "local")[:8]
        per_node[node] = per_node.get(node, 0) + 1
    return {
        "wall_s": summary["driver_wall_s"],
        "span_s": (max(ends) - min(starts)).total_seconds(),
        "trials_per_node": sorted(per_node.values(), reverse=True),
    }


def _figures(n: int, runs: dict[str, dict]) -> dict:
    per_min = {k: round(60 * n / v["wall_s"], 2) for k, v in runs.items()}
    span_ratio = runs["ray_1_node"]["span_s"] / max(runs["ray_2_nodes"]["span_s"], 1e-9)
    ratio = per_min["ray_2_nodes"] / per_min["ray_1_node"]
    return {
        "wall_s": {k: round(v["wall_s"], 2) for k, v in runs.items()},
        "span_s": {k: round(v["span_s"], 2) for k, v in runs.items()},
        "trials_per_minute": per_min,
        "ratio_2_to_1": round(ratio, 3),
        "span_ratio_2_to_1": round(span_ratio, 3),
        "trials_per_node_2_nodes": runs["ray_2_nodes"]["trials_per_node"],
        "ray_overhead_per_trial_s": round(
            (runs["ray_1_node"]["wall_s"] - runs["local_pool"]["wall_s"]) / n, 3
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument(
        "--work-s", type=float, default=5.0, help="CPU seconds each 'work' trial's verifier spends"
    )
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    ap.add_argument("--note", default="", help="a line for the report (for example the machine's state)")
    args = ap.parse_args()
    n = args.trials
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="looplab-bench-cluster-") as t:
        tmp = Path(t)
        kinds = {"bare": CLIMB, "work": working_climb(tmp, args.work_s)}
        for task in kinds.values():
            build_environment(load_task(task))  # the local pool's environment, built before anything is timed
        claims = tmp / "claims"
        claims.mkdir()
        env = {"LOOPLAB_CORE_CLAIMS": str(claims)}
        runs: dict[str, dict[str, dict]] = {k: {} for k in kinds}
        cluster = LocalCluster(lean=True)  # no log monitor or metrics: simulated nodes share 2 cores
        try:
            cluster.start_head(num_cpus=0)
            cluster.start_worker("w1", num_cpus=1, env=env)
            for kind, task in kinds.items():
                _run(cluster, _job(tmp, task, f"{kind}-warm1", 1, 1), 1)
                runs[kind]["ray_1_node"] = _run(cluster, _job(tmp, task, f"{kind}-ray1", n, 1), n)
            cluster.start_worker("w2", num_cpus=1, env=env)
            for kind, task in kinds.items():
                # two trials at once on two one-core nodes: one of them lands on the new node
                _run(cluster, _job(tmp, task, f"{kind}-warm2", 2, 2), 2)
                runs[kind]["ray_2_nodes"] = _run(cluster, _job(tmp, task, f"{kind}-ray2", n, 2), n)
        finally:
            cluster.stop()
        for kind, task in kinds.items():
            runs[kind]["local_pool"] = _run(None, _job(tmp, task, f"{kind}-local", n, None), n, env=env)
    load_after = os.getloadavg()
    figures = {kind: _figures(n, r) for kind, r in runs.items()}
    result = {
        "benchmark": "cluster",
        "trials": n,
        "work_s": args.work_s,
        "kinds": figures,
        "ratio_target": RATIO_TARGET,
        "ratio_met": figures["work"]["ratio_2_to_1"] >= RATIO_TARGET,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "host": host_info(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "note": args.note,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "cluster.json", result)
    atomic_write_text(args.out / "cluster.md", markdown(result))
    print(markdown(result))


def markdown(r: dict) -> str:
    ok = {True: "met", False: "NOT met"}
    h = r["host"]
    names = {"ray_1_node": "Ray, 1 node", "ray_2_nodes": "Ray, 2 nodes", "local_pool": "local pool, -n 1"}
    lines = [
        "# Ray cluster throughput: 1 node vs 2 nodes, and Ray's per-trial cost",
        "",
        f"{r['trials']} trials per job (agent `oracle`) on a local Ray cluster started with `ray start` (token "
        "auth, 127.0.0.1, no log monitors or metrics collection): a head with no CPUs for trials and workers "
        "of one core each, each worker warmed up "
        "(task shipped, environment built) before the first timed job on it; then the local pool with `-n 1`. "
        "*bare*: the `climb` fixture (a fraction of a second per trial); *work*: the same fixture whose "
        f"verifier first spends {r['work_s']} CPU seconds. Host: {h['cpu_model']}, {h['cpu_count']} cores: the "
        "head, the driver and both workers share them. "
        f"Load average before {r['load_average_before'][0]}, after {r['load_average_after'][0]}.",
        "",
        "*Wall*: the driver's `run_job`, Ray connection included. *Span*: first trial's start to the last "
        "one's end (whole seconds: the trial records' clock).",
        "",
        "| trials | run | wall s | span s | trials/min |",
        "|---|---|---|---|---|",
    ]
    for kind, f in r["kinds"].items():
        for run, label in names.items():
            lines.append(
                f"| {kind} | {label} | {f['wall_s'][run]:.1f} | {f['span_s'][run]:.0f} | "
                f"{f['trials_per_minute'][run]} |"
            )
    lines.append("")
    for kind, f in r["kinds"].items():
        lines.append(
            f"- *{kind}*: 2 nodes / 1 node **{f['ratio_2_to_1']:.2f}x** in trials per minute "
            f"({f['span_ratio_2_to_1']:.2f}x over the spans; trials per node on 2 nodes: "
            f"{f['trials_per_node_2_nodes']}); Ray's overhead per trial over the local pool "
            f"**{f['ray_overhead_per_trial_s']:.3f} s**."
        )
    lines += [
        f"- Target: ≥ {r['ratio_target']}x for the *work* trials: {ok[r['ratio_met']]}.",
        "",
        f"Measured {r['measured_at']} with `bench/cluster.py`.",
        "",
        *([f"Note: {r['note']}", ""] if r.get("note") else []),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
