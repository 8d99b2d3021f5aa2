"""The ``looplab`` command line (typer + rich). Thin: parsing and display only."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from looplab import cancel, settings
from looplab.errors import LooplabError
from looplab.numfmt import fixed
from looplab.records.results import TrialResult, is_error
from looplab.tables import make_table

app = typer.Typer(no_args_is_help=True, help="looplab: autonomous research loops, measured.")
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"looplab {version('looplab')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit")
    ] = False,
) -> None:
    """looplab: autonomous research loops, measured."""


@app.command()
def run(
    path: Annotated[
        list[str], typer.Option("--path", "-p", help="Task folder, folder of tasks, or catalog task name")
    ],
    agent: Annotated[list[str], typer.Option("--agent", "-a", help="Agent name (repeatable)")] = ["oracle"],  # noqa: B006
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model, e.g. anthropic/NAME or openai/NAME")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url", help="API endpoint for llm/cli agents (OpenAI-compatible servers: vLLM, ollama…)"
        ),
    ] = None,
    agent_kwarg: Annotated[
        list[str] | None, typer.Option("--ak", help="Agent argument KEY=VALUE (repeatable)")
    ] = None,
    attempts: Annotated[int, typer.Option("--attempts", "-k", min=1, help="Attempts per task and agent")] = 1,
    concurrent: Annotated[int, typer.Option("--concurrent", "-n", min=1, help="Trials run at once")] = 1,
    editable: Annotated[
        list[str] | None,
        typer.Option("--editable", help="Editable glob for tasks that declare none (repeatable)"),
    ] = None,
    jobs_dir: Annotated[
        Path | None,
        typer.Option(
            "--jobs-dir", help="Where job folders go (default: $LOOPLAB_JOBS_DIR, the config file, ./jobs)"
        ),
    ] = None,
    job_name: Annotated[str | None, typer.Option("--job-name", help="Job name (re-use it to resume)")] = None,
    timeout_multiplier: Annotated[
        float,
        typer.Option(
            "--timeout-multiplier",
            min=0.0001,
            help="Scales the agent, verifier and build timeouts (as Harbor's)",
        ),
    ] = 1.0,
    agent_timeout: Annotated[
        float | None, typer.Option("--agent-timeout", help="Agent budget in seconds (overrides the task)")
    ] = None,
    max_turns: Annotated[int | None, typer.Option("--max-turns")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens")] = None,
    max_cost: Annotated[float | None, typer.Option("--max-cost", help="Per-trial dollar cap")] = None,
    executor: Annotated[str, typer.Option("--executor", help="local or ray")] = "local",
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="Ray cluster to join (default: start a local one)")
    ] = None,
    base: Annotated[
        str | None, typer.Option("--base", help="Build every task on: host or image (default: per task)")
    ] = None,
    image_map: Annotated[
        list[str] | None, typer.Option("--image-map", help="Substitute a FROM image: IMAGE=REF (repeatable)")
    ] = None,
    insecure_registry: Annotated[
        list[str] | None,
        typer.Option("--insecure-registry", help="Plain-HTTP registry HOST:PORT (repeatable)"),
    ] = None,
    network: Annotated[
        str,
        typer.Option(
            "--network", help="task: each task's network policy (through the egress proxy); deny: no network"
        ),
    ] = "task",
    overlays: Annotated[
        str | None,
        typer.Option(
            "--overlays", help="\\[looplab] sections for foreign tasks: a shipped set (autolab) or folder"
        ),
    ] = None,
    allow_errors: Annotated[
        bool, typer.Option("--allow-errors", help="Exit 0 even when a trial errored (exit 1 otherwise)")
    ] = False,
    core_wait: Annotated[
        float | None,
        typer.Option(
            "--core-wait",
            min=0,
            help="Seconds to wait for cores other looplab processes hold; then run unpinned (recorded)",
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the job's result.json instead of tables")
    ] = False,
) -> None:
    """Run agents on tasks: build, agent phase in a sandbox, sealed verification, records.

    Ctrl-C (or SIGTERM) stops the job: running trials are recorded as cancelled, the
    job's result.json is written and the exit code is 130; a second Ctrl-C exits at once.
    The exit code is 1 when a trial errored (agent_error, verifier_error,
    environment_build_failed, cancelled) unless --allow-errors.
    """
    from looplab.agents.base import BudgetLimits
    from looplab.agents.registry import agent_args
    from looplab.environment.build import set_build_options
    from looplab.job.runner import JobSpec
    from looplab.overlays import set_overlays

    set_build_options(base, image_map, insecure_registry)
    if network not in ("task", "deny"):
        raise LooplabError(f"--network must be task or deny, got {network!r}")
    set_overlays(overlays)
    paths, tasks = _load_tasks(path, editable)
    budget = BudgetLimits.parse(
        {"max_turns": max_turns, "max_tokens": max_tokens, "max_cost_usd": max_cost},
        "run --max-turns/--max-tokens/--max-cost",
    )
    agent_kwargs = agent_args(agent_kwarg, base_url)
    spec = JobSpec(
        job_name=job_name or dt.datetime.now().strftime("%Y-%m-%d__%H-%M-%S"),
        jobs_dir=jobs_dir or settings.current().jobs_dir,
        task_paths=[str(p.resolve()) for p in paths],
        agents=agent,
        attempts=attempts,
        concurrency=concurrent,
        model=model,
        agent_kwargs=agent_kwargs,
        editable=editable or None,
        timeout_multiplier=timeout_multiplier,
        agent_timeout_sec=agent_timeout,
        budget=budget,
        ray_address=ray_address,
        network=network,
        core_wait_s=core_wait,
    )
    _execute(spec, tasks, executor, allow_errors, json_out)


def _load_tasks(path: list[str], editable: list[str] | None) -> tuple[list[Path], list[Any]]:
    """Load every task named by ``-p``; the broken ones are reported together, one per clause."""
    from looplab.tasks.catalog import resolve_task_path
    from looplab.tasks.loader import discover_tasks, load_task

    paths, tasks, problems = [], [], []
    for p in path:
        try:
            found = discover_tasks([resolve_task_path(p)])
        except LooplabError as exc:
            problems.append(str(exc))
            continue
        for q in found:
            try:
                tasks.append(load_task(q))
                paths.append(q)
            except LooplabError as exc:
                problems.append(str(exc))
    if problems:
        raise LooplabError(f"{len(problems)} task(s) cannot run: " + " | ".join(problems))
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise LooplabError(f"two tasks share a folder name: {sorted(n for n in names if names.count(n) > 1)}")
    for t in tasks:
        for w in t.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(w)}")
        if not t.config.looplab.editable and not editable:
            err_console.print(
                f"[yellow]warning:[/] {t.name}: no editable globs (\\[looplab] editable or --editable): "
                "the whole working folder is carried to the verifier and the trial is marked sealed: false"
            )
    return paths, tasks


@app.command()
def resume(
    job: Annotated[Path, typer.Argument(help="A job folder (holding config.json)")],
    executor: Annotated[str, typer.Option("--executor", help="local or ray")] = "local",
    allow_errors: Annotated[
        bool, typer.Option("--allow-errors", help="Exit 0 even when a trial errored")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the job's result.json instead of tables")
    ] = False,
) -> None:
    """Resume a job with its own configuration: cancelled and failed slots run again, finished ones stay."""
    from looplab.agents.base import BudgetLimits
    from looplab.job.spec import JobSpec
    from looplab.records.layout import JobPaths

    cfg_path = JobPaths(job).config
    try:
        saved = json.loads(cfg_path.read_text())["spec"]
        budget = BudgetLimits.parse(saved.get("budget") or {}, f"{cfg_path}: spec.budget")
        spec = JobSpec(
            **{**saved, "jobs_dir": Path(saved["jobs_dir"]), "job_name": saved["job_name"], "budget": budget}
        )
    except FileNotFoundError:
        raise LooplabError(f"{job}: not a job folder (no config.json)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise LooplabError(f"{cfg_path}: not a looplab job configuration ({exc})") from None
    spec.jobs_dir = Path(job).resolve().parent
    _, tasks = _load_tasks(spec.task_paths, spec.editable)
    _execute(spec, tasks, executor, allow_errors, json_out)


def _execute(spec: Any, tasks: list[Any], executor: str, allow_errors: bool, json_out: bool) -> None:
    """Run a job with progress on stderr, its tables (or JSON) on stdout, and the exit code."""
    from looplab.job.runner import run_job

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
    bar: dict[str, Any] = {}

    def on_event(kind: str, info: dict[str, Any]) -> None:
        if kind == "build":
            err_console.print(f"building environment of [bold]{info['task']}[/]…")
        elif kind == "build_failed":
            err_console.print(f"[red]build failed:[/] {info['task']}: {escape(info['error'])}")
        elif kind == "built":
            for w in info["warnings"]:
                err_console.print(f"[yellow]warning:[/] {info['task']}: {escape(w)}")
        elif kind == "repaired":
            err_console.print(
                f"[yellow]repaired:[/] {len(info['trials'])} trial(s) left running by a killed process "
                "marked cancelled; their slots run again"
            )
        elif kind == "plan":
            if info["skipped"]:
                err_console.print(f"resuming: {info['skipped']} finished trial(s) skipped")
            bar["id"] = progress.add_task(f"job {spec.job_name}", total=info["pending"])
            progress.start()
        elif kind == "wait":
            progress.console.print(f"[yellow]{escape(info['message'])}[/]", highlight=False)
        elif kind == "start":
            where = (
                f"cores {info['cores']}"
                if info["cores"]
                else "[yellow]unpinned[/]: no cores were free in time"
            )
            if info.get("waited_s", 0) >= 1:
                where += f", waited {info['waited_s']:.0f} s for them"
            if info.get("memory_waited_s", 0) >= 1:
                where += f", waited {info['memory_waited_s']:.0f} s for memory"
            progress.console.print(f"[dim]start[/] {info['slot']} → {info['trial']} ({where})")
        elif kind == "done":
            r = info
            status = "[green]ok[/]" if r["status"] == "completed" else f"[red]{r['status']}[/]"
            why = TrialResult.model_validate(r).reason
            why = f" [dim]({escape(why)})[/]" if why else ""
            progress.console.print(f"{status} {r['slot']} reward={fixed(r.get('reward'))}{why}")
            progress.advance(bar["id"])

    cancel.install_handlers()
    try:
        summary = run_job(spec, tasks, on_event=on_event, executor=executor)
    except cancel.Cancelled:
        err_console.print(f"interrupted ({cancel.reason()}) before any trial started")
        raise typer.Exit(code=cancel.EXIT_INTERRUPTED) from None
    finally:
        if "id" in bar:  # stopping a bar never started prints an empty line
            progress.stop()
    if json_out:
        console.print_json(data=summary)
    else:
        _print_job_table(summary)
        console.print(f"job folder: {spec.job_dir}")
    if "interrupted" in summary:
        n_cancelled = sum(1 for t in summary["trials"] if t["status"] == "cancelled")
        stopped = summary["interrupted"]
        during = f" while building {stopped['building']}" if stopped.get("building") else ""
        err_console.print(
            f"interrupted ({stopped['signal']}){during}: {n_cancelled} trial(s) cancelled, "
            f"{summary['interrupted']['not_started']} not started; job result written; "
            f"continue with: looplab resume {spec.job_dir}",
            highlight=False,
        )
        raise typer.Exit(code=cancel.EXIT_INTERRUPTED)
    if any(is_error(t["status"]) for t in summary["trials"]) and not allow_errors:
        raise typer.Exit(code=1)


def _print_job_table(summary: dict[str, Any]) -> None:
    from looplab.records.results import agent_label

    table = make_table(
        f"Results: {summary['job_name']}", ("task", "agent", "attempt", "status", "reward", "reason")
    )
    unsealed = 0
    for t in summary["trials"]:
        label = agent_label(t["agent"], t.get("model"))
        task = t["task_name"]
        if t.get("sealed") is False:
            unsealed += 1
            task += " (unsealed)"
        status = f"[red]{t['status']}[/]" if is_error(t["status"]) else t["status"]
        table.add_row(
            escape(task),
            escape(label),
            str(t["attempt"]),
            status,
            fixed(t.get("reward")),
            escape(t.get("reason") or ""),
        )
    console.print(table)
    if unsealed:
        console.print(
            f"[yellow]{unsealed} trial(s) unsealed[/]: no editable globs, "
            "the whole working folder reached the verifier"
        )
    unpinned = sum(1 for t in summary["trials"] if t.get("pinned") is False)
    if unpinned:
        console.print(
            f"[yellow]{unpinned} trial(s) ran unpinned[/] (--core-wait ran out): their timings shared cores"
        )
    agg = make_table("Mean reward per agent", ("agent", "trials", "errors", "mean reward"))
    for name, s in summary["stats"]["agents"].items():
        errs = str(s["n_errors"])
        if s.get("errors_by_status"):
            errs += " (" + ", ".join(f"{k} {v}" for k, v in sorted(s["errors_by_status"].items())) + ")"
        agg.add_row(escape(name), str(s["n_trials"]), errs, fixed(s["mean_reward"]))
    console.print(agg)


# Sub-commands that live in their own modules: (module, attribute, name, kind).
SUBCOMMANDS = [
    ("looplab.tasks.cli", "app", "tasks", "group"),
    ("looplab.measure.cli", "app", "measure", "group"),
    ("looplab.job.calibrate", "calibrate_command", "calibrate", "command"),
    ("looplab.records.cli", "export_app", "export", "group"),
    ("looplab.records.cli", "rescore_command", "rescore", "command"),
    ("looplab.lab.cli", "app", "lab", "group"),
    ("looplab.report.cli", "report_command", "report", "command"),
    ("looplab.report.cli", "view_command", "view", "command"),
    ("looplab.environment.cli", "app", "images", "group"),
]


def _mount_subcommands() -> None:
    """Mount each sub-command from its module; a missing module or attribute is an error, never skipped."""
    import importlib

    for module, attr, name, kind in SUBCOMMANDS:
        obj = getattr(importlib.import_module(module), attr)
        if kind == "group":
            app.add_typer(obj, name=name)
        else:
            app.command(name)(obj)


_mount_subcommands()


def main() -> None:
    """The ``looplab`` process: usage and looplab errors as one line on stderr, exit 2."""
    from looplab.climain import run_app

    run_app(app, err_console)
