"""Report arithmetic on small hand-made trial records: intervals, curve areas, mode rules, readers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from looplab.errors import LooplabError
from looplab.report.aggregate import error_cause, mean_ci95, t975
from looplab.report.cli import parse_settings
from looplab.report.curves import build_curve
from looplab.report.failure_modes import FailureSettings, classify
from looplab.report.model import ScoreRow, TaskInfo, TrialData, latest_per_slot, load_trial, read_scores


def trial(
    scores: list[dict] | None,
    *,
    stop: str = "finished",
    used: float = 10.0,
    budget: float = 10.0,
    status: str = "completed",
    reward: float | None = None,
    extra: dict | None = None,
    **kw,
) -> TrialData:
    rows = [ScoreRow.model_validate(s) for s in scores] if scores is not None else None
    final = reward if reward is not None else (rows[-1].reward if rows else 0.0)
    result = {
        "status": status,
        "reward": final,
        "agent_result": {"stop_reason": stop, "usage": {}},
        "verifier_result": {
            "reward": final,
            "rewards": {"reward": final},
            "reason": None,
            "extra": extra or {},
        },
        "timing": {"agent_execution": {"duration_s": used}},
        "finished_at": kw.pop("finished_at", "2026-01-01T00:00:00"),
    }
    return TrialData(
        dir=Path("/nonexistent"),
        job_name="j",
        name=kw.pop("name", "t__1"),
        status=status,
        task_name="task",
        agent="a",
        model=None,
        attempt=0,
        slot=kw.pop("slot", "task/a/0"),
        result=result,
        scores=rows,
        start_event={"timeout_sec": budget},
        task=TaskInfo(),
    )


def test_t_quantiles_and_interval() -> None:
    assert t975(1) == 12.706 and t975(30) == 2.042 and t975(45) == 2.000 and t975(10**6) == 1.960
    m, lo, hi = mean_ci95([1.0, 2.0, 3.0])
    assert m == 2.0 and hi - m == pytest.approx(4.303 / 3**0.5)
    assert mean_ci95([0.5]) == (0.5, None, None) and mean_ci95([]) == (None, None, None)


def test_curve_area_and_reach_times() -> None:
    t = trial(
        [
            {"n": 1, "elapsed_s": 2, "reward": 0.5, "cost": 0.1},
            {"n": 2, "elapsed_s": 6, "reward": 1.0, "cost_usd": 0.3},
        ]
    )
    c = build_curve(t)
    assert c is not None
    assert c.auc_time == pytest.approx((0.5 * 4 + 1.0 * 4) / 10)  # 0 until 2 s, 0.5 until 6 s, 1.0 to 10 s
    assert (c.t50_s, c.t90_s, c.cost50_usd, c.cost90_usd) == (2, 6, 0.1, 0.3)
    assert c.auc_cost == pytest.approx((0.5 * 0.2) / 0.3)  # over the dollars spent: 0 to $0.1, 0.5 to $0.3
    assert c.value_at(1.9) == 0.0 and c.value_at(2.0) == 0.5 and c.value_at(9) == 1.0
    assert c.last_gain_s == 6


def test_pristine_row_sets_the_start() -> None:
    c = build_curve(trial([{"n": 0, "elapsed_s": 0, "reward": 0.3}, {"n": 1, "elapsed_s": 5, "reward": 0.3}]))
    assert c is not None and c.start == 0.3 and c.auc_time == pytest.approx(0.3)
    assert (
        classify(
            trial(
                [{"n": 0, "elapsed_s": 0, "reward": 0.3}, {"n": 1, "elapsed_s": 5, "reward": 0.3}],
                stop="timeout",
            ),
            c,
        ).mode
        == "no_progress"
    )


def mode(t: TrialData, s: FailureSettings) -> str:
    return classify(t, build_curve(t), s).mode


def test_mode_rules() -> None:
    s = FailureSettings()
    climb = [{"n": i, "elapsed_s": 2 * i, "reward": 0.2 * i} for i in range(1, 5)]
    assert mode(trial(climb, used=9.5), s) == "steady_climber"
    early = trial([{"n": 1, "elapsed_s": 1, "reward": 0.4}], used=2)
    assert classify(early, build_curve(early), s).mode == "premature_stop"
    # reaching the reference makes an early stop fine
    done = trial([{"n": 1, "elapsed_s": 1, "reward": 1.0}], used=2)
    assert classify(done, build_curve(done), s).mode == "steady_climber"
    # stalled from 2 s on, still checking in the last 30%, ran out of time
    stall = [
        {"n": 1, "elapsed_s": 2, "reward": 0.5},
        {"n": 2, "elapsed_s": 8, "reward": 0.5},
        {"n": 3, "elapsed_s": 9, "reward": 0.505},
    ]
    assert mode(trial(stall, stop="timeout"), s) == "budget_exhaustion"
    # ... but with one checkpoint in that stretch it is not "still spending"
    quiet = stall[:2]
    assert mode(trial(quiet, stop="timeout"), s) == "steady_climber"
    # dollars spent in the stretch count as spending
    costly = [{**stall[0], "cost": 1.0}, {**stall[1], "cost": 2.0}]
    assert mode(trial(costly, stop="max_cost"), s) == "budget_exhaustion"
    broke = trial(
        [{"n": 1, "elapsed_s": 1, "reward": 0.5}, {"n": 2, "elapsed_s": 3, "reward": 0.0}],
        extra={"correct": False},
    )
    m = classify(broke, build_curve(broke), s)
    assert m.mode == "broke_correctness" and "last correct at 1.0 s" in m.why
    assert classify(trial(None, status="running"), None, s).mode == "running"
    assert classify(trial(None, status="error"), None, s).mode == "error"
    assert classify(trial(None, reward=0.7, stop="timeout"), None, s).mode == "unscored"
    # thresholds are settings
    assert (
        classify(early, build_curve(early), FailureSettings(premature_budget_left=0.9)).mode
        == "steady_climber"
    )


def test_latest_per_slot_prefers_completed() -> None:
    ok = trial(None, reward=0.5, name="a", finished_at="2026-01-01T00:00:01")
    lost = trial(None, status="error", name="b", finished_at="2026-01-01T00:00:09")
    assert [t.name for t in latest_per_slot([ok, lost])] == ["a"]
    assert {t.name for t in latest_per_slot([ok, trial(None, reward=0.1, name="c", slot="task/a/1")])} == {
        "a",
        "c",
    }


def test_error_causes() -> None:
    e = trial(None, status="error")
    e.result["exception_info"] = {"type": "WorkerLost"}
    assert error_cause(e) == "harness: WorkerLost"
    a = trial(None, reward=0.0)
    a.result["agent_result"] = {"stop_reason": "error", "error": "RuntimeError: boom"}
    assert error_cause(a) == "agent: RuntimeError"
    v = trial(None, reward=0.0)
    v.result["verifier_result"]["reason"] = "incorrect: the verifier reported correct = false"
    assert error_cause(v) == "verifier: incorrect" and v.gate_passed is False
    assert error_cause(trial(None, reward=1.0)) is None


def test_readers_tolerate_torn_files(tmp_path: Path) -> None:
    d = tmp_path / "task__1"
    (d / "checkpoints").mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"agent": "nop", "attempt": 1, "task": str(tmp_path / "gone")}))
    (d / "checkpoints" / "index.jsonl").write_text('{"n": 1, "elapsed_s": 1.5}\n{"n": 2, "ela')
    (d / "checkpoints" / "scores.jsonl").write_text(
        '{"n": 1, "elapsed_s": 1.5, "reward": 0.2}\n{"n": "x"}\nnot json\n'
    )
    t = load_trial(d, "job")
    assert t is not None and t.status == "running" and t.slot == "task/nop/1"
    assert len(t.checkpoints) == 1 and t.used_s == 1.5
    assert [r.reward for r in read_scores(d / "checkpoints" / "scores.jsonl") or []] == [0.2]
    assert load_trial(tmp_path / "empty", "job") is None


def test_settings_parsing() -> None:
    s = parse_settings(["min_gain=0.05", "stall-min-checkpoints=3"])
    assert s.min_gain == 0.05 and s.stall_min_checkpoints == 3
    with pytest.raises(LooplabError, match="NAME=VALUE"):
        parse_settings(["bogus=1"])
    with pytest.raises(LooplabError, match="not a number"):
        parse_settings(["min_gain=lots"])
