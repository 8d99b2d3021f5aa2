"""Waits a user can see, on real ``looplab run`` subprocesses: for cores, for memory, and between processes.

Each job's core claims go to a folder of the test's own (``LOOPLAB_CORE_CLAIMS``), so other
looplab processes on the machine neither slow these jobs nor see them. The agent is the
``command`` agent with a script that sleeps, long enough that a wait outlasts the first
report (``cores.WAIT_REPORT_S``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import LOOPLAB, trial_results

from looplab.job.cores import machine_memory_mb


def _job(tmp_path: Path, task: Path, name: str, sleep: float, *extra: str, cores: set[int] | None = None):
    script = tmp_path / f"{name}.sh"
    script.write_text(f"#!/bin/sh\necho 7 > /app/value.txt\nsleep {sleep}\n")
    args = ["run", "-p", str(task), "-a", "command", "--ak", f"script={script}"]
    args += ["--jobs-dir", str(tmp_path / "jobs"), "--job-name", name, *extra]
    env = {**os.environ, "COLUMNS": "200", "LOOPLAB_CORE_CLAIMS": str(tmp_path / "claims")}
    return subprocess.Popen(
        [*LOOPLAB, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
    )


def test_n_above_the_cores_says_so_and_reports_the_wait(tmp_path: Path, tiny_task: Path) -> None:
    one = {min(os.sched_getaffinity(0))}  # the job sees one core: -n 2 cannot run 2 at once
    proc = _job(tmp_path, tiny_task, "n", 7, "-n", "2", "-k", "2", cores=one)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err + out
    assert "-n 2: this host gives the job 1 core(s), so at most 1 trial(s) run at once" in err, err
    waits = [ln for ln in err.splitlines() if ln.startswith("waiting for 1 core(s): 1 of this job's 1")]
    assert waits and "held by its running trials tiny_task/command/" in waits[0], err
    recs = trial_results(tmp_path / "jobs" / "n")
    assert sorted(r["resources"]["core_wait_s"] >= 5 for r in recs) == [False, True], recs
    assert all(r["resources"]["memory_wait_s"] == 0 for r in recs)
    summary = json.loads((tmp_path / "jobs" / "n" / "result.json").read_text())
    assert max(t["core_wait_s"] for t in summary["trials"]) >= 5


def test_a_wait_for_memory_is_reported_and_recorded(tmp_path: Path, tiny_task: Path) -> None:
    cores = os.sched_getaffinity(0)
    if len(cores) < 2:
        pytest.skip("needs two cores, so that only memory keeps the second trial waiting")
    big = int(machine_memory_mb() * 0.6)  # two of these do not fit in the machine
    toml = tiny_task / "task.toml"
    toml.write_text(toml.read_text().replace("memory_mb = 512", f"memory_mb = {big}"))
    proc = _job(tmp_path, tiny_task, "m", 7, "-n", "2", "-k", "2", cores=set(sorted(cores)[:2]))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err + out
    assert "at most 1 trial(s) run at once" in err and "MiB of memory" in err, err
    waits = [ln for ln in err.splitlines() if ln.startswith(f"waiting for {big} MiB of memory:")]
    assert waits and any(f"tiny_task/command/{i} ({big} MiB)" in waits[0] for i in (0, 1)), err
    assert "waited" in err and "for memory" in err  # on the trial's start line
    recs = trial_results(tmp_path / "jobs" / "m")
    assert sorted(r["resources"]["memory_wait_s"] >= 5 for r in recs) == [False, True], recs
    assert all(r["resources"]["core_wait_s"] < 5 for r in recs), recs


def test_two_processes_share_the_cores_turn_by_turn(tmp_path: Path, tiny_task: Path) -> None:
    """Two ``-n 2`` jobs on two cores: once the second waits, freed cores alternate between them.

    Before the host-wide queue was first come, first served, the process that had just got
    a core got the next one too (its next trial asked at once, the other polled), so the
    jobs took the cores in batches: A A B B A A B B.
    """
    cores = sorted(os.sched_getaffinity(0))[:2]
    if len(cores) < 2:
        pytest.skip("needs two cores")
    a = _job(tmp_path, tiny_task, "A", 4, "-n", "2", "-k", "4", cores=set(cores))
    t0 = time.monotonic()
    while len(list((tmp_path / "jobs" / "A").glob("*/config.json"))) < 2:
        assert a.poll() is None, a.communicate()
        assert time.monotonic() - t0 < 120
        time.sleep(0.05)
    b = _job(tmp_path, tiny_task, "B", 4, "-n", "2", "-k", "4", cores=set(cores))
    for p in (a, b):
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err + out
    starts = sorted(
        (c.stat().st_mtime_ns, name)
        for name in "AB"
        for c in (tmp_path / "jobs" / name).glob("*/config.json")
    )
    order = "".join(name for _, name in starts)
    assert order.startswith("AAB"), order
    assert order[3] == "A", order  # the core A frees next goes to A's waiting trial, not B's second
    assert "BB" not in order[:6] and "AA" not in order[1:6], order


LIVE_TICKET = """
import sys
from pathlib import Path
from looplab.job.cores import _Ticket
t = _Ticket(Path(sys.argv[1]))
print(t.name, flush=True)
sys.stdin.readline()
"""


def test_the_host_queue_serves_live_waiters_first_and_skips_dead_ones(tmp_path: Path) -> None:
    import sys

    from looplab.job.cores import QUEUE_DIR, CoreAllocator

    queue = tmp_path / QUEUE_DIR
    waiter = subprocess.Popen(
        [sys.executable, "-c", LIVE_TICKET, str(queue)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert waiter.stdout is not None and waiter.stdout.readline().strip()
        # core 0 is free, but another process has waited longer: with a 1 s bound this request runs unpinned
        late = CoreAllocator(cores=[0], memory_mb=0, claims=tmp_path, max_wait_s=1).acquire(1)
        assert late.cores == []
    finally:
        waiter.communicate("\n", timeout=10)
    (queue / f"{1:020d}-{1:08d}-1").write_text("")  # its process died waiting: nobody holds its lock
    hidden = queue / f".{2:020d}-{1:08d}-1"  # died before naming its ticket, long ago
    hidden.write_text("")
    os.utime(hidden, (0, 0))
    g = CoreAllocator(cores=[0], memory_mb=0, claims=tmp_path, max_wait_s=30).acquire(1)
    assert g.cores == [0]  # the dead tickets did not hold it back
    assert os.listdir(queue) == []
