"""The rest of Harbor's environment block, run for real: ``healthcheck`` (Docker semantics),
``artifacts`` with a manifest, ``[[verifier.collect]]``, ``[solution] env``, ``workdir``,
``skills_dir``, ``mcp_servers``, ``docker_image`` (image mode, a real registry on 127.0.0.1),
and a collect hook naming a service the task does not run refused in one line (compose: test_harbor_compose).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, run_cli, trial_results

from looplab.errors import LooplabError
from looplab.tasks.loader import load_task


def _task(tmp_path: Path) -> Path:
    task = tmp_path / "extras"
    shutil.copytree(FIXTURES / "harbor" / "extras", task)
    return task


def _run(task: Path, jobs: Path, *extra: str, ok: bool = True) -> dict:
    r = run_cli(
        "run",
        "-p",
        str(task),
        "-a",
        "oracle",
        "--jobs-dir",
        str(jobs),
        "--job-name",
        "j",
        *extra,
        timeout=600,
    )
    assert (r.returncode == 0) == ok, r.stderr + r.stdout
    (res,) = trial_results(jobs / "j")
    return res


def test_healthcheck_artifacts_collect_solution_env_skills_and_mcp(tmp_path: Path) -> None:
    res = _run(_task(tmp_path), tmp_path / "jobs", "--base", "host")
    trial = tmp_path / "jobs" / "j" / res["trial_name"]
    assert res["status"] == "completed" and res["reward"] == 1.0, res
    ar = res["agent_result"]
    # healthy on the third check: two failures did not reach retries = 3
    (hc,) = ar["healthchecks"]
    assert hc["healthy"] and [c["exit_code"] for c in hc["checks"]] == [1, 1, 0]
    # [solution] env reached solve.sh (its ${VAR:-default}), never the verifier
    assert (trial / "artifacts" / "out.txt").read_text() == "oracle\n"
    assert res["verifier_result"]["extra"]["solution_word_seen"] == "unset"
    # [environment] workdir is where the agent and the verifier work
    assert res["verifier_result"]["extra"]["pwd"] == "/workspace"
    # the collect hook ran in the agent's environment before the artifacts were taken
    (hook,) = ar["collect"]
    assert hook["service"] == "main" and hook["exit_code"] == 0 and not hook["timed_out"]
    assert (trial / "artifacts" / "collected.txt").read_text() == "oracle\n"
    # environment_mode = "separate": the artifacts are back at their source paths for test.sh,
    # /tmp included (a file the hook wrote outside the working folder)
    assert res["verifier_result"]["extra"]["outside_seen"] == "outside"
    assert "/tmp/outside.txt" in res["verifier_result"]["extra"]["artifacts_restored"]
    # artifacts: a bare path under its basename, {source, destination, exclude}, a missing one,
    # and both phases' /logs/artifacts; the manifest lists each
    art = trial / "artifacts"
    assert (art / "run-logs" / "run.log").read_text() == "kept\n" and not (
        art / "run-logs" / "scratch.tmp"
    ).exists()
    assert (art / "agent-note.txt").read_text() == "from the agent\n"
    assert (art / "verifier-note.txt").read_text() == "from the verifier\n"
    manifest = json.loads((art / "manifest.json").read_text())
    status = {e["source"] + ":" + e.get("phase", ""): e["status"] for e in manifest}
    assert status == {
        "/workspace/out.txt:": "ok",
        "/workspace/logs:": "ok",
        "/workspace/collected.txt:": "ok",
        "/workspace/never-written.txt:": "missing",
        "/tmp/outside.txt:": "ok",
        "/logs/artifacts:agent": "ok",
        "/logs/artifacts:verifier": "ok",
    }
    assert res["artifacts"] == manifest
    # skills_dir copied into the agent's skills folder, mcp_servers written as Claude Code reads them
    assert (trial / "agent" / "sandbox-logs" / "skills.txt").read_text().split() == ["greet"]
    mcp = json.loads((trial / "agent" / "sandbox-logs" / "mcp.json").read_text())["mcpServers"]
    assert mcp["notes"] == {"type": "stdio", "command": "python3", "args": ["-m", "notes_server"]}
    assert mcp["search"] == {"type": "http", "url": "http://127.0.0.1:9/mcp"}


def test_an_unhealthy_environment_never_runs_the_agent(tmp_path: Path) -> None:
    task = _task(tmp_path)
    toml = task / "task.toml"
    toml.write_text(toml.read_text().replace("retries = 3", "retries = 2"))
    res = _run(task, tmp_path / "jobs", "--base", "host", ok=False)
    assert res["status"] == "agent_error" and res["reward"] is None
    assert res["exception_info"]["type"] == "HealthcheckFailed"
    assert "failed 2 times in a row" in res["exception_info"]["message"]
    assert not (tmp_path / "jobs" / "j" / res["trial_name"] / "agent" / "oracle.txt").exists()


def test_docker_image_is_pulled_instead_of_a_dockerfile(tmp_path: Path, image_registry) -> None:
    reg = image_registry.ensure("debian")
    task = tmp_path / "prebuilt"
    (task / "tests").mkdir(parents=True)
    (task / "solution").mkdir()
    (task / "task.toml").write_text(
        f'[environment]\ndocker_image = "{reg}"\nworkdir = "/app"\nnetwork_mode = "no-network"\n'
        "[agent]\ntimeout_sec = 60\n[verifier]\ntimeout_sec = 60\n"
    )
    (task / "instruction.md").write_text("Write the image's Debian version to /app/version.txt.\n")
    (task / "solution" / "solve.sh").write_text("cat /etc/debian_version > /app/version.txt\n")
    (task / "tests" / "test.sh").write_text(
        'v=$(cat /app/version.txt); case "$v" in 12.*) r=1;; *) r=0;; esac\n'
        'echo "{\\"reward\\": $r, \\"version\\": \\"$v\\"}" > /logs/verifier/reward.json\n'
    )
    res = _run(task, tmp_path / "jobs")  # a foreign task: image mode by default
    assert res["reward"] == 1.0, res
    assert res["verifier_result"]["extra"]["version"].startswith("12.")


def test_an_unknown_service_is_refused_naming_its_field(tmp_path: Path) -> None:
    task = _task(tmp_path)
    toml = task / "task.toml"
    toml.write_text(
        toml.read_text().replace('command = "cp /workspace', 'service = "db"\ncommand = "cp /workspace')
    )
    with pytest.raises(
        LooplabError,
        match=r"verifier\.collect\[0\]\.service: 'db': names no service",
    ):
        load_task(task)
