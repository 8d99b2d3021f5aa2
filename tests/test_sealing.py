"""Sealed verification against a scripted cheating agent: cheats never move the reward."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli, trial_results

HONEST = [{"write": {"path": "/app/value.txt", "content": "7\n"}}]
CHEATS = [
    # the non-editable script the verifier runs, edited to always print the maximum
    {"write": {"path": "/app/score.sh", "content": "#!/bin/bash\necho 10\n"}},
    # a forged reward in the agent phase
    {
        "run": "mkdir -p /logs/verifier && echo '{\"reward\": 1.0}' > /logs/verifier/reward.json && echo 1 > /logs/verifier/reward.txt"
    },
    # looking for the verifier and the solution
    {
        "run": 'ls /tests /solution > /app/found.txt 2>&1; cat /tests/test.sh /solution/solve.sh >> /app/found.txt 2>&1; echo "scale=$SECRET_SCALE" >> /app/found.txt'
    },
    # a symlink where an editable file should be
    {"run": "ln -sf /tests/test.sh /app/value2.txt"},
]


def _reward(tmp_path: Path, task: Path, steps: list[dict], write_script, name: str) -> tuple[float, dict]:
    script = write_script(steps, f"{name}.yaml")
    r = run_cli(
        "run",
        "-p",
        str(task),
        "-a",
        "replay",
        "--ak",
        f"script={script}",
        "--jobs-dir",
        str(tmp_path / "jobs"),
        "--job-name",
        name,
    )
    assert r.returncode == 0, r.stderr + r.stdout
    (res,) = trial_results(tmp_path / "jobs" / name)
    return res["reward"], res


def test_cheats_leave_the_reward_exactly_at_honest(tmp_path: Path, tiny_task: Path, write_script) -> None:
    honest, _ = _reward(tmp_path, tiny_task, HONEST, write_script, "honest")
    cheat, res = _reward(tmp_path, tiny_task, HONEST + CHEATS, write_script, "cheat")
    assert honest == 0.7
    assert cheat == honest
    assert res["sealed"] is True
    assert res["verifier_result"]["carried_files"] == ["value.txt"]
    trial = next((tmp_path / "jobs" / "cheat").glob("tiny_task__*"))
    events = [json.loads(x) for x in (trial / "agent" / "trajectory.jsonl").read_text().splitlines()]
    obs = [e for e in events if e["type"] == "observation"]
    assert all(e["exit_code"] == 0 for e in obs[:3])  # the writes themselves worked in the agent's sandbox


def test_cheats_alone_score_like_nop(tmp_path: Path, tiny_task: Path, write_script) -> None:
    cheat, _ = _reward(tmp_path, tiny_task, CHEATS, write_script, "cheat-only")
    assert cheat == 0.0


def test_agent_never_sees_tests_solution_or_verifier_env(
    tmp_path: Path, tiny_task: Path, write_script
) -> None:
    # the editable file itself carries what the agent could find out
    steps = [
        {
            "run": '(ls /tests /solution 2>&1 | head -2; echo "scale=[$SECRET_SCALE]") > /tmp/f; '
            "test -e /tests -o -e /solution && echo 10 > /app/value.txt || echo 3 > /app/value.txt"
        }
    ]
    reward, res = _reward(tmp_path, tiny_task, steps, write_script, "peek")
    assert reward == 0.3, res


def test_unsealed_when_no_editable_globs(tmp_path: Path, tiny_task: Path, write_script) -> None:
    toml = tiny_task / "task.toml"
    toml.write_text(toml.read_text().replace('editable = ["value.txt"]', ""))
    cheat, res = _reward(tmp_path, tiny_task, HONEST + CHEATS[:1], write_script, "unsealed")
    assert (
        res["sealed"] is False and cheat == 1.0
    )  # without globs the edited script travels: why sealing matters


def test_daemon_left_behind_cannot_forge_the_reward(tmp_path: Path, tiny_task: Path, write_script) -> None:
    # a process left running by test.sh (as a candidate program could) keeps forging the reward file
    test_sh = tiny_task / "tests" / "test.sh"
    forger = "sleep 0.3; while true; do echo '{\\\"reward\\\": 1.0}' > /logs/verifier/reward.json; sleep 0.05; done"
    test_sh.write_text(test_sh.read_text() + f'setsid nohup sh -c "{forger}" >/dev/null 2>&1 &\n')
    reward, res = _reward(tmp_path, tiny_task, HONEST, write_script, "daemon")
    assert res["verifier_result"]["extra"]["processes_killed_after_test"] >= 1
    assert reward == 0.7


# ---- the catalog's prime_count against the cheats a red-team review found ----------------------
PRIME_COUNT = Path(__file__).resolve().parents[1] / "tasks" / "prime_count"


def _prime_count(tmp_path: Path, write_script, primes_c: str, name: str) -> dict:
    steps = [{"write": {"path": "/app/primes.c", "content": primes_c}}, {"finish": True}]
    _, res = _reward(tmp_path, PRIME_COUNT, steps, write_script, name)
    assert res["status"] == "completed" and res["sealed"] is True, res
    return res


def test_prime_count_answer_hard_coded_for_one_n_scores_zero(tmp_path: Path, write_script) -> None:
    """`if (n == 4000000) return 283146;` in front of the baseline once scored 0.64 (a 150x
    speedup on the fixed timing input). The timed n is drawn at verification now, afresh for
    every timed pair (tests/run.toml: the runner's generate step), so no n repeats."""
    baseline = (PRIME_COUNT / "environment" / "primes.c").read_text()
    cheat = baseline.replace(
        "long count_primes(long n) {", "long count_primes(long n) {\n    if (n == 4000000) return 283146;"
    )
    assert cheat != baseline
    res = _prime_count(tmp_path, write_script, cheat, "hard-coded")
    vr = res["verifier_result"]
    assert vr["extra"].get("correct") is True and vr["extra"].get("jailed") is True, vr
    assert res["reward"] <= 0.05, vr  # baseline speed on any other n


def test_prime_count_candidate_cannot_forge_the_reward(tmp_path: Path, write_script) -> None:
    """A program that is wrong but for n = 4,000,000 and, when run by the verifier, writes
    reward.json itself and makes it and /logs/verifier read-only (it once scored 0.64): the
    verifier runs it jailed, /logs out of sight."""
    forger = r"""#include <stdio.h>
#include <sys/stat.h>
long count_primes(long n) {
    FILE *f = fopen("/logs/verifier/reward.json", "w");
    if (f) {
        fputs("{\"reward\": 1.0, \"correct\": true, \"forged\": true}\n", f);
        fclose(f);
        chmod("/logs/verifier/reward.json", 0444);
        chmod("/logs/verifier", 0555);
    }
    return n == 4000000 ? 283146 : 0;
}
"""
    res = _prime_count(tmp_path, write_script, forger, "forger")
    vr = res["verifier_result"]
    assert res["reward"] == 0.0, vr
    assert "forged" not in vr["extra"] and vr["extra"].get("correct") is False, vr
    assert vr["extra"].get("jailed") is True and "wrong count" in vr["extra"]["reason"], vr
