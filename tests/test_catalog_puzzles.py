"""Smoke tests of the five puzzle tasks: they load cleanly, and their pristine verifiers accept the
baseline with the documented metric and reject a wrong submission.

Each verifier (``tests/verify.py`` of the task) runs here on the host against a temp copy of the
task's environment, exactly as the sealed verifier runs it (``--app`` and ``--out`` point at the
copies instead of /app and /logs/verifier). The end-to-end oracle/nop run through the harness is
the slow test at the bottom.
"""

from __future__ import annotations

import filecmp
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_cli, trial_results

from looplab.tasks import load_task
from looplab.verify.rewards import reward_from_config
from looplab.verify.runner import load_declaration

TASKS = REPO / "tasks"
PUZZLES = ["sorting_network16", "stack_machine_dot", "toy_isa_dot", "vliw_scheduler", "splay_adversary"]
# the pristine checker/simulator the verifier uses, and the copy the agent sees in /app
PRISTINE = {
    "sorting_network16": ["checknet.py"],
    "stack_machine_dot": ["smvm.py"],
    "toy_isa_dot": ["toysim.py"],
    "vliw_scheduler": ["vliw.py"],
    "splay_adversary": ["splay.py"],
}
BASELINE_METRIC = {
    "sorting_network16": 80,
    "stack_machine_dot": 4612,
    "toy_isa_dot": 7683,
    "vliw_scheduler": 1.0,
    "splay_adversary": 114459,
}


def verify(task: str, app: Path, out: Path, *extra: str) -> dict:
    r = subprocess.run(
        [
            sys.executable,
            str(TASKS / task / "tests" / "verify.py"),
            "--app",
            str(app),
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    data = json.loads((out / "reward.json").read_text())
    assert json.loads(r.stdout.strip().splitlines()[-1]) == data
    return data


def app_copy(task: str, tmp_path: Path) -> Path:
    app = tmp_path / "app"
    shutil.copytree(TASKS / task / "environment", app, ignore=shutil.ignore_patterns("Dockerfile"))
    return app


@pytest.mark.parametrize("task", PUZZLES)
def test_task_loads_cleanly_and_its_constants_agree(task: str) -> None:
    t = load_task(TASKS / task)
    assert t.warnings == []
    cfg = t.config
    assert cfg.metadata["domain"] == "puzzles" and cfg.metadata["author"] == "looplab"
    assert cfg.looplab.measure == "reported" and cfg.looplab.reward == "linear"
    assert cfg.looplab.dev_check == "bash /app/check.sh"
    assert len(cfg.looplab.editable) == 1
    assert (t.environment_dir / cfg.looplab.editable[0]).is_file()
    assert (t.environment_dir / "check.sh").is_file() and (t.solution_dir / "solve.sh").is_file()
    assert (t.solution_dir / "reference.md").is_file()
    # the constants test.sh scores with are the task.toml's
    spec = importlib.util.spec_from_file_location(f"verify_{task}", t.tests_dir / "verify.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert cfg.optimization is not None
    assert cfg.optimization.baseline.score == mod.BASELINE
    assert cfg.optimization.reference.score == mod.REFERENCE
    assert cfg.optimization.metric == mod.METRIC
    # the checker the agent sees is the verifier's pristine one
    for name in PRISTINE[task]:
        assert filecmp.cmp(t.environment_dir / name, t.tests_dir / name, shallow=False), name


@pytest.mark.parametrize("task", PUZZLES)
def test_the_harness_runner_runs_the_agents_code_no_task_jails_it(task: str) -> None:
    """Every puzzle declares an exact run (tests/run.toml); none keeps jail code of its own."""
    t = load_task(TASKS / task)
    decl = load_declaration(t.tests_dir)
    assert decl is not None and decl.mode == "exact" and decl.programs == {"candidate": "/app"}
    assert "/tests/verify.py" in decl.check.command
    assert not any((t.tests_dir / name).exists() for name in ("guard.py", "jail.py"))
    # the agent's code (vliw's scheduler.py, splay's gen.py) runs only as the declared run step
    runs_code = task in ("vliw_scheduler", "splay_adversary")
    assert (decl.run is not None) == runs_code
    if runs_code:
        assert "{src}/" + t.config.looplab.editable[0] in decl.run.command


@pytest.mark.parametrize("task", PUZZLES)
def test_baseline_passes_with_the_documented_metric_and_scores_zero(task: str, tmp_path: Path) -> None:
    data = verify(task, app_copy(task, tmp_path), tmp_path / "out")
    cfg = load_task(TASKS / task).config
    assert data["correct"] is True, data
    assert data[cfg.optimization.metric] == BASELINE_METRIC[task]
    assert data["reward"] == 0.0
    # the harness's recomputation from the metric agrees with what test.sh wrote
    assert reward_from_config(cfg, data) == (0.0, None)


WRONG = {
    # one comparator fewer: no longer sorts
    "sorting_network16": ("network.txt", lambda s: s.replace("\n0 15\n", "\n", 1), "unsorted"),
    # product instead of the multiply-accumulate sum: wrong result
    "stack_machine_dot": (
        "program.sm",
        lambda s: s.replace("        rot ", "        swap", 1),
        "vector pair",
    ),
    "toy_isa_dot": ("dot.asm", lambda s: s.replace("add  r1, r1, r7", "sub  r1, r1, r7"), "wrong result"),
    # every operation in cycle 0: dependencies broken
    "vliw_scheduler": (
        "scheduler.py",
        lambda s: s.replace("cycles.append(c)", "cycles.append(0)"),
        "depends on",
    ),
    # one key too few
    "splay_adversary": ("gen.py", lambda s: s.replace("range(M)", "range(M - 1)"), "exactly 10000"),
}


@pytest.mark.parametrize("task", PUZZLES)
def test_wrong_submission_is_rejected_with_a_reason(task: str, tmp_path: Path) -> None:
    app = app_copy(task, tmp_path)
    name, edit, why = WRONG[task]
    src = (app / name).read_text()
    wrong = edit(src)
    assert wrong != src
    (app / name).write_text(wrong)
    data = verify(task, app, tmp_path / "out")
    assert data["correct"] is False and data["reward"] == 0.0
    assert why in data["reason"], data["reason"]


def test_sorting_network_checker_detects_every_single_missing_comparator() -> None:
    sys.path.insert(0, str(TASKS / "sorting_network16" / "tests"))
    try:
        import checknet
    finally:
        sys.path.pop(0)
    text = (TASKS / "sorting_network16" / "environment" / "network.txt").read_text()
    comps = checknet.parse_network(text)
    assert len(comps) == 80 and checknet.unsorted_count(comps) == 0
    # the bitonic network has redundant comparators only in the sense of its size: dropping any one
    # of them breaks it, and the checker must see that for each
    for k in range(len(comps)):
        assert checknet.unsorted_count(comps[:k] + comps[k + 1 :]) > 0, k
    for bad, msg in [
        ("3 3", "smaller wire first"),
        ("1 16", "0..15"),
        ("1 2 3", "two wire"),
        ("a b", "integers"),
    ]:
        with pytest.raises(checknet.NetworkError, match=msg):
            checknet.parse_network(bad)


def test_vliw_lower_bound_never_exceeds_a_valid_schedule() -> None:
    sys.path.insert(0, str(TASKS / "vliw_scheduler" / "tests"))
    try:
        import vliw
    finally:
        sys.path.pop(0)
    spec = importlib.util.spec_from_file_location(
        "ref_sched", TASKS / "vliw_scheduler" / "solution" / "scheduler.py"
    )
    assert spec and spec.loader
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    for inst in vliw.generate_batch(12345, 20):
        bound = vliw.lower_bound(inst)
        assert (
            bound
            <= vliw.check_schedule(inst, ref.schedule(inst))
            <= vliw.check_schedule(inst, vliw.inorder_schedule(inst))
        )


@pytest.mark.slow
def test_oracle_reaches_reference_and_nop_scores_zero_through_the_harness(tmp_path: Path) -> None:
    args = ["run", "-a", "oracle", "-a", "nop", "--jobs-dir", str(tmp_path), "--job-name", "puzzles"]
    for t in PUZZLES:
        args += ["-p", str(TASKS / t)]
    r = run_cli(*args, timeout=1800)
    assert r.returncode == 0, r.stderr + r.stdout
    results = trial_results(tmp_path / "puzzles")
    assert len(results) == 2 * len(PUZZLES)
    for res in results:
        assert res["status"] == "completed", res
        vr = res["verifier_result"]
        assert vr["duration_s"] < 180, (res["task_name"], vr["duration_s"])
        if res["agent"] == "nop":
            assert res["reward"] == 0.0, (res["task_name"], vr)
        else:
            assert res["reward"] >= 0.9, (res["task_name"], vr)
