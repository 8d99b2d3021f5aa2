"""Reward-file parsing: numbers, nulls, junk, and reward.txt; never an exception."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from looplab.verify.reward_file import parse_reward_dir


def write(tmp: Path, name: str, text: str) -> Path:
    (tmp / name).write_text(text)
    return tmp


def test_reward_json_with_metrics_and_extras(tmp_path: Path) -> None:
    data = {
        "reward": 0.75,
        "speedup": 3.2,
        "correct": True,
        "note": "x",
        "per_case": [1, 2],
        "nested": {"a": 1},
    }
    p = parse_reward_dir(write(tmp_path, "reward.json", json.dumps(data)))
    assert p.reward == 0.75 and p.reason is None and p.source == "reward.json"
    assert p.metrics == {"speedup": 3.2}
    assert p.extra["correct"] is True and p.extra["nested"] == {"a": 1} and p.extra["per_case"] == [1, 2]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"reward": null, "speedup": null, "reason": "wrong output"}', "reward is null (wrong output)"),
        ('{"reward": "high"}', "not a finite number"),
        ('{"reward": true}', "not a finite number"),
        ('{"note": "x"}', "no 'reward' key"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"reward": NaN}', "not a finite number"),
    ],
)
def test_bad_reward_json_is_zero_with_reason(tmp_path: Path, text: str, reason: str) -> None:
    p = parse_reward_dir(write(tmp_path, "reward.json", text))
    assert p.reward == 0.0 and reason in (p.reason or "")


def test_reward_txt_and_precedence(tmp_path: Path) -> None:
    assert parse_reward_dir(write(tmp_path, "reward.txt", "0.5\n")).reward == 0.5
    assert "not a number" in (parse_reward_dir(write(tmp_path, "reward.txt", "abc")).reason or "")
    write(tmp_path, "reward.json", '{"reward": 0.9}')
    assert parse_reward_dir(tmp_path).reward == 0.9  # reward.json is read first


def test_no_reward_file(tmp_path: Path) -> None:
    p = parse_reward_dir(tmp_path)
    assert p.reward == 0.0 and "no reward file" in (p.reason or "")
