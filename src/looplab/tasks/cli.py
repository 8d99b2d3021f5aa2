"""``looplab tasks list``, ``check`` and ``lint``: thin typer commands (the checks: ``catalog_check``).

Mounted by ``looplab.cli`` as the ``tasks`` group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from looplab import settings
from looplab.errors import LooplabError
from looplab.tables import print_fitted

app = typer.Typer(no_args_is_help=True, help="List and check benchmark tasks.")
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


@app.command("list")
def tasks_list(
    paths: Annotated[list[Path] | None, typer.Argument(help="Task folders (default: the catalog)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the list as JSON (docs/cli.md)")] = False,
) -> None:
    """List tasks with their domain, metric and budget."""
    from looplab.tasks.catalog import catalog_task_paths
    from looplab.tasks.loader import discover_tasks, load_task

    found = discover_tasks(paths) if paths else catalog_task_paths()
    rows: list[list[str]] = []
    listed: list[dict[str, Any]] = []
    broken = 0
    for p in found:
        try:
            t = load_task(p)
        except LooplabError as exc:
            broken += 1
            rows.append([p.name, "[red]invalid[/]", escape(str(exc)), "", "", "", ""])
            listed.append({"task": p.name, "path": str(p), "error": str(exc)})
            continue
        c = t.config
        opt = c.optimization
        item = {
            "task": t.name,
            "path": str(t.path),
            "domain": c.metadata.get("domain"),
            "metric": opt.metric if opt else None,
            "direction": opt.direction if opt else None,
            "measure": c.looplab.measure,
            "agent_timeout_sec": c.agent.timeout_sec,
            "editable": list(c.looplab.editable),
        }
        listed.append(item)
        rows.append(
            [
                t.name,
                str(item["domain"] or "—"),
                str(item["metric"] or "—"),
                str(item["direction"] or "—"),
                c.looplab.measure,
                f"{c.agent.timeout_sec / 60:g} min",
                ", ".join(c.looplab.editable) or "(all of /app)",
            ]
        )
    if json_out:
        console.print_json(data={"schema_version": 1, "tasks": listed})
    else:
        columns = ("task", "domain", "metric", "direction", "measure", "agent budget", "editable")
        print_fitted(console, "Tasks", columns, rows, optional=("measure", "direction", "editable", "domain"))
    if broken:
        raise typer.Exit(code=1)


@app.command("check")
def tasks_check(
    paths: Annotated[list[Path] | None, typer.Argument(help="Task folders")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Check the whole catalog")] = False,
    build: Annotated[bool, typer.Option("--build/--no-build", help="Also build each environment")] = True,
    run_agents: Annotated[
        bool, typer.Option("--run", help="Also run nop and oracle and report rewards")
    ] = False,
    jobs_dir: Annotated[Path | None, typer.Option("--jobs-dir", help="Default: as for run")] = None,
    write: Annotated[
        Path | None, typer.Option("--write", help="With --run: write the table as Markdown")
    ] = None,
    base: Annotated[
        str | None, typer.Option("--base", help="Build on: host or image (default: per task)")
    ] = None,
    image_map: Annotated[
        list[str] | None, typer.Option("--image-map", help="Substitute a FROM image: IMAGE=REF (repeatable)")
    ] = None,
) -> None:
    """Validate tasks: task.toml, layout, environment build, packages missing on this host."""
    from looplab.catalog_check import check_rewards, check_task
    from looplab.environment.build import set_build_options
    from looplab.job.gpus import gpu_shortfall

    set_build_options(base, image_map, None)
    from looplab.tasks.catalog import catalog_task_paths
    from looplab.tasks.loader import discover_tasks

    if all_:
        found = catalog_task_paths()
    elif paths:
        found = discover_tasks(paths)
    else:
        raise LooplabError("name task folders to check, or --all for the catalog")
    failures = invalid = 0
    loaded = []
    for p in found:
        try:
            t, notes = check_task(p, build=build)
        except LooplabError as exc:
            invalid += 1
            err_console.print(f"[red]error:[/] {p.name}: {escape(str(exc))}", highlight=False)
            continue
        no_gpu = gpu_shortfall(t)  # a GPU task on a machine without one: said plainly, not run
        console.print(f"[green]ok[/] {t.name}" + (" [yellow](needs a GPU)[/]" if no_gpu else ""))
        for n in [*notes, *([no_gpu] if no_gpu else [])]:
            console.print(f"   [yellow]warning:[/] {escape(n)}")
        if not no_gpu:
            loaded.append(t)
    if run_agents and loaded:
        rows = check_rewards(loaded, jobs_dir or settings.current().jobs_dir, console, write)
        failures += sum(1 for r in rows if not r["ok"])
    if invalid:
        raise typer.Exit(code=2)
    if failures:
        raise typer.Exit(code=1)


@app.command("lint")
def tasks_lint(
    paths: Annotated[list[Path], typer.Argument(help="Task folders, or folders of tasks")],
    json_out: Annotated[bool, typer.Option("--json", help="The problems as JSON")] = False,
) -> None:
    """Check task folders' format without building: one line per problem (file, field); exit 1 on any."""
    from looplab.harbor.lint import lint_task
    from looplab.tasks.loader import discover_tasks

    found = discover_tasks(paths)
    problems = [p for t in found for p in lint_task(t)]
    if json_out:
        items = [{"file": str(p.file), "field": p.field, "message": p.message} for p in problems]
        console.print_json(data={"schema_version": 1, "tasks": len(found), "problems": items})
    else:
        for p in problems:
            console.print(escape(p.line()), highlight=False, soft_wrap=True)
        err_console.print(f"{len(found)} task(s) checked, {len(problems) or 'no'} problem(s)")
    if problems:
        raise typer.Exit(code=1)
