"""The six stopping conditions, checked by the host between experiments.

``max_iterations`` (experiments in this run), ``max_hours`` (active hours of this
run: time between a kill and the resume does not count), ``max_cost`` (agent
dollars in this run), ``target_score`` (the best score reached the target: at or
below it when lower is better, at or above it when higher is better; any number,
1.5 included), ``plateau`` (that many experiments in a row without a keep) and
``max_restarts`` (agent failures — an error or a timeout — beyond that many).
``check`` returns the first condition met, with a sentence saying why.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel


class Limits(BaseModel):
    max_iterations: int | None = None
    max_hours: float | None = None
    max_cost: float | None = None
    target_score: float | None = None
    plateau: int | None = None
    max_restarts: int | None = None


@dataclass
class Progress:
    """Where the run stands (derived from the results log and the run's clock)."""

    iterations: int = 0
    active_s: float = 0.0
    cost_usd: float = 0.0
    best_score: float | None = None
    since_keep: int = 0
    restarts: int = 0


@dataclass
class Stop:
    reason: str
    message: str


def target_reached(best: float | None, target: float | None, direction: str) -> bool:
    if best is None or target is None:
        return False
    return best <= target if direction == "lower" else best >= target


def check(limits: Limits, progress: Progress, direction: str) -> Stop | None:
    p, lim = progress, limits
    if target_reached(p.best_score, lim.target_score, direction):
        cmp = "<=" if direction == "lower" else ">="
        return Stop("target_score", f"best score {p.best_score:g} {cmp} target {lim.target_score:g}")
    if lim.max_restarts is not None and p.restarts > lim.max_restarts:
        return Stop(
            "max_restarts", f"{p.restarts} agent failures (more than max_restarts = {lim.max_restarts})"
        )
    if lim.max_iterations is not None and p.iterations >= lim.max_iterations:
        return Stop("max_iterations", f"{p.iterations} experiments (max_iterations = {lim.max_iterations})")
    if lim.max_cost is not None and p.cost_usd >= lim.max_cost:
        return Stop("max_cost", f"agent cost ${p.cost_usd:.4f} reached max_cost = ${lim.max_cost:g}")
    if lim.max_hours is not None and p.active_s >= lim.max_hours * 3600:
        return Stop("max_hours", f"{p.active_s / 3600:.3f} h active (max_hours = {lim.max_hours:g})")
    if lim.plateau is not None and p.since_keep >= lim.plateau:
        return Stop(
            "plateau", f"{p.since_keep} experiments in a row without a keep (plateau = {lim.plateau})"
        )
    return None


def remaining_seconds(limits: Limits, progress: Progress) -> float | None:
    if limits.max_hours is None:
        return None
    return max(0.0, limits.max_hours * 3600 - progress.active_s)
