"""Scratch folders of killed looplab processes are swept; live ones are left alone."""

from __future__ import annotations

import os
import subprocess

from looplab.environment.build import runtime_dir, scratch_dir, sweep_stale_scratch


def test_sweep_removes_only_dead_owners() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = runtime_dir() / "sandboxes" / f"agent-x-p{dead.pid}-0123abcd"
    (stale / "work").mkdir(parents=True)
    live = scratch_dir("agent-y")
    assert f"-p{os.getpid()}-" in live.name
    sweep_stale_scratch()
    assert not stale.exists()
    assert live.exists()
    live.rmdir()
