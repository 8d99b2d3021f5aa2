"""Harbor's ``[environment.env]``: host values (``${VAR:-default}``) reach the agent and the verifier.

A real run of a Harbor-format fixture with one host variable set and one unset (its default
applies); a host variable the task does not name never reaches the sandbox.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from conftest import FIXTURES, run_cli, trial_results


def test_environment_env_from_the_host(tmp_path: Path) -> None:
    task = tmp_path / "environment_env"
    shutil.copytree(FIXTURES / "harbor" / "environment_env", task)
    env = {**os.environ, "HARBOR_FIXTURE_GREETING": "bonjour", "HARBOR_FIXTURE_SECRET": "do-not-leak"}
    env.pop("HARBOR_FIXTURE_UNSET", None)
    r = run_cli(
        "run",
        "-p",
        str(task),
        "-a",
        "oracle",
        "--jobs-dir",
        str(tmp_path / "jobs"),
        "--job-name",
        "env",
        "--base",
        "host",
        "--editable",
        "out.txt",
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr + r.stdout
    (res,) = trial_results(tmp_path / "jobs" / "env")
    vr = res["verifier_result"]
    assert res["reward"] == 1.0, vr
    assert vr["extra"]["verifier_sees"] == "bonjour fast verifier"
    seen = (tmp_path / "jobs" / "env" / res["trial_name"] / "agent" / "sandbox-logs" / "env.txt").read_text()
    assert "GREETING=bonjour" in seen and "MODE=fast" in seen
    assert "do-not-leak" not in seen and "HARBOR_FIXTURE" not in seen
