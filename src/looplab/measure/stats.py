"""Noise statistics for paired measurements, all in one place.

A paired measurement yields per-pair ratios ``r_i = baseline_i / candidate_i`` (a
speedup: above 1 means the candidate is faster). This module turns them into the
numbers looplab reports: the median ratio with a percentile-bootstrap confidence
interval, widened where the bootstrap is too optimistic (few pairs) to the exact
distribution-free order-statistic interval (a fixed seed makes the interval a pure
function of the data), the
coefficient of variation of each side, and a one-sided paired test of "the
candidate is better than the baseline by at least δ" (an exact sign test on the
ratios, distribution-free, plus the bootstrap lower bound). Inputs that cannot be
times or scores (NaN, infinite, zero, negative) raise ``InvalidMeasurement``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from looplab.errors import LooplabError

DEFAULT_CONFIDENCE = 0.95
DEFAULT_BOOTSTRAP = 2000


class InvalidMeasurement(LooplabError, ValueError):
    """A value that cannot be used as a time, count or score (NaN, inf, zero, negative)."""


def positive_array(values: Sequence[float] | np.ndarray, name: str = "values") -> np.ndarray:
    """``values`` as a float array, refusing empty input and anything not finite and > 0."""
    arr = np.asarray(values, dtype=float).reshape(-1)
    if arr.size == 0:
        raise InvalidMeasurement(f"{name}: no values")
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidMeasurement(f"{name}[{i}] = {arr[i]!r}: must be a finite number > 0")
    return arr


def speedup_ratios(
    baseline: Sequence[float], candidate: Sequence[float], direction: Literal["lower", "higher"] = "lower"
) -> np.ndarray:
    """Per-pair improvement ratios: baseline/candidate for times (lower is better), else
    candidate/baseline."""
    b = positive_array(baseline, "baseline")
    c = positive_array(candidate, "candidate")
    if b.size != c.size:
        raise InvalidMeasurement(f"baseline has {b.size} values but candidate has {c.size}; pairs must match")
    return b / c if direction == "lower" else c / b


def cv(values: Sequence[float]) -> float:
    """Coefficient of variation (sample standard deviation / mean); 0 for a single value."""
    arr = positive_array(values)
    if arr.size < 2:
        return 0.0
    return float(np.std(arr, ddof=1) / np.mean(arr))


@dataclass(frozen=True)
class RatioCI:
    """The median of per-pair ratios with its bootstrap confidence interval."""

    median: float
    low: float
    high: float
    confidence: float
    n: int
    n_boot: int
    seed: int | None

    @property
    def rel_half_width(self) -> float:
        """The interval's larger side relative to the median: ±0.02 means 'within 2%'."""
        return max(self.high / self.median - 1.0, 1.0 - self.low / self.median)

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def as_dict(self) -> dict[str, float | int | None]:
        d: dict[str, float | int | None] = dict(asdict(self))
        d["rel_half_width"] = self.rel_half_width
        return d


def median_ci_order_statistics(
    values: Sequence[float] | np.ndarray, confidence: float
) -> tuple[float, float, float]:
    """Distribution-free interval for the median: order statistics (x_(k), x_(n-k+1)) and its exact coverage.

    For ``n`` independent values from any continuous distribution, the number below
    the true median is Binomial(n, 1/2), which gives the coverage exactly. With too
    few values to reach ``confidence`` the interval is (min, max) and the coverage
    returned is lower than asked.
    """
    x = np.sort(positive_array(values))
    n = x.size
    alpha = 1.0 - confidence
    k = 0  # largest k with P(B <= k-1) <= alpha/2
    tail = 0.0
    for cand in range(1, n // 2 + 1):
        t = sum(math.comb(n, i) for i in range(cand)) / 2.0**n
        if t > alpha / 2:
            break
        k, tail = cand, t
    if k == 0:
        return float(x[0]), float(x[-1]), 1.0 - 2.0 / 2.0**n
    return float(x[k - 1]), float(x[n - k]), 1.0 - 2.0 * tail


def median_ratio_ci(
    ratios: Sequence[float] | np.ndarray,
    confidence: float = DEFAULT_CONFIDENCE,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int | None = 0,
) -> RatioCI:
    """Confidence interval of the median of ``ratios``: percentile bootstrap, never narrower than exact.

    The percentile bootstrap of a median is too narrow with few values (with 5
    pairs it can claim ±1% where nothing supports it), so the interval is widened
    where needed to the distribution-free order-statistic interval
    (``median_ci_order_statistics``), whose coverage is exact for independent pairs.
    ``seed`` fixes the resampling (the default 0 makes the interval reproducible);
    ``None`` draws a fresh one. Needs at least two ratios.
    """
    r = positive_array(ratios, "ratios")
    if r.size < 2:
        raise InvalidMeasurement(f"ratios: need at least 2 values for a confidence interval, got {r.size}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_boot < 100:
        raise ValueError(f"n_boot must be at least 100, got {n_boot}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, r.size, size=(n_boot, r.size))
    meds = np.median(r[idx], axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(meds, [alpha, 1.0 - alpha])
    o_low, o_high, _ = median_ci_order_statistics(r, confidence)
    med = float(np.median(r))
    return RatioCI(
        median=med,
        low=min(float(low), o_low, med),
        high=max(float(high), o_high, med),
        confidence=confidence,
        n=int(r.size),
        n_boot=n_boot,
        seed=seed,
    )


@dataclass(frozen=True)
class PairedTest:
    """Outcome of the one-sided test "candidate better than baseline by at least δ"."""

    better: bool  # H0 (median ratio <= 1 + delta) rejected at level alpha
    p_value: float  # exact one-sided sign-test p-value
    delta: float
    alpha: float
    n: int  # pairs used (ties with 1 + delta dropped)
    wins: int  # pairs whose ratio exceeds 1 + delta
    median_ratio: float
    lower_bound: float  # one-sided (1 - alpha) bootstrap lower bound of the median ratio

    def as_dict(self) -> dict[str, float | int | bool]:
        return dict(asdict(self))


def binomial_upper_tail(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2), computed exactly."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return sum(math.comb(n, i) for i in range(k, n + 1)) / 2.0**n


def paired_better(
    baseline: Sequence[float],
    candidate: Sequence[float],
    delta: float = 0.0,
    alpha: float = 0.05,
    direction: Literal["lower", "higher"] = "lower",
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int | None = 0,
) -> PairedTest:
    """Test whether the candidate beats the baseline by at least a relative ``delta``.

    With ratios ``r_i`` (baseline/candidate for times, candidate/baseline for
    higher-is-better scores) the null hypothesis is median(r) <= 1 + delta. The sign
    test counts pairs with r_i > 1 + delta; under the null that count is at most
    Binomial(n, 1/2), so the p-value is exact for any noise distribution.
    """
    if not math.isfinite(delta) or delta < 0:
        raise InvalidMeasurement(f"delta = {delta!r}: must be a finite number >= 0")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    r = speedup_ratios(baseline, candidate, direction)
    threshold = 1.0 + delta
    wins = int(np.sum(r > threshold))
    n = int(np.sum(r != threshold))
    p = binomial_upper_tail(wins, n) if n else 1.0
    if r.size >= 2:
        lower = median_ratio_ci(r, confidence=1.0 - 2.0 * alpha, n_boot=n_boot, seed=seed).low
    else:
        lower = 0.0
    return PairedTest(
        better=p < alpha,
        p_value=p,
        delta=delta,
        alpha=alpha,
        n=n,
        wins=wins,
        median_ratio=float(np.median(r)),
        lower_bound=float(lower),
    )


def summarize(values: Sequence[float], name: str = "values") -> dict[str, float | int]:
    """Median, mean, min, max, CV and count of a list of positive measurements."""
    arr = positive_array(values, name)
    return {
        "n": int(arr.size),
        "median": float(np.median(arr)),
        "mean": float(np.mean(arr)),
        "min": float(np.min(arr)),
        "max": float(np.max(arr)),
        "cv": cv(arr),
    }
