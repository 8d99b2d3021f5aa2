"""Benchmark: trials per minute on one and on two nodes of a local Ray cluster, and Ray's per-trial cost.

A real cluster on this machine (``ray start``, token auth, all on 127.0.0.1): a head with
no CPUs for trials and workers of one core each (``tests/ray_helpers.LocalCluster``).
The same job, N short trials (the ``climb`` fixture, agent ``oracle``: environment
cached, a few sandbox starts and a one-line verifier), runs on 1 worker and then on 2
workers; then on the local pool with ``-n 1`` (no Ray). Workers share one private
core-claim folder so two workers on this host never take the same core.

Reported: trials per minute on 1 and 2 nodes and their ratio (target ≥ 1.8), and Ray's
per-trial overhead, (1-node Ray wall − local pool wall) / N. Walls time ``run_job`` in
a driver process (cluster start and Ray connection not counted). Others' work on a
shared machine runs on the same cores: the load average is recorded.

Run: .venv/bin/python bench/cluster.py [--trials 8]
Writes bench/results/cluster.json and .md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))

from ray_helpers import LocalCluster, run_driver  # noqa: E402

from looplab.environment.build import build_environment  # noqa: E402
from looplab.fsutil import atomic_write_json, atomic_write_text  # noqa: E402
from looplab.hostinfo import host_info  # noqa: E402
from looplab.tasks.loader import load_task  # noqa: E402

CLIMB = REPO / "tests" / "fixtures" / "climb"
RATIO_TARGET = 1.8


def _job(tmp: Path, name: str, trials: int, nodes: int | None) -> dict:
    spec = {
        "job_name": name,
        "jobs_dir": tmp / "jobs",
        "task_paths": [str(CLIMB)],
        "agents": ["oracle"],
        "attempts": trials,
        "concurrency": nodes or 1,
    }
    return {"spec": spec, "events": tmp / f"{name}.jsonl"}


def _check(summary: dict, trials: int, label: str) -> float:
    if summary["n_trials"] != trials or any(t["status"] != "completed" for t in summary["trials"]):
        raise SystemExit(f"{label}: not every trial completed: {summary['trials']}")
    return summary["driver_wall_s"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    ap.add_argument("--note", default="", help="a line for the report (for example the machine's state)")
    args = ap.parse_args()
    n = args.trials
    build_environment(load_task(CLIMB))  # the local pool's environment, built before anything is timed
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="looplab-bench-cluster-") as t:
        tmp = Path(t)
        claims = tmp / "claims"
        claims.mkdir()
        env = {"LOOPLAB_CORE_CLAIMS": str(claims)}
        walls: dict[str, float] = {}
        cluster = LocalCluster()
        try:
            cluster.start_head(num_cpus=0)
            cluster.start_worker("w1", num_cpus=1, env=env)
            warm = _job(tmp, "warm", 1, 1)  # first trial on the node: ships the task, builds its env
            _check(run_driver(cluster, warm["spec"], warm["events"]), 1, "warm-up")
            j = _job(tmp, "ray1", n, 1)
            walls["ray_1_node"] = _check(run_driver(cluster, j["spec"], j["events"]), n, "1 node")
            cluster.start_worker("w2", num_cpus=1, env=env)
            j = _job(tmp, "ray2", n, 2)
            walls["ray_2_nodes"] = _check(run_driver(cluster, j["spec"], j["events"]), n, "2 nodes")
        finally:
            cluster.stop()
        j = _job(tmp, "local", n, None)
        walls["local_pool"] = _check(run_driver(None, j["spec"], j["events"], env=env), n, "local pool")
    load_after = os.getloadavg()
    per_min = {k: round(60 * n / v, 2) for k, v in walls.items()}
    ratio = per_min["ray_2_nodes"] / per_min["ray_1_node"]
    result = {
        "benchmark": "cluster",
        "trials": n,
        "wall_s": {k: round(v, 2) for k, v in walls.items()},
        "trials_per_minute": per_min,
        "ratio_2_to_1": round(ratio, 3),
        "ratio_target": RATIO_TARGET,
        "ratio_met": ratio >= RATIO_TARGET,
        "ray_overhead_per_trial_s": round((walls["ray_1_node"] - walls["local_pool"]) / n, 3),
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
    w, p = r["wall_s"], r["trials_per_minute"]
    return "\n".join(
        [
            "# Ray cluster throughput: 1 node vs 2 nodes, and Ray's per-trial cost",
            "",
            f"{r['trials']} short trials (`climb` fixture, agent `oracle`) on a local Ray cluster started with "
            "`ray start` (token auth, 127.0.0.1): a head with no CPUs for trials and workers of one core each; "
            f"then the local pool with `-n 1`. Host: {h['cpu_model']}, {h['cpu_count']} cores. "
            f"Load average before {r['load_average_before'][0]}, after {r['load_average_after'][0]} "
            "(others' work on this shared machine runs on the same cores).",
            "",
            "| run | wall s | trials/min |",
            "|---|---|---|",
            f"| Ray, 1 node | {w['ray_1_node']:.1f} | {p['ray_1_node']} |",
            f"| Ray, 2 nodes | {w['ray_2_nodes']:.1f} | {p['ray_2_nodes']} |",
            f"| local pool, -n 1 | {w['local_pool']:.1f} | {p['local_pool']} |",
            "",
            f"- 2 nodes / 1 node: **{r['ratio_2_to_1']:.2f}x** (target ≥ {r['ratio_target']}: {ok[r['ratio_met']]}).",
            f"- Ray's overhead per trial over the local pool: **{r['ray_overhead_per_trial_s']:.3f} s**.",
            "",
            f"Measured {r['measured_at']} with `bench/cluster.py`.",
            "",
            *([f"Note: {r['note']}", ""] if r.get("note") else []),
        ]
    )


if __name__ == "__main__":
    main()
