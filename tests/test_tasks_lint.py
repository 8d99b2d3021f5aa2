"""``looplab tasks lint``: one line per problem naming the file and the field, exit 1 on any.

Two fixture folders hold one of each problem (layout and format; bad values); the built-in
catalog and the Harbor fixtures lint clean.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import FIXTURES, run_cli

HARBOR = FIXTURES / "harbor"
REPO = Path(__file__).resolve().parents[1]


def test_each_problem_is_one_line_naming_file_and_field() -> None:
    r = run_cli("tasks", "lint", str(HARBOR / "lint_bad"), str(HARBOR / "lint_values"))
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    bad, values = HARBOR / "lint_bad", HARBOR / "lint_values"
    expected = [
        (bad / "task.toml", "agent.tiemout_sec", "unknown key"),
        (bad / "task.toml", "steps[0].name", "missing"),
        (bad / "steps" / "stray", "-", "no [[steps]] entry names"),
        (bad / "task.toml", "steps.one.verifier.environment", "needs a docker_image or"),
        (bad / "task.toml", "environment.os", "'windows' environments are not supported"),
        (bad / "task.toml", "verifier.environment_mode", "looplab's verifier is always a fresh sandbox"),
        (bad / "environment" / "Dockerfile", "line 1", "image 'python' is not pinned"),
        (
            bad / "environment" / "Dockerfile",
            "line 2",
            "COPY tests/: tests or solution copied into the image",
        ),
        (bad / "environment" / "Dockerfile", "line 3", "COPY solution/solve.sh"),
        (bad / "task.toml", "looplab.measure", "without a measure"),
        (bad / "task.toml", "looplab.editable[0]", "'nothing*.c' matches no file of environment/"),
        (values / "task.toml", "agent.timeout_sec", "greater than 0"),
        (values / "task.toml", "environment.network_mode", "got 'sometimes'"),
        (values / "task.toml", "artifacts.0.destination", "'../outside'"),
        (values / "task.toml", "multi_step_reward_strategy", "'mean' or 'final'"),
    ]
    assert len(lines) == len(expected), lines
    for line, (file, field, words) in zip(lines, expected, strict=True):
        assert line.startswith(f"{file}: {field}: ") and words in line, (line, field)
    assert "2 task(s) checked, 15 problem(s)" in r.stderr


def test_json_output_lists_the_same_problems() -> None:
    r = run_cli("tasks", "lint", "--json", str(HARBOR / "lint_values"))
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["tasks"] == 1 and [p["field"] for p in doc["problems"]] == [
        "agent.timeout_sec",
        "environment.network_mode",
        "artifacts.0.destination",
        "multi_step_reward_strategy",
    ]


def test_the_catalog_and_the_harbor_fixtures_lint_clean() -> None:
    clean = [
        HARBOR / n
        for n in (
            "multi_step",
            "environment_env",
            "multi_reward",
            "network_policy",
            "compose",
            "mcp_services",
        )
    ]
    r = run_cli("tasks", "lint", str(REPO / "tasks"), *map(str, clean))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "" and "no problem(s)" in r.stderr


def test_a_separate_verifier_without_an_image_is_reported_as_harbor_refuses_it(tmp_path: Path) -> None:
    """Harbor starts a separate verifier from its own image (``[verifier.environment] docker_image``
    or ``tests/Dockerfile``) and refuses one with neither; looplab runs it on the task's environment."""
    task = tmp_path / "extras"
    shutil.copytree(HARBOR / "extras", task)
    r = run_cli("tasks", "lint", str(task))
    assert r.returncode == 1
    assert r.stdout.strip() == (
        f"{task / 'task.toml'}: verifier.environment_mode: 'separate' without an environment table or "
        f"{task / 'tests' / 'Dockerfile'}: Harbor refuses it; looplab runs test.sh on the task's pristine "
        "environment with tests/ uploaded"
    )
    (task / "tests" / "Dockerfile").write_text("FROM grader:1.0\nCOPY . /tests/\n")
    r = run_cli("tasks", "lint", str(task))
    assert r.returncode == 0 and r.stdout.strip() == "", r.stdout
