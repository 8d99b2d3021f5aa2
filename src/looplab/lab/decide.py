"""Keep or discard: the host's decision, with a noise policy that makes noise rarely look like progress.

With ``repeats = 1`` a candidate is evaluated once and kept when it beats the best
by the minimum effect (for deterministic backends). Otherwise the decision is a
one-sided sign test over up to ``repeats`` evaluation pairs (candidate beside a
fresh evaluation of the best when ``paired``, else beside the best's recorded
evaluations, re-evaluating the best when it has fewer): a pair is a win when the
candidate beats the best by more than ``max(min_effect * |best|, min_effect_abs)``.
The candidate is kept when its wins reach ``k*``, the least count with
P(Binomial(repeats, 1/2) >= k*) < 1 - confidence. Pairs are taken one at a time
and the test stops as soon as the outcome is settled (``k*`` wins reached, or no
longer reachable), which never changes the decision of the full test, so the
chance of keeping a candidate that is no better than the best stays below
``1 - confidence`` for any noise distribution. Ties count as losses. The p-value
and the score's interval come from ``looplab.measure.stats``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from looplab.lab.backend import EvalResult
from looplab.lab.config import NoiseSection
from looplab.measure.stats import binomial_upper_tail, median_ratio_ci


class EvalFailed(Exception):
    """An evaluation that produced no score (crash, timeout, bad output)."""


class BestFailed(EvalFailed):
    """The best (not the candidate) failed to evaluate."""


@dataclass
class Decision:
    keep: bool
    reason: str
    cand_scores: list[float] = field(default_factory=list)
    best_scores: list[float] = field(default_factory=list)
    wins: int = 0
    pairs: int = 0
    needed: int = 1  # k*
    p_value: float | None = None
    crashed: bool = False
    error: str | None = None
    new_best_scores: list[float] = field(default_factory=list)  # fresh evaluations of the best

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def better(cand: float, best: float, direction: str, policy: NoiseSection) -> bool:
    margin = max(policy.min_effect * abs(best), policy.min_effect_abs)
    return cand < best - margin if direction == "lower" else cand > best + margin


def wins_needed(repeats: int, confidence: float) -> int:
    """k*: the fewest wins out of ``repeats`` pairs that a sign test accepts at ``confidence``."""
    alpha = 1.0 - confidence
    for k in range(1, repeats + 1):
        if binomial_upper_tail(k, repeats) < alpha:
            return k
    raise ValueError(f"{repeats} pairs can never reach confidence {confidence}")


def median(values: list[float]) -> float:
    return float(np.median(np.asarray(values, dtype=float)))


def interval(values: list[float], confidence: float) -> tuple[float, float]:
    """Confidence interval of the median score (bootstrap, never narrower than the exact order-statistic one).

    ``median_ratio_ci`` wants positive values; medians and their intervals shift
    with the data, so any scores are moved above zero, measured, and moved back.
    """
    if len(values) < 2:
        v = float(values[0]) if values else float("nan")
        return v, v
    arr = np.asarray(values, dtype=float)
    shift = 1.0 - float(arr.min()) if arr.min() <= 0 else 0.0
    ci = median_ratio_ci(arr + shift, confidence=confidence)
    lo, hi = float(arr.min()), float(arr.max())  # the shift's rounding must not step outside the data
    return min(max(ci.low - shift, lo), hi), max(min(ci.high - shift, hi), lo)


def decide(
    eval_candidate: Callable[[], float],
    eval_best: Callable[[], float],
    recorded_best: list[float],
    direction: str,
    policy: NoiseSection,
) -> Decision:
    """Evaluate as needed and decide.

    ``eval_candidate`` raises ``EvalFailed`` and ``eval_best`` raises ``BestFailed``
    when an evaluation produces no score.
    """
    cand: list[float] = []
    best: list[float] = []
    fresh: list[float] = []
    stored = list(recorded_best)

    def best_value(i: int) -> float:
        if not policy.paired and i < len(stored):
            return stored[i]
        v = eval_best()
        fresh.append(v)
        return v

    if policy.repeats == 1:
        try:
            c = eval_candidate()
        except EvalFailed as exc:
            return Decision(False, f"candidate evaluation failed: {exc}", crashed=True, error=str(exc))
        cand.append(c)
        try:
            b = best_value(0) if (policy.paired or not stored) else median(stored)
        except EvalFailed as exc:
            return Decision(False, f"the best failed to re-evaluate: {exc}", cand, error=str(exc))
        best.append(b)
        win = better(c, b, direction, policy)
        return Decision(
            keep=win,
            reason="better than the best" if win else "not better than the best",
            cand_scores=cand,
            best_scores=best,
            wins=int(win),
            pairs=1,
            needed=1,
            new_best_scores=fresh,
        )

    n = policy.repeats
    k = wins_needed(n, policy.confidence)
    wins = 0
    for i in range(n):
        try:
            if i % 2 == 0:  # alternate the order within pairs (ABBA) so drift cancels
                b = best_value(i)
                c = eval_candidate()
            else:
                c = eval_candidate()
                b = best_value(i)
        except EvalFailed as exc:
            crashed = not isinstance(exc, BestFailed)
            what = "candidate evaluation failed" if crashed else "the best failed to re-evaluate"
            return Decision(False, f"{what}: {exc}", cand, best, wins, i, k, None, crashed, str(exc), fresh)
        cand.append(c)
        best.append(b)
        wins += better(c, b, direction, policy)
        left = n - i - 1
        if wins >= k or wins + left < k:
            break
    pairs = len(cand)
    p = binomial_upper_tail(wins, n)
    keep = wins >= k
    if keep:
        reason = f"better in {wins} of {pairs} pairs (needed {k} of {n}; p = {p:.3g})"
    else:
        reason = f"better in only {wins} of {pairs} pairs (needed {k} of {n})"
    return Decision(keep, reason, cand, best, wins, pairs, k, p, False, None, fresh)


def closest(results: list[EvalResult], target: float) -> EvalResult:
    """The evaluation whose score is nearest ``target`` (the one a median stands for)."""
    return min(results, key=lambda r: abs(r.score - target))
