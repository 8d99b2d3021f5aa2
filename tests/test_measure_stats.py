"""Statistics on synthetic data whose truth is known: CI coverage, the paired test's error rates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from looplab.errors import LooplabError
from looplab.measure.stats import (
    InvalidMeasurement,
    binomial_upper_tail,
    cv,
    median_ci_order_statistics,
    median_ratio_ci,
    paired_better,
    speedup_ratios,
    summarize,
)


def synthetic_pairs(rng: np.random.Generator, n: int, true_ratio: float, noise: float = 0.05):
    """Baseline/candidate times with multiplicative lognormal noise and a shared per-pair load factor."""
    load = rng.lognormal(0.0, 0.2, n)  # both sides of a pair see the same machine state
    cand = 0.05 * load * rng.lognormal(0.0, noise, n)
    base = 0.05 * true_ratio * load * rng.lognormal(0.0, noise, n)
    return base, cand


def test_ci_covers_the_true_ratio_at_about_the_nominal_rate():
    rng = np.random.default_rng(1)
    hits = 0
    trials = 300
    for _ in range(trials):
        b, c = synthetic_pairs(rng, 25, 2.0)
        ci = median_ratio_ci(speedup_ratios(b, c), n_boot=1000, seed=None)
        hits += ci.contains(2.0)
    coverage = hits / trials
    assert 0.88 <= coverage <= 0.995, coverage


def test_ci_narrows_with_more_pairs_and_pairing_removes_shared_load():
    rng = np.random.default_rng(2)
    b, c = synthetic_pairs(rng, 200, 1.5, noise=0.02)
    small = median_ratio_ci(speedup_ratios(b[:10], c[:10]))
    large = median_ratio_ci(speedup_ratios(b, c))
    assert large.rel_half_width < small.rel_half_width
    # the shared load factor has CV ~20%, yet the paired ratio is within a few percent
    assert cv(b) > 0.15
    assert large.rel_half_width < 0.02
    assert large.contains(1.5)


def test_fixed_seed_makes_the_interval_a_function_of_the_data():
    r = np.random.default_rng(3).lognormal(0.3, 0.1, 30)
    a = median_ratio_ci(r, seed=7)
    b = median_ratio_ci(r, seed=7)
    assert (a.low, a.high) == (b.low, b.high)
    fresh = median_ratio_ci(r, seed=None)
    assert fresh.low <= fresh.median <= fresh.high and fresh.seed is None
    assert a.low <= a.median <= a.high
    assert a.median == pytest.approx(float(np.median(r)))


def test_identical_ratios_give_a_zero_width_interval():
    ci = median_ratio_ci([2.0, 2.0, 2.0, 2.0])
    assert ci.low == ci.high == ci.median == 2.0
    assert ci.rel_half_width == 0.0


@pytest.mark.parametrize("bad", [[1.0, float("nan")], [1.0, 0.0], [1.0, -2.0], [1.0, float("inf")], []])
def test_invalid_inputs_raise_a_clear_error(bad):
    with pytest.raises(InvalidMeasurement) as err:
        median_ratio_ci(bad)
    assert isinstance(err.value, LooplabError) and isinstance(err.value, ValueError)
    assert "ratios" in str(err.value)


def test_zero_or_negative_times_are_refused_by_name():
    with pytest.raises(InvalidMeasurement, match=r"candidate\[1\]"):
        speedup_ratios([1.0, 1.0], [0.5, 0.0])
    with pytest.raises(InvalidMeasurement, match="baseline"):
        speedup_ratios([-1.0], [1.0])
    with pytest.raises(InvalidMeasurement, match="pairs must match"):
        speedup_ratios([1.0, 2.0], [1.0])
    with pytest.raises(InvalidMeasurement, match="at least 2"):
        median_ratio_ci([1.5])


def test_direction_higher_inverts_the_ratio():
    assert speedup_ratios([2.0], [1.0], "lower")[0] == 2.0
    assert speedup_ratios([2.0], [1.0], "higher")[0] == 0.5


def test_binomial_tail_is_exact():
    assert binomial_upper_tail(0, 10) == 1.0
    assert binomial_upper_tail(11, 10) == 0.0
    assert binomial_upper_tail(10, 10) == pytest.approx(1 / 1024)
    assert binomial_upper_tail(5, 10) == pytest.approx(sum(math.comb(10, i) for i in range(5, 11)) / 1024)


def test_paired_test_false_positive_rate_is_at_most_alpha_when_the_truth_is_exactly_delta():
    rng = np.random.default_rng(4)
    delta, alpha, trials = 0.05, 0.05, 400
    rejections = 0
    for _ in range(trials):
        b, c = synthetic_pairs(rng, 30, 1.0 + delta)
        rejections += paired_better(b, c, delta=delta, alpha=alpha, n_boot=200).better
    # exact sign test: the rate is <= alpha; allow Monte-Carlo slack (sd ~ 1.1% at 400 trials)
    assert rejections / trials <= alpha + 0.03


def test_paired_test_detects_a_real_improvement_and_not_noise():
    rng = np.random.default_rng(5)
    b, c = synthetic_pairs(rng, 30, 1.25, noise=0.03)
    t = paired_better(b, c, delta=0.05)
    assert t.better and t.p_value < 0.001 and t.lower_bound > 1.05
    assert t.wins == 30 and t.n == 30
    b, c = synthetic_pairs(rng, 30, 1.0, noise=0.03)
    t = paired_better(b, c, delta=0.05)
    assert not t.better and t.p_value > 0.5


def test_paired_test_power_grows_with_pairs():
    rng = np.random.default_rng(6)
    few = sum(paired_better(*synthetic_pairs(rng, 6, 1.1), delta=0.0, n_boot=200).better for _ in range(100))
    many = sum(
        paired_better(*synthetic_pairs(rng, 40, 1.1), delta=0.0, n_boot=200).better for _ in range(100)
    )
    assert many > few
    assert many >= 90


def test_paired_test_for_higher_is_better_scores():
    acc_base = [0.80, 0.81, 0.79, 0.80, 0.82, 0.80, 0.81, 0.79]
    acc_cand = [0.90, 0.92, 0.89, 0.91, 0.93, 0.90, 0.91, 0.90]
    assert paired_better(acc_base, acc_cand, delta=0.05, direction="higher").better
    assert not paired_better(acc_base, acc_cand, delta=0.05, direction="lower").better


def test_paired_test_rejects_bad_delta():
    with pytest.raises(InvalidMeasurement, match="delta"):
        paired_better([1.0, 1.0], [1.0, 1.0], delta=float("nan"))
    with pytest.raises(InvalidMeasurement, match="delta"):
        paired_better([1.0, 1.0], [1.0, 1.0], delta=-0.1)


def test_summarize_reports_spread():
    s = summarize([1.0, 2.0, 3.0])
    assert s["median"] == 2.0 and s["min"] == 1.0 and s["max"] == 3.0 and s["n"] == 3
    assert s["cv"] == pytest.approx(0.5)
    assert cv([5.0]) == 0.0


def test_order_statistic_interval_has_exact_coverage():
    x = list(range(1, 11))  # n = 10: (x_(2), x_(9)), coverage 1 - 2 * 11/1024
    low, high, coverage = median_ci_order_statistics([float(v) for v in x], 0.95)
    assert (low, high) == (2.0, 9.0)
    assert coverage == pytest.approx(1 - 22 / 1024)
    low, high, coverage = median_ci_order_statistics([1.0, 2.0, 3.0, 4.0, 5.0], 0.95)
    assert (low, high) == (1.0, 5.0) and coverage == pytest.approx(1 - 2 / 32)  # too few for 95%


def test_few_pairs_never_get_a_narrower_interval_than_the_exact_one():
    """With 5 pairs the bootstrap alone would claim about ±1%; the reported interval spans every pair."""
    r = [1.97, 1.98, 1.99, 1.995, 2.03]
    ci = median_ratio_ci(r)
    assert ci.low <= 1.97 and ci.high >= 2.03
    assert ci.contains(2.0)
