"""Classify each trial by how it used its budget, from its sealed anytime curve.

Rules, first match wins (the thresholds are ``FailureSettings`` fields, documented
in docs/reports.md):

1. ``broke_correctness`` — the final sealed result fails a correctness gate.
2. ``premature_stop`` — the agent said it was finished with at least
   ``premature_budget_left`` of its time budget left, below the task's reference.
3. ``no_progress`` — the best sealed score never beat the starting score by more
   than ``min_gain``.
4. ``budget_exhaustion`` — it ran to the end of its budget (a budget stop reason, or
   at least ``exhausted_used_share`` of the time used), its last gain of more than
   ``min_gain`` came before the last ``stall_share`` of the budget, and it was still
   spending in that stretch (at least ``stall_min_checkpoints`` checkpoints, or
   dollars spent).
5. ``steady_climber`` — everything else: it made progress and kept it.

Trials that errored in the harness are ``error``, unfinished ones ``running``, and
finished ones that need a curve for rule 4 but were never rescored ``unscored``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from looplab.report.curves import Curve
from looplab.report.model import STOPPED_BY_BUDGET, TrialData

MODES = ("steady_climber", "premature_stop", "budget_exhaustion", "no_progress", "broke_correctness")
OTHER = ("unscored", "running", "error")


@dataclass
class FailureSettings:
    premature_budget_left: float = 0.5  # share of the time budget still left when the agent stopped
    min_gain: float = 0.01  # smallest rise in sealed reward that counts as an improvement
    stall_share: float = 0.3  # the final share of the budget that must show no improvement
    stall_min_checkpoints: int = 2  # checkpoints in that stretch that count as "still spending"
    exhausted_used_share: float = 0.9  # share of the budget used that counts as running to the end
    reference_reward: float = 1.0  # "at the reference" when the task has no metric and reference

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Classification:
    mode: str
    why: str


def reached_reference(trial: TrialData, final_reward: float | None, s: FailureSettings) -> bool:
    """Whether the final result is at or beyond the task's reference (metric if known, else reward)."""
    info = trial.task
    m = trial.final_metric
    if m is not None and info.reference is not None and info.direction in ("lower", "higher"):
        return m <= info.reference if info.direction == "lower" else m >= info.reference
    return final_reward is not None and final_reward >= s.reference_reward


def classify(trial: TrialData, curve: Curve | None, s: FailureSettings | None = None) -> Classification:
    s = s or FailureSettings()
    if trial.status == "running":
        return Classification("running", "no result.json yet")
    if trial.status != "completed":
        exc = trial.result.get("exception_info") or {}
        return Classification("error", f"harness error: {exc.get('type', 'unknown')}")
    if trial.gate_passed is False:
        why = trial.verifier.get("reason") or "the final result is incorrect"
        if curve:
            ok = [
                p
                for p in curve.points
                if p.reward > 0 and not (p.reason or "").startswith(("incorrect", "gate:"))
            ]
            if ok:
                why += f" (last correct at {ok[-1].elapsed_s:.1f} s, checkpoint {ok[-1].n})"
        return Classification("broke_correctness", why)
    final = curve.final if curve and curve.points else trial.reward
    budget, used = trial.budget_s, trial.used_s
    used_share = used / budget if budget and used is not None else None
    if (
        trial.stop_reason == "finished"
        and used_share is not None
        and 1 - used_share >= s.premature_budget_left
        and not reached_reference(trial, final, s)
    ):
        return Classification(
            "premature_stop",
            f"finished after {used_share:.0%} of the budget at reward {final or 0:.3f}, below the reference",
        )
    start = curve.start if curve else 0.0
    best = curve.best if curve else trial.reward
    if best is None or best <= start + s.min_gain:
        return Classification(
            "no_progress", f"best sealed reward {best or 0:.3f} never beat the start {start:.3f}"
        )
    if curve is None:
        return Classification("unscored", "no checkpoints/scores.jsonl: run `looplab rescore` for the curve")
    to_end = trial.stop_reason in STOPPED_BY_BUDGET or (
        used_share is not None and used_share >= s.exhausted_used_share
    )
    window_start = curve.horizon_s * (1 - s.stall_share)
    stalled = curve.last_gain_s is None or curve.last_gain_s <= window_start
    in_window = [p for p in curve.points if p.elapsed_s > window_start]
    costs = [p.cost_usd for p in curve.points if p.cost_usd is not None]
    spent_in_window = bool(costs) and any(
        (p.cost_usd or 0) > max([q.cost_usd or 0 for q in curve.points if q.elapsed_s <= window_start] or [0])
        for p in in_window
    )
    spending = len(in_window) >= s.stall_min_checkpoints or spent_in_window
    if to_end and stalled and spending:
        last = f"{curve.last_gain_s:.1f} s" if curve.last_gain_s is not None else "never"
        return Classification(
            "budget_exhaustion",
            f"last gain at {last} of {curve.horizon_s:.0f} s; "
            f"{len(in_window)} checkpoints in the last {s.stall_share:.0%} without gain",
        )
    return Classification(
        "steady_climber",
        f"reward {start:.3f} → {final or 0:.3f}, last gain at {curve.last_gain_s or 0:.1f} s",
    )
