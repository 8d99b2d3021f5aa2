"""A real multi-node Ray cluster (``ray start``, token auth) whose workers share no files with the driver.

The head has no CPUs for trials, so every trial runs on a worker; each worker runs in a
private mount namespace with empty tmpfs folders over the driver's task folders, job
folder and cache. The job still completes with the right records (tasks shipped, trial
folders shipped back), and a worker killed mid-trial only costs a retried attempt.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from looplab.fsutil import read_json
from looplab.job.shipping import pack_task
from looplab.settings import current

pytest.importorskip("ray")
from ray_helpers import LocalCluster, run_driver  # noqa: E402

CLIMB = Path(__file__).parent / "fixtures" / "climb"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("unshare"),
        reason="private mount namespaces for the workers need root and unshare (util-linux)",
    ),
]


def _tasks(root: Path, names: list[str], sleep: float = 0.0) -> list[Path]:
    out = []
    for name in names:
        d = root / name
        shutil.copytree(CLIMB, d)
        if sleep:
            (d / "solution" / "solve.sh").write_text(
                f"#!/bin/bash\nsleep {sleep}\necho 10 > /app/value.txt\n"
            )
        out.append(d)
    return out


@pytest.fixture
def cluster():
    c = LocalCluster()
    try:
        c.start_head(num_cpus=0)
        yield c
    finally:
        c.stop()
        time.sleep(1)
        assert not c.leftover_pids(), "Ray processes outlived the test cluster"
        shutil.rmtree(c.temp, ignore_errors=True)


def _hidden(tmp_path: Path) -> list[Path]:
    cache = current().cache_dir.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    for d in (tmp_path / "tasks", tmp_path / "jobs"):
        d.mkdir(exist_ok=True)
    return [tmp_path / "tasks", tmp_path / "jobs", cache]


def _worker_env(tmp_path: Path, name: str) -> dict[str, str]:
    claims = tmp_path / f"claims-{name}"
    claims.mkdir()
    return {"LOOPLAB_CORE_CLAIMS": str(claims)}


def test_job_runs_on_a_worker_that_sees_none_of_the_drivers_files(
    tmp_path: Path, cluster: LocalCluster
) -> None:
    hide = _hidden(tmp_path)
    cluster.start_worker("w1", num_cpus=1, hide=hide, env=_worker_env(tmp_path, "w1"))
    paths = _tasks(tmp_path / "tasks", ["climb_a", "climb_b", "climb_c"])
    job_dir = tmp_path / "jobs" / "far"
    spec = {
        "job_name": "far",
        "jobs_dir": tmp_path / "jobs",
        "task_paths": [str(p) for p in paths],
        "agents": ["oracle", "nop"],
        "concurrency": 2,
    }
    summary = run_driver(cluster, spec, tmp_path / "events.jsonl")
    rewards = {t["slot"]: t["reward"] for t in summary["trials"]}
    assert rewards == {f"climb_{x}/{a}/0": r for x in "abc" for a, r in (("oracle", 1.0), ("nop", 0.0))}
    nodes = set()
    for d in (p for p in job_dir.iterdir() if p.is_dir()):
        r = read_json(d / "result.json")
        nodes.add(r["executor"]["node_id"])
        assert r["status"] == "completed" and r["executor"]["kind"] == "ray"
        assert r["task_path"] in {str(p) for p in paths}
        assert "/ray-tasks/" in r["executor"]["task_copy"]  # the worker ran its own shipped copy
        assert (d / "agent" / "trajectory.jsonl").is_file() and (d / "verifier" / "result.json").is_file()
    assert len(nodes) == 1  # the one worker (the head has no CPUs for trials)
    # the worker's shipped copies and environments live in its own (hidden) cache, not the driver's
    for p in paths:
        copy = Path(read_json(next(job_dir.glob(f"{p.name}__*")) / "result.json")["executor"]["task_copy"])
        assert copy.name == p.name and copy.parent.name == pack_task(p)[0]
        assert not copy.parent.exists()


def test_killed_worker_mid_job_its_trials_are_retried(tmp_path: Path, cluster: LocalCluster) -> None:
    hide = _hidden(tmp_path)
    for name in ("w1", "w2"):
        cluster.start_worker(name, num_cpus=1, hide=hide, env=_worker_env(tmp_path, name))
    # 5 s trials: a margin for the kill on a loaded host, under the fixture's agent timeout (8 s)
    paths = _tasks(tmp_path / "tasks", ["slow_a", "slow_b", "slow_c"], sleep=5.0)
    job_dir = tmp_path / "jobs" / "kill"
    spec = {
        "job_name": "kill",
        "jobs_dir": tmp_path / "jobs",
        "task_paths": [str(p) for p in paths],
        "agents": ["oracle"],
        "concurrency": 3,
    }
    log = tmp_path / "events.jsonl"
    log.touch()

    def killer() -> None:
        # both workers are running a trial once two trial folders have streamed their config.json live
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list(job_dir.glob("*/config.json"))) < 2:
            time.sleep(0.1)
        time.sleep(0.5)
        cluster.kill("w1")

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    summary = run_driver(cluster, spec, log)
    t.join(5)
    events = [(e.pop("kind"), e) for e in map(json.loads, log.read_text().splitlines())]
    assert "w1" not in cluster.nodes
    assert summary["n_trials"] == 3 and all(x["status"] == "completed" for x in summary["trials"])
    assert {x["reward"] for x in summary["trials"]} == {1.0}
    lost = [i for k, i in events if k == "lost"]
    assert lost, "no trial was lost with its worker"
    assert summary["n_trial_dirs"] == 3 + len(lost)
    for info in lost:
        old = read_json(job_dir / info["trial"] / "result.json")
        assert old["status"] == "error" and old["exception_info"]["type"] == "WorkerLost"
        # what the lost worker streamed while the trial ran is kept (the viewer saw it live)
        assert read_json(job_dir / info["trial"] / "config.json")["agent"] == "oracle"
    tries = sorted(
        read_json(d / "result.json")["executor"].get("try", -1) for d in job_dir.iterdir() if d.is_dir()
    )
    assert tries.count(1) == len(lost)
