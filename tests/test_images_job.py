"""`looplab run` on foreign tasks in image mode: FROM mapped onto the test registry, a failed build stays that task's error."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli, trial_results
from test_images_build import make_task

TEST_SH = """#!/bin/bash
# the image's python (the host's is not on this root's PATH)
python -c "import sys, json; v = open('/app/answer.txt').read().strip() if __import__('os').path.exists('/app/answer.txt') else ''; \\
print(1.0 if v == '42' else 0.0)" > /logs/verifier/reward.txt
python -c "import sys; print('python', sys.version_info[:2])"
"""


def test_image_tasks_run_and_a_failed_build_is_recorded(tmp_path: Path, image_registry) -> None:
    py = image_registry.ensure("python")
    deb = image_registry.ensure("debian")
    tasks = tmp_path / "suite"
    good = make_task(
        tasks / "answer", "FROM python:3.11-slim\nWORKDIR /app\nRUN python -c 'print(1)' > /app/one.txt\n"
    )
    (good / "tests" / "test.sh").write_text(TEST_SH)
    (good / "solution").mkdir()
    (good / "solution" / "solve.sh").write_text("#!/bin/bash\necho 42 > /app/answer.txt\n")
    make_task(tasks / "broken", "FROM debian:bookworm-slim\nWORKDIR /app\nRUN echo no && false\n")
    jobs = tmp_path / "jobs"
    r = run_cli(
        "run",
        "-p",
        str(tasks),
        "-a",
        "oracle",
        "-a",
        "nop",
        "--jobs-dir",
        str(jobs),
        "--job-name",
        "j",
        "--editable",
        "answer.txt",
        "--image-map",
        f"python:3.11-slim={py}",
        "--image-map",
        f"debian={deb}",
        timeout=900,
    )
    assert r.returncode == 1, r.stdout + r.stderr  # some trials are errors
    assert "build failed: broken" in r.stderr and "Dockerfile:3: RUN failed (exit 1)" in r.stderr
    by = {(x["task_name"], x["agent"]): x for x in trial_results(jobs / "j")}
    assert len(by) == 4
    for agent in ("oracle", "nop"):
        bad = by[("broken", agent)]
        assert bad["status"] == "environment_build_failed" == bad["cause"]
        assert bad["exception_info"]["dockerfile_line"] == 3
    o, n = by[("answer", "oracle")], by[("answer", "nop")]
    assert o["status"] == n["status"] == "completed", (o, n)
    assert o["reward"] == 1.0 and n["reward"] == 0.0
    out = (jobs / "j" / o["trial_name"] / "verifier" / "test-stdout.txt").read_text()
    assert "python (3, 11)" in out
