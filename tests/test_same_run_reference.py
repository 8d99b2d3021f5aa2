"""s_ref measured in the same run: the task's solution timed with the baseline and the candidate.

Real trials through the CLI on a declared fixture task (``tests/fixtures/declared_speed``: the
reference loops a quarter of the baseline's iterations; its task.toml constants are wrong on
purpose), the real runner's jails for the isolation of the reference, and prime_count (slow).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, REPO, run_cli, trial_results

from looplab.environment.build import scratch_dir
from looplab.fsutil import remove_tree
from looplab.measure.timing import PairedSettings, measure_interleaved
from looplab.verify.runner import CandidateRunner, load_declaration


@pytest.fixture
def tmp_path() -> Path:  # type: ignore[override]
    d = scratch_dir("test-same-run")  # the sandbox uid must reach it
    yield d
    remove_tree(d)


def _task(tmp_path: Path, name: str = "declared_speed") -> Path:
    dst = tmp_path / name
    shutil.copytree(FIXTURES / "declared_speed", dst, symlinks=True)
    return dst


def _run(tmp_path: Path, task: Path, agents: list[str], name: str, *extra: str, **env: str) -> list[dict]:
    args = ["run", "-p", str(task), "--jobs-dir", str(tmp_path / "jobs"), "--job-name", name, *extra]
    for a in agents:
        args += ["-a", a]
    r = run_cli(*args, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:] + r.stdout[-3000:]
    return trial_results(tmp_path / "jobs" / name)


def _agent(res: dict) -> str:
    return str(res["agent"])


def test_the_oracle_scores_half_against_the_reference_timed_in_the_same_run(tmp_path: Path) -> None:
    """task.toml's constants imply s_ref = 1.25 (the oracle would score 1.0 with them); the
    reward divides by the reference's speedup measured in the trial's own rounds instead."""
    task = _task(tmp_path)
    results = _run(tmp_path, task, ["oracle", "nop"], "same-run")
    oracle = next(r for r in results if "oracle" in _agent(r))
    nop = next(r for r in results if "nop" in _agent(r))
    for res in (oracle, nop):
        m = res["verifier_result"]["measurement"]
        assert res["status"] == "completed", res
        assert m["s_ref_source"] == "same-run reference" and res["s_ref"]["source"] == "same-run reference"
        assert m["s_ref"] > 2.0, m  # about 4, never the constants' 1.25
        ref = m["reference"]
        assert ref["ci_low"] <= m["s_ref"] <= ref["ci_high"]
        assert m["reference_program"]["from"] == "solution/solve.sh"
        rw = res["verifier_result"]["rewards"]
        assert rw["reference_speedup"] == m["s_ref"] and "speedup_ci_low" in rw
    assert nop["reward"] == 0.0
    m = oracle["verifier_result"]["measurement"]
    lo, hi = m["reward_ci"]
    assert lo <= oracle["reward"] <= hi
    assert abs(oracle["reward"] - 0.5) < 0.15, m  # the reference itself: 0.5 by construction
    # one derivation for the two trials: the second found it cached
    cached = sorted(r["verifier_result"]["measurement"]["reference_program"]["cached"] for r in results)
    assert cached == [False, True] or cached == [True, True]


def test_the_reference_is_bound_only_into_its_own_jails(tmp_path: Path) -> None:
    """The candidate's jails see its own /app; only the reference's see the derived folder."""
    root = tmp_path / "root"
    for d in ("app", "orig", "tests", "bin", "usr"):
        (root / d).mkdir(parents=True)
    (root / "app" / "mark").write_text("candidate\n")
    (root / "orig" / "mark").write_text("baseline\n")
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "mark").write_text("reference\n")
    os.chmod(tmp_path, 0o755)
    toml = tmp_path / "run.toml"
    toml.write_text(
        'correctness_runs = 1\ntime = "wall"\n'
        '[generate]\ncommand = "echo x > {input}/x"\n'
        '[run]\ncommand = "cat {src}/mark /app/mark"\n'
        '[check]\ncommand = "true"\n'
    )
    decl = load_declaration(tmp_path)
    assert decl is not None
    runner = CandidateRunner(decl, root, tmp_path / "scratch", None, {})
    try:
        runner.add_program("solution", "/app", [(ref, "/app")])
        seen = {}
        for name in runner.programs:
            runner.build(name)
            inp, _exp = runner.generate(1, "check-0")
            r, _out = runner.run(name, inp)
            seen[name] = r.stdout.split()
        assert seen == {
            "baseline": ["baseline", "candidate"],
            "candidate": ["candidate", "candidate"],
            "solution": ["reference", "reference"],
        }
    finally:
        runner.close()


def test_three_programs_are_timed_interleaved_and_each_ratio_gets_an_interval() -> None:
    times = {"baseline": 4.0, "candidate": 2.0, "solution": 1.0}
    order: list[str] = []

    def run_once(name: str, _round: int) -> float:
        order.append(name)
        return times[name] * (1.0 + 0.01 * (len(order) % 3))

    st = PairedSettings(warmup=0, min_pairs=6, max_pairs=6, target=0.5)
    res = measure_interleaved(["baseline", "candidate", "solution"], run_once, st)
    rounds = [tuple(order[i : i + 3]) for i in range(0, 18, 3)]
    assert len(set(rounds)) == 6  # every order of the three once in six rounds
    for i in range(0, 6, 2):  # and in every two rounds each program before each other one once
        assert rounds[i] == rounds[i + 1][::-1]
    ref = res.others_speedup["solution"]
    assert 3.5 < ref.speedup < 4.5 and ref.ci_low <= ref.speedup <= ref.ci_high
    assert len(ref.ratios) == res.pairs and 1.7 < res.speedup < 2.3


def test_opting_out_calibrates_once_per_machine(tmp_path: Path) -> None:
    """``s_ref = "calibration"``: the first verification on a machine calibrates (baseline
    against the reference) and records it, with date and fingerprint; the next reads it."""
    task = _task(tmp_path)
    decl = task / "tests" / "run.toml"
    decl.write_text('s_ref = "calibration"\n' + decl.read_text())
    cal = tmp_path / "calibration"
    env = {"LOOPLAB_CALIBRATION_DIR": str(cal)}
    first = _run(tmp_path, task, ["nop"], "first", **env)[0]
    second = _run(tmp_path, task, ["nop"], "second", **env)[0]
    m1, m2 = (r["verifier_result"]["measurement"] for r in (first, second))
    assert m1["s_ref_source"] == m2["s_ref_source"] == "calibration"
    assert "reference" not in m1 and "reference_program" in m1  # timed once, apart from the candidate
    assert m1["calibration"]["made_by_this_verification"] is True
    assert m2["calibration"]["made_by_this_verification"] is False
    assert m1["calibration"]["measured_at"] == m2["calibration"]["measured_at"]
    assert m1["s_ref"] == m2["s_ref"] > 2.0
    (stored,) = cal.glob(f"{m1['calibration']['fingerprint']}/declared_speed-*.json")
    assert json.loads(stored.read_text())["s_ref"] == m1["s_ref"]
    assert second["s_ref"]["machine"] == m1["calibration"]["fingerprint"]
    r = run_cli("report", str(tmp_path / "jobs" / "second"), "--json")
    assert r.returncode == 0, r.stderr
    assert "calibration " + m1["calibration"]["measured_at"] in r.stdout


def test_a_solution_that_fails_to_apply_is_a_verifier_error(tmp_path: Path) -> None:
    task = _task(tmp_path, "declared_broken")
    (task / "solution" / "solve.sh").write_text("#!/bin/bash\necho 'no such file' >&2\nexit 3\n")
    (res,) = _run(tmp_path, task, ["nop"], "broken", "--allow-errors")
    assert res["status"] == "verifier_error", res
    msg = res["exception_info"]["message"]
    assert "solve.sh" in msg and "exited 3" in msg and "no such file" in msg


@pytest.mark.slow
def test_prime_count_oracle_half_and_nop_zero_with_the_same_run_reference(tmp_path: Path) -> None:
    """The catalog's quickest timed task, real runner: the oracle ≈ 0.5, the nop 0, and the
    reward no longer follows task.toml's s_ref (made 10x smaller here)."""
    task = tmp_path / "prime_count"
    shutil.copytree(REPO / "tasks" / "prime_count", task, symlinks=True)
    toml = task / "task.toml"
    toml.write_text(toml.read_text().replace("score = 0.0148", "score = 0.148"))
    results = _run(tmp_path, task, ["oracle", "nop"], "prime")
    oracle = next(r for r in results if "oracle" in _agent(r))
    nop = next(r for r in results if "nop" in _agent(r))
    assert nop["reward"] == 0.0
    m = oracle["verifier_result"]["measurement"]
    assert m["s_ref_source"] == "same-run reference" and m["s_ref"] > 10, m  # the constants: 3.1
    assert abs(oracle["reward"] - 0.5) < 0.1, m


def test_calibrate_says_a_same_run_task_has_nothing_to_calibrate(tmp_path: Path) -> None:
    task = _task(tmp_path)
    r = run_cli("calibrate", str(task), "--dry-run")
    assert r.returncode != 0
    assert "run.toml: field s_ref" in r.stderr and "same run" in r.stderr, r.stderr


def test_precision_waits_for_every_ratio_unless_told_otherwise() -> None:
    """By default the rounds go on until the reference's ratio is precise too; the runner's rule
    stops once the candidate's interval is precise and reaches 1 (it scores 0 whatever s_ref)."""
    noisy = [1.0, 1.6, 0.7, 1.9, 0.8, 1.5, 0.6, 1.7, 0.9, 1.4]

    def run_once(name: str, rnd: int) -> float:
        return {"baseline": 2.0, "candidate": 2.0, "solution": noisy[rnd % len(noisy)]}[name]

    st = PairedSettings(warmup=0, min_pairs=4, max_pairs=10, target=0.05)
    programs = ["baseline", "candidate", "solution"]
    assert measure_interleaved(programs, run_once, st).pairs == 10
    res = measure_interleaved(programs, run_once, st, precise=lambda cis: cis["candidate"].low <= 1.0)
    assert res.pairs == 4 and res.stop_reason == "precision"


def test_without_a_solution_the_constants_are_used_and_the_trial_says_why(tmp_path: Path) -> None:
    task = _task(tmp_path, "declared_unsolved")
    (task / "solution" / "solve.sh").unlink()
    (res,) = _run(tmp_path, task, ["nop"], "unsolved")
    m = res["verifier_result"]["measurement"]
    assert m["s_ref_source"] == "constants" and m["s_ref"] == 1.25 and "reference" not in m
    assert any("no runnable reference solution" in n for n in m["notes"]), m["notes"]


def test_the_catalog_check_asks_a_log_speedup_oracle_for_half_and_shows_its_s_ref() -> None:
    from looplab.catalog_check import markdown, oracle_band
    from looplab.tasks.loader import load_task

    assert oracle_band(load_task(REPO / "tasks" / "prime_count")) == (0.45, 0.55)
    assert oracle_band(load_task(REPO / "tasks" / "tour_puzzle")) == (0.9, None)
    row = {
        "task": "prime_count",
        "domain": "systems",
        "nop_reward": 0.0,
        "oracle_reward": 0.503,
        "oracle_target": 0.45,
        "oracle_max": 0.55,
        "oracle_s_ref_source": "same-run reference",
        "oracle_verify_s": 53.3,
        "ok": True,
        "nop_reason": None,
        "oracle_reason": None,
    }
    line = next(ln for ln in markdown([row]).splitlines() if ln.startswith("| prime_count"))
    assert "| 0.45–0.55 | same-run reference | 53.3 | yes |" in line


def test_calibrate_on_an_opted_out_task_measures_the_way_its_verifier_does(tmp_path: Path) -> None:
    """`looplab calibrate` of a declared task that opts out: the verifier's own calibration
    (baseline against the derived reference), made on a private folder, then stored here."""
    task = _task(tmp_path)
    decl = task / "tests" / "run.toml"
    decl.write_text('s_ref = "calibration"\n' + decl.read_text())
    cal = tmp_path / "calibration"
    r = run_cli("calibrate", str(task), "--json", "--yes", env={"LOOPLAB_CALIBRATION_DIR": str(cal)})
    assert r.returncode == 0, r.stderr[-3000:]
    rec = json.loads(r.stdout)
    assert rec["stored"] is True and rec["cached"] is False and rec["s_ref"] > 2.0
    assert rec["details"][0]["how"].startswith("verifier: baseline and reference solution")
    (stored,) = cal.rglob("declared_speed-*.json")
    assert json.loads(stored.read_text())["s_ref"] == rec["s_ref"]
