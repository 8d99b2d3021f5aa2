"""`looplab run` end to end from the CLI: the three own tasks with oracle and nop, records, resume."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import REPO, run_cli, trial_results

OWN_TASKS = ["prime_count", "tour_puzzle", "dedupe_lines"]


def test_own_tasks_oracle_beats_nop(tmp_path: Path) -> None:
    args = ["run", "-a", "oracle", "-a", "nop", "-n", "2", "--jobs-dir", str(tmp_path), "--job-name", "own"]
    for t in OWN_TASKS:
        args += ["-p", str(REPO / "tasks" / t)]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr + r.stdout
    assert "Mean reward per agent" in r.stdout
    results = trial_results(tmp_path / "own")
    assert len(results) == 6
    by = {(x["task_name"], x["agent"]): x for x in results}
    for t in OWN_TASKS:
        o, n = by[(t, "oracle")], by[(t, "nop")]
        assert o["status"] == n["status"] == "completed"
        # an unchanged program scores 0 unless its 95% interval misses 1 by chance (2.5% of
        # runs), and then only by a noise-sized speedup worth about 0.001
        assert o["reward"] >= 0.3 and n["reward"] < 0.01, (t, o["reward"], n["reward"])
        for key in ("task_name", "agent", "sealed", "timing", "host", "verifier_result", "exception_info"):
            assert key in o
        assert o["verifier_result"]["rewards"]["reward"] == o["reward"]
        assert {"agent_execution", "verifier"} <= set(o["timing"])
        trial = tmp_path / "own" / o["trial_name"]
        assert (trial / "verifier" / "test-stdout.txt").exists()
        assert (trial / "verifier" / "reward.json").exists()
        assert (trial / "agent" / "trajectory.jsonl").exists()
        assert o["host"]["cpu_model"] and o["host"]["kernel"]
    job = json.loads((tmp_path / "own" / "result.json").read_text())
    assert job["stats"]["agents"]["nop"]["mean_reward"] < 0.01
    assert job["stats"]["agents"]["oracle"]["mean_reward"] > 0.3
    # re-running the same job name resumes: nothing left to do, no new trial folders
    r2 = run_cli(*args)
    assert r2.returncode == 0 and "6 finished trial(s) skipped" in r2.stderr
    assert len(list((tmp_path / "own").glob("*__*"))) == 6


def test_incorrect_program_scores_zero_with_reason(tmp_path: Path, write_script) -> None:
    script = write_script(
        [{"write": {"path": "/app/dedupe.py", "content": "def dedupe(lines):\n    return lines\n"}}]
    )
    r = run_cli(
        "run",
        "-p",
        str(REPO / "tasks" / "dedupe_lines"),
        "-a",
        "replay",
        "--ak",
        f"script={script}",
        "--jobs-dir",
        str(tmp_path),
        "--job-name",
        "broken",
    )
    assert r.returncode == 0, r.stderr
    (res,) = trial_results(tmp_path / "broken")
    vr = res["verifier_result"]
    assert res["reward"] == 0.0 and vr["extra"]["correct"] is False
    # a task that declares its runs: the candidate runner's check failed the output, so nothing
    # was timed, and the reward file says why
    reward_file = json.loads(
        (tmp_path / "broken" / res["trial_name"] / "verifier" / "reward.json").read_text()
    )
    assert reward_file["reward"] == 0.0 and reward_file["correct"] is False
    assert "wrong output" in vr["reason"] and vr["measurement"]["failed_side"] == "candidate"
    assert "pairs" not in vr["measurement"]


def _bad_task(tmp_path: Path, tiny_task: Path, how: str) -> Path:
    if how == "toml":
        (tiny_task / "task.toml").write_text("[agent]\ntimeout_sec = 'soon'\n")
    elif how == "test_sh":
        (tiny_task / "tests" / "test.sh").unlink()
    elif how == "dockerfile":
        df = tiny_task / "environment" / "Dockerfile"
        df.write_text(df.read_text() + "RUN echo building && exit 3\n")
    return tiny_task


def test_bad_inputs_fail_clearly_without_half_written_trials(tmp_path: Path, tiny_task: Path) -> None:
    expectations = {
        "toml": "field agent.timeout_sec",
        "test_sh": "missing tests/test.sh",
        "dockerfile": "Dockerfile:7: RUN step failed (exit 3)",
    }
    for how, expect in expectations.items():
        import shutil

        task = tmp_path / f"task-{how}"
        shutil.copytree(tiny_task, task)
        _bad_task(tmp_path, task, how)
        jobs = tmp_path / f"jobs-{how}"
        r = run_cli("run", "-p", str(task), "-a", "oracle", "--jobs-dir", str(jobs), "--job-name", "j")
        assert r.returncode != 0, how
        err = r.stderr.strip().splitlines()
        assert any(expect in line for line in err), (how, r.stderr)
        if how == "dockerfile":  # a failed build is that task's error: its trial is recorded, nothing else
            (res,) = trial_results(jobs / "j")
            assert res["status"] == "environment_build_failed" == res["cause"]
            assert (
                expect in res["exception_info"]["message"] and res["exception_info"]["dockerfile_line"] == 7
            )
        else:
            assert not any(jobs.glob("j/*__*")), f"{how}: a trial folder was created"


def test_tasks_check_and_list(tmp_path: Path, tiny_task: Path) -> None:
    r = run_cli("tasks", "check", str(tiny_task))
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr
    df = tiny_task / "environment" / "Dockerfile"
    df.write_text(df.read_text() + "RUN apt-get install -y looplab-missing-pkg && false\n")
    r = run_cli("tasks", "check", str(tiny_task))
    assert r.returncode == 2  # an invalid task is an error: one line on stderr
    assert "likely cause: missing host packages looplab-missing-pkg" in r.stderr
    r = run_cli("tasks", "list", str(REPO / "tasks" / "prime_count"))
    assert r.returncode == 0 and "prime_count" in r.stdout and "time_s" in r.stdout


def test_agent_arguments_go_to_the_agents_that_take_them(tmp_path: Path, tiny_task: Path) -> None:
    script = tmp_path / "steps.yaml"
    script.write_text("- run: 'true'\n- finish: true\n")
    jobs = tmp_path / "jobs"
    r = run_cli(
        "run",
        "-p",
        str(tiny_task),
        "-a",
        "nop",
        "-a",
        "replay",
        "--ak",
        f"script={script}",
        "--jobs-dir",
        str(jobs),
        "--job-name",
        "mix",
    )
    assert r.returncode == 0, r.stderr
    configs = {c["agent"]: c for c in (json.loads(p.read_text()) for p in jobs.glob("mix/*__*/config.json"))}
    assert configs["replay"]["agent_kwargs"] == {"script": str(script)}
    assert configs["nop"]["agent_kwargs"] == {}
    assert all(res["status"] == "completed" for res in trial_results(jobs / "mix"))

    for args, expect in (
        (["--ak", f"script={script}", "--ak", "bogus=1"], "no agent of this job (nop, replay) takes bogus"),
        (["--ak", f"script={script}", "-m", "openai/x"], "takes -m/--model"),
        (["--ak", "script=/nonexistent.yaml"], "nonexistent.yaml"),
    ):
        r = run_cli(
            "run",
            "-p",
            str(tiny_task),
            "-a",
            "nop",
            "-a",
            "replay",
            *args,
            "--jobs-dir",
            str(jobs),
            "--job-name",
            "bad",
        )
        assert r.returncode != 0 and expect in r.stderr, (args, r.stderr)
        assert not any(jobs.glob("bad/*__*")), f"{args}: a trial folder was created"
