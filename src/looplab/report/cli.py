"""``looplab report`` and ``looplab view``: the report of job folders as text, a file, or a live page."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_text
from looplab.records.targets import resolve
from looplab.report.failure_modes import FailureSettings

FORMATS = ("table", "json", "csv", "md")


def parse_settings(items: list[str] | None) -> FailureSettings:
    """``--setting NAME=VALUE`` overrides of the failure-mode thresholds."""
    s = FailureSettings()
    fields = {f.name: f for f in dataclasses.fields(FailureSettings)}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in fields:
            raise LooplabError(
                f"--setting {item!r}: expected NAME=VALUE with NAME one of {', '.join(fields)}"
            )
        kind = int if fields[name].type in (int, "int") else float
        try:
            setattr(s, name, kind(value))
        except ValueError:
            raise LooplabError(f"--setting {name}: {value!r} is not a number") from None
    return s


def _job_dirs(paths: list[Path]) -> list[Path]:
    """The job folders behind jobs, trials or folders of jobs (what the viewer watches)."""
    return resolve(paths).job_dirs


def report_command(
    job_dirs: Annotated[
        list[Path],
        typer.Argument(help="Job folders, trial folders or folders of jobs (their trials are pooled)"),
    ],
    format: Annotated[
        str, typer.Option("--format", "-f", help="table, json, csv (one row per trial) or md")
    ] = "table",  # noqa: A002
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML report here")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the text report to a file")
    ] = None,
    setting: Annotated[
        list[str] | None, typer.Option("--setting", help="Failure-mode threshold NAME=VALUE (repeatable)")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="The same as --format json")] = False,
) -> None:
    """Leaderboard, per-task rewards, gates, spend, errors, anytime curves and failure modes of jobs."""
    from looplab.report import formats
    from looplab.report.aggregate import report_from_trials
    from looplab.report.model import load_jobs

    if format not in FORMATS:
        raise LooplabError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    format = "json" if json_out else format  # noqa: A001
    targets = resolve(job_dirs)
    Console(stderr=True).print(f"report of {targets.describe()}", highlight=False, soft_wrap=True)
    dirs = targets.job_dirs
    trials = load_jobs(dirs)
    if targets.trials is not None:
        trials = [t for t in trials if t.dir.resolve() in targets.trials]
    rep = report_from_trials(trials, dirs, parse_settings(setting))
    if html is not None:
        from looplab.report.html import render_report_html

        atomic_write_text(html, render_report_html(rep, trials))
        Console(stderr=True).print(f"HTML report: {html}")
    if format == "table" and output is None:
        formats.print_tables(rep, Console())
        return
    text = {"json": formats.to_json, "csv": formats.to_csv, "md": formats.to_markdown}.get(
        format, formats.to_markdown
    )(rep)
    if output is not None:
        atomic_write_text(output, text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def view_command(
    job_dirs: Annotated[list[Path], typer.Argument(help="Job folders to watch")],
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: any free port)")] = 8765,
    setting: Annotated[
        list[str] | None, typer.Option("--setting", help="Failure-mode threshold NAME=VALUE (repeatable)")
    ] = None,
) -> None:
    """Serve the report on 127.0.0.1 and update it live while the job runs."""
    from looplab.report.viewer import serve

    server = serve(_job_dirs(job_dirs), port, parse_settings(setting))
    print(f"looplab view: http://127.0.0.1:{server.server_address[1]}/  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
