"""Harbor's multi-step tasks (``[[steps]]``), run for real on a fixture written from Harbor's docs.

Steps run in order on one working folder (what step 1 wrote is there in step 3), each with its
own instruction, ``workdir/setup.sh``, healthcheck, timeouts, verifier env and tests merged over
the task's shared ``tests/``; ``min_reward`` stops the remaining steps; the trial's reward is the
per-key mean of the steps (or the final step's). Records: Harbor's ``step_results`` in
result.json and ``steps/<name>/{agent,verifier,artifacts}`` in the trial folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, run_cli, run_job, trial_results


def _task(tmp_path: Path) -> Path:
    task = tmp_path / "multi_step"
    shutil.copytree(FIXTURES / "harbor" / "multi_step", task)
    return task


def _run(task: Path, jobs: Path, agent: str) -> dict:
    r = run_job(task, jobs, agent, name=agent, extra=["--base", "host"], timeout=300)
    assert r.returncode == 0, r.stderr + r.stdout
    (res,) = trial_results(jobs / agent)
    return res


def test_oracle_runs_every_step_on_one_working_folder(tmp_path: Path) -> None:
    res = _run(_task(tmp_path), tmp_path / "jobs", "oracle")
    trial = tmp_path / "jobs" / "oracle" / res["trial_name"]
    steps = {s["step_name"]: s for s in res["step_results"]}
    assert list(steps) == ["scaffold", "extend", "finish"]
    assert res["multi_step"]["stopped"] is None and res["status"] == "completed"
    # per-step rewards: reward.txt, a reward.json without "reward" (mean of its keys), the shared test.sh
    assert steps["scaffold"]["verifier_result"]["rewards"] == {"reward": 1.0}
    assert steps["extend"]["verifier_result"]["rewards"] == {"reward": 0.75, "correctness": 1.0, "style": 0.5}
    assert steps["finish"]["verifier_result"]["rewards"] == {"reward": 1.0, "lines": 3.0}
    # mean strategy: per key over the three steps, a key a step lacks counts 0
    rewards = res["verifier_result"]["rewards"]
    assert res["reward"] == pytest.approx((1 + 0.75 + 1) / 3)
    assert rewards["correctness"] == pytest.approx(1 / 3) and rewards["style"] == pytest.approx(0.5 / 3)
    # the step's [steps.verifier] env replaces the task's; a step without one gets the task's
    assert steps["extend"]["verifier_result"]["extra"]["step_seen"] == "extend"
    assert steps["finish"]["verifier_result"]["extra"]["step_seen"] == "task"
    # workdir/setup.sh ran before the first agent; its healthcheck found what setup wrote
    assert steps["scaffold"]["agent_result"]["setup"]["exit_code"] == 0
    assert steps["scaffold"]["agent_result"]["healthchecks"][0]["healthy"]
    # the layout: each step's agent, verifier and artifacts folders; the working folder carried over
    for name in steps:
        for sub in ("agent/trajectory.jsonl", "agent/trajectory.json", "verifier/test-stdout.txt"):
            assert (trial / "steps" / name / sub).is_file(), (name, sub)
    log = (trial / "steps" / "finish" / "artifacts" / "log.txt").read_text().splitlines()
    assert log == ["setup ran", "scaffold solved", "extend solved", "finish solved"]
    parts = trial / "steps" / "extend" / "artifacts" / "parts"
    assert (parts / "note.txt").read_text() == "kept\n" and not (parts / "scratch.tmp").exists()
    assert not (trial / "verifier").exists() and sorted(p.name for p in (trial / "agent").iterdir()) == [
        "trajectory.json"
    ]
    # the trial's ATIF: every step's events in order, each naming its step
    atif = json.loads((trial / "agent" / "trajectory.json").read_text())
    assert [s["step_id"] for s in atif["steps"]] == list(range(1, len(atif["steps"]) + 1))
    names = [s["extra"]["step_name"] for s in atif["steps"]]
    assert names == sorted(names, key=["scaffold", "extend", "finish"].index) and set(names) == set(steps)
    assert [t["step_name"] for t in atif["extra"]["step_trajectories"]] == ["scaffold", "extend", "finish"]
    # [steps.looplab] editable seals that step's verifier alone; the others carry the whole folder
    ext = steps["extend"]["verifier_result"]
    assert ext["sealed"] and sorted(ext["carried_files"]) == [
        "parts/note.txt",
        "parts/scratch.tmp",
        "story.txt",
    ]
    assert not steps["finish"]["verifier_result"]["sealed"] and res["sealed"] is False
    # the trial's agent_result sums the steps' usage, its timing spans theirs
    assert res["agent_result"]["steps"] == 3 and res["agent_result"]["stop_reason"] == "finished"
    spent = sum(s["agent_execution"]["duration_s"] for s in res["step_results"])
    assert res["timing"]["agent_execution"]["duration_s"] == pytest.approx(spent, abs=0.01)
    assert (
        res["timing"]["agent_execution"]["started_at"] == steps["scaffold"]["agent_execution"]["started_at"]
    )


def test_min_reward_stops_the_remaining_steps(tmp_path: Path) -> None:
    res = _run(_task(tmp_path), tmp_path / "jobs", "nop")
    trial = tmp_path / "jobs" / "nop" / res["trial_name"]
    assert [s["step_name"] for s in res["step_results"]] == ["scaffold"]
    assert res["multi_step"]["stopped"] == "step 'scaffold': reward=0.0 below min_reward 1.0"
    assert res["reward"] == 0.0 and res["status"] == "completed"
    assert not (trial / "steps" / "extend").exists()
    # checkpoints are per step: rescoring says it does not handle them, in one line
    r = run_cli("rescore", str(trial))
    assert r.returncode == 2 and "a multi-step trial" in r.stderr, r.stderr


def test_final_strategy_and_a_per_key_threshold(tmp_path: Path) -> None:
    task = _task(tmp_path)
    toml = task / "task.toml"
    toml.write_text(
        toml.read_text().replace(
            'multi_step_reward_strategy = "mean"', 'multi_step_reward_strategy = "final"'
        )
    )
    solve = task / "steps" / "extend" / "solution" / "solve.sh"
    solve.write_text(solve.read_text().replace("echo two", "echo TWO"))  # correctness 0 < min_reward 1
    res = _run(task, tmp_path / "jobs", "oracle")
    assert [s["step_name"] for s in res["step_results"]] == ["scaffold", "extend"]
    assert "correctness=0.0 below min_reward 1.0" in res["multi_step"]["stopped"]
    assert res["verifier_result"]["rewards"] == {"reward": 0.25, "correctness": 0.0, "style": 0.5}
    assert res["reward"] == 0.25


def test_a_failing_setup_script_stops_the_trial(tmp_path: Path) -> None:
    task = _task(tmp_path)
    (task / "steps" / "scaffold" / "workdir" / "setup.sh").write_text("#!/bin/bash\nexit 3\n")
    r = run_job(task, tmp_path / "jobs", "oracle", name="j", extra=["--base", "host"], timeout=300)
    assert r.returncode == 1, r.stderr + r.stdout  # an error trial
    (res,) = trial_results(tmp_path / "jobs" / "j")
    (step,) = res["step_results"]
    assert "workdir/setup.sh exited 3" in step["exception_info"]["message"]
    assert res["status"] == "agent_error" and res["reward"] is None
    assert not (
        tmp_path / "jobs" / "j" / res["trial_name"] / "steps" / "scaffold" / "agent" / "oracle.txt"
    ).exists()


def test_a_step_whose_verifier_raises_is_a_verifier_error(tmp_path: Path) -> None:
    task = _task(tmp_path)
    toml = task / "task.toml"
    toml.write_text(
        toml.read_text() + '\n[looplab]\nmeasure = "reported"\n'
    )  # native: tests/run.toml is read
    (task / "tests" / "run.toml").write_text("[[[\n")
    r = run_job(task, tmp_path / "jobs", "oracle", name="j", extra=["--base", "host"], timeout=300)
    assert r.returncode == 1, r.stderr + r.stdout
    (res,) = trial_results(tmp_path / "jobs" / "j")
    (step,) = res["step_results"]
    assert res["status"] == "verifier_error" and res["reward"] is None
    assert "run.toml: not valid TOML" in step["exception_info"]["message"]
    assert "load_declaration" in step["exception_info"]["traceback"]  # where it raised
    assert step["agent_result"]["stop_reason"] == "finished"


def test_links_an_agent_plants_lead_nowhere_on_the_host(tmp_path: Path) -> None:
    """Step 1's agent plants links to host folders where step 2's workdir/ and the artifacts'
    staging write: both are replaced by real folders, the host folders are untouched."""
    task = _task(tmp_path)
    victim_wd, victim_stage = tmp_path / "victim-wd", tmp_path / "victim-stage"
    victim_wd.mkdir()
    (victim_stage / "0").mkdir(parents=True)
    (victim_stage / "0" / "keep.txt").write_text("host file\n")
    solve = task / "steps" / "scaffold" / "solution" / "solve.sh"
    solve.write_text(
        solve.read_text() + f"ln -s {victim_wd} /app/data\nln -s {victim_stage} /logs/.looplab-artifacts\n"
    )
    planted = task / "steps" / "extend" / "workdir" / "data"
    planted.mkdir(parents=True)
    (planted / "planted.txt").write_text("from the task\n")
    res = _run(task, tmp_path / "jobs", "oracle")
    assert [s["step_name"] for s in res["step_results"]] == ["scaffold", "extend", "finish"]
    assert list(victim_wd.iterdir()) == []  # step 2's files went to a real /app/data
    assert (victim_stage / "0" / "keep.txt").read_text() == "host file\n"  # not removed, not collected
    trial = tmp_path / "jobs" / "oracle" / res["trial_name"]
    assert (trial / "steps" / "scaffold" / "artifacts" / "log.txt").is_file()
    assert not list((trial / "steps" / "scaffold" / "artifacts").rglob("keep.txt"))


def test_steps_share_one_agent_environment(tmp_path: Path) -> None:
    """As in Harbor's one container: what step 1 left in /tmp and $HOME, and the process it started
    in the background, are there in step 2 (its healthcheck and its agent see them); each step's
    verifier is still a fresh sealed sandbox of its own."""
    task = tmp_path / "shared_env"
    shutil.copytree(FIXTURES / "harbor" / "shared_env", task)
    res = _run(task, tmp_path / "jobs", "oracle")
    steps = {s["step_name"]: s for s in res["step_results"]}
    assert list(steps) == ["start", "resume"] and res["status"] == "completed", res.get("exception_info")
    assert steps["resume"]["agent_result"]["healthchecks"][0]["healthy"]
    resume = steps["resume"]["verifier_result"]
    assert resume["rewards"] == {"reward": 1.0, "verifier_tmp_fresh": 1.0}
    assert res["reward"] == 1.0
    evidence = tmp_path / "jobs" / "oracle" / res["trial_name"] / "steps" / "resume" / "agent"
    assert (evidence / "trajectory.jsonl").is_file()
