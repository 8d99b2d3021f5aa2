"""``--timeout-multiplier`` scales every timeout of a trial, as Harbor's does: the build's and the verifier's too."""

from __future__ import annotations

import uuid
from pathlib import Path

from conftest import run_cli, trial_results


def _slow(task: Path) -> None:
    """The build's RUN step and test.sh each take 2 s, over their 1 s timeouts."""
    toml = task / "task.toml"
    text = toml.read_text().replace("timeout_sec = 30", "timeout_sec = 1")
    toml.write_text(text.replace("[environment]\n", "[environment]\nbuild_timeout_sec = 1\n"))
    df = task / "environment" / "Dockerfile"
    df.write_text(df.read_text() + f"RUN sleep 2 && echo {uuid.uuid4().hex}\n")  # never a cached layer
    sh = task / "tests" / "test.sh"
    sh.write_text(sh.read_text().replace("set -u\n", "set -u\nsleep 2\n"))


def test_the_multiplier_scales_the_build_and_verifier_timeouts(tmp_path: Path, tiny_task: Path) -> None:
    _slow(tiny_task)
    base = ["run", "-p", str(tiny_task), "-a", "oracle", "--jobs-dir", str(tmp_path)]
    r = run_cli(*base, "--job-name", "x1")
    assert r.returncode == 1 and "timed out" in r.stderr, r.stdout + r.stderr
    (failed,) = trial_results(tmp_path / "x1")
    assert failed["status"] == "environment_build_failed", failed
    r = run_cli(*base, "--job-name", "x5", "--timeout-multiplier", "5")
    assert r.returncode == 0, r.stdout + r.stderr
    (res,) = trial_results(tmp_path / "x5")
    assert res["status"] == "completed" and res["reward"] > 0, res
