"""Overlays (a [looplab] section from outside the task folder) and rebased [optimization] scoring.

The task is AutoLab-shaped: no [looplab] section, an [optimization] section with fixed
baseline/reference constants, a test.sh that applies AutoLab's log-speedup formula to the
runtime it "measures" (here read from /app/speed.txt, so the numbers are exact).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import run_job, trial_results

from looplab.errors import LooplabError
from looplab.overlays import SHIPPED_DIR, resolve_overlays
from looplab.tasks.loader import load_task
from looplab.tasks.model import OptimizationSection
from looplab.verify.rebased import log_speedup_reward, rebase
from looplab.verify.reward_file import ParsedReward

TASK_TOML = """version = "1.1"
[verifier]
timeout_sec = 60
[environment]
cpus = 1
[optimization]
metric = "runtime_seconds"
direction = "lower"
[optimization.baseline]
score = 4.0
[optimization.reference]
score = 0.25
"""

TEST_SH = """#!/bin/bash
set -e
T=$(cat /app/speed.txt)
echo "speed=$T"
python3 - "$T" 4.0 0.25 <<'PY'
import json, math, sys
s, b, r = map(float, sys.argv[1:])
sp, rs = b / s, b / r
rew = 0.0 if sp <= 1 else min(1.0, 0.5 * math.log(sp) / math.log(rs))
rew = rew * SCALE
json.dump({"reward": round(rew, 4), "correctness": True, "metric": s}, open("/logs/verifier/reward.json", "w"))
PY
"""


def autolab_like(root: Path, scale: float = 1.0) -> Path:
    (root / "environment").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "solution").mkdir()
    (root / "instruction.md").write_text("Make it faster; edit speed.txt only.\n")
    (root / "task.toml").write_text(TASK_TOML)
    (root / "environment" / "Dockerfile").write_text(
        "FROM python:3.11-slim\nWORKDIR /app\nCOPY speed.txt /app/\n"
    )
    (root / "environment" / "speed.txt").write_text("2.0\n")
    (root / "tests" / "test.sh").write_text(TEST_SH.replace("SCALE", repr(scale)))
    # the oracle is 4x faster than the pristine program, and also writes a file it may not carry
    (root / "solution" / "solve.sh").write_text(
        "#!/bin/bash\necho 0.5 > /app/speed.txt\necho x > /app/junk\n"
    )
    return root


def test_standard_formula_and_rebasing_arithmetic() -> None:
    opt = OptimizationSection.model_validate(
        {
            "metric": "runtime_seconds",
            "direction": "lower",
            "baseline": {"score": 4.0},
            "reference": {"score": 0.25},
        }
    )
    agent = ParsedReward(reward=round(log_speedup_reward(0.5, 4.0, 0.25, "lower"), 4), raw={"metric": 0.5})
    assert agent.reward == pytest.approx(0.5 * math.log(8) / math.log(16), abs=1e-4)
    pristine = [ParsedReward(raw={"metric": 1.0}), ParsedReward(raw={"metric": 4.0})]
    info = rebase(opt, agent, pristine)
    assert info["baseline_measured"] == pytest.approx(2.0)  # geometric mean of the two pristine runs
    assert info["reference_scaled"] == pytest.approx(0.125)
    assert info["rebased_reward"] == pytest.approx(0.25, abs=1e-4)  # speed-up 4 of 16
    higher = OptimizationSection.model_validate(
        {"direction": "higher", "baseline": {"score": 10.0}, "reference": {"score": 100.0}}
    )
    assert log_speedup_reward(100.0, 10.0, 100.0, "higher") == pytest.approx(0.5)
    assert (
        rebase(higher, ParsedReward(reward=0.3, raw={"metric": 100.0}), [ParsedReward(raw={"metric": 10.0})])[
            "rebased_reward"
        ]
        is None
    )  # 0.3 is not what the formula gives for 100: not rebased
    one_timed_out = [
        ParsedReward(reason="the pristine run timed out after 240 s"),
        ParsedReward(raw={"metric": 2.0}),
    ]
    info = rebase(opt, agent, one_timed_out)
    assert info["baseline_measured"] == pytest.approx(2.0) and info["pristine_failures"]
    assert rebase(opt, agent, [ParsedReward(reason="x")])["rebased_reward"] is None
    failed = rebase(opt, ParsedReward(reward=0.0, raw={"reward": 0.0, "correctness": False}), pristine)
    assert failed["rebased_reward"] == 0.0


def test_overlay_seals_and_rebases_a_foreign_suite(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    autolab_like(suite / "fast")
    autolab_like(suite / "odd", scale=0.5)  # a test.sh whose reward is not the standard formula
    overlays = tmp_path / "ov"
    overlays.mkdir()
    for name in ("fast", "odd"):
        (overlays / f"{name}.toml").write_text('[looplab]\neditable = ["speed.txt"]\nrebase = true\n')
    jobs = tmp_path / "jobs"
    r = run_job(
        suite,
        jobs,
        "oracle",
        "nop",
        extra=["--base", "host", "--overlays", str(overlays)],
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no editable globs" not in r.stderr  # the overlay gave them
    by = {(x["task_name"], x["agent"]): x for x in trial_results(jobs / "j")}
    o, n = by[("fast", "oracle")], by[("fast", "nop")]
    vo = json.loads((jobs / "j" / o["trial_name"] / "verifier" / "result.json").read_text())
    vn = json.loads((jobs / "j" / n["trial_name"] / "verifier" / "result.json").read_text())
    assert vo["sealed"] is True and vo["carried_files"] == ["speed.txt"]  # /app/junk stayed behind
    # published: against the constant baseline 4.0; rebased: against the pristine 2.0 measured here
    assert vo["rewards"]["published_reward"] == pytest.approx(0.375, abs=1e-4)
    assert vo["rewards"]["rebased_reward"] == pytest.approx(0.25, abs=1e-4)
    assert (
        vo["reward"] == o["reward"] == pytest.approx(0.25, abs=1e-4)
        and vo["extra"]["reward_shown"] == "rebased"
    )
    assert vn["rewards"]["published_reward"] == pytest.approx(0.125, abs=1e-4)
    assert vn["rewards"]["rebased_reward"] == 0.0  # the untouched program is the baseline
    # interleaved: a pristine run before and after the agent's
    vdir = jobs / "j" / o["trial_name"] / "verifier"
    for name, speed in (
        ("pristine1-stdout.txt", "2.0"),
        ("test-stdout.txt", "0.5"),
        ("pristine2-stdout.txt", "2.0"),
    ):
        assert f"speed={speed}" in (vdir / name).read_text()
    vodd = json.loads(
        (jobs / "j" / by[("odd", "oracle")]["trial_name"] / "verifier" / "result.json").read_text()
    )
    assert "rebased_reward" not in vodd["rewards"] and vodd["extra"]["reward_shown"] == "published"
    assert "not AutoLab's log-speedup formula" in vodd["measurement"]["rebased"]["reason"]
    # the overlay is part of the job's identity: the same job without it is not resumed
    r2 = run_job(suite, jobs, "oracle", "nop", extra=["--base", "host"], timeout=120)
    assert r2.returncode != 0 and "exists with a different" in r2.stdout + r2.stderr


def test_overlay_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = autolab_like(tmp_path / "t")
    ov = tmp_path / "ov"
    ov.mkdir()
    monkeypatch.setenv("LOOPLAB_OVERLAYS", str(ov))
    (ov / "t.toml").write_text('[looplab]\neditable = ["speed.txt"]\n[verifier]\ntimeout_sec = 1\n')
    with pytest.raises(LooplabError, match=r"t.toml: an overlay holds a \[looplab\] table only"):
        load_task(task)
    (ov / "t.toml").write_text('[looplab]\nmeasure = "fast"\n')
    with pytest.raises(LooplabError, match=r"t.toml: field looplab.measure"):
        load_task(task)
    (ov / "t.toml").write_text('[looplab]\neditable = ["speed.txt"]\n')
    (task / "task.toml").write_text(TASK_TOML + '[looplab]\neditable = ["x"]\n')
    with pytest.raises(LooplabError, match="has its own \\[looplab\\] section"):
        load_task(task)
    with pytest.raises(LooplabError, match="neither a shipped overlay set"):
        resolve_overlays(str(tmp_path / "missing"))


def test_shipped_autolab_overlays_name_files_the_tasks_have(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every shipped overlay parses; with an AutoLab checkout (LOOPLAB_AUTOLAB) its globs match real files."""
    import os

    folder = resolve_overlays("autolab")
    assert folder == SHIPPED_DIR / "autolab" and len(list(folder.glob("*.toml"))) == 25
    checkout = Path(os.environ.get("LOOPLAB_AUTOLAB", "/var/tmp/autolab")) / "tasks"
    monkeypatch.setenv("LOOPLAB_OVERLAYS", str(folder))
    if not checkout.is_dir():
        pytest.skip("no AutoLab checkout (set LOOPLAB_AUTOLAB to one)")
    for f in sorted(folder.glob("*.toml")):
        task = load_task(checkout / f.stem)
        assert task.overlay == f and not task.native and task.config.looplab.base == "image"
        for glob in task.config.looplab.editable:
            assert (task.environment_dir / glob).is_file(), (f.stem, glob)
        assert task.config.looplab.rebase == (task.config.optimization.metric == "runtime_seconds")
