"""Checkpoint rescoring: the anytime curve of a replay agent that improves a task in three steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli
from fakes.trials import TINY_TASK, checkpoints, events, trial

from looplab.records.atif import export_trial
from looplab.scoring.rescore import anytime_curve, score_entries, select_checkpoints

AT = (1.0, 2.5, 4.0)


def test_anytime_curve_of_three_improvements(tmp_path: Path, write_script) -> None:
    steps = []
    for value, at in zip((3, 6, 9), AT, strict=True):
        steps += [
            {"write": {"path": "/app/value.txt", "content": f"{value}\n"}, "at": at},
            {"dev_check": True},
        ]
    steps.append({"finish": True})
    tdir = tmp_path / "t"
    res = trial(TINY_TASK, tdir, "replay", agent_kwargs={"script": str(write_script(steps))})
    assert res["status"] == "completed" and res["reward"] == pytest.approx(0.9)
    cps = checkpoints(tdir)
    assert [c["n"] for c in cps] == [1, 2, 3, 4] and cps[-1]["final"]

    r = run_cli("rescore", str(tdir))
    assert r.returncode == 0, r.stderr + r.stdout
    assert "Anytime curve" in r.stdout
    rows = score_entries(tdir)
    assert [row["n"] for row in rows] == [1, 2, 3, 4]
    rewards = [row["reward"] for row in rows]
    assert rewards[:3] == pytest.approx([0.3, 0.6, 0.9]) and rewards[3] == pytest.approx(0.9)
    # each checkpoint was taken at the time its step was scheduled, before the next one
    times = [row["elapsed_s"] for row in rows]
    assert AT[0] <= times[0] < AT[1] <= times[1] < AT[2] <= times[2] <= times[3]
    assert rows[3]["final"] and rows[3]["same_files_as"] == 3  # identical files are verified once
    assert all(row["reason"] is None for row in rows[:3])
    assert (tdir / "checkpoints" / "verifier" / "1" / "reward.json").exists()
    curve = anytime_curve(rows)
    assert [b for _t, b in curve] == pytest.approx([0.3, 0.6, 0.9, 0.9])

    # a second run reuses the scores; --every 2 keeps checkpoints 2 and 4 (the final one always)
    r2 = run_cli("rescore", str(tdir), "--every", "2")
    assert r2.returncode == 0, r2.stderr
    assert [row["n"] for row in score_entries(tdir)] == [2, 4]
    # the replay trajectory exports as valid ATIF, one agent step per command
    _, atif = export_trial(tdir)
    assert [s.tool_calls[0].function_name for s in atif.steps if s.source == "agent"] == [
        "write_file",
        "dev_check",
        "write_file",
        "dev_check",
        "write_file",
        "dev_check",
    ]


def test_checkpoint_selection() -> None:
    entries = [
        {"n": 1, "elapsed_s": 1.0, "dev_exit_code": 0},
        {"n": 2, "elapsed_s": 5.0, "dev_exit_code": 1},
        {"n": 3, "elapsed_s": 12.0, "dev_exit_code": 0},
        {"n": 4, "elapsed_s": 15.0, "dev_exit_code": 0},
        {"n": 5, "elapsed_s": 18.0, "dev_exit_code": 2},
        {"n": 6, "elapsed_s": 19.0, "final": True},
    ]
    assert [e["n"] for e in select_checkpoints(entries)] == [1, 2, 3, 4, 5, 6]
    assert [e["n"] for e in select_checkpoints(entries, every=2)] == [2, 4, 6]
    assert [e["n"] for e in select_checkpoints(entries, every=4)] == [4, 6]
    # per 10 s window: the last passing checkpoint (window 0: n=1; window 1: n=4), plus the final one
    assert [e["n"] for e in select_checkpoints(entries, best_per_window=10)] == [1, 4, 6]
    # a window with no passing checkpoint keeps its last one
    assert [e["n"] for e in select_checkpoints(entries[1:2] + entries[5:], best_per_window=100)] == [2, 6]


def test_rescore_errors_name_the_problem(tmp_path: Path) -> None:
    r = run_cli("rescore", str(tmp_path))
    assert r.returncode == 2 and "config.json" in r.stderr
    (tmp_path / "config.json").write_text(json.dumps({"task": str(TINY_TASK)}))
    r = run_cli("rescore", str(tmp_path))
    assert r.returncode == 2 and "no checkpoints recorded" in r.stderr


def test_replay_applies_a_unified_diff(tmp_path: Path, write_script) -> None:
    diff = "--- a/value.txt\n+++ b/value.txt\n@@ -1 +1 @@\n-0\n+8\n"
    steps = [
        {"diff": diff},
        {"diff": "--- value.txt\n+++ value.txt\n@@ -1 +1 @@\n-8\n+7\n", "strip": 0},
        {"diff": diff},
    ]
    res = trial(TINY_TASK, tmp_path / "t", "replay", agent_kwargs={"script": str(write_script(steps))})
    assert res["reward"] == pytest.approx(0.7)  # 0 -> 8 -> 7; the third no longer applies
    obs = events(tmp_path / "t", "observation")
    assert [o["exit_code"] for o in obs] == [0, 0, 1]
