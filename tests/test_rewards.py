"""Reward formulas and gates: values, edge cases, clear errors, and reward_from_config on task configs."""

from __future__ import annotations

import math

import pytest

from looplab.errors import LooplabError
from looplab.measure.stats import InvalidMeasurement
from looplab.tasks.model import TaskConfig
from looplab.verify.rewards import (
    check_reward_config,
    correctness_gate,
    improvement_ratio,
    linear_reward,
    log_speedup_reward,
    ratio_reward,
    reward_from_config,
    reward_from_speedup,
    s_ref_from_constants,
)


# ---- log-scaled speedup ------------------------------------------------------------------------
def test_log_speedup_scores_the_reference_at_one_half_and_caps_at_s_ref_squared():
    assert log_speedup_reward(10.0, 10.0) == pytest.approx(0.5)
    assert log_speedup_reward(100.0, 10.0) == pytest.approx(1.0)
    assert log_speedup_reward(1e6, 10.0) == 1.0  # beyond s_ref² stays capped
    assert log_speedup_reward(math.sqrt(10.0), 10.0) == pytest.approx(0.25)
    assert log_speedup_reward(2.0, 4.0) == pytest.approx(0.25)


@pytest.mark.parametrize("s", [1.0, 0.999, 0.5, 1e-9])
def test_log_speedup_is_zero_when_not_faster(s):
    assert log_speedup_reward(s, 10.0) == 0.0


@pytest.mark.parametrize(
    ("s", "s_ref"),
    [
        (float("nan"), 10.0),
        (2.0, float("nan")),
        (0.0, 10.0),
        (-2.0, 10.0),
        (float("inf"), 10.0),
        (2.0, 1.0),
        (2.0, 0.5),
    ],
)
def test_log_speedup_refuses_bad_inputs(s, s_ref):
    with pytest.raises(InvalidMeasurement):
        log_speedup_reward(s, s_ref)


def test_invalid_measurement_is_both_a_looplab_error_and_a_value_error():
    with pytest.raises(ValueError):
        log_speedup_reward(float("nan"), 2.0)
    with pytest.raises(LooplabError, match="speedup"):
        log_speedup_reward(float("nan"), 2.0)


# ---- ratio and linear --------------------------------------------------------------------------
def test_ratio_follows_the_direction_and_is_uncapped():
    assert ratio_reward(0.9, 0.6, "higher") == pytest.approx(1.5)
    assert ratio_reward(2.0, 10.0, "lower") == pytest.approx(5.0)
    assert ratio_reward(0.3, 0.6, "higher") == pytest.approx(0.5)
    assert improvement_ratio(1.0, 4.0, "lower") == 4.0
    with pytest.raises(InvalidMeasurement, match="baseline"):
        ratio_reward(1.0, 0.0, "higher")
    with pytest.raises(InvalidMeasurement, match="value"):
        ratio_reward(-1.0, 1.0, "lower")


def test_linear_is_clipped_and_works_in_both_directions():
    # lower is better: 66 comparators baseline, 60 best known
    assert linear_reward(63, 66, 60) == pytest.approx(0.5)
    assert linear_reward(60, 66, 60) == 1.0
    assert linear_reward(58, 66, 60) == 1.0  # better than best known: clipped
    assert linear_reward(70, 66, 60) == 0.0
    # higher is better, negative scores allowed
    assert linear_reward(0.0, -10.0, 10.0) == pytest.approx(0.5)
    with pytest.raises(InvalidMeasurement, match="two different"):
        linear_reward(1.0, 2.0, 2.0)
    with pytest.raises(InvalidMeasurement):
        linear_reward(float("nan"), 0.0, 1.0)


def test_reward_from_speedup_dispatches_by_name():
    assert reward_from_speedup("log_speedup", 4.0, 4.0) == pytest.approx(0.5)
    assert reward_from_speedup(None, 16.0, 4.0) == pytest.approx(1.0)
    assert reward_from_speedup("autolab", 2.0, 4.0) == pytest.approx(0.25)
    assert reward_from_speedup("ratio", 3.0, None) == 3.0
    assert reward_from_speedup("linear", 2.5, 4.0) == pytest.approx(0.5)
    with pytest.raises(LooplabError, match="s_ref"):
        reward_from_speedup("log_speedup", 2.0, None)
    with pytest.raises(LooplabError, match="unknown formula"):
        reward_from_speedup("quadratic", 2.0, 4.0)


# ---- gates -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "passes"),
    [
        (True, True),
        (False, False),
        (None, False),
        (1, True),
        (0, False),
        ("true", True),
        ("false", False),
        ("maybe", False),
    ],
)
def test_correctness_gate(value, passes):
    assert (correctness_gate({"correct": value}) is None) == passes


def test_autolab_correctness_key_is_the_same_gate():
    assert correctness_gate({"correctness": True, "reward": 0.7}) is None
    assert "correctness = false" in correctness_gate({"correctness": False, "reward": 0.7})
    assert "correctness = null" in correctness_gate({"correctness": None, "reward": None})


def test_missing_correct_field_passes():
    assert correctness_gate({"reward": 1.0}) is None


def cfg(**looplab) -> TaskConfig:
    base = {
        "optimization": {
            "metric": "time_s",
            "direction": "lower",
            "baseline": {"score": 0.4},
            "reference": {"score": 0.004},
        },
        "looplab": looplab,
    }
    return TaskConfig.model_validate(base)


# ---- reward_from_config ------------------------------------------------------------------------
def test_log_speedup_from_reported_time_uses_the_constants():
    c = cfg(reward="log_speedup")
    # s_ref = 0.4 / 0.004 = 100; a time of 0.04 is a 10x speedup: reward 0.25
    r, why = reward_from_config(c, {"reward": 0.9, "correct": True, "time_s": 0.04})
    assert r == pytest.approx(0.25) and why is None
    r, _ = reward_from_config(c, {"time_s": 0.004})
    assert r == pytest.approx(0.5)
    r, _ = reward_from_config(c, {"time_s": 0.8})  # slower than the baseline
    assert r == 0.0
    assert s_ref_from_constants(c) == pytest.approx(100.0)


def test_correctness_gate_comes_first():
    c = cfg(reward="log_speedup")
    r, why = reward_from_config(c, {"correct": False, "time_s": 0.0001})
    assert r == 0.0 and "incorrect" in why


def test_minimum_accuracy_gate():
    c = TaskConfig.model_validate(
        {
            "optimization": {"metric": "params", "direction": "lower", "baseline": {"score": 18000}},
            "looplab": {"reward": "ratio", "gates": {"accuracy": 0.95}},
        }
    )
    r, why = reward_from_config(c, {"correct": True, "params": 900, "accuracy": 0.96})
    assert r == pytest.approx(20.0) and why is None
    r, why = reward_from_config(c, {"correct": True, "params": 900, "accuracy": 0.90})
    assert r == 0.0 and "below the minimum 0.95" in why
    r, why = reward_from_config(c, {"correct": True, "params": 900})
    assert r == 0.0 and "accuracy" in why and "missing" in why


def test_maximum_gate():
    c = TaskConfig.model_validate({"looplab": {"gates": {"perplexity": {"max": 30}}}})
    assert reward_from_config(c, {"reward": 0.7, "perplexity": 29.0}) == (0.7, None)
    r, why = reward_from_config(c, {"reward": 0.7, "perplexity": 31.0})
    assert r == 0.0 and "above the maximum" in why


def test_linear_between_baseline_and_best_known():
    c = TaskConfig.model_validate(
        {
            "optimization": {
                "metric": "comparators",
                "direction": "lower",
                "baseline": {"score": 120},
                "reference": {"score": 60},
            },
            "looplab": {"reward": "linear"},
        }
    )
    assert reward_from_config(c, {"correct": True, "comparators": 90})[0] == pytest.approx(0.5)
    assert reward_from_config(c, {"correct": True, "comparators": 59})[0] == 1.0


@pytest.mark.parametrize("bad", [None, "fast", float("nan"), 0.0, -1.0, True])
def test_bad_metric_values_are_reward_zero_with_a_reason(bad):
    r, why = reward_from_config(cfg(reward="log_speedup"), {"correct": True, "time_s": bad})
    assert r == 0.0 and "time_s" in why


def test_missing_metric_is_reward_zero_with_a_reason():
    r, why = reward_from_config(cfg(reward="ratio"), {"correct": True})
    assert r == 0.0 and "time_s" in why


def test_reported_reward_passes_through_and_null_is_zero():
    c = TaskConfig.model_validate({})
    assert reward_from_config(c, {"reward": 0.42}) == (0.42, None)
    r, why = reward_from_config(c, {"reward": None})
    assert r == 0.0 and "reward" in why


def test_unscorable_configs_raise():
    with pytest.raises(LooplabError, match="unknown formula"):
        reward_from_config(cfg(reward="cubic"), {"time_s": 1.0})
    no_ref = TaskConfig.model_validate(
        {"optimization": {"metric": "t", "baseline": {"score": 1.0}}, "looplab": {"reward": "log_speedup"}}
    )
    with pytest.raises(LooplabError, match=r"optimization\.reference\.score"):
        reward_from_config(no_ref, {"t": 0.5})
    backwards = TaskConfig.model_validate(
        {
            "optimization": {
                "metric": "t",
                "direction": "lower",
                "baseline": {"score": 1.0},
                "reference": {"score": 2.0},
            },
            "looplab": {"reward": "log_speedup"},
        }
    )
    with pytest.raises(LooplabError, match="not better"):
        reward_from_config(backwards, {"t": 0.5})
    no_dir = TaskConfig.model_validate(
        {"optimization": {"metric": "acc", "baseline": {"score": 0.5}}, "looplab": {"reward": "ratio"}}
    )
    with pytest.raises(LooplabError, match="direction"):
        reward_from_config(no_dir, {"acc": 0.6})


def test_check_reward_config_for_measured_tasks():
    ok = cfg(measure="paired", paired={"baseline": "a", "candidate": "b"})
    assert check_reward_config(ok) == []
    missing = cfg(measure="paired")
    assert any("looplab.paired" in p for p in check_reward_config(missing))
    reported = cfg(measure="instructions", reward="reported", paired={"baseline": "a", "candidate": "b"})
    assert any("reported" in p for p in check_reward_config(reported))
