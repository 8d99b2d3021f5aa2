"""``looplab tasks check``: validate task folders (``check_task``) and, with ``--run``, tabulate rewards.

``check_rewards`` runs ``nop`` and ``oracle`` on each task.

The table (reward of each agent, verification time, where the oracle's ``s_ref`` came from,
and whether the task meets the catalog's targets: nop scores 0; a log-speedup oracle scores
0.5 ± 0.05, which the same-run reference gives by construction on any machine; other
oracles at least 0.9; verification within 3 minutes) is printed and, with ``--write``,
written as Markdown (the catalog's ``docs/catalog.md``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from looplab.environment.build import build_environment
from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_text
from looplab.hostinfo import host_info
from looplab.job.runner import JobSpec, existing_trials, run_job
from looplab.numfmt import fixed
from looplab.tasks.loader import Task, load_task
from looplab.verify.rewards import check_reward_config
from looplab.verify.runner import load_declaration

SPEED_TARGET = 0.45  # log-scaled speedup tasks: the reference scores 0.5 by construction ...
SPEED_MAX = 0.55  # ... so its oracle lies within 0.5 ± 0.05
OTHER_TARGET = 0.9  # ratio / linear tasks: at least 0.9 of the reference


def oracle_target(task: Task) -> float:
    """The reward the oracle must reach for the task to count as calibrated."""
    lc = task.config.looplab
    speed = (lc.reward or "").replace("-", "_") == "log_speedup" or lc.measure != "reported"
    if lc.reward is None and task.config.metadata.get("domain") == "systems":
        speed = True
    return SPEED_TARGET if speed else OTHER_TARGET


def oracle_band(task: Task) -> tuple[float, float | None]:
    """The oracle's reward range: [0.45, 0.55] for log-speedup tasks, at least 0.9 for the others."""
    target = oracle_target(task)
    return target, SPEED_MAX if target == SPEED_TARGET else None


def band_text(low: float, high: float | None) -> str:
    return f"{low:g}–{high:g}" if high is not None else f"≥ {low:g}"


def check_task(path: Path, build: bool = True) -> tuple[Task, list[str]]:
    """Validate one task folder (task.toml, layout, reward config, optionally its environment build).

    Returns the task and its warnings; a problem that makes the task unusable raises ``LooplabError``.
    """
    t = load_task(path)
    notes = list(t.warnings)
    if t.multi_step:
        for step in t.config.steps or []:
            dirs = (t.step_dir(step.name) / "solution", t.solution_dir)
            if not any((d / "solve.sh").is_file() for d in dirs):
                notes.append(f"step {step.name}: no solution/solve.sh (the oracle agent cannot run it)")
    elif not (t.solution_dir / "solve.sh").is_file():
        notes.append("no solution/solve.sh (the oracle agent cannot run)")
    if not t.config.looplab.editable:
        notes.append("no [looplab] editable globs: trials will be unsealed unless --editable is given")
    # a bad tests/run.toml is a one-line LooplabError naming the file and field
    problems = check_reward_config(t.config, load_declaration(t.tests_dir))
    if problems:
        raise LooplabError(f"{t.path / 'task.toml'}: " + "; ".join(problems))
    if build:
        notes += build_environment(t).warnings
    return t, notes


def check_rewards(
    tasks: list[Task], jobs_dir: Path, console: Console, write: Path | None = None
) -> list[dict[str, Any]]:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    rows: list[dict[str, Any]] = []
    for task in tasks:
        spec = JobSpec(
            job_name=f"catalog-check-{stamp}-{task.name}",
            jobs_dir=jobs_dir,
            task_paths=[str(task.path)],
            agents=["nop", "oracle"],
            attempts=1,
            concurrency=1,
        )
        console.print(f"running nop and oracle on [bold]{task.name}[/]…")
        run_job(spec, [task])
        by_agent = {r.agent: r.record() for r in existing_trials(spec.job_dir)}
        row: dict[str, Any] = {"task": task.name, "domain": task.config.metadata.get("domain", "—")}
        for agent in ("nop", "oracle"):
            r = by_agent.get(agent, {})
            row[f"{agent}_reward"] = r.get("reward")
            row[f"{agent}_status"] = r.get("status")
            row[f"{agent}_verify_s"] = ((r.get("timing") or {}).get("verifier") or {}).get("duration_s")
            row[f"{agent}_reason"] = (r.get("verifier_result") or {}).get("reason")
        row["oracle_s_ref_source"] = (by_agent.get("oracle", {}).get("s_ref") or {}).get("source")
        low, high = oracle_band(task)
        row["oracle_target"], row["oracle_max"] = low, high
        row["ok"] = (
            row["nop_reward"] == 0.0
            and row["oracle_reward"] is not None
            and row["oracle_reward"] >= low
            and (high is None or row["oracle_reward"] <= high)
            and (row["oracle_verify_s"] or 0) <= 180
        )
        rows.append(row)
    table = Table(title="Catalog check: nop and oracle")
    for col in ("task", "domain", "nop", "oracle", "oracle target", "s_ref", "verify (s)", "ok"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["task"],
            str(r["domain"]),
            fixed(r["nop_reward"]),
            fixed(r["oracle_reward"]),
            band_text(r["oracle_target"], r.get("oracle_max")),
            r.get("oracle_s_ref_source") or "—",
            fixed(r["oracle_verify_s"], 1),
            "yes" if r["ok"] else "[red]no[/]",
        )
    console.print(table)
    if write is not None:
        atomic_write_text(write, markdown(rows))
        console.print(f"written: {write}")
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    h = host_info()
    lines = [
        "# The catalog, checked",
        "",
        f"`looplab tasks check --all --run --write docs/catalog.md`, run on {dt.date.today().isoformat()} on "
        f"{h['cpu_model']} ({h['cpu_count']} cores, kernel {h['kernel']}). Each task ran once with `nop` "
        "and once with `oracle`, one trial at a time.",
        "",
        "| task | domain | nop reward | oracle reward | oracle target | oracle s_ref "
        "| oracle verification (s) | meets targets |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['domain']} | {fixed(r['nop_reward'])} | {fixed(r['oracle_reward'])} | "
            f"{band_text(r['oracle_target'], r.get('oracle_max'))} | {r.get('oracle_s_ref_source') or '—'} | "
            f"{fixed(r['oracle_verify_s'], 1)} | {'yes' if r['ok'] else 'no'} |"
        )
    notes = [r for r in rows if not r["ok"]]
    if notes:
        lines += ["", "Tasks that missed a target, and why:", ""]
        for r in notes:
            lines.append(
                f"- {r['task']}: nop {r['nop_reason'] or ''}; "
                f"oracle {r['oracle_reason'] or r['oracle_status']}"
            )
    return "\n".join(lines) + "\n"
