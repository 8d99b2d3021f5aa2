"""Anytime curves: a trial's sealed score over its budget, from ``checkpoints/scores.jsonl``.

The curve is a step function: before the first checkpoint the score is the
pristine program's (the ``n = 0`` row when rescoring scored it, else 0); each
checkpoint's sealed score holds until the next; after the agent stops its last
score holds to the end of the budget (what stopping early left on the table is
visible as a flat tail). From it: the area under the curve (the mean anytime score
over the budget, in reward units, so 1.0 means "at reward 1 from the first
second"), the same against dollars when checkpoints carry a cost, and the time (and
dollars) to first reach 50% and 90% of the trial's final score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from looplab.report.model import TrialData


@dataclass
class Point:
    n: int
    elapsed_s: float
    reward: float
    cost_usd: float | None = None
    reason: str | None = None


@dataclass
class Curve:
    trial: str
    start: float
    points: list[Point] = field(default_factory=list)
    horizon_s: float = 0.0  # the x range: the budget, or the last checkpoint when it is unknown
    final: float | None = None
    best: float | None = None
    auc_time: float | None = None
    auc_cost: float | None = None
    t50_s: float | None = None
    t90_s: float | None = None
    cost50_usd: float | None = None
    cost90_usd: float | None = None
    last_gain_s: float | None = None  # when the score last rose by more than min_gain

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def value_at(self, t: float) -> float:
        v = self.start
        for p in self.points:
            if p.elapsed_s > t:
                break
            v = p.reward
        return v

    def steps(self) -> list[tuple[float, float]]:
        """(x, y) corners of the step function over [0, horizon], for drawing."""
        out = [(0.0, self.start)]
        y = self.start
        for p in self.points:
            x = min(p.elapsed_s, self.horizon_s)
            out += [(x, y), (x, p.reward)]
            y = p.reward
        out.append((self.horizon_s, y))
        return out

    def cost_steps(self) -> list[tuple[float, float]]:
        """(dollars, score) corners of the step function, for checkpoints with a known cost."""
        pts = [p for p in self.points if p.cost_usd is not None]
        if not pts:
            return []
        out = [(0.0, self.start)]
        y = self.start
        for p in pts:
            out += [(float(p.cost_usd or 0.0), y), (float(p.cost_usd or 0.0), p.reward)]
            y = p.reward
        return out


def _area(xs_ys: list[tuple[float, float]], x_end: float) -> float | None:
    """Mean height of a step function given as (x, y) corners over [0, x_end]."""
    if x_end <= 0:
        return None
    area = 0.0
    for (x0, y0), (x1, _y1) in zip(xs_ys, xs_ys[1:], strict=False):
        lo, hi = min(x0, x_end), min(x1, x_end)
        if hi > lo:
            area += y0 * (hi - lo)
    last_x, last_y = xs_ys[-1]
    if x_end > last_x:
        area += last_y * (x_end - last_x)
    return area / x_end


def build_curve(trial: TrialData, min_gain: float = 0.01) -> Curve | None:
    """The trial's anytime curve; None when it has no sealed scores (not rescored yet)."""
    if not trial.scores:
        return None
    rows = [r for r in trial.scores if r.reward is not None]
    start = next((float(r.reward) for r in rows if r.n == 0), 0.0)  # type: ignore[arg-type]
    points = [
        Point(
            n=r.n,
            elapsed_s=max(0.0, r.elapsed_s),
            reward=float(r.reward),
            cost_usd=r.cost_usd,
            reason=r.reason,
        )  # type: ignore[arg-type]
        for r in rows
        if r.n != 0
    ]
    budget = trial.budget_s
    last = points[-1].elapsed_s if points else 0.0
    horizon = budget if budget else last
    c = Curve(trial=trial.name, start=start, points=points, horizon_s=max(horizon, 1e-9))
    if not points:
        c.final = c.best = start
        return c
    c.final = points[-1].reward
    c.best = max(start, *(p.reward for p in points))
    c.auc_time = _area(c.steps(), c.horizon_s)
    cs = c.cost_steps()
    if cs and cs[-1][0] > 0:
        c.auc_cost = _area(cs, cs[-1][0])
    if c.final > 0:
        for share, attr, cattr in ((0.5, "t50_s", "cost50_usd"), (0.9, "t90_s", "cost90_usd")):
            hit = next((p for p in points if p.reward >= share * c.final), None)
            if hit is not None:
                setattr(c, attr, hit.elapsed_s)
                setattr(c, cattr, hit.cost_usd)
    best = start
    for p in points:
        if p.reward > best + min_gain:
            c.last_gain_s = p.elapsed_s
        best = max(best, p.reward)
    return c
