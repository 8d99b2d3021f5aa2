"""Ctrl-C on a real ``looplab run --executor ray`` (a local Ray it starts itself): remote trials stop.

Before, the driver recorded the interrupt but let every Ray task run to its end (and the
queued ones start): the job took as long as it would have without the Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from conftest import LOOPLAB, trial_results

pytest.importorskip("ray")


def _procs_with(marker: str) -> list[int]:
    out = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            if marker in d.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                out.append(int(d.name))
        except OSError:
            continue
    return out


def test_ctrl_c_cancels_remote_trials_and_records_them(tmp_path: Path, tiny_task: Path) -> None:
    pause = f"97.{uuid.uuid4().int % 10**6:06d}"  # a sleep no other process on the host runs
    script = tmp_path / "agent.sh"
    script.write_text(f"#!/bin/sh\necho 7 > /app/value.txt\nsleep {pause}\n")
    job = tmp_path / "jobs" / "r"
    cmd = [
        *LOOPLAB,
        "run",
        "--executor",
        "ray",
        "-p",
        str(tiny_task),
        "-a",
        "command",
        "--ak",
        f"script={script}",
        "-k",
        "3",
        "--jobs-dir",
        str(tmp_path / "jobs"),
        "--job-name",
        "r",
    ]
    env = {
        **os.environ,
        "COLUMNS": "200",
        "RAY_USAGE_STATS_ENABLED": "0",
        "LOOPLAB_CORE_CLAIMS": str(tmp_path / "claims"),  # Ray's trials wait for no other process
    }
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    t0 = time.monotonic()
    while not _procs_with(f"sleep {pause}"):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < 180, "no remote agent started"
        time.sleep(0.2)
    time.sleep(0.5)
    t1 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    took = time.monotonic() - t1
    assert proc.returncode == 130, err
    assert took < 30, (took, err)  # the agents sleep 97 s: they were stopped, not waited for
    time.sleep(1)
    assert not _procs_with(f"sleep {pause}"), "a remote trial's agent outlived the cancel"
    results = trial_results(job)
    started = len(results)
    assert started >= 1 and all(r["status"] == "cancelled" for r in results), results
    for r in results:
        assert r["exception_info"]["type"] == "Cancelled" and "ray.cancel" in r["exception_info"]["message"]
        assert r["executor"]["kind"] == "ray" and r["reward"] is None
    line = [ln for ln in err.splitlines() if ln.startswith("interrupted (SIGINT)")]
    assert line and f"{started} trial(s) cancelled, {3 - started} not started" in line[0], err
    assert len({r["slot"] for r in results}) == started  # cancelled is not lost: nothing was retried
    summary = json.loads((job / "result.json").read_text())
    assert [t["status"] for t in summary["trials"]] == ["cancelled"] * started
