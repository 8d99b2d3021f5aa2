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
    r = run_cli("run", "-p", str(task), "-a", "replay", "--ak", f"script={script}",
                "--jobs-dir", str(tmp_path / "jobs"), "--job-name", name)  # fmt: skip
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
    steps = [{"run": "(ls /tests /solution 2>&1 | head -2; echo \"scale=[$SECRET_SCALE]\") > /tmp/f; "
                     "test -e /tests -o -e /solution && echo 10 > /app/value.txt || echo 3 > /app/value.txt"}]  # fmt: skip
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
