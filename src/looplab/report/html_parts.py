"""Pieces shared by the report page and the trial pages: escaping, numbers, colours, SVG charts, the page.

The page is self-contained: inline CSS (``static/report.css``), inline SVG, no network.
"""

from __future__ import annotations

import html
from importlib import resources
from typing import Any

from looplab.numfmt import cell, percent

PALETTE = [
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
]
CSS = (resources.files("looplab.report") / "static" / "report.css").read_text()
LIVE_JS = (resources.files("looplab.report") / "static" / "live.js").read_text()  # polls the live viewer


def esc(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


fmt = cell  # the report's number cells
pct = percent


def agent_colors(labels: list[str]) -> dict[str, str]:
    return {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(sorted(labels))}


def heat(v: float | None) -> str:
    """Background colour of a heatmap cell: white (0) to green (1); grey when unknown."""
    if v is None:
        return "background:#f0f0f0"
    x = max(0.0, min(1.0, v))
    r, g, b = int(255 - 200 * x), int(255 - 90 * x), int(255 - 200 * x)
    return f"background:rgb({r},{g},{b});color:{'#fff' if x > 0.6 else '#1b1f23'}"


# One hue per failure mode: a share of trials is not a reward, so no mode borrows the reward scale's
# green but steady climbing; the classes that say nothing about the agent (unscored, running,
# error) are greys and a blue.
MODE_HUES = {
    "steady_climber": (44, 160, 44),
    "premature_stop": (255, 127, 14),
    "budget_exhaustion": (148, 103, 189),
    "no_progress": (140, 86, 75),
    "broke_correctness": (214, 39, 40),
    "unscored": (127, 127, 127),
    "running": (31, 119, 180),
    "error": (60, 60, 60),
}


def mode_heat(mode: str, share: float) -> str:
    """Background of a failure-mode cell: the mode's own hue, stronger for a larger share of trials."""
    r0, g0, b0 = MODE_HUES.get(mode, (127, 127, 127))
    x = 0.25 + 0.75 * max(0.0, min(1.0, share))
    r, g, b = (int(255 - (255 - c) * x) for c in (r0, g0, b0))
    return f"background:rgb({r},{g},{b});color:{'#fff' if x > 0.6 else '#1b1f23'}"


def nice_ticks(top: float, n: int = 4) -> list[float]:
    """Round tick values from 0 covering ``top`` (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    import math

    top = top if top > 0 else 1.0
    raw = top / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    count = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(count + 1)]


def svg_chart(
    series: list[tuple[str, str, list[tuple[float, float]]]],
    x_max: float,
    y_max: float,
    x_label: str,
    y_label: str = "sealed reward",
    width: int = 520,
    height: int = 240,
) -> str:
    """A line chart as inline SVG: ``series`` are (name, colour, [(x, y), ...]).

    The x axis ends at the first round tick at or past ``x_max``; the last tick label is
    right-aligned so that it is never clipped."""
    ml, mr, mt, mb = 44, 12, 10, 34
    pw, ph = width - ml - mr, height - mt - mb
    x_ticks = nice_ticks(x_max)
    x_max = x_ticks[-1]
    y_max = y_max if y_max > 0 else 1.0

    def sx(x: float) -> float:
        return ml + pw * max(0.0, min(x, x_max)) / x_max

    def sy(y: float) -> float:
        return mt + ph * (1 - max(0.0, min(y, y_max)) / y_max)

    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">']
    for i in range(5):
        y = y_max * i / 4
        parts.append(f'<line class="grid" x1="{ml}" x2="{ml + pw}" y1="{sy(y):.1f}" y2="{sy(y):.1f}"/>')
        parts.append(f'<text x="{ml - 4}" y="{sy(y) + 3:.1f}" text-anchor="end">{y:.2g}</text>')
    for i, x in enumerate(x_ticks):
        anchor = "end" if i == len(x_ticks) - 1 else "middle"
        parts.append(f'<text x="{sx(x):.1f}" y="{mt + ph + 13}" text-anchor="{anchor}">{x:g}</text>')
    parts.append(f'<line class="axis" x1="{ml}" x2="{ml}" y1="{mt}" y2="{mt + ph}"/>')
    parts.append(f'<line class="axis" x1="{ml}" x2="{ml + pw}" y1="{mt + ph}" y2="{mt + ph}"/>')
    parts.append(f'<text x="{ml + pw / 2:.0f}" y="{height - 4}" text-anchor="middle">{esc(x_label)}</text>')
    parts.append(
        f'<text x="10" y="{mt + ph / 2:.0f}" transform="rotate(-90 10 {mt + ph / 2:.0f})" '
        f'text-anchor="middle">{esc(y_label)}</text>'
    )
    for name, color, pts in series:
        if not pts:
            continue
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        parts.append(
            f'<polyline class="curve" stroke="{color}" points="{coords}">'
            f"<title>{esc(name)}</title></polyline>"
        )
    parts.append("</svg>")
    return "".join(parts)


def legend(colors: dict[str, str], labels: list[str]) -> str:
    return (
        '<div class="legend">'
        + "".join(f'<span><i style="background:{colors[a]}"></i>{esc(a)}</span>' for a in labels)
        + "</div>"
    )


# ---- sections --------------------------------------------------------------------------------------
def score_steps(c: dict[str, Any]) -> list[tuple[float, float]]:
    out = [(0.0, c["start"])]
    y = c["start"]
    for p in c["points"]:
        x = min(p["elapsed_s"], c["horizon_s"])
        out += [(x, y), (x, p["reward"])]
        y = p["reward"]
    out.append((c["horizon_s"], y))
    return out


def cost_steps(c: dict[str, Any]) -> list[tuple[float, float]]:
    pts = [p for p in c["points"] if p.get("cost_usd") is not None]
    if not pts or not any(p["cost_usd"] > 0 for p in pts):
        return []
    out = [(0.0, c["start"])]
    y = c["start"]
    for p in pts:
        out += [(p["cost_usd"], y), (p["cost_usd"], p["reward"])]
        y = p["reward"]
    return out


def page_html(title: str, body: str, script: str = "", attrs: str = "") -> str:
    js = f"<script>{script}</script>" if script else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body{attrs}>{body}{js}</body></html>"
    )
