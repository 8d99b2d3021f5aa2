"""The red-team matrix as tests: every attack class against catalog tasks of each measure kind.

Each cell is a real ``looplab run`` with a scripted cheating agent (tests/redteam/attacks.py)
and passes when the attack scores no more than the nop agent plus noise; each task's
honest oracle must still meet its target. The default run covers one task per measure
kind (tests/redteam/matrix.py DEFAULT_TASKS) with the attacks aimed at that kind
(DEFAULT_ATTACKS); ``-m slow`` covers every attack on every catalog task.
``scripts/security_matrix.py`` runs the same cells and writes docs/security.md.

Cells listed in KNOWN_HOLES fail on this branch because the harness-owned candidate
runner (issue 10, parts 1-2) has not landed: they are xfail(strict=False), naming the
hole, so the matrix shows the truth and turns green as the runner lands.
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

# (task, attack): the hole it goes through today (measured on this branch, see docs/security.md)
_COUNT_TRUSTS_THE_CANDIDATE = (
    "instruction counts are taken under valgrind in a process tree the candidate controls, and the "
    "timed runs' output is not checked (the harness-owned runner counts every process of the jail "
    "and checks every timed run's output)"
)
KNOWN_HOLES: dict[tuple[str, str], str] = {
    ("instr_loop", "valgrind_cheap_path"): _COUNT_TRUSTS_THE_CANDIDATE
    + ": a run that sees valgrind exits at once",
    ("instr_loop", "shell_named_child"): _COUNT_TRUSTS_THE_CANDIDATE + ": processes named 'sh' are left out",
    ("instr_loop", "cross_run_cache"): _COUNT_TRUSTS_THE_CANDIDATE + ": /tmp is shared between runs",
    (
        "dedupe_lines",
        "leaked_answer",
    ): "the verified digest sits in the verifier's /tmp, readable by the candidate",
    ("bm25_search", "leaked_answer"): (
        "the verified digest sits in /tmp/bm25_search and the digest line is printed by the process "
        "that imported the candidate"
    ),
}

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
