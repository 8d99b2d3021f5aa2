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

import json
from collections.abc import Callable
from typing import Any

from looplab.report.failure_modes import MODES, OTHER
from looplab.report.html_parts import (
    LIVE_JS,
    agent_colors,
    cost_steps,
    esc,
    fmt,
    heat,
    legend,
    mode_heat,
    page_html,
    pct,
    score_steps,
    svg_chart,
)
from looplab.report.model import TrialData, read_jsonl
from looplab.report.trial_html import render_trial_view

SECTION_IDS = ("running", "leaderboard", "heatmap", "rewards", "curves", "modes", "errors", "trials")


def section_leaderboard(rep: dict[str, Any]) -> str:
    rows = []
    for i, r in enumerate(rep["leaderboard"], 1):
        ci = "—" if r["ci95_low"] is None else f"[{r['ci95_low']:.3f}, {r['ci95_high']:.3f}]"
        rows.append(
            f'<tr data-agent="{esc(r["agent"])}"><td class="num">{i}</td><td>{esc(r["agent"])}</td>'
            f'<td class="num mean-reward">{fmt(r["mean_reward"])}</td><td class="num">{ci}</td>'
            f'<td class="num">{r["n_tasks"]}</td><td class="num">{r["n_attempts"]}</td>'
            f'<td class="num">{r["n_completed"]}/{r["n_trials"]}</td>'
            f'<td class="num">{r["n_errors"]}</td><td class="num">{pct(r["pass_rate"])}</td>'
            f'<td class="num">{r["tokens"]:,}</td>'
            f'<td class="num">${r["cost_usd"] or 0:.2f}</td>'
            f'<td class="num">{fmt(r["mean_auc_time"])}</td></tr>'
        )
    head = (
        "<tr><th>#</th><th>agent (model)</th><th>mean reward</th>"
        "<th>95% CI over attempts</th><th>tasks</th><th>attempts</th><th>completed</th>"
        "<th>errors</th><th>gates passed</th><th>tokens</th><th>cost</th>"
        "<th>mean AUC</th></tr>"
    )
    body = "".join(rows) or '<tr><td colspan="12" class="muted">no finished trials yet</td></tr>'
    return (
        f'<h2>Leaderboard</h2><table id="leaderboard-table">{head}{body}</table>'
        '<p class="muted">Mean over tasks of each task\'s mean reward over attempts; '
        "the interval is a 95% t-interval over attempts. AUC: "
        "mean sealed score over the time budget.</p>"
    )


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
            title = (
                f"n={c['n']} completed={c['n_completed']} min={fmt(c['min'])} max={fmt(c['max'])} "
                f"gates={pct(c['pass_rate'])} AUC={fmt(c['mean_auc_time'])}"
            )
            tds.append(
                f'<td class="num" style="{heat(c["mean_reward"])}" title="{esc(title)}">'
                f'{fmt(c["mean_reward"])}{sd} <span class="muted">({c["n_completed"]})</span>'
                "</td>"
            )
        rows.append(f"<tr><td>{esc(task)}</td>{''.join(tds)}</tr>")
    return (
        f'<h2>Per-task rewards</h2><table class="heatmap">{head}{"".join(rows)}</table>'
        '<p class="muted">Mean reward over attempts ± standard deviation (completed trials).</p>'
    )


def section_rewards(rep: dict[str, Any]) -> str:
    """Harbor's named rewards: mean, max, min and sum of every reward.json key, per agent."""
    rows = [
        f'<tr data-agent="{esc(r["agent"])}" data-key="{esc(k)}"><td>{esc(r["agent"])}</td><td>{esc(k)}</td>'
        + "".join(f'<td class="num">{fmt(m[x])}</td>' for x in ("mean", "max", "min", "sum"))
        + f'<td class="num">{m["n"]}</td></tr>'
        for r in rep["leaderboard"]
        for k, m in (r.get("reward_keys") or {}).items()
    ]
    primaries = sorted({p for r in rep["leaderboard"] for p in r.get("primary") or []})
    head = (
        "<tr><th>agent</th><th>key</th><th>mean</th><th>max</th><th>min</th><th>sum</th><th>trials</th></tr>"
    )
    body = "".join(rows) or '<tr><td colspan="7" class="muted">no rewards yet</td></tr>'
    return (
        f'<h2>Named rewards</h2><table id="rewards-table">{head}{body}</table>'
        f'<p class="muted">The leaderboard\'s mean reward is: {esc(", ".join(primaries) or "reward")}.</p>'
    )


def section_curves(rep: dict[str, Any]) -> str:
    by_task: dict[str, list[dict[str, Any]]] = {}
    for t in rep["trials"]:
        if t["trial"] in rep["curves"]:
            by_task.setdefault(t["task"], []).append(t)
    if not by_task:
        return (
            '<h2>Anytime curves</h2><p class="muted">No rescored checkpoints yet: '
            "run <code>looplab rescore TRIAL_DIR</code> to draw the sealed score over time.</p>"
        )
    colors = agent_colors(sorted({t["agent"] for t in rep["trials"]}))
    out = ['<h2>Anytime curves</h2><div class="charts">']
    for task in sorted(by_task):
        trials = by_task[task]
        curves = [rep["curves"][t["trial"]] for t in trials]
        # the elapsed span (the agent's time used, or the last checkpoint), not the whole budget
        x_max = max(
            min(c["horizon_s"], max([t.get("used_s") or 0.0] + [p["elapsed_s"] for p in c["points"]]))
            for t, c in zip(trials, curves, strict=True)
        )
        y_max = max([1.0] + [p["reward"] for c in curves for p in c["points"]])
        series = [
            (f"{t['agent']} · {t['trial']}", colors[t["agent"]], score_steps(rep["curves"][t["trial"]]))
            for t in trials
        ]
        out.append(
            f'<figure data-task="{esc(task)}"><figcaption>{esc(task)} — sealed score vs time</figcaption>'
        )
        out.append(svg_chart(series, x_max, y_max, "seconds since the agent started"))
        out.append(legend(colors, sorted({t["agent"] for t in trials})) + "</figure>")
        cost_series = [
            (n, c, s)
            for (n, c, _), t in zip(series, trials, strict=True)
            if (s := cost_steps(rep["curves"][t["trial"]]))
        ]
        if cost_series:
            cx = max(p[0] for _, _, s in cost_series for p in s)
            out.append(
                f'<figure data-task="{esc(task)}" class="cost">'
                f"<figcaption>{esc(task)} — sealed score vs dollars</figcaption>"
            )
            out.append(svg_chart(cost_series, cx, y_max, "dollars spent"))
            out.append(legend(colors, sorted({t["agent"] for t in trials})) + "</figure>")
    out.append("</div>")
    return "".join(out)


def section_modes(rep: dict[str, Any]) -> str:
    present = [
        m for m in (*MODES, *OTHER) if m in MODES or any(v.get(m) for v in rep["failure_modes"].values())
    ]
    head = "<tr><th>agent</th>" + "".join(f"<th>{esc(m.replace('_', ' '))}</th>" for m in present) + "</tr>"
    rows = []
    for agent, counts in sorted(rep["failure_modes"].items()):
        total = sum(counts.values()) or 1
        tds = "".join(
            f'<td class="num" data-mode="{m}" '
            f'style="{mode_heat(m, counts[m] / total) if counts.get(m) else ""}">'
            f"{counts.get(m, 0)}</td>"
            for m in present
        )
        rows.append(f"<tr><td>{esc(agent)}</td>{tds}</tr>")
    return (
        f'<h2>Failure modes</h2><table id="modes-table">{head}{"".join(rows)}</table>'
        '<p class="muted">Counted over the latest trial of each slot; thresholds: '
        f"{esc(json.dumps(rep['settings']))}.</p>"
    )


def section_errors(rep: dict[str, Any]) -> str:
    rows = [
        f'<tr><td>{esc(agent)}</td><td>{esc(cause)}</td><td class="num">{n}</td></tr>'
        for agent, causes in sorted(rep["errors"].items())
        for cause, n in causes.items()
    ]
    if not rows:
        return '<h2>Errors by cause</h2><p class="muted">No errors.</p>'
    return (
        "<h2>Errors by cause</h2><table><tr><th>agent</th><th>cause</th><th>trials</th>"
        f"</tr>{''.join(rows)}</table>"
    )


def section_trials(rep: dict[str, Any], href: Callable[[str], str]) -> str:
    head = (
        "<tr><th>trial</th><th>task</th><th>agent</th><th>attempt</th><th>status</th>"
        "<th>reward</th><th>gates</th><th>stop</th><th>used / budget</th>"
        "<th>checkpoints</th><th>AUC</th><th>t50 / t90</th><th>mode</th></tr>"
    )
    rows = []
    for t in rep["trials"]:
        cls = "ok" if t["status"] == "completed" else ("bad" if t["status"] == "error" else "muted")
        used = f"{fmt(t['used_s'], 1)} / {fmt(t['budget_s'], 0)} s"
        t5090 = f"{fmt(t['t50_s'], 1)} / {fmt(t['t90_s'], 1)}"
        muted = "" if t["counted"] else ' class="muted"'
        rows.append(
            f'<tr data-trial="{esc(t["trial"])}"{muted}><td>'
            f'<a href="{href(t["trial"])}">{esc(t["trial"])}</a></td>'
            f"<td>{esc(t['task'])}</td><td>{esc(t['agent'])}</td>"
            f'<td class="num">{t["attempt"]}</td><td class="{cls}">{esc(t["status"])}</td>'
            f'<td class="num">{fmt(t["reward"])}</td><td>{fmt(t["correct"])}</td>'
            f'<td>{esc(t["stop_reason"] or "—")}</td><td class="num">{used}</td>'
            f'<td class="num">{t["n_scored"]}/{t["n_checkpoints"]}</td>'
            f'<td class="num">{fmt(t["auc_time"])}</td><td class="num">{t5090}</td>'
            "<td>"
            f'<span class="pill" title="{esc(t["why"])}">{esc(t["failure_mode"].replace("_", " "))}</span>'
            "</td></tr>"
        )
    return (
        f"<h2>Trials</h2><table>{head}{''.join(rows)}</table>"
        '<p class="muted">Checkpoints: scored/taken. '
        "Greyed rows are earlier tries of a slot that a later trial replaced.</p>"
    )


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
        latest_txt = (
            "—"
            if latest is None
            else f"#{latest.get('n')} at {fmt(latest.get('elapsed_s'), 1)} s "
            f"(dev check exit {fmt(latest.get('dev_exit_code'))})"
        )
        rows.append(
            f'<tr data-trial="{esc(t.name)}"><td><a href="{href(t.name)}">{esc(t.name)}</a>'
            f"</td><td>{esc(t.task_name)}</td><td>{esc(t.label)}</td>"
            f'<td class="num">{fmt(last.get("elapsed_s"), 1)} / {fmt(t.budget_s, 0)} s</td>'
            f'<td class="num">{len(events)}</td>'
            f'<td class="num checkpoint-count">{len(cps)}</td>'
            f'<td class="latest-checkpoint">{esc(latest_txt)}</td>'
            f'<td class="num">{fmt(score)}</td>'
            f"<td>{esc(last.get('type', '—'))}</td></tr>"
        )
    head = (
        "<tr><th>trial</th><th>task</th><th>agent</th><th>elapsed / budget</th>"
        "<th>events</th><th>checkpoints</th><th>latest checkpoint</th>"
        "<th>latest sealed score</th><th>last event</th></tr>"
    )
    return f'<h2>Running</h2><table id="running-table">{head}{"".join(rows)}</table>'


def render_sections(
    rep: dict[str, Any], trials: list[TrialData], href: Callable[[str], str]
) -> dict[str, str]:
    return {
        "running": section_running(trials, href),
        "leaderboard": section_leaderboard(rep),
        "heatmap": section_heatmap(rep),
        "rewards": section_rewards(rep),
        "curves": section_curves(rep),
        "modes": section_modes(rep),
        "errors": section_errors(rep),
        "trials": section_trials(rep, href),
    }


# ---- pages -----------------------------------------------------------------------------------------
def render_report_html(
    rep: dict[str, Any], trials: list[TrialData], live: bool = False, version: str = ""
) -> str:
    """The report page: static (trajectory views inline, behind anchors) or live (polling the viewer)."""
    href = (lambda n: f"/trial/{n}") if live else (lambda n: f"#trial-{n}")
    sections = render_sections(rep, trials, href)
    nav = "".join(f'<a href="#{i}">{i}</a>' for i in SECTION_IDS)
    title = "looplab report — " + ", ".join(rep["jobs"])
    header = (
        f"<header>{'<span id=live>live</span>' if live else ''}<h1>{esc(title)}</h1>"
        f'<div class="sub">generated {esc(rep["generated_at"])} · {len(rep["trials"])} trial folders</div>'
        "</header>"
    )
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
    return page_html(title, body, LIVE_JS if live else "", attrs)
