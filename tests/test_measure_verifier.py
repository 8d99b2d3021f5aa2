"""Measured rewards end to end: ``looplab run`` on a task with ``measure = "paired"`` (and
``"instructions"``), where the candidate does half the loop iterations of the pristine
baseline, so the true speedup is 2 by construction; plus ``looplab calibrate`` and its cache."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURES, run_cli, trial_results

from looplab.fsutil import remove_tree
from looplab.verify.rewards import log_speedup_reward

pytestmark = pytest.mark.skipif(not shutil.which("gcc"), reason="needs gcc")


@pytest.fixture
def open_dir():
    """A cache/work folder the sandbox user can traverse (pytest's tmp_path is private to root)."""
    d = Path(tempfile.mkdtemp(prefix="looplab-test-measured-", dir="/var/tmp"))
    d.chmod(0o755)
    yield d
    remove_tree(d)


@pytest.fixture
def paired_task(tmp_path: Path) -> Path:
    dst = tmp_path / "paired_task"
    shutil.copytree(FIXTURES / "paired_task", dst, symlinks=True)
    return dst


def verify_with(
    task: Path, jobs: Path, agent: str = "oracle", env: dict | None = None, ak: tuple[str, ...] = ()
) -> tuple[dict, Path]:
    """Run one trial of ``agent`` on ``task``; its result record and its trial folder."""
    args = ["run", "-p", str(task), "-a", agent, "--jobs-dir", str(jobs), "--job-name", "m"]
    for a in ak:
        args += ["--ak", a]
    r = run_cli(*args, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    (res,) = trial_results(jobs / "m")
    assert res["status"] == "completed", res.get("exception_info")
    return res, jobs / "m" / res["trial_name"]


def test_paired_reward_ci_contains_the_true_ratio(paired_task, tmp_path):
    res, trial = verify_with(paired_task, tmp_path)
    vr = res["verifier_result"]
    m = vr["measurement"]
    assert m["mode"] == "paired"
    # a 95% interval misses the truth 1 run in 20 by design; on a loaded host the
    # reported interval must still lie within 5% of the true ratio of 2
    assert m["speedup_ci_low"] <= 2.1 and m["speedup_ci_high"] >= 1.9, m
    assert m["speedup"] == pytest.approx(2.0, rel=0.05)
    assert m["pairs"] >= 10 and m["paired"]["time_source"] == "stdout"
    assert m["paired"]["lock"]["available"] and m["paired"]["lock"]["cores"]
    # no calibration in this run's cache: the [optimization] constants (0.04 / 0.01) give s_ref = 4
    assert m["s_ref_source"] == "constants" and m["s_ref"] == pytest.approx(4.0)
    assert vr["reward"] == pytest.approx(log_speedup_reward(m["speedup"], 4.0))
    assert 0.2 < vr["reward"] < 0.3  # about 0.5 * ln 2 / ln 4 = 0.25
    assert vr["reason"] is None
    assert vr["rewards"]["speedup"] == pytest.approx(m["speedup"])
    on_disk = json.loads((trial / "verifier" / "measurement.json").read_text())
    assert on_disk["details"]["paired"]["ratios"] == m["paired"]["ratios"]


def test_an_unchanged_program_scores_no_speedup(paired_task, tmp_path):
    res, _ = verify_with(paired_task, tmp_path, agent="nop")
    m = res["verifier_result"]["measurement"]
    assert m["speedup_ci_low"] <= 1.05 and m["speedup_ci_high"] >= 0.95, m
    assert res["verifier_result"]["reward"] < 0.05


def test_an_incorrect_solution_is_not_measured(paired_task, tmp_path):
    script = tmp_path / "break.yaml"
    script.write_text(yaml.safe_dump([{"write": {"path": "/app/iters.txt", "content": "ten\n"}}]))
    res, _ = verify_with(paired_task, tmp_path, agent="replay", ak=(f"script={script}",))
    vr = res["verifier_result"]
    assert vr["reward"] == 0.0 and vr["reason"].startswith("incorrect")
    assert "paired" not in (vr["measurement"] or {})


def test_a_failing_candidate_run_is_reward_zero_with_the_reason(paired_task, tmp_path):
    script = tmp_path / "huge.yaml"  # valid for test.sh, but the loop then overruns run_timeout_sec
    toml = paired_task / "task.toml"
    toml.write_text(toml.read_text().replace("run_timeout_sec = 20", "run_timeout_sec = 1"))
    script.write_text(yaml.safe_dump([{"write": {"path": "/app/iters.txt", "content": "90000000000\n"}}]))
    res, _ = verify_with(paired_task, tmp_path, agent="replay", ak=(f"script={script}",))
    vr = res["verifier_result"]
    assert vr["reward"] == 0.0
    assert "measurement failed" in vr["reason"] and "timed out" in vr["reason"]
    assert vr["measurement"]["failed_side"] == "candidate"


def test_instruction_counts_are_exact_across_verifications(paired_task, tmp_path):
    if not shutil.which("valgrind"):
        pytest.skip("needs valgrind")
    toml = paired_task / "task.toml"
    text = toml.read_text().replace('measure = "paired"', 'measure = "instructions"')
    # count only spin(): the program also prints a clock reading, whose digits vary run to run
    toml.write_text(text.replace('time_source = "stdout"', 'function = "spin"'))
    (paired_task / "environment" / "iters.txt").write_text("300000\n")
    (paired_task / "solution" / "solve.sh").write_text("#!/bin/bash\necho 150000 > /app/iters.txt\n")
    first = verify_with(paired_task, tmp_path / "a")[0]["verifier_result"]
    second = verify_with(paired_task, tmp_path / "b")[0]["verifier_result"]
    a, b = first["measurement"], second["measurement"]
    assert a["mode"] == "instructions"
    base = a["instructions"]["baseline"]
    assert base["tool_version"].startswith("valgrind-") and base["function"] == "spin"
    assert first["rewards"]["baseline_instructions"] == second["rewards"]["baseline_instructions"]
    assert first["rewards"]["candidate_instructions"] == second["rewards"]["candidate_instructions"]
    assert a["speedup"] == b["speedup"] and first["reward"] == second["reward"]
    # spin(2N) against spin(N): 2 up to spin's few instructions of prologue
    assert a["speedup"] == pytest.approx(2.0, abs=1e-4)
    assert first["reward"] == pytest.approx(log_speedup_reward(a["speedup"], 4.0))


def test_calibrate_measures_once_then_reads_the_cache_and_the_verifier_uses_it(
    paired_task, tmp_path, open_dir
):
    env = {"LOOPLAB_CALIBRATION_DIR": str(open_dir / "calibration")}
    first = run_cli("calibrate", str(paired_task), "--json", "--yes", env=env, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    rec = json.loads(first.stdout)
    assert rec["cached"] is False and rec["measure"] == "paired"
    assert rec["ci_low"] <= 2.0 <= rec["ci_high"], rec
    assert Path(rec["path"]).is_file() and Path(rec["path"]).is_relative_to(open_dir / "calibration")
    second = run_cli("calibrate", str(paired_task), "--json", "--yes", env=env, timeout=300)
    rec2 = json.loads(second.stdout)
    assert rec2["cached"] is True and rec2["s_ref"] == rec["s_ref"]
    human = run_cli("calibrate", str(paired_task), "--yes", env=env, timeout=300)
    assert "read from the cache" in human.stdout
    # a trial now scores against this machine's s_ref, and says so
    res, _ = verify_with(paired_task, tmp_path, env=env)
    m = res["verifier_result"]["measurement"]
    assert m["s_ref_source"] == "calibration" and m["s_ref"] == rec["s_ref"]
    machine = m["calibration"]["fingerprint"]
    assert res["s_ref"] == {
        "value": rec["s_ref"],
        "source": "calibration",
        "measured_at": rec["measured_at"],
        "machine": machine,
    }
    rep = json.loads(run_cli("report", str(tmp_path / "m"), "--json").stdout)
    assert rep["trials"][0]["s_ref"] == rec["s_ref"]
    assert rep["trials"][0]["s_ref_source"] == f"calibration {rec['measured_at']} on {machine}"
    assert m["calibration"]["measured_at"] == rec["measured_at"]
    assert res["verifier_result"]["reward"] == pytest.approx(log_speedup_reward(m["speedup"], rec["s_ref"]))
    # against its own calibration the reference scores about 0.5 (0.46 at s = 1.9, 0.54 at s = 2.1)
    assert 0.4 < res["verifier_result"]["reward"] < 0.6
    # editing the task invalidates the calibration
    (paired_task / "instruction.md").write_text("changed\n")
    third = run_cli("calibrate", str(paired_task), "--json", "--yes", env=env, timeout=300)
    assert json.loads(third.stdout)["cached"] is False


def test_calibrate_asks_before_changing_rewards(paired_task, open_dir):
    env = {"LOOPLAB_CALIBRATION_DIR": str(open_dir / "calibration")}
    r = run_cli("calibrate", str(paired_task), env=env, timeout=300)  # stdin is not a terminal
    assert r.returncode == 2 and "pass --yes" in r.stderr and "--dry-run" in r.stderr, r.stderr
    assert not (open_dir / "calibration").exists() or not any((open_dir / "calibration").rglob("*.json"))
    dry = run_cli("calibrate", str(paired_task), "--dry-run", "--json", env=env, timeout=300)
    assert dry.returncode == 0, dry.stderr
    rec = json.loads(dry.stdout)
    assert rec["stored"] is False and rec["previous_source"] == "constants"
    assert f"-> {rec['s_ref']:.4f} (dry run: not stored)" in dry.stderr
    assert not any((open_dir / "calibration").rglob("*.json"))
    yes = run_cli("calibrate", str(paired_task), "--yes", env=env, timeout=300)
    assert yes.returncode == 0 and "(constants) -> " in yes.stderr and "(stored)" in yes.stderr
    assert any((open_dir / "calibration").rglob("*.json"))
