"""The candidate runner's instruction mode (``time = "instructions"``) on the instr_loop fixture, for real.

Every run goes under callgrind in a fresh jail (valgrind, bwrap, gcc, cgroups as on
the host); the cheats of the red-team matrix are tried straight on ``CandidateRunner``:
a child named like a shell is counted, a cheap path under valgrind fails the check,
a rewritten count file fails the run, a cache never hits. The full trials are in
tests/test_redteam_matrix.py.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from looplab.environment.build import scratch_dir
from looplab.fsutil import remove_tree
from looplab.verify.runner import CandidateRunner, StepFailed, load_declaration

sys.path.insert(0, str(Path(__file__).resolve().parent))
from redteam.attacks import FIXTURES, steps_for  # noqa: E402

FIXTURE = FIXTURES / "instr_loop"
pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None or shutil.which("valgrind") is None, reason="needs bubblewrap and valgrind"
)


@pytest.fixture
def tmp_path() -> Path:  # type: ignore[override]
    """A scratch folder the sandbox uid can reach (pytest's own tmp folders are mode 700)."""
    d = scratch_dir("test-runner-instr")
    yield d
    remove_tree(d)


def _oracle_source() -> str:
    """loop.c as the fixture's solve.sh leaves it (two composed LCG steps per iteration)."""
    src = (FIXTURE / "environment" / "loop.c").read_text()
    old = "    for (long i = 0; i < n; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;\n"
    new = (
        "    const unsigned long a = 6364136223846793005UL, c = 1442695040888963407UL;\n"
        "    const unsigned long a2 = a * a, c2 = a * c + c;\n"
        "    long i = 0;\n    for (; i + 1 < n; i += 2) x = x * a2 + c2;\n    if (i < n) x = x * a + c;\n"
    )
    assert old in src and old.strip() in (FIXTURE / "solution" / "solve.sh").read_text()
    return src.replace(old, new)


def _count(tmp_path: Path, candidate: str) -> dict[str, list[int]]:
    root = tmp_path / "root"
    for d in ("app", "orig", "tests"):
        (root / d).mkdir(parents=True)
    shutil.copytree(FIXTURE / "tests", root / "tests", dirs_exist_ok=True)
    shutil.copy(FIXTURE / "environment" / "loop.c", root / "orig" / "loop.c")
    (root / "app" / "loop.c").write_text(candidate)
    for d in (root, *root.iterdir()):
        os.chmod(d, 0o755)
    decl = load_declaration(root / "tests")
    assert decl is not None and decl.time == "instructions"
    decl = decl.model_copy(update={"correctness_runs": 1, "count_rounds": 1})
    runner = CandidateRunner(decl, root, tmp_path / "scratch", None, {"PATH": "/usr/bin:/bin"})
    try:
        for name in decl.programs:
            runner.build(name)
        runner.correctness()
        return runner.count(decl.count_rounds)
    finally:
        runner.close()


def _attack(name: str) -> str:
    steps = steps_for("instr_loop", name)
    assert steps is not None
    return steps[0]["write"]["content"]


def test_the_oracle_counts_about_half_the_loop_and_nop_counts_the_same(tmp_path: Path) -> None:
    c = _count(tmp_path, _oracle_source())
    ratio = c["baseline"][0] / c["candidate"][0]
    assert 1.7 < ratio < 2.0, c


def test_work_in_a_child_named_sh_is_counted(tmp_path: Path) -> None:
    c = _count(tmp_path, _attack("shell_named_child"))
    assert c["candidate"][0] >= c["baseline"][0], c


@pytest.mark.parametrize(
    ("attack", "why"),
    [
        ("valgrind_cheap_path", "wrong output"),
        ("forge_count", "tampered with"),
        ("cross_run_cache", None),
        ("shared_memory_cache", None),
    ],
)
def test_a_cheat_gains_nothing(tmp_path: Path, attack: str, why: str | None) -> None:
    if why is None:  # the cache never hits: the candidate runs honestly, counted whole
        c = _count(tmp_path, _attack(attack))
        assert c["candidate"][0] >= c["baseline"][0] * 0.98, c
        return
    with pytest.raises(StepFailed, match=why) as err:
        _count(tmp_path, _attack(attack))
    assert err.value.side == "candidate"
