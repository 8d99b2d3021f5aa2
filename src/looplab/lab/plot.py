"""Plots of a lab's progress: score and running best against experiment number, wall-clock time and cost.

One figure, panels side by side (score against experiment, wall-clock time in
seconds, minutes or hours as the span needs, and agent cost when any was spent);
every lab given is drawn in its own colour (several labs overlaid on a normalised
score: improvement over each one's baseline), candidates as dots (kept ones filled),
crashes as red x, the running best as a step line. Counts follow the run summary:
the baseline is not an experiment. Written as a PNG
and as a self-contained HTML page (the figure inline as SVG plus a summary
table; no scripts, no network).
"""

from __future__ import annotations

import datetime as dt
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from looplab.clock import now_iso
from looplab.fsutil import atomic_write_bytes, atomic_write_text  # noqa: E402
from looplab.lab.log import Record  # noqa: E402


@dataclass
class Series:
    name: str
    direction: str
    experiment: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    score: list[float | None] = field(default_factory=list)
    kept: list[bool] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    best: list[float | None] = field(default_factory=list)  # running best after each experiment

    @property
    def experiments(self) -> int:
        """Experiments as the run summary counts them: the baseline is not one."""
        return sum(1 for st in self.status if st != "baseline")

    @property
    def keeps(self) -> int:
        return sum(1 for st, k in zip(self.status, self.kept, strict=True) if k and st != "baseline")

    @property
    def crashes(self) -> int:
        return self.status.count("crash")

    @property
    def baseline(self) -> float | None:
        return next((sc for st, sc in zip(self.status, self.score, strict=True) if st == "baseline"), None)


def series(name: str, direction: str, records: list[Record]) -> Series:
    s = Series(name=name, direction=direction)
    if not records:
        return s
    t0 = dt.datetime.fromisoformat(records[0].started_at)
    cost = 0.0
    best: float | None = None
    for r in records:
        cost += r.cost_usd
        if r.kept and r.score is not None:
            best = r.score
        s.experiment.append(r.experiment)
        s.seconds.append((dt.datetime.fromisoformat(r.finished_at) - t0).total_seconds())
        s.cost.append(cost)
        s.score.append(r.score)
        s.kept.append(r.kept)
        s.status.append(r.status)
        s.best.append(best)
    return s


def time_unit(all_series: list[Series]) -> tuple[str, float]:
    """The unit that makes the longest lab's span readable: seconds, minutes or hours."""
    span = max((max(s.seconds) for s in all_series if s.seconds), default=0.0)
    if span < 120:
        return "s", 1.0
    if span < 7200:
        return "min", 60.0
    return "h", 3600.0


def _normaliser(s: Series, normalise: bool):  # noqa: ANN202 - a small closure
    """Score -> plotted value: the raw score, or the improvement over the lab's baseline (a fraction)."""
    base = s.baseline
    if not normalise or base is None or base == 0:
        return lambda v: v
    sign = -1.0 if s.direction == "lower" else 1.0
    return lambda v: None if v is None else sign * (v - base) / abs(base)


def figure(all_series: list[Series]) -> plt.Figure:
    """Score against experiment, time (and cost, when any lab spent money); crashes marked with x.

    Several labs are overlaid on one normalised axis (improvement over each one's baseline,
    higher is better) when every one has a non-zero baseline; else on their own scores."""
    unit, per = time_unit(all_series)
    with_cost = any(c > 0 for s in all_series for c in s.cost)
    xs = [("experiment", "experiment", 1.0), ("seconds", f"wall-clock time ({unit})", per)]
    if with_cost:
        xs.append(("cost", "agent cost (USD)", 1.0))
    normalise = len(all_series) > 1 and all(s.baseline not in (None, 0) for s in all_series)
    fig, axes = plt.subplots(1, len(xs), figsize=(5 * len(xs), 4.6), constrained_layout=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (attr, label, scale) in zip(axes, xs, strict=True):
        for i, s in enumerate(all_series):
            c = colours[i % len(colours)]
            f = _normaliser(s, normalise)
            x = [v / scale for v in getattr(s, attr)]
            ys = [f(v) for v in s.score]
            pts = [(xv, sv, k) for xv, sv, k in zip(x, ys, s.kept, strict=True) if sv is not None]
            if pts:
                ax.scatter(
                    [p[0] for p in pts if not p[2]],
                    [p[1] for p in pts if not p[2]],
                    s=14,
                    facecolors="none",
                    edgecolors=c,
                    alpha=0.6,
                )
                ax.scatter([p[0] for p in pts if p[2]], [p[1] for p in pts if p[2]], s=22, color=c)
            bx = [xv for xv, b in zip(x, s.best, strict=True) if b is not None]
            by = [f(b) for b in s.best if b is not None]
            if bx:
                arrow = "↑" if normalise else ("↓" if s.direction == "lower" else "↑")
                ax.step(bx, by, where="post", color=c, label=f"{s.name} (best, {arrow} better)")
            crashes = [(xv, f(b)) for xv, st, b in zip(x, s.status, s.best, strict=True) if st == "crash"]
            if crashes:  # no score: drawn at the running best of that moment
                ax.scatter(
                    [c[0] for c in crashes],
                    [0.0 if c[1] is None else c[1] for c in crashes],
                    marker="x",
                    color="red",
                    s=36,
                    zorder=3,
                    label=f"{s.name}: crash ({len(crashes)})",
                )
        if attr == "experiment":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(label)
        ax.set_ylabel("improvement over baseline (fraction)" if normalise else "score")
        ax.grid(True, alpha=0.3)
    axes[0].legend(loc="best", fontsize=8)
    fig.suptitle("Lab progress: candidates (filled = kept), crashes (x) and running best")
    return fig


def write_png(all_series: list[Series], path: Path) -> Path:
    fig = figure(all_series)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def write_html(all_series: list[Series], path: Path, title: str = "looplab lab results") -> Path:
    fig = figure(all_series)
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    unit, per = time_unit(all_series)
    rows = []
    for s in all_series:
        scored = [v for v in s.score if v is not None]
        best = next((b for b in reversed(s.best) if b is not None), None)
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(v))}</td>"
                for v in (
                    s.name,
                    s.direction,
                    s.experiments,
                    s.keeps,
                    s.crashes,
                    len(scored),
                    "—" if best is None else f"{best:.6g}",
                    f"{s.seconds[-1] / per:.3g} {unit}" if s.seconds else "—",
                    f"{s.cost[-1]:.4f}" if s.cost else "—",
                )
            )
            + "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("lab", "better", "experiments", "kept", "crashes", "scored", "best", "time", "cost $")
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}svg{{max-width:100%;height:auto}}</style>
</head><body><h1>{html.escape(title)}</h1>
<table><tr>{head}</tr>{"".join(rows)}</table>
<div>{svg}</div>
<p>Generated by looplab at {now_iso()}.</p>
</body></html>
"""
    atomic_write_text(path, page)
    return path
