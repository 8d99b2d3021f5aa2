"""Paired A/B timing: interleaved runs of baseline and candidate, adaptive stopping.

After ``warmup`` unrecorded runs of each side, baseline (A) and candidate (B) run
in interleaved pairs, alternating the order (A B, B A, A B, ...) so slow drift and
any first-or-second position effect hit both sides alike. Each pair gives a ratio
t_A / t_B; the speedup is the median ratio with a bootstrap confidence interval.
From ``min_pairs`` on, pairs continue until the interval's relative half-width is
within ``target`` (default ±2%), or ``max_pairs`` or ``max_seconds`` is reached;
the result says which. A time is the command's wall time (``time_source =
"wall"``), its CPU time, user + system, over all the processes it waited for
(``"cpu"``: far less sensitive to other load on the machine, but blind to
parallelism and waiting), or the seconds the command prints itself on its last
output line (``"stdout"``, a bare number or a JSON object with a ``seconds`` key)
for programs that time their own kernel. The whole measurement runs under the host-wide
measurement lock when one is given. A run that fails raises ``MeasurementFailed``
naming the side.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from looplab.errors import LooplabError
from looplab.measure.lock import LockRecord, MeasurementLock
from looplab.measure.runners import CommandRunner
from looplab.measure.stats import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_CONFIDENCE,
    RatioCI,
    median_ratio_ci,
    speedup_ratios,
    summarize,
)

TimeSource = Literal["wall", "cpu", "stdout"]


class MeasurementFailed(LooplabError):
    """A measured command failed (non-zero exit, timeout, or no time on its output)."""

    def __init__(self, side: str, message: str):
        super().__init__(message)
        self.side = side


class PairedSettings(BaseModel):
    """How long and how precisely to measure."""

    warmup: int = Field(default=1, ge=0)
    min_pairs: int = Field(default=10, ge=2)
    max_pairs: int = Field(default=60, ge=2)
    max_seconds: float = Field(default=300.0, gt=0)
    target: float = Field(default=0.02, gt=0)  # relative CI half-width to stop at
    confidence: float = Field(default=DEFAULT_CONFIDENCE, gt=0, lt=1)
    time_source: TimeSource = "wall"
    run_timeout: float | None = Field(default=None, gt=0)  # seconds per run
    n_boot: int = Field(default=DEFAULT_BOOTSTRAP, ge=100)
    seed: int | None = 0


class SideStats(BaseModel):
    """One side's times (seconds) over the recorded runs."""

    command: str
    times_s: list[float]
    median_s: float
    mean_s: float
    min_s: float
    max_s: float
    cv: float


class OtherRatio(BaseModel):
    """A program timed beyond the first two: the first program's time over its own, per round."""

    speedup: float  # median of the per-round ratios
    ci_low: float
    ci_high: float
    rel_half_width: float
    ratios: list[float]


class PairedResult(BaseModel):
    """A finished paired measurement: the speedup, how sure it is, and what it cost."""

    speedup: float  # median of per-pair baseline/candidate time ratios
    ci_low: float
    ci_high: float
    confidence: float
    rel_half_width: float
    target: float
    precision_reached: bool
    stop_reason: Literal["precision", "max_pairs", "max_seconds"]
    pairs: int
    warmup: int
    ratios: list[float]
    baseline: SideStats
    candidate: SideStats
    others: dict[str, SideStats] = Field(default_factory=dict)  # programs timed beyond the first two
    # each of those programs' speedup over the first (the baseline), from the same rounds
    others_speedup: dict[str, OtherRatio] = Field(default_factory=dict)
    time_source: TimeSource
    elapsed_s: float  # wall time of the whole measurement, warm-up included, lock wait excluded
    lock: LockRecord | None = None
    seed: int | None = 0

    def summary(self) -> str:
        reached = "reached" if self.precision_reached else f"NOT reached ({self.stop_reason})"
        return (
            f"speedup {self.speedup:.4f} [{self.ci_low:.4f}, {self.ci_high:.4f}] "
            f"({self.confidence:.0%} CI, ±{self.rel_half_width:.2%}, target ±{self.target:.2%} {reached}); "
            f"{self.pairs} pairs, baseline {self.baseline.median_s:.4g} s (CV {self.baseline.cv:.1%}), "
            f"candidate {self.candidate.median_s:.4g} s (CV {self.candidate.cv:.1%})"
        )


def parse_reported_seconds(stdout: str) -> float:
    """The seconds a command printed on its last non-empty line (number or JSON ``seconds``)."""
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        raise ValueError("no output; expected the elapsed seconds on the last line")
    last = lines[-1]
    try:
        value = float(json.loads(last)["seconds"]) if last.startswith("{") else float(last.split()[-1])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"last line {last[:80]!r} is not a number of seconds ({exc})") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"reported time {value!r} is not a positive number of seconds")
    return value


def _tail(text: str, n: int = 400) -> str:
    text = text.strip().replace("\n", " | ")
    return text if len(text) <= n else "…" + text[-n:]


def timed_run(runner: CommandRunner, side: str, command: str, settings: PairedSettings) -> float:
    """Run ``command`` once and return its time in seconds, or raise ``MeasurementFailed``."""
    res = runner.run(command, timeout=settings.run_timeout, measure_cpu=settings.time_source == "cpu")
    if res.timed_out:
        raise MeasurementFailed(side, f"{side} command timed out after {settings.run_timeout} s: {command}")
    if res.exit_code != 0:
        raise MeasurementFailed(
            side,
            f"{side} command exited {res.exit_code}: {command}; stderr: {_tail(res.stderr) or '(empty)'}",
        )
    if settings.time_source == "stdout":
        try:
            return parse_reported_seconds(res.stdout)
        except ValueError as exc:
            raise MeasurementFailed(side, f"{side} command {command!r}: {exc}") from None
    value = res.duration_s if settings.time_source == "wall" else res.cpu_s
    if value is None or value <= 0:
        raise MeasurementFailed(
            side, f"{side} command took no measurable {settings.time_source} time: {command}"
        )
    return value


def _side(command: str, times: list[float]) -> SideStats:
    s = summarize(times)
    return SideStats(
        command=command,
        times_s=times,
        median_s=s["median"],
        mean_s=s["mean"],
        min_s=s["min"],
        max_s=s["max"],
        cv=s["cv"],
    )


def round_order(programs: list[str], n: int) -> list[str]:
    """The order of round ``n``: A B, B A, ... for two programs; for more, rotated by ``n // 2``
    and reversed in odd rounds, so that in every two consecutive rounds each program runs
    before each other one exactly once (a plain rotation puts A before B in two of three)."""
    k = len(programs)
    if k == 2:
        return programs if n % 2 == 0 else programs[::-1]
    r = (n // 2) % k
    order = programs[r:] + programs[:r]
    return order[::-1] if n % 2 else order


def _ci(first: list[float], other: list[float], st: PairedSettings) -> RatioCI:
    """The median ratio first/other over the rounds so far, with its interval."""
    return median_ratio_ci(
        speedup_ratios(first, other), confidence=st.confidence, n_boot=st.n_boot, seed=st.seed
    )


def measure_pair(
    baseline: str,
    candidate: str,
    runner: CommandRunner,
    settings: PairedSettings | None = None,
    lock: MeasurementLock | None = None,
) -> PairedResult:
    """Time ``baseline`` against ``candidate`` (shell commands) in interleaved pairs until precise enough."""
    st = settings or PairedSettings()
    commands = {"baseline": baseline, "candidate": candidate}
    return measure_interleaved(
        ["baseline", "candidate"],
        lambda side, _pair: timed_run(runner, side, commands[side], st),
        st,
        lock,
        commands=commands,
    )


def measure_interleaved(
    programs: list[str],
    run_once: Callable[[str, int], float],
    settings: PairedSettings | None = None,
    lock: MeasurementLock | None = None,
    prepare: Callable[[int], None] | None = None,
    commands: dict[str, str] | None = None,
    after_round: Callable[[int], None] | None = None,
    precise: Callable[[dict[str, RatioCI]], bool] | None = None,
) -> PairedResult:
    """Time N programs interleaved on the same cores; the speedup is programs[0] over programs[1].

    ``run_once(name, pair)`` runs one program once and returns its time (raising
    ``MeasurementFailed`` when the run or its check fails); ``prepare(pair)`` runs
    before each round and ``after_round(pair)`` after it, untimed (a fresh input for
    the round, the checks of its outputs; warm-up rounds are negative). Round ``i`` runs the programs in
    ``round_order``: with two programs A B, B A, ..., with more every order in turn, so drift
    and any position in the round hit every side alike.
    With more than two, each program beyond the second also gets its speedup over the first
    (``others_speedup``), and the measurement stops for precision only when every one of
    these ratios is within ``target`` (or when ``precise``, given the interval of the first
    program over each other one, says so).
    """
    st = settings or PairedSettings()
    if st.max_pairs < st.min_pairs:
        raise LooplabError(f"max_pairs ({st.max_pairs}) is below min_pairs ({st.min_pairs})")
    if len(programs) < 2:
        raise LooplabError("interleaved timing needs at least two programs")
    record = lock.acquire() if lock is not None else None
    times: dict[str, list[float]] = {p: [] for p in programs}
    try:
        t0 = time.monotonic()
        for w in range(st.warmup):
            if prepare is not None:
                prepare(-1 - w)
            for p in programs:
                run_once(p, -1 - w)
            if after_round is not None:
                after_round(-1 - w)
        ci: RatioCI | None = None
        cis: dict[str, RatioCI] = {}
        reason: Literal["precision", "max_pairs", "max_seconds"] = "max_pairs"
        while True:
            p0 = time.monotonic()
            n = len(times[programs[0]])
            if prepare is not None:
                prepare(n)
            for p in round_order(programs, n):
                times[p].append(run_once(p, n))
            if after_round is not None:
                after_round(n)
            pair_s = time.monotonic() - p0
            n += 1
            if n >= st.min_pairs:
                cis = {p: _ci(times[programs[0]], times[p], st) for p in programs[1:]}
                ci = cis[programs[1]]
                done = precise(cis) if precise else max(c.rel_half_width for c in cis.values()) <= st.target
                if done:
                    reason = "precision"
                    break
            if n >= st.max_pairs:
                reason = "max_pairs"
                break
            if n >= st.min_pairs and time.monotonic() - t0 + pair_s > st.max_seconds:
                reason = "max_seconds"
                break
        elapsed = time.monotonic() - t0
    finally:
        if lock is not None:
            record = lock.release()
    assert ci is not None
    base_t, cand_t = times[programs[0]], times[programs[1]]
    ratios = speedup_ratios(base_t, cand_t)
    names = commands or {p: p for p in programs}
    return PairedResult(
        speedup=ci.median,
        ci_low=ci.low,
        ci_high=ci.high,
        confidence=ci.confidence,
        rel_half_width=ci.rel_half_width,
        target=st.target,
        precision_reached=reason == "precision",
        stop_reason=reason,
        pairs=len(base_t),
        warmup=st.warmup,
        ratios=[float(r) for r in ratios],
        baseline=_side(names.get(programs[0], programs[0]), base_t),
        candidate=_side(names.get(programs[1], programs[1]), cand_t),
        others={p: _side(names.get(p, p), times[p]) for p in programs[2:]},
        others_speedup={
            p: OtherRatio(
                speedup=c.median,
                ci_low=c.low,
                ci_high=c.high,
                rel_half_width=c.rel_half_width,
                ratios=[float(r) for r in speedup_ratios(base_t, times[p])],
            )
            for p, c in cis.items()
            if p in programs[2:]
        },
        time_source=st.time_source,
        elapsed_s=elapsed,
        lock=record,
        seed=st.seed,
    )
