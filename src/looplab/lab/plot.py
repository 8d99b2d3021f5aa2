"""Plots of a lab's progress: score and running best against experiment number, wall-clock time and cost.

One figure, three panels side by side; every lab given is drawn in its own colour
(several labs overlaid), candidates as dots (kept ones filled), the running best
(the lab's accepted best after each experiment) as a step line. Written as a PNG
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

from looplab.clock import now_iso
from looplab.fsutil import atomic_write_bytes, atomic_write_text  # noqa: E402
from looplab.lab.log import Record  # noqa: E402


@dataclass
class Series:
    name: str
    direction: str
    experiment: list[int] = field(default_factory=list)
    hours: list[float] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    score: list[float | None] = field(default_factory=list)
    kept: list[bool] = field(default_factory=list)
    best: list[float | None] = field(default_factory=list)  # running best after each experiment


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
        s.hours.append((dt.datetime.fromisoformat(r.finished_at) - t0).total_seconds() / 3600)
        s.cost.append(cost)
        s.score.append(r.score)
        s.kept.append(r.kept)
        s.best.append(best)
    return s


def figure(all_series: list[Series]) -> plt.Figure:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    xs = [("experiment", "experiment"), ("hours", "wall-clock time (h)"), ("cost", "agent cost (USD)")]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (attr, label) in zip(axes, xs, strict=True):
        for i, s in enumerate(all_series):
            c = colours[i % len(colours)]
            x = getattr(s, attr)
            pts = [(xv, sv, k) for xv, sv, k in zip(x, s.score, s.kept, strict=True) if sv is not None]
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
            by = [b for b in s.best if b is not None]
            if bx:
                arrow = "↓" if s.direction == "lower" else "↑"
                ax.step(bx, by, where="post", color=c, label=f"{s.name} (best, {arrow} better)")
        ax.set_xlabel(label)
        ax.set_ylabel("score")
        ax.grid(True, alpha=0.3)
    axes[0].legend(loc="best", fontsize=8)
    fig.suptitle("Lab progress: candidates (filled = kept) and running best")
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
                    len(s.experiment),
                    sum(s.kept),
                    len(scored),
                    "—" if best is None else f"{best:.6g}",
                    f"{s.hours[-1]:.3f}" if s.hours else "—",
                    f"{s.cost[-1]:.4f}" if s.cost else "—",
                )
            )
            + "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>" for h in ("lab", "better", "experiments", "kept", "scored", "best", "hours", "cost $")
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
