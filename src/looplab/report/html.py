"""Render a report as one self-contained HTML page: inline CSS, inline SVG charts, no network.

Sections: running trials, leaderboard, per-task heatmap, anytime curves per task
(every trial one step line, coloured by agent, against seconds and, when costs are
known, against dollars), failure-mode counts, errors by cause, and the list of
trials linking to each trial's trajectory view (its curve, checkpoints and every
trajectory event). The static file puts trajectory views in the same page (shown
when their anchor is targeted); the live viewer serves them as their own pages and
adds a small script that swaps in updated sections without reloading.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

from looplab.report.failure_modes import MODES, OTHER
from looplab.report.model import TrialData, read_jsonl

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]  # fmt: skip
MAX_EVENTS = 2000
MAX_FIELD = 2000
SECTION_IDS = ("running", "leaderboard", "heatmap", "curves", "modes", "errors", "trials")

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1b1f23;background:#fafbfc}
header{background:#24292e;color:#fff;padding:12px 24px}header h1{font-size:20px;margin:0}
header .sub{color:#c8ccd0;font-size:12px}nav{padding:6px 24px;background:#eef1f4;border-bottom:1px solid #d7dce1}
nav a{margin-right:14px;color:#0366d6;text-decoration:none}main{padding:8px 24px 40px}
h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #e1e4e8;padding-bottom:4px}
table{border-collapse:collapse;margin:6px 0;background:#fff}th,td{border:1px solid #d7dce1;padding:3px 8px;text-align:left}
th{background:#f3f5f7;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#6a737d}.ok{color:#22863a}.bad{color:#cb2431}.pill{display:inline-block;padding:0 6px;border-radius:8px;background:#eef1f4;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:18px}figure{margin:0;background:#fff;border:1px solid #e1e4e8;padding:6px}
figcaption{font-weight:600;margin-bottom:2px}.legend span{margin-right:10px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:3px}
svg text{font-size:10px;fill:#586069}svg .axis{stroke:#959da5}svg .grid{stroke:#eaecef}svg .curve{fill:none;stroke-width:1.6;opacity:.85}
.trajectory{display:none;margin-top:10px}.trajectory:target,.trajectory.page{display:block}
main:has(.trajectory:target)>section:not(.trajectory){display:none}
.event pre{white-space:pre-wrap;margin:2px 0;max-height:240px;overflow:auto;background:#f6f8fa;padding:4px;font-size:12px}
.event{border-bottom:1px solid #eaecef;padding:3px 0}.event .t{color:#6a737d;font-variant-numeric:tabular-nums;margin-right:8px}
#live{float:right;font-size:12px;color:#c8ccd0}
"""

LIVE_JS = """
(function(){
  var version = document.body.getAttribute('data-version') || '';
  var state = document.getElementById('live');
  function tick(){
    fetch('/api/state?v=' + encodeURIComponent(version), {cache: 'no-store'})
      .then(function(r){ return r.json(); })
      .then(function(d){
        if (d.changed) {
          version = d.version;
          Object.keys(d.sections).forEach(function(id){
            var el = document.getElementById(id);
            if (el) { el.innerHTML = d.sections[id]; }
          });
        }
        if (state) { state.textContent = 'live · updated ' + new Date().toLocaleTimeString(); }
      })
      .catch(function(){ if (state) { state.textContent = 'live · viewer unreachable'; } })
      .then(function(){ setTimeout(tick, 1000); });
  }
  setTimeout(tick, 1000);
})();
"""

TRIAL_JS = """
(function(){
  var name = document.body.getAttribute('data-trial');
  var after = parseInt(document.body.getAttribute('data-after') || '0', 10);
  var version = document.body.getAttribute('data-version') || '';
  var list = document.getElementById('events');
  var state = document.getElementById('live');
  function tick(){
    fetch('/api/trial/' + encodeURIComponent(name) + '?after=' + after + '&v=' + encodeURIComponent(version), {cache: 'no-store'})
      .then(function(r){ return r.json(); })
      .then(function(d){
        if (d.events_html) { list.insertAdjacentHTML('beforeend', d.events_html); }
        after = d.after;
        if (d.changed) {
          version = d.version;
          Object.keys(d.sections).forEach(function(id){
            var el = document.getElementById(id);
            if (el) { el.innerHTML = d.sections[id]; }
          });
        }
        if (state) { state.textContent = 'live · ' + d.status + ' · updated ' + new Date().toLocaleTimeString(); }
      })
      .catch(function(){ if (state) { state.textContent = 'live · viewer unreachable'; } })
      .then(function(){ setTimeout(tick, 1000); });
  }
  setTimeout(tick, 1000);
})();
"""


def esc(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def fmt(x: Any, nd: int = 3) -> str:
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def agent_colors(labels: list[str]) -> dict[str, str]:
    return {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(sorted(labels))}


def heat(v: float | None) -> str:
    """Background colour of a heatmap cell: white (0) to green (1); grey when unknown."""
    if v is None:
        return "background:#f0f0f0"
    x = max(0.0, min(1.0, v))
    r, g, b = int(255 - 200 * x), int(255 - 90 * x), int(255 - 200 * x)
    return f"background:rgb({r},{g},{b});color:{'#fff' if x > 0.6 else '#1b1f23'}"


def svg_chart(
    series: list[tuple[str, str, list[tuple[float, float]]]],
    x_max: float,
    y_max: float,
    x_label: str,
    y_label: str = "sealed reward",
    width: int = 520,
    height: int = 240,
) -> str:
    """A line chart as inline SVG: ``series`` are (name, colour, [(x, y), ...])."""
    ml, mr, mt, mb = 44, 12, 10, 34
    pw, ph = width - ml - mr, height - mt - mb
    x_max = x_max if x_max > 0 else 1.0
    y_max = y_max if y_max > 0 else 1.0

    def sx(x: float) -> float:
        return ml + pw * max(0.0, min(x, x_max)) / x_max

    def sy(y: float) -> float:
        return mt + ph * (1 - max(0.0, min(y, y_max)) / y_max)

    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">']  # fmt: skip
    for i in range(5):
        y = y_max * i / 4
        parts.append(f'<line class="grid" x1="{ml}" x2="{ml + pw}" y1="{sy(y):.1f}" y2="{sy(y):.1f}"/>')
        parts.append(f'<text x="{ml - 4}" y="{sy(y) + 3:.1f}" text-anchor="end">{y:.2g}</text>')
        x = x_max * i / 4
        parts.append(f'<text x="{sx(x):.1f}" y="{mt + ph + 13}" text-anchor="middle">{x:.3g}</text>')
    parts.append(f'<line class="axis" x1="{ml}" x2="{ml}" y1="{mt}" y2="{mt + ph}"/>')
    parts.append(f'<line class="axis" x1="{ml}" x2="{ml + pw}" y1="{mt + ph}" y2="{mt + ph}"/>')
    parts.append(f'<text x="{ml + pw / 2:.0f}" y="{height - 4}" text-anchor="middle">{esc(x_label)}</text>')
    parts.append(f'<text x="10" y="{mt + ph / 2:.0f}" transform="rotate(-90 10 {mt + ph / 2:.0f})" text-anchor="middle">{esc(y_label)}</text>')  # fmt: skip
    for name, color, pts in series:
        if not pts:
            continue
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        parts.append(f'<polyline class="curve" stroke="{color}" points="{coords}"><title>{esc(name)}</title></polyline>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def _legend(colors: dict[str, str], labels: list[str]) -> str:
    return '<div class="legend">' + "".join(f'<span><i style="background:{colors[a]}"></i>{esc(a)}</span>' for a in labels) + "</div>"  # fmt: skip


# ---- sections --------------------------------------------------------------------------------------
def section_leaderboard(rep: dict[str, Any]) -> str:
    rows = []
    for i, r in enumerate(rep["leaderboard"], 1):
        ci = "—" if r["ci95_low"] is None else f"[{r['ci95_low']:.3f}, {r['ci95_high']:.3f}]"
        rows.append(
            f'<tr data-agent="{esc(r["agent"])}"><td class="num">{i}</td><td>{esc(r["agent"])}</td>'
            f'<td class="num mean-reward">{fmt(r["mean_reward"])}</td><td class="num">{ci}</td>'
            f'<td class="num">{r["n_tasks"]}</td><td class="num">{r["n_attempts"]}</td><td class="num">{r["n_completed"]}/{r["n_trials"]}</td>'
            f'<td class="num">{r["n_errors"]}</td><td class="num">{pct(r["pass_rate"])}</td><td class="num">{r["tokens"]:,}</td>'
            f'<td class="num">${r["cost_usd"] or 0:.2f}</td><td class="num">{fmt(r["mean_auc_time"])}</td></tr>'
        )  # fmt: skip
    head = "<tr><th>#</th><th>agent (model)</th><th>mean reward</th><th>95% CI over attempts</th><th>tasks</th><th>attempts</th><th>completed</th><th>errors</th><th>gates passed</th><th>tokens</th><th>cost</th><th>mean AUC</th></tr>"  # fmt: skip
    body = "".join(rows) or '<tr><td colspan="12" class="muted">no finished trials yet</td></tr>'
    return f"<h2>Leaderboard</h2><table id=\"leaderboard-table\">{head}{body}</table><p class=\"muted\">Mean over tasks of each task's mean reward over attempts; the interval is a 95% t-interval over attempts. AUC: mean sealed score over the time budget.</p>"  # fmt: skip


def section_heatmap(rep: dict[str, Any]) -> str:
    agents = [r["agent"] for r in rep["leaderboard"]]
    if not rep["tasks"]:
        return '<h2>Per-task rewards</h2><p class="muted">no trials yet</p>'
    head = "<tr><th>task</th>" + "".join(f"<th>{esc(a)}</th>" for a in agents) + "</tr>"
    rows = []
    for task, cells in rep["tasks"].items():
        tds = []
        for a in agents:
            c = cells.get(a)
            if not c:
                tds.append('<td class="muted">—</td>')
                continue
            sd = f" ± {c['sd']:.3f}" if c.get("sd") is not None else ""
            title = f"n={c['n']} completed={c['n_completed']} min={fmt(c['min'])} max={fmt(c['max'])} gates={pct(c['pass_rate'])} AUC={fmt(c['mean_auc_time'])}"  # fmt: skip
            tds.append(f'<td class="num" style="{heat(c["mean_reward"])}" title="{esc(title)}">{fmt(c["mean_reward"])}{sd} <span class="muted">({c["n_completed"]})</span></td>')  # fmt: skip
        rows.append(f"<tr><td>{esc(task)}</td>{''.join(tds)}</tr>")
    return f"<h2>Per-task rewards</h2><table class=\"heatmap\">{head}{''.join(rows)}</table><p class=\"muted\">Mean reward over attempts ± standard deviation (completed trials).</p>"  # fmt: skip


def section_curves(rep: dict[str, Any]) -> str:
    by_task: dict[str, list[dict[str, Any]]] = {}
    for t in rep["trials"]:
        if t["trial"] in rep["curves"]:
            by_task.setdefault(t["task"], []).append(t)
    if not by_task:
        return '<h2>Anytime curves</h2><p class="muted">No rescored checkpoints yet: run <code>looplab rescore TRIAL_DIR</code> to draw the sealed score over time.</p>'  # fmt: skip
    colors = agent_colors(sorted({t["agent"] for t in rep["trials"]}))
    out = ['<h2>Anytime curves</h2><div class="charts">']
    for task in sorted(by_task):
        trials = by_task[task]
        curves = [rep["curves"][t["trial"]] for t in trials]
        x_max = max(c["horizon_s"] for c in curves)
        y_max = max([1.0] + [p["reward"] for c in curves for p in c["points"]])
        series = [(f"{t['agent']} · {t['trial']}", colors[t["agent"]], _steps(rep["curves"][t["trial"]])) for t in trials]  # fmt: skip
        out.append(
            f'<figure data-task="{esc(task)}"><figcaption>{esc(task)} — sealed score vs time</figcaption>'
        )
        out.append(svg_chart(series, x_max, y_max, "seconds since the agent started"))
        out.append(_legend(colors, sorted({t["agent"] for t in trials})) + "</figure>")
        cost_series = [(n, c, s) for (n, c, _), t in zip(series, trials, strict=True) if (s := _cost_steps(rep["curves"][t["trial"]]))]  # fmt: skip
        if cost_series:
            cx = max(p[0] for _, _, s in cost_series for p in s)
            out.append(f'<figure data-task="{esc(task)}" class="cost"><figcaption>{esc(task)} — sealed score vs dollars</figcaption>')  # fmt: skip
            out.append(svg_chart(cost_series, cx, y_max, "dollars spent"))
            out.append(_legend(colors, sorted({t["agent"] for t in trials})) + "</figure>")
    out.append("</div>")
    return "".join(out)


def _steps(c: dict[str, Any]) -> list[tuple[float, float]]:
    out = [(0.0, c["start"])]
    y = c["start"]
    for p in c["points"]:
        x = min(p["elapsed_s"], c["horizon_s"])
        out += [(x, y), (x, p["reward"])]
        y = p["reward"]
    out.append((c["horizon_s"], y))
    return out


def _cost_steps(c: dict[str, Any]) -> list[tuple[float, float]]:
    pts = [p for p in c["points"] if p.get("cost_usd") is not None]
    if not pts or not any(p["cost_usd"] > 0 for p in pts):
        return []
    out = [(0.0, c["start"])]
    y = c["start"]
    for p in pts:
        out += [(p["cost_usd"], y), (p["cost_usd"], p["reward"])]
        y = p["reward"]
    return out


def section_modes(rep: dict[str, Any]) -> str:
    present = [
        m for m in (*MODES, *OTHER) if m in MODES or any(v.get(m) for v in rep["failure_modes"].values())
    ]
    head = "<tr><th>agent</th>" + "".join(f"<th>{esc(m.replace('_', ' '))}</th>" for m in present) + "</tr>"
    rows = []
    for agent, counts in sorted(rep["failure_modes"].items()):
        total = sum(counts.values()) or 1
        tds = "".join(
            f'<td class="num" data-mode="{m}" style="{heat(counts.get(m, 0) / total) if counts.get(m) else ""}">{counts.get(m, 0)}</td>'
            for m in present
        )  # fmt: skip
        rows.append(f"<tr><td>{esc(agent)}</td>{tds}</tr>")
    return f"<h2>Failure modes</h2><table id=\"modes-table\">{head}{''.join(rows)}</table><p class=\"muted\">Counted over the latest trial of each slot; thresholds: {esc(json.dumps(rep['settings']))}.</p>"  # fmt: skip


def section_errors(rep: dict[str, Any]) -> str:
    rows = [
        f'<tr><td>{esc(agent)}</td><td>{esc(cause)}</td><td class="num">{n}</td></tr>'
        for agent, causes in sorted(rep["errors"].items())
        for cause, n in causes.items()
    ]
    if not rows:
        return '<h2>Errors by cause</h2><p class="muted">No errors.</p>'
    return f"<h2>Errors by cause</h2><table><tr><th>agent</th><th>cause</th><th>trials</th></tr>{''.join(rows)}</table>"


def section_trials(rep: dict[str, Any], href: Callable[[str], str]) -> str:
    head = "<tr><th>trial</th><th>task</th><th>agent</th><th>attempt</th><th>status</th><th>reward</th><th>gates</th><th>stop</th><th>used / budget</th><th>checkpoints</th><th>AUC</th><th>t50 / t90</th><th>mode</th></tr>"  # fmt: skip
    rows = []
    for t in rep["trials"]:
        cls = "ok" if t["status"] == "completed" else ("bad" if t["status"] == "error" else "muted")
        used = f"{fmt(t['used_s'], 1)} / {fmt(t['budget_s'], 0)} s"
        t5090 = f"{fmt(t['t50_s'], 1)} / {fmt(t['t90_s'], 1)}"
        muted = "" if t["counted"] else ' class="muted"'
        rows.append(
            f'<tr data-trial="{esc(t["trial"])}"{muted}><td><a href="{href(t["trial"])}">{esc(t["trial"])}</a></td>'
            f'<td>{esc(t["task"])}</td><td>{esc(t["agent"])}</td><td class="num">{t["attempt"]}</td><td class="{cls}">{esc(t["status"])}</td>'
            f'<td class="num">{fmt(t["reward"])}</td><td>{fmt(t["correct"])}</td><td>{esc(t["stop_reason"] or "—")}</td><td class="num">{used}</td>'
            f'<td class="num">{t["n_scored"]}/{t["n_checkpoints"]}</td><td class="num">{fmt(t["auc_time"])}</td><td class="num">{t5090}</td>'
            f'<td><span class="pill" title="{esc(t["why"])}">{esc(t["failure_mode"].replace("_", " "))}</span></td></tr>'
        )  # fmt: skip
    return f"<h2>Trials</h2><table>{head}{''.join(rows)}</table><p class=\"muted\">Checkpoints: scored/taken. Greyed rows are earlier tries of a slot that a later trial replaced.</p>"  # fmt: skip


def section_running(trials: list[TrialData], href: Callable[[str], str]) -> str:
    running = [t for t in trials if t.status == "running"]
    if not running:
        return '<h2>Running</h2><p class="muted">No trial is running.</p>'
    rows = []
    for t in running:
        events = read_jsonl(t.paths.trajectory)
        last = events[-1] if events else {}
        cps = t.checkpoints
        latest = cps[-1] if cps else None
        score = None
        if t.scores:
            score = t.scores[-1].reward
        latest_txt = "—" if latest is None else f"#{latest.get('n')} at {fmt(latest.get('elapsed_s'), 1)} s (dev check exit {fmt(latest.get('dev_exit_code'))})"  # fmt: skip
        rows.append(
            f'<tr data-trial="{esc(t.name)}"><td><a href="{href(t.name)}">{esc(t.name)}</a></td><td>{esc(t.task_name)}</td><td>{esc(t.label)}</td>'
            f'<td class="num">{fmt(last.get("elapsed_s"), 1)} / {fmt(t.budget_s, 0)} s</td><td class="num">{len(events)}</td>'
            f'<td class="num checkpoint-count">{len(cps)}</td><td class="latest-checkpoint">{esc(latest_txt)}</td><td class="num">{fmt(score)}</td>'
            f"<td>{esc(last.get('type', '—'))}</td></tr>"
        )  # fmt: skip
    head = "<tr><th>trial</th><th>task</th><th>agent</th><th>elapsed / budget</th><th>events</th><th>checkpoints</th><th>latest checkpoint</th><th>latest sealed score</th><th>last event</th></tr>"  # fmt: skip
    return f'<h2>Running</h2><table id="running-table">{head}{"".join(rows)}</table>'


def render_sections(
    rep: dict[str, Any], trials: list[TrialData], href: Callable[[str], str]
) -> dict[str, str]:
    return {
        "running": section_running(trials, href),
        "leaderboard": section_leaderboard(rep),
        "heatmap": section_heatmap(rep),
        "curves": section_curves(rep),
        "modes": section_modes(rep),
        "errors": section_errors(rep),
        "trials": section_trials(rep, href),
    }


# ---- trajectory view -------------------------------------------------------------------------------
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
        ("task", t.task_name), ("agent", t.label), ("attempt", t.attempt), ("status", t.status),
        ("reward", fmt(t.reward)), ("gates passed", fmt(t.gate_passed)), ("stop reason", t.stop_reason or "—"),
        ("used / budget", f"{fmt(t.used_s, 1)} / {fmt(t.budget_s, 0)} s"), ("tokens", f"{t.tokens:,}"),
        ("cost", f"${t.cost_usd:.2f}"), ("cores", (t.result.get("resources") or {}).get("cores")),
    ]  # fmt: skip
    if row:
        facts += [("failure mode", f"{row['failure_mode'].replace('_', ' ')} — {row['why']}"), ("AUC", fmt(row["auc_time"])),
                  ("t50 / t90", f"{fmt(row['t50_s'], 1)} / {fmt(row['t90_s'], 1)} s")]  # fmt: skip
    summary = (
        "<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts) + "</table>"
    )
    chart = ""
    if curve:
        chart = svg_chart([(t.name, PALETTE[0], _steps(curve))], curve["horizon_s"], max([1.0] + [p["reward"] for p in curve["points"]]), "seconds since the agent started")  # fmt: skip
    scores = {r.n: r for r in t.scores or []}
    cp_rows = []
    for c in t.checkpoints:
        s = scores.get(c.get("n"))
        cp_rows.append(
            f'<tr><td class="num">{esc(c.get("n"))}</td><td class="num">{fmt(c.get("elapsed_s"), 2)}</td><td>{esc(", ".join(sorted(c.get("files", {}))))}</td>'
            f'<td class="num">{fmt(c.get("dev_exit_code"))}</td><td class="num">{fmt(s.reward if s else None)}</td><td>{esc((s.reason if s else "") or "")}</td>'
            f"<td>{'final' if c.get('final') else ''}</td></tr>"
        )  # fmt: skip
    cps = (
        '<table class="checkpoints"><tr><th>n</th><th>elapsed s</th><th>files</th><th>dev check exit</th><th>sealed score</th><th>reason</th><th></th></tr>'
        + "".join(cp_rows)
        + "</table>"
        if cp_rows
        else '<p class="muted">No checkpoints yet.</p>'
    )  # fmt: skip
    return {f"summary-{t.name}": summary, f"curve-{t.name}": chart, f"checkpoints-{t.name}": cps}


def render_trial_view(t: TrialData, rep: dict[str, Any], page: bool = False, events: list[dict[str, Any]] | None = None) -> str:  # fmt: skip
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
        f'<section class="trajectory{" page" if page else ""}" id="trial-{esc(t.name)}"><h2>{back} · trial {esc(t.name)}</h2>'
        + "".join(f'<div id="{esc(k)}">{v}</div>' for k, v in parts.items())
        + f'<h3>Trajectory</h3>{note}<div id="events">{"".join(render_event(e) for e in shown)}</div></section>'
    )


# ---- pages -----------------------------------------------------------------------------------------
def _page(title: str, body: str, script: str = "", attrs: str = "") -> str:
    js = f"<script>{script}</script>" if script else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body{attrs}>{body}{js}</body></html>"
    )  # fmt: skip


def render_report_html(
    rep: dict[str, Any], trials: list[TrialData], live: bool = False, version: str = ""
) -> str:
    """The report page: static (trajectory views inline, behind anchors) or live (polling the viewer)."""
    href = (lambda n: f"/trial/{n}") if live else (lambda n: f"#trial-{n}")
    sections = render_sections(rep, trials, href)
    nav = "".join(f'<a href="#{i}">{i}</a>' for i in SECTION_IDS)
    title = "looplab report — " + ", ".join(rep["jobs"])
    header = f'<header>{"<span id=live>live</span>" if live else ""}<h1>{esc(title)}</h1><div class="sub">generated {esc(rep["generated_at"])} · {len(rep["trials"])} trial folders</div></header>'  # fmt: skip
    body = (
        header
        + f"<nav>{nav}</nav><main>"
        + "".join(f'<section id="{i}">{sections[i]}</section>' for i in SECTION_IDS)
    )
    if not live:
        by_name = {t.name: t for t in trials}
        body += "".join(
            render_trial_view(by_name[r["trial"]], rep) for r in rep["trials"] if r["trial"] in by_name
        )
    body += "</main>"
    attrs = f' data-version="{esc(version)}"' if live else ""
    return _page(title, body, LIVE_JS if live else "", attrs)


def render_trial_page(t: TrialData, rep: dict[str, Any], version: str = "") -> str:
    """A trial's live trajectory page for the viewer."""
    events = read_jsonl(t.paths.trajectory)
    shown = events[-MAX_EVENTS:]
    after = max([int(e.get("step") or 0) for e in shown] or [0])
    header = f'<header><span id="live">live</span><h1>trial {esc(t.name)}</h1><div class="sub">{esc(t.task_name)} · {esc(t.label)}</div></header>'  # fmt: skip
    body = header + "<main>" + render_trial_view(t, rep, page=True, events=events) + "</main>"
    attrs = f' data-trial="{esc(t.name)}" data-after="{after}" data-version="{esc(version)}"'
    return _page(f"trial {t.name}", body, TRIAL_JS, attrs)
