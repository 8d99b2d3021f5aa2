"""AutoLab/Harbor-style task folders (no [looplab] section) run end to end through `looplab run`.

The fixtures under tests/fixtures/autolab_style follow those projects' conventions: a canary
comment, [optimization] targets, a Dockerfile that installs packages with apt-get/pip, copies the
program to /app and a pristine copy plus the Makefile's hash to /orig; a test.sh that checks the
hash, builds, parses the metric with sed/grep and writes reward.json from an inline python3
heredoc; a Harbor task graded by pytest over test_outputs.py into reward.txt. Real subprocesses,
real sandboxes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, run_cli, trial_results

AUTOLAB = FIXTURES / "autolab_style"
EDITABLE = {
    "inversion_count": "solve.c",
    "sorting_network6": "network.py",
    "harbor_word_stats": "answer.json",
}


@pytest.fixture
def tasks(tmp_path: Path) -> Path:
    dst = tmp_path / "autolab_style"
    shutil.copytree(AUTOLAB, dst, symlinks=True)
    return dst


def _run(tmp_path: Path, job: str, paths: list[Path], agents: list[str], *extra: str) -> tuple[dict, str]:
    # host base: these fixtures test the task format, not images (tests/test_images_*.py do)
    args = ["run", "--jobs-dir", str(tmp_path / "jobs"), "--job-name", job, "-n", "2", "--base", "host"]
    for p in paths:
        args += ["-p", str(p)]
    for a in agents:
        args += ["-a", a]
    r = run_cli(*args, *extra, timeout=300)
    assert r.returncode == 0, r.stderr + r.stdout
    return {(x["task_name"], x["agent"]): x for x in trial_results(tmp_path / "jobs" / job)}, r.stderr


def _script(tmp_path: Path, name: str, steps: list[dict]) -> str:
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps(steps))
    return f"script={p}"


@pytest.mark.parametrize("task", sorted(EDITABLE))
def test_oracle_beats_nop_sealed(tmp_path: Path, tasks: Path, task: str) -> None:
    by, err = _run(tmp_path, "sealed", [tasks / task], ["oracle", "nop"], "--editable", EDITABLE[task])
    o, n = by[(task, "oracle")], by[(task, "nop")]
    for res in (o, n):
        assert res["status"] == "completed" and res["sealed"] is True, res
        assert res["verifier_result"]["sealed"] is True
    assert n["reward"] == 0.0 and o["reward"] > 0.5, (o["reward"], n["reward"])
    vo, vn = o["verifier_result"], n["verifier_result"]
    if task == "inversion_count":
        # the metric test.sh parsed with sed, and the fields of its reward.json, land in result.json
        assert set(vo["rewards"]) >= {"reward", "time_ms", "baseline_ms", "speedup"}
        assert vo["rewards"]["speedup"] > 5 and vo["rewards"]["time_ms"] < vo["rewards"]["baseline_ms"]
        assert vo["extra"]["correctness"] is True and vo["carried_files"] == ["solve.c"]
    elif task == "sorting_network6":
        assert vo["rewards"]["comparators"] == 12 and vn["rewards"]["comparators"] == 15
        assert o["reward"] == 1.0 and vo["extra"]["method"] == "linear"
    else:  # Harbor: pytest verdict into reward.txt; the answer file is created by the agent
        assert vo["reward_source"] == vn["reward_source"] == "reward.txt"
        assert o["reward"] == 1.0 and vo["carried_files"] == ["answer.json"] and vn["carried_files"] == []
        assert (
            "3 passed"
            in (tmp_path / "jobs" / "sealed" / o["trial_name"] / "verifier" / "test-stdout.txt").read_text()
        )
        assert "answer.json match no file in the starting /app" in err
    # the canary comment and AutoLab's sections load without complaint
    assert "unknown" not in err.lower() and "error" not in err.lower()


def test_without_editable_globs_trials_are_unsealed(tmp_path: Path, tasks: Path) -> None:
    by, err = _run(tmp_path, "unsealed", [tasks], ["oracle"])
    assert len(by) == 3
    for (task, _), res in by.items():
        assert res["sealed"] is False and res["reward"] > 0.5, (task, res["reward"])
        # the warning names the section (rich markup once swallowed "[looplab]")
        assert f"{task}: no editable globs ([looplab] editable or --editable)" in err


CHEAT_MAKEFILE = [
    # a Makefile that "builds" a fake program reporting a perfect time
    {
        "write": {
            "path": "/app/Makefile",
            "content": "main:\n\tprintf '#!/bin/sh\\necho verify=ok time_ms=0.001\\n' > main && chmod +x main\n",
        }
    },
    {"run": "cd /app && rm -f main && make && ./main"},
    # make the hash match the forged Makefile, and slow down the baseline: /orig is read-only
    {"run": "sha256sum /app/Makefile | cut -d' ' -f1 > /orig/build_file.sha256"},
    {"run": "echo 'long long count_inversions(const int *a, int n) { for (;;); }' > /orig/solve.c"},
    # pre-seed the verifier's reward: the verifier's /logs is fresh
    {"run": "mkdir -p /logs/verifier && echo '{\"reward\": 1.0}' > /logs/verifier/reward.json"},
    {"finish": True},
]


def test_makefile_and_orig_cheats_do_nothing_when_sealed(tmp_path: Path, tasks: Path) -> None:
    task = tasks / "inversion_count"
    ak = _script(tmp_path, "cheat", CHEAT_MAKEFILE)
    by, _ = _run(tmp_path, "cheat", [task], ["replay"], "--ak", ak, "--editable", "solve.c")
    (cheat,) = by.values()
    # --ak goes to every agent of a job, so nop runs in its own job (test_oracle_beats_nop_sealed: 0)
    assert cheat["sealed"] is True and cheat["reward"] == 0.0
    # the verifier saw the pristine Makefile, so the real (quadratic) program was built and timed
    assert cheat["verifier_result"]["rewards"]["time_ms"] > 1 and cheat["verifier_result"][
        "carried_files"
    ] == ["solve.c"]
    trial = tmp_path / "jobs" / "cheat" / cheat["trial_name"]
    events = [json.loads(line) for line in (trial / "agent" / "trajectory.jsonl").read_text().splitlines()]
    assert sum("Read-only file system" in (e.get("stderr") or "") for e in events) == 2
    # unsealed, the forged Makefile travels and AutoLab's own hash check catches it; the reason it
    # wrote ({"reward": 0.0, "reason": "build_file_modified"}) is the trial's reason
    by, _ = _run(tmp_path, "cheat-unsealed", [task], ["replay"], "--ak", ak)
    (res,) = by.values()
    assert res["sealed"] is False and res["reward"] == 0.0
    assert res["verifier_result"]["reason"] == "build_file_modified"


CHEAT_HARBOR = [
    # rewrite the (non-editable) corpus so that an easy answer is right, and forge the test files
    {
        "run": "echo 'a a a b b c' > /app/data/corpus.txt && "
        'echo \'{"total": 6, "top": [["a", 3], ["b", 2], ["c", 1]]}\' > /app/answer.json'
    },
    {"run": "mkdir -p /logs/verifier && echo '{\"reward\": 1.0}' > /logs/verifier/reward.json"},
    {"run": "mkdir -p /tests && echo 'def test_ok(): pass' > /tests/test_outputs.py"},
    {"finish": True},
]


def test_harbor_cheat_needs_an_unsealed_trial(tmp_path: Path, tasks: Path) -> None:
    task = tasks / "harbor_word_stats"
    ak = _script(tmp_path, "cheat", CHEAT_HARBOR)
    by, _ = _run(tmp_path, "hcheat", [task], ["replay"], "--ak", ak, "--editable", "answer.json")
    (cheat,) = by.values()
    assert cheat["sealed"] is True and cheat["reward"] == 0.0  # what nop scores
    assert cheat["verifier_result"]["carried_files"] == ["answer.json"]
    # without globs the rewritten corpus travels too: the cheat scores, and the record says unsealed
    by, _ = _run(tmp_path, "hcheat-unsealed", [task], ["replay"], "--ak", ak)
    (res,) = by.values()
    assert res["sealed"] is False and res["reward"] == 1.0
    assert "data/corpus.txt" in res["verifier_result"]["carried_files"]


def test_failing_verifiers_give_zero_with_their_reason(tmp_path: Path, tasks: Path) -> None:
    broken = _script(
        tmp_path, "broken", [{"write": {"path": "/app/solve.c", "content": "long long oops(\n"}}]
    )
    by, _ = _run(
        tmp_path, "broken", [tasks / "inversion_count"], ["replay"], "--ak", broken, "--editable", "solve.c"
    )
    (res,) = by.values()
    assert res["reward"] == 0.0 and res["verifier_result"]["reason"] == "build_failed"
    # a network that does not sort: AutoLab's null reward, null metric and correctness false
    wrong = _script(
        tmp_path, "wrong", [{"write": {"path": "/app/network.py", "content": "NETWORK = [(0, 1)]\n"}}]
    )
    by, _ = _run(
        tmp_path, "wrong", [tasks / "sorting_network6"], ["replay"], "--ak", wrong, "--editable", "network.py"
    )
    (res,) = by.values()
    vr = res["verifier_result"]
    assert res["status"] == "completed" and res["reward"] == 0.0 and vr["reason"] == "reward is null"
    assert vr["extra"]["correctness"] is False and vr["extra"]["metric"] is None


def test_tasks_check_reports_autolab_tasks(tasks: Path) -> None:
    r = run_cli("tasks", "check", str(tasks), "--base", "host", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in EDITABLE:
        assert f"ok {name}" in r.stdout
    assert r.stdout.count("no [looplab] editable globs: trials will be unsealed") == 3
