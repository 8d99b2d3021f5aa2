"""The host's keep/discard decision and its noise policy, on scripted score sequences."""

from __future__ import annotations

import random

import pytest

from looplab.lab.config import NoiseSection
from looplab.lab.decide import BestFailed, EvalFailed, decide, interval, wins_needed


def seq(values):
    it = iter(values)

    def f():
        v = next(it)
        if isinstance(v, Exception):
            raise v
        return v

    return f


def test_wins_needed_matches_the_sign_test():
    assert wins_needed(5, 0.95) == 5  # 1/32 < 0.05
    assert wins_needed(7, 0.95) == 7  # 8/128 = 0.0625 >= 0.05 for 6 of 7
    assert wins_needed(10, 0.95) == 9  # 11/1024 < 0.05 <= 56/1024
    assert wins_needed(12, 0.95) == 10
    with pytest.raises(ValueError):
        wins_needed(4, 0.95)


def test_clear_improvement_is_kept_after_the_needed_wins():
    pol = NoiseSection(repeats=10, confidence=0.95)
    d = decide(seq([1.0] * 20), seq([2.0] * 20), [], "lower", pol)
    assert d.keep and d.wins == 9 and d.pairs == 9 and d.needed == 9
    assert d.p_value is not None and d.p_value < 0.05
    assert len(d.new_best_scores) == 9  # paired: the best was evaluated beside every candidate run


def test_discard_stops_as_soon_as_a_keep_is_out_of_reach():
    pol = NoiseSection(repeats=10, confidence=0.95)
    d = decide(seq([3.0, 3.0] + [1.0] * 10), seq([2.0] * 12), [], "lower", pol)
    assert not d.keep and d.pairs == 2 and d.wins == 0


def test_higher_is_better_and_minimum_effect():
    pol = NoiseSection(repeats=5, confidence=0.95, min_effect=0.1)
    assert not decide(seq([1.05] * 5), seq([1.0] * 5), [], "higher", pol).keep  # +5% < 10%
    assert decide(seq([1.2] * 5), seq([1.0] * 5), [], "higher", pol).keep
    pol_abs = NoiseSection(repeats=5, confidence=0.95, min_effect_abs=0.5)
    assert not decide(seq([-1.4] * 5), seq([-1.0] * 5), [], "lower", pol_abs).keep
    assert decide(seq([-1.6] * 5), seq([-1.0] * 5), [], "lower", pol_abs).keep


def test_ties_are_never_improvements():
    pol = NoiseSection(repeats=5, confidence=0.95)
    d = decide(seq([1.0] * 5), seq([1.0] * 5), [], "lower", pol)
    assert not d.keep and d.wins == 0


def test_a_crashing_candidate_is_a_crash_and_a_failing_best_is_not():
    pol = NoiseSection(repeats=5, confidence=0.95)
    d = decide(seq([1.0, EvalFailed("boom")]), seq([2.0] * 5), [], "lower", pol)
    assert not d.keep and d.crashed and "boom" in d.reason
    d = decide(seq([1.0] * 5), seq([2.0, BestFailed("flaky best")]), [], "lower", pol)
    assert not d.keep and not d.crashed and "best" in d.reason
    one = NoiseSection(repeats=1)
    d = decide(seq([EvalFailed("syntax error")]), seq([]), [], "lower", one)
    assert d.crashed and not d.keep


def test_unpaired_uses_recorded_best_evaluations_and_re_evaluates_only_when_short():
    pol = NoiseSection(repeats=5, confidence=0.95, paired=False)
    best_calls = []

    def best():
        best_calls.append(1)
        return 2.0

    d = decide(seq([1.0] * 5), best, [2.0, 2.0, 2.0], "lower", pol)
    assert d.keep and len(best_calls) == 2 and d.new_best_scores == [2.0, 2.0]


def test_repeats_one_is_a_single_comparison():
    one = NoiseSection(repeats=1)
    assert decide(seq([0.9]), seq([1.0]), [], "lower", one).keep
    assert not decide(seq([1.1]), seq([1.0]), [], "lower", one).keep
    unpaired = NoiseSection(repeats=1, paired=False)
    assert decide(seq([0.9]), seq([]), [1.0, 1.2, 0.95], "lower", unpaired).keep  # vs median 1.0


def test_interval_handles_zero_and_negative_scores():
    lo, hi = interval([0.0, 0.1, -0.2, 0.05, 0.0], 0.95)
    assert lo <= 0.0 <= hi and lo >= -0.2 and hi <= 0.1
    lo, hi = interval([5.0], 0.95)
    assert lo == hi == 5.0


@pytest.mark.parametrize("repeats", [5, 10])
def test_false_keep_rate_under_pure_noise_is_below_one_minus_confidence(repeats):
    """Many simulated A/A decisions (no sandboxes): the rate of keeps is the policy's false-keep rate."""
    rng = random.Random(1234 + repeats)
    pol = NoiseSection(repeats=repeats, confidence=0.95)
    n = 4000
    keeps = sum(
        decide(lambda: rng.gauss(1.0, 0.1), lambda: rng.gauss(1.0, 0.1), [], "lower", pol).keep
        for _ in range(n)
    )
    exact = {5: 1 / 32, 10: 11 / 1024}[repeats]
    assert keeps / n < 0.05
    assert abs(keeps / n - exact) < 4 * (exact * (1 - exact) / n) ** 0.5 + 1e-3
    # and with the policy off (one paired comparison), noise is kept about half the time
    off = NoiseSection(repeats=1)
    off_keeps = sum(
        decide(lambda: rng.gauss(1, 0.1), lambda: rng.gauss(1, 0.1), [], "lower", off).keep for _ in range(n)
    )
    assert 0.45 < off_keeps / n < 0.55
