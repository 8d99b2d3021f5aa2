"""CLI commands for agent records: ``looplab export atif TRIAL_DIR`` and ``looplab rescore TARGET``
(a trial, a job or a folder of jobs).

Mounted by ``looplab.cli`` (``export_app`` as the ``export`` group, ``rescore_command``
as ``rescore``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from looplab.numfmt import fixed
from looplab.records.layout import TrialPaths
from looplab.tables import make_table

console = Console()
err_console = Console(stderr=True)

export_app = typer.Typer(help="Export trial records to other formats.", no_args_is_help=True)


@export_app.callback()
def _export() -> None:
    """Export trial records to other formats."""


@export_app.command("atif")
def export_atif(
    trial_dir: Annotated[Path, typer.Argument(help="A trial folder (jobs/<job>/<task>__<id>)")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Output file ('-' for stdout; default: TRIAL_DIR/agent/trajectory.json)"
        ),
    ] = None,
) -> None:
    """Write the trial's trajectory as ATIF (Harbor's Agent Trajectory Interchange Format), validated."""
    from looplab.records.atif import export_trial, trial_atif

    if output is not None and str(output) == "-":
        model = trial_atif(trial_dir)
        sys.stdout.write(json.dumps(model.model_dump(mode="json", exclude_none=True), indent=2) + "\n")
        return
    out, model = export_trial(trial_dir, output)
    fm = model.final_metrics
    cost = f", ${fm.total_cost_usd:.4f}" if fm and fm.total_cost_usd else ""
    console.print(f"wrote {out}: {len(model.steps)} steps{cost} ({model.schema_version}, valid)")


def rescore_command(
    target: Annotated[
        Path, typer.Argument(help="A trial folder, a job folder (every trial) or a folder of jobs")
    ],
    every: Annotated[int | None, typer.Option("--every", min=1, help="Score every K-th checkpoint")] = None,
    best_per_window: Annotated[
        float | None,
        typer.Option("--best-per-window", min=0.001, help="Score one checkpoint per window of SECONDS"),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Re-verify checkpoints already scored")] = False,
) -> None:
    """Score checkpoints with the sealed verifier: anytime curves (checkpoints/scores.jsonl of each trial)."""
    from looplab.records.targets import resolve
    from looplab.scoring.rescore import anytime_curve, rescore_trial

    targets = resolve([target])
    err_console.print(f"rescoring {targets.describe()}", highlight=False)

    def show(row: dict[str, Any]) -> None:
        err_console.print(
            f"[dim]checkpoint {row['n']} at {row['elapsed_s']:.1f} s:[/] reward {fixed(row.get('reward'))}"
            + (f" [dim]({row['reason']})[/]" if row.get("reason") else "")
        )

    trials = targets.trial_dirs()
    if len(trials) == 1 and targets.trials is not None:
        trial_dir = trials[0]
        rows = rescore_trial(
            trial_dir, every=every, best_per_window=best_per_window, force=force, on_row=show
        )
        table = make_table(
            f"Anytime curve: {trial_dir.name}", ("checkpoint", "elapsed", "reward", "best so far", "note")
        )
        for row, (_t, best) in zip(
            sorted(rows, key=lambda r: r["elapsed_s"]), anytime_curve(rows), strict=True
        ):
            note = "final" if row.get("final") else ""
            if row.get("same_files_as"):
                note += f" same files as {row['same_files_as']}"
            if row.get("reason"):
                note += f" {row['reason']}"
            table.add_row(
                str(row["n"]),
                f"{row['elapsed_s']:.1f} s",
                fixed(row.get("reward")),
                fixed(best),
                note.strip(),
            )
        console.print(table)
        console.print(f"scores: {TrialPaths(trial_dir).scores}")
        return
    table = make_table("Anytime curves", ("trial", "checkpoints", "final", "best", "note"))
    for trial_dir in trials:
        paths = TrialPaths(trial_dir)
        if not paths.checkpoint_index.is_file():
            table.add_row(trial_dir.name, "0", "—", "—", "no checkpoints")
            continue
        err_console.print(f"[bold]{trial_dir.name}[/]")
        rows = rescore_trial(
            trial_dir, every=every, best_per_window=best_per_window, force=force, on_row=show
        )
        curve = anytime_curve(rows)
        final = next((r for r in rows if r.get("final")), None)
        table.add_row(
            trial_dir.name,
            str(len(rows)),
            fixed(final.get("reward") if final else None),
            fixed(curve[-1][1] if curve else None),
            str(paths.scores),
        )
    console.print(table)
