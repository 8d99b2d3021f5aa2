"""A report as text: rich tables for the terminal, Markdown, CSV (one row per trial) or JSON."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.console import Console

from looplab.numfmt import cell, percent
from looplab.report.failure_modes import MODES
from looplab.tables import print_fitted

CSV_COLUMNS = [
    "job",
    "trial",
    "task",
    "agent",
    "attempt",
    "status",
    "counted",
    "reward",
    "primary",
    "correct",
    "stop_reason",
    "used_s",
    "budget_s",
    "tokens",
    "cost_usd",
    "n_checkpoints",
    "n_scored",
    "final_score",
    "best_score",
    "auc_time",
    "auc_cost",
    "t50_s",
    "t90_s",
    "failure_mode",
    "error_cause",
    "sealed",
    "pinned",
    "s_ref",
    "s_ref_source",
]


def _ci(r: dict[str, Any]) -> str:
    return "—" if r["ci95_low"] is None else f"[{r['ci95_low']:.3f}, {r['ci95_high']:.3f}]"


def tables(rep: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """The report's tables as (title, header, rows) — shared by the terminal and Markdown forms."""
    board = [
        [
            str(i),
            r["agent"]
            + (f" ({r['n_unsealed']} unsealed)" if r.get("n_unsealed") else "")
            + (f" ({r['n_unpinned']} unpinned)" if r.get("n_unpinned") else ""),
            cell(r["mean_reward"]),
            _ci(r),
            str(r["n_tasks"]),
            str(r["n_attempts"]),
            f"{r['n_completed']}/{r['n_trials']}",
            str(r["n_errors"]),
            percent(r["pass_rate"]),
            f"{r['tokens']:,}",
            f"${r['cost_usd'] or 0:.2f}",
            cell(r["mean_auc_time"]),
        ]
        for i, r in enumerate(rep["leaderboard"], 1)
    ]
    out = [
        (
            "Leaderboard",
            [
                "#",
                "agent (model)",
                "mean reward",
                "95% CI",
                "tasks",
                "attempts",
                "completed",
                "errors",
                "gates passed",
                "tokens",
                "cost",
                "mean AUC",
            ],
            board,
        )
    ]
    agents = [r["agent"] for r in rep["leaderboard"]]
    task_rows = []
    for task, cells in rep["tasks"].items():
        row = [task]
        for a in agents:
            c = cells.get(a)
            if not c:
                row.append("—")
                continue
            sd = f" ± {c['sd']:.3f}" if c["sd"] is not None else ""
            row.append(
                f"{cell(c['mean_reward'])}{sd} (n={c['n_completed']}, gates {percent(c['pass_rate'])})"
            )
        task_rows.append(row)
    out.append(("Per-task mean reward", ["task", *agents], task_rows))
    seen = {m for v in rep["failure_modes"].values() for m in v}
    modes = [*MODES, *sorted(seen - set(MODES))]
    out.append(
        (
            "Failure modes",
            ["agent", *modes],
            [[a, *(str(v.get(m, 0)) for m in modes)] for a, v in sorted(rep["failure_modes"].items())],
        )
    )
    key_rows = [
        [r["agent"], k, cell(m["mean"]), cell(m["max"]), cell(m["min"]), cell(m["sum"]), str(m["n"])]
        for r in rep["leaderboard"]
        for k, m in (r.get("reward_keys") or {}).items()
    ]
    if any(row[1] != "reward" for row in key_rows):  # only where a verifier wrote named rewards
        primaries = sorted({p for r in rep["leaderboard"] for p in r.get("primary") or []})
        title = f"Named rewards (the mean reward is: {', '.join(primaries)})"
        out.append((title, ["agent", "key", "mean", "max", "min", "sum", "trials"], key_rows))
    err_rows = [[a, c, str(n)] for a, causes in sorted(rep["errors"].items()) for c, n in causes.items()]
    out.append(("Errors by cause", ["agent", "cause", "trials"], err_rows))
    return out


def to_markdown(rep: dict[str, Any]) -> str:
    lines = [f"# looplab report: {', '.join(rep['jobs'])}", "", f"Generated {rep['generated_at']}.", ""]
    for title, head, rows in tables(rep):
        lines += [f"## {title}", ""]
        if not rows:
            lines += ["(none)", ""]
            continue
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join("---" for _ in head) + "|")
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        lines.append("")
    return "\n".join(lines)


def to_csv(rep: dict[str, Any]) -> str:
    """One row per trial; a ``reward:KEY`` column for every named reward a verifier wrote."""
    keys = sorted({k for t in rep["trials"] for k in t.get("rewards") or {}} - {"reward"})
    buf = io.StringIO()
    cols = [*CSV_COLUMNS, *(f"reward:{k}" for k in keys)]
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for t in rep["trials"]:
        row = {k: ("" if t.get(k) is None else t.get(k)) for k in CSV_COLUMNS}
        row.update({f"reward:{k}": (t.get("rewards") or {}).get(k, "") for k in keys})
        w.writerow(row)
    return buf.getvalue()


def to_json(rep: dict[str, Any]) -> str:
    return json.dumps(rep, indent=2, default=str)


# columns a narrow terminal (or a pipe: 80 columns) drops first, with a note, rather than breaking words
OPTIONAL = {
    "Leaderboard": ("mean AUC", "tokens", "attempts", "tasks", "cost", "gates passed", "95% CI"),
}


def print_tables(rep: dict[str, Any], console: Console) -> None:
    for title, head, rows in tables(rep):
        if rows:
            print_fitted(console, title, head, rows, optional=OPTIONAL.get(title, ()))
