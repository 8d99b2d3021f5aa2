"""The red-team matrix as tests: every attack class against catalog tasks of each measure kind.

Each cell is a real ``looplab run`` with a scripted cheating agent (tests/redteam/attacks.py)
and passes when the attack scores no more than the nop agent plus noise; each task's
honest oracle must still meet its target. The default run covers one task per measure
kind (tests/redteam/matrix.py DEFAULT_TASKS) with the attacks aimed at that kind
(DEFAULT_ATTACKS); ``-m slow`` covers every attack on every catalog task.
``scripts/security_matrix.py`` runs the same cells and writes docs/security.md.

Cells listed in KNOWN_HOLES fail on this branch (a task not yet migrated to the
harness-owned candidate runner, say): they are xfail(strict=False), naming the hole,
so the matrix shows the truth and turns green as the fixes land.
"""

from __future__ import annotations

import functools
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from redteam.attacks import ATTACKS, catalog, steps_for, task_info  # noqa: E402
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
    "task", [pytest.param(t, marks=[] if t in DEFAULT else [pytest.mark.slow]) for t in catalog()]
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
