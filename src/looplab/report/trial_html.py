"""A trial's trajectory view: its summary, sealed-score curve, checkpoints and every trajectory event.

The static report puts each view in the report page, behind an anchor; the live
viewer serves it as its own page (``render_trial_page``) with a script that appends
new events as the trial runs.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from looplab.report.html_parts import PALETTE, esc, fmt, page_html, score_steps, svg_chart
from looplab.report.model import TrialData, read_jsonl

MAX_EVENTS = 2000
MAX_FIELD = 2000
TRIAL_JS = (resources.files("looplab.report") / "static" / "trial.js").read_text()  # a live trial page


def _short(v: Any) -> str:
    s = v if isinstance(v, str) else json.dumps(v, default=str)
    return s if len(s) <= MAX_FIELD else s[:MAX_FIELD] + f"… ({len(s) - MAX_FIELD} more characters)"


def render_event(ev: dict[str, Any]) -> str:
    kind = ev.get("type", "?")
    head = f'<span class="t">#{esc(ev.get("step"))} {fmt(ev.get("elapsed_s"), 2)} s</span><b>{esc(kind)}</b>'
    short, long = [], []
    for k, v in ev.items():
        if k in ("step", "time", "elapsed_s", "type") or v in (None, "", [], {}):
            continue
        text = _short(v)
        (long if ("\n" in text or len(text) > 100) else short).append((k, text))
    inline = " ".join(f'<span class="muted">{esc(k)}=</span>{esc(v)}' for k, v in short)
    blocks = "".join(f'<div class="muted">{esc(k)}</div><pre>{esc(v)}</pre>' for k, v in long)
    return f'<div class="event" data-step="{esc(ev.get("step"))}">{head} {inline}{blocks}</div>'


def trial_sections(t: TrialData, rep: dict[str, Any]) -> dict[str, str]:
    """The parts of a trial's view that change while it runs (its summary, curve and checkpoints)."""
    row = next((r for r in rep["trials"] if r["trial"] == t.name), None)
    curve = rep["curves"].get(t.name)
    facts = [
        ("task", t.task_name),
        ("agent", t.label),
        ("attempt", t.attempt),
        ("status", t.status),
        ("reward", fmt(t.reward)),
        ("gates passed", fmt(t.gate_passed)),
        ("stop reason", t.stop_reason or "—"),
        ("used / budget", f"{fmt(t.used_s, 1)} / {fmt(t.budget_s, 0)} s"),
        ("tokens", f"{t.tokens:,}"),
        ("cost", f"${t.cost_usd:.2f}"),
        ("cores", (t.result.get("resources") or {}).get("cores")),
    ]
    if row:
        facts += [
            ("failure mode", f"{row['failure_mode'].replace('_', ' ')} — {row['why']}"),
            ("AUC", fmt(row["auc_time"])),
            ("t50 / t90", f"{fmt(row['t50_s'], 1)} / {fmt(row['t90_s'], 1)} s"),
        ]
    summary = (
        "<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts) + "</table>"
    )
    chart = ""
    if curve:
        chart = svg_chart(
            [(t.name, PALETTE[0], score_steps(curve))],
            curve["horizon_s"],
            max([1.0] + [p["reward"] for p in curve["points"]]),
            "seconds since the agent started",
        )
    scores = {r.n: r for r in t.scores or []}
    cp_rows = []
    for c in t.checkpoints:
        s = scores.get(c.get("n"))
        cp_rows.append(
            f'<tr><td class="num">{esc(c.get("n"))}</td>'
            f'<td class="num">{fmt(c.get("elapsed_s"), 2)}</td>'
            f"<td>{esc(', '.join(sorted(c.get('files', {}))))}</td>"
            f'<td class="num">{fmt(c.get("dev_exit_code"))}</td>'
            f'<td class="num">{fmt(s.reward if s else None)}</td>'
            f"<td>{esc((s.reason if s else '') or '')}</td>"
            f"<td>{'final' if c.get('final') else ''}</td></tr>"
        )
    cps = (
        '<table class="checkpoints"><tr><th>n</th><th>elapsed s</th><th>files</th>'
        "<th>dev check exit</th><th>sealed score</th><th>reason</th><th></th></tr>"
        + "".join(cp_rows)
        + "</table>"
        if cp_rows
        else '<p class="muted">No checkpoints yet.</p>'
    )
    return {f"summary-{t.name}": summary, f"curve-{t.name}": chart, f"checkpoints-{t.name}": cps}


def render_trial_view(
    t: TrialData, rep: dict[str, Any], page: bool = False, events: list[dict[str, Any]] | None = None
) -> str:
    parts = trial_sections(t, rep)
    evs = events if events is not None else read_jsonl(t.paths.trajectory)
    shown = evs[-MAX_EVENTS:]
    note = (
        f'<p class="muted">{len(evs) - len(shown)} earlier events not shown.</p>'
        if len(evs) > len(shown)
        else ""
    )
    back = '<a href="/">← report</a>' if page else '<a href="#trials">← trials</a>'
    return (
        f'<section class="trajectory{" page" if page else ""}" id="trial-{esc(t.name)}">'
        f"<h2>{back} · trial {esc(t.name)}</h2>"
        + "".join(f'<div id="{esc(k)}">{v}</div>' for k, v in parts.items())
        + f'<h3>Trajectory</h3>{note}<div id="events">{"".join(render_event(e) for e in shown)}</div>'
        "</section>"
    )


def render_trial_page(t: TrialData, rep: dict[str, Any], version: str = "") -> str:
    """A trial's live trajectory page for the viewer."""
    events = read_jsonl(t.paths.trajectory)
    shown = events[-MAX_EVENTS:]
    after = max([int(e.get("step") or 0) for e in shown] or [0])
    header = (
        f'<header><span id="live">live</span><h1>trial {esc(t.name)}</h1>'
        f'<div class="sub">{esc(t.task_name)} · {esc(t.label)}</div></header>'
    )
    body = header + "<main>" + render_trial_view(t, rep, page=True, events=events) + "</main>"
    attrs = f' data-trial="{esc(t.name)}" data-after="{after}" data-version="{esc(version)}"'
    return page_html(f"trial {t.name}", body, TRIAL_JS, attrs)
