"""Fair local concurrency: each running trial has its own cores and memory share, FIFO, host-wide."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from looplab.agents.trajectory import read_trajectory
from looplab.fsutil import read_json
from looplab.job.cores import CoreAllocator
from looplab.job.runner import JobSpec, run_job
from looplab.tasks.loader import load_task

FIXTURES = Path(__file__).parent / "fixtures"
CLIMB = FIXTURES / "climb"
SCRIPTS = FIXTURES / "climb_scripts"


# ---- the allocator -------------------------------------------------------------------------------
def test_grants_are_disjoint_and_capped(tmp_path: Path) -> None:
    alloc = CoreAllocator(cores=[0, 1, 2, 3], memory_mb=1000, claims=tmp_path)
    a = alloc.acquire(1.5, 100)
    b = alloc.acquire(1, None)
    assert len(a.cores) == 2 and len(b.cores) == 1
    assert not set(a.cores) & set(b.cores)
    assert a.memory_mb == 100 and b.memory_mb == 0
    alloc.release(a)
    alloc.release(b)
    big = alloc.acquire(64, 10**9)  # larger than the machine: capped, so it runs alone
    assert big.cores == [0, 1, 2, 3] and big.memory_mb == 1000
    alloc.release(big)


def _acquire_in_thread(alloc: CoreAllocator, cpus: float, mem: int | None, order: list, tag: str):
    box: dict = {}

    def go() -> None:
        box["grant"] = alloc.acquire(cpus, mem)
        order.append(tag)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, box


def _wait_queued(alloc: CoreAllocator, n: int) -> None:
    deadline = time.monotonic() + 10
    while len(alloc._queue) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(alloc._queue) >= n


def test_waits_for_memory_even_with_free_cores(tmp_path: Path) -> None:
    alloc = CoreAllocator(cores=[0, 1], memory_mb=1000, claims=tmp_path)
    first = alloc.acquire(1, 600)
    order: list[str] = []
    t, box = _acquire_in_thread(alloc, 1, 600, order, "second")
    _wait_queued(alloc, 1)
    time.sleep(0.2)
    assert order == [] and "grant" not in box  # a core is free, but 600 + 600 MiB > 1000 MiB
    alloc.release(first)
    t.join(5)
    assert order == ["second"]
    alloc.release(box["grant"])


def test_requests_are_served_in_arrival_order(tmp_path: Path) -> None:
    alloc = CoreAllocator(cores=[0, 1], memory_mb=0, claims=tmp_path)
    running = alloc.acquire(1)
    order: list[str] = []
    t_big, big = _acquire_in_thread(alloc, 2, None, order, "big")  # needs both cores
    _wait_queued(alloc, 1)
    t_small, small = _acquire_in_thread(alloc, 1, None, order, "small")  # one core is free, but it is behind
    _wait_queued(alloc, 2)
    time.sleep(0.2)
    assert order == []
    alloc.release(running)
    t_big.join(5)
    assert order == ["big"] and big["grant"].cores == [0, 1]
    alloc.release(big["grant"])
    t_small.join(5)
    assert order == ["big", "small"]
    alloc.release(small["grant"])


HOLDER = """
import sys, time
from pathlib import Path
from looplab.job.cores import CoreAllocator
a = CoreAllocator(cores=[0, 1], memory_mb=0, claims=Path(sys.argv[1]))
g = a.acquire(int(sys.argv[2]))
print(",".join(map(str, g.cores)), flush=True)
sys.stdin.readline()
"""


def test_cores_are_claimed_host_wide(tmp_path: Path) -> None:
    """Another process holding core 0 steers us to core 1; holding both makes us wait until it exits."""
    py = sys.executable
    holder = subprocess.Popen(
        [py, "-c", HOLDER, str(tmp_path), "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "0"
        alloc = CoreAllocator(cores=[0, 1], memory_mb=0, claims=tmp_path)
        g = alloc.acquire(1)
        assert g.cores == [1]
        alloc.release(g)
    finally:
        holder.communicate("\n", timeout=10)
    both = subprocess.Popen(
        [py, "-c", HOLDER, str(tmp_path), "2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert both.stdout.readline().strip() == "0,1"
        alloc = CoreAllocator(cores=[0, 1], memory_mb=0, claims=tmp_path)
        order: list[str] = []
        t, box = _acquire_in_thread(alloc, 1, None, order, "mine")
        time.sleep(0.8)
        assert order == []  # every core is claimed by the other process
        both.stdin.write("\n")
        both.stdin.flush()
        t.join(10)
        assert order == ["mine"]
        alloc.release(box["grant"])
    finally:
        both.kill()
        both.wait()


# ---- whole jobs ----------------------------------------------------------------------------------
def _variant(tmp_path: Path, name: str, cpus: float, memory_mb: int) -> Path:
    """A copy of the climb fixture with its own name and [environment] size (same cached layer)."""
    dst = tmp_path / "tasks" / name
    shutil.copytree(CLIMB, dst)
    toml = (dst / "task.toml").read_text()
    toml = toml.replace("cpus = 1\nmemory_mb = 256", f"cpus = {cpus}\nmemory_mb = {memory_mb}")
    (dst / "task.toml").write_text(toml)
    return dst


def _held_interval(trial_dir: Path) -> tuple[float, float]:
    """A sub-interval of the time the trial held its cores: first trajectory event → result.json written."""
    first = read_trajectory(trial_dir / "agent" / "trajectory.jsonl")[0]["time"]
    start = dt.datetime.fromisoformat(first).timestamp()
    return start, (trial_dir / "result.json").stat().st_mtime


def _trials(job_dir: Path) -> list[tuple[Path, dict]]:
    return [
        (d, read_json(d / "result.json"))
        for d in sorted(job_dir.iterdir())
        if (d / "result.json").is_file() and d.is_dir()
    ]


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_mixed_sizes_never_share_a_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores")
    monkeypatch.setenv("LOOPLAB_CORE_CLAIMS", "0")  # other processes' trials must not make this wait
    small = _variant(tmp_path, "small", 1, 256)
    wide = _variant(tmp_path, "wide", 2, 256)
    tasks = [load_task(small), load_task(wide)]
    script = SCRIPTS / "premature.yaml"
    spec = JobSpec(
        job_name="mixed",
        jobs_dir=tmp_path / "jobs",
        task_paths=[str(small), str(wide)],
        agents=["replay"],
        attempts=2,
        concurrency=3,
        agent_kwargs={"script": str(script)},
    )
    starts: list[dict] = []
    summary = run_job(spec, tasks, on_event=lambda k, i: starts.append(i) if k == "start" else None)
    assert summary["n_trials"] == 4 and all(t["status"] == "completed" for t in summary["trials"])
    trials = _trials(spec.job_dir)
    by_cores = {d.name: r["resources"]["cores"] for d, r in trials}
    for d, r in trials:
        want = 2 if r["task_name"] == "wide" else 1
        assert len(r["resources"]["cores"]) == want, (d.name, r["resources"])
        assert r["resources"]["memory_mb"] == 256
    intervals = {d.name: _held_interval(d) for d, _ in trials}
    names = sorted(intervals)
    overlapping = 0
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if _overlap(intervals[a], intervals[b]):
                overlapping += 1
                assert not set(by_cores[a]) & set(by_cores[b]), f"{a} and {b} ran at once on shared cores"
    assert overlapping >= 1  # the two small trials (one core each) did run side by side
    assert {tuple(s["cores"]) for s in starts} >= {(0, 1)}


def test_memory_reservations_serialize_trials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two trials whose memory_mb each exceed half the machine never run at once, cores or not."""
    monkeypatch.setenv("LOOPLAB_CORE_CLAIMS", "0")
    big = _variant(tmp_path, "bigmem", 1, 10**7)  # capped at the machine's memory
    spec = JobSpec(
        job_name="mem",
        jobs_dir=tmp_path / "jobs",
        task_paths=[str(big)],
        agents=["replay"],
        attempts=2,
        concurrency=2,
        agent_kwargs={"script": str(SCRIPTS / "premature.yaml")},
    )
    summary = run_job(spec, [load_task(big)])
    assert all(t["status"] == "completed" for t in summary["trials"])
    trials = _trials(spec.job_dir)
    assert len(trials) == 2
    a, b = (_held_interval(d) for d, _ in trials)
    assert not _overlap(a, b)
