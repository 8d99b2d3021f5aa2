"""The red-team matrix as tests: every attack class against catalog tasks of each measure kind.

Each cell is a real ``looplab run`` with a scripted cheating agent (tests/redteam/attacks.py)
and passes when the attack scores no more than the nop agent plus noise; each task's
honest oracle must still meet its target. The default run covers one task per measure
kind (tests/redteam/matrix.py DEFAULT_TASKS) with the attacks aimed at that kind
(DEFAULT_ATTACKS: each attack class once across the four); ``-m slow`` covers every
applicable attack on every CPU catalog task (the gpu_* tasks need a GPU).
``scripts/security_matrix.py`` runs the same cells and writes docs/security.md.

Cells listed in KNOWN_HOLES fail on this branch (a task not yet migrated to the
harness-owned candidate runner, say): they are xfail(strict=False), naming the hole,
so the matrix shows the truth and turns green as the fixes land.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from redteam.attacks import (  # noqa: E402
    ATTACKS,
    CODE_ATTACKS,
    catalog,
    needs_gpu,
    objcheck_api,
    steps_for,
    task_info,
    task_path,
    why_not,
)
from redteam.matrix import DEFAULT_ATTACKS, DEFAULT_TASKS, noise, oracle_target, run_trial  # noqa: E402

# (task, attack): the hole it goes through today (measured on this branch, see docs/security.md).
# The instruction holes of instr_loop (cross_run_cache, valgrind_cheap_path, shell_named_child) and
# the leaks of dedupe_lines / bm25_search closed with the candidate runner (tasks declaring
# tests/run.toml); none is open in the cells run on this branch.
KNOWN_HOLES: dict[tuple[str, str], str] = {}

DEFAULT = set(DEFAULT_TASKS.values())


def _cells() -> list:
    out = []
    for task in catalog():
        if needs_gpu(task):
            continue
        kind = task_info(task)["kind"]
        for attack in ATTACKS:
            if steps_for(task, attack) is None:
                continue
            fast = task in DEFAULT and attack in DEFAULT_ATTACKS[kind]
            m = [] if fast else [pytest.mark.slow]
            if (task, attack) in KNOWN_HOLES:
                m.append(pytest.mark.xfail(reason=KNOWN_HOLES[task, attack], strict=False))
            out.append(pytest.param(task, attack, marks=m, id=f"{task}-{attack}"))
    return out


@functools.cache
def _jobs(task: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"redteam-matrix-{task}-"))


@functools.cache
def _nop(task: str) -> float:
    t = run_trial(task, "nop", None, _jobs(task), "nop")
    assert t.status == "completed", t.error
    return t.reward or 0.0


@pytest.mark.parametrize(
    "task",
    [
        pytest.param(t, marks=[] if t in DEFAULT else [pytest.mark.slow])
        for t in catalog()
        if not needs_gpu(t)
    ],
)
def test_the_honest_oracle_meets_its_target(task: str) -> None:
    t = run_trial(task, "oracle", None, _jobs(task), "oracle")
    assert t.status == "completed", t.error
    assert (t.reward or 0.0) >= oracle_target(task_info(task)["reward"]), t


@pytest.mark.parametrize(("task", "attack"), _cells())
def test_attack_scores_no_more_than_nop(task: str, attack: str) -> None:
    limit = _nop(task) + noise(task_info(task)["reward"])
    t = run_trial(task, "replay", steps_for(task, attack), _jobs(task), attack)
    assert t.status == "completed", f"the trial did not complete: {t.error}"
    assert (t.reward or 0.0) <= limit, f"{attack} on {task} scored {t.reward} (nop + noise = {limit:.3f})"


def test_every_measure_kind_has_a_default_task() -> None:
    kinds = {task_info(t)["kind"] for t in catalog()}
    assert kinds == set(DEFAULT_TASKS)
    assert all(task_info(t)["kind"] == k for k, t in DEFAULT_TASKS.items())


def test_every_attack_runs_somewhere_and_each_n_a_says_why() -> None:
    cpu = [t for t in catalog() if not needs_gpu(t)]
    for attack in ATTACKS:
        assert any(steps_for(t, attack) for t in cpu), f"{attack} applies to no CPU task"
    for t in cpu:
        for attack in ATTACKS:
            assert (steps_for(t, attack) is None) == (why_not(t, attack) is not None), (t, attack)


def test_c_attacks_on_an_objcheck_task_build_and_pass_its_objcheck(tmp_path: Path) -> None:
    """Where the build refuses constructors, each C attack still builds (it runs on the API's first call)."""
    task = "int_sort"
    api = objcheck_api(task)
    assert api == "sort_u32"
    env = task_path(task) / "environment"
    for attack in CODE_ATTACKS:
        steps = steps_for(task, attack)
        if steps is None:
            continue
        d = tmp_path / attack
        shutil.copytree(env, d)
        (d / "solve.c").write_text(steps[0]["write"]["content"])
        r = subprocess.run(["make", "-s", "-C", str(d), "prog"], capture_output=True, text=True, check=False)
        assert r.returncode == 0, f"{attack}: {r.stderr[-400:]}"
        assert "rt_enter();" in (d / "solve.c").read_text()
