"""Harbor's named rewards: reward.json as a flat dict of numbers, every key recorded and reported.

Unit checks of the parser, then a real `looplab run` (oracle and nop, real sandboxes) of a
Harbor-format fixture whose test.sh writes {"correctness", "performance"} and no 'reward', and
`looplab report` in its JSON, CSV and HTML forms.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, run_cli, run_job, trial_results

from looplab.verify.reward_file import parse_reward_dir

TASK = FIXTURES / "harbor" / "multi_reward"


def _write(tmp: Path, data: object) -> Path:
    (tmp / "reward.json").write_text(json.dumps(data))
    return tmp


def test_every_numeric_key_is_a_reward_and_the_mean_is_primary(tmp_path: Path) -> None:
    p = parse_reward_dir(_write(tmp_path, {"correctness": 1, "performance": 0.5, "note": "x", "ok": True}))
    assert p.reason is None and p.rewards == {"correctness": 1.0, "performance": 0.5}
    assert p.reward == 0.75 and p.primary == "mean(correctness, performance)"
    assert p.extra == {"note": "x", "ok": True}  # booleans are not rewards


def test_reward_key_stays_primary_and_named_primary_wins(tmp_path: Path) -> None:
    d = _write(tmp_path, {"reward": 0.2, "correctness": 1.0})
    assert parse_reward_dir(d).reward == 0.2 and parse_reward_dir(d).rewards == {
        "reward": 0.2,
        "correctness": 1.0,
    }
    named = parse_reward_dir(d, "correctness")
    assert named.reward == 1.0 and named.primary == "correctness" and named.reason is None
    missing = parse_reward_dir(d, "speed")
    assert missing.reward == 0.0 and "no 'speed' key" in (missing.reason or "")
    bad = parse_reward_dir(_write(tmp_path, {"correctness": None, "reward": 1}), "correctness")
    assert bad.reward == 0.0 and "correctness is null" in (bad.reason or "")


@pytest.mark.parametrize("value", [float("nan"), "1", None, [1]])
def test_non_finite_values_are_not_rewards(tmp_path: Path, value: object) -> None:
    (tmp_path / "reward.json").write_text(json.dumps({"a": value, "b": 2}).replace('"NaN"', "NaN"))
    p = parse_reward_dir(tmp_path)
    assert p.rewards == {"b": 2.0} and p.reward == 2.0


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("harbor_rewards")
    task = tmp / "multi_reward"
    shutil.copytree(TASK, task)
    r = run_job(
        task,
        tmp / "jobs",
        "oracle",
        "nop",
        name="named",
        extra=["--base", "host", "-n", "2", "-k", "2", "--editable", "answer.txt", "--editable", "sum.sh"],
        timeout=300,
    )
    assert r.returncode == 0, r.stderr + r.stdout
    return tmp / "jobs" / "named"


def test_run_records_every_named_reward(job: Path) -> None:
    by = {x["agent"]: x for x in trial_results(job)}
    o, n = by["oracle"]["verifier_result"], by["nop"]["verifier_result"]
    assert o["reason"] is None and o["reward_keys"] == ["correctness", "performance"]
    assert o["rewards"] == {"correctness": 1.0, "performance": 0.5, "reward": 0.75}
    assert o["primary"] == "mean(correctness, performance)" and by["oracle"]["reward"] == 0.75
    assert n["rewards"] == {"correctness": 0.0, "performance": 0.0, "reward": 0.0}
    assert o["extra"]["note"] == "named rewards"


def test_task_names_its_primary_reward(job: Path, tmp_path: Path) -> None:
    task = tmp_path / "multi_reward"
    shutil.copytree(TASK, task)
    with open(task / "task.toml", "a") as fh:
        fh.write('\n[looplab]\nprimary_reward = "performance"\nbase = "host"\n')
    r = run_job(
        task,
        tmp_path / "jobs",
        "oracle",
        name="p",
        extra=["--editable", "answer.txt", "--editable", "sum.sh"],
        timeout=300,
    )
    assert r.returncode == 0, r.stderr + r.stdout
    (res,) = trial_results(tmp_path / "jobs" / "p")
    assert res["reward"] == 0.5 and res["verifier_result"]["primary"] == "performance"
    assert res["verifier_result"]["rewards"]["correctness"] == 1.0


def test_report_has_per_key_columns_and_metrics(job: Path, tmp_path: Path) -> None:
    r = run_cli("report", str(job), "--format", "json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    board = {row["agent"]: row for row in rep["leaderboard"]}
    oracle = next(v for k, v in board.items() if k.startswith("oracle"))
    assert oracle["primary"] == ["mean(correctness, performance)"]
    assert oracle["reward_keys"]["correctness"] == {"mean": 1.0, "max": 1.0, "min": 1.0, "sum": 2.0, "n": 2}
    assert oracle["reward_keys"]["performance"]["sum"] == 1.0
    rows = list(csv.DictReader(io.StringIO(run_cli("report", str(job), "--format", "csv").stdout)))
    assert {r["reward:correctness"] for r in rows} == {"1.0", "0.0"} and "reward:performance" in rows[0]
    table = run_cli("report", str(job), "--format", "md").stdout
    assert "Named rewards" in table and "mean(correctness, performance)" in table
    out = tmp_path / "r.html"
    assert run_cli("report", str(job), "--format", "json", "--html", str(out)).returncode == 0
    html = out.read_text()
    assert 'id="rewards-table"' in html and 'data-key="performance"' in html
