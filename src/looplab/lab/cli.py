"""``looplab lab``: init, run, eval, diagnose, results, plot. Thin: parsing and display only."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from looplab import cancel
from looplab.errors import LooplabError
from looplab.numfmt import significant
from looplab.tables import print_fitted

app = typer.Typer(
    no_args_is_help=True, help="The research loop on your own code: change, evaluate, keep or revert."
)
console = Console(soft_wrap=True)  # log lines are never broken mid-sentence (piped or narrow)
err = Console(stderr=True, soft_wrap=True)

LabOpt = Annotated[Path, typer.Option("--lab", "-l", help="The lab folder (holding lab.toml)")]
DataOpt = Annotated[Path | None, typer.Option("--data", "-d", help="Data folder for the backend (read-only)")]


def _limits(**flags: str | None) -> dict[str, Any]:
    """The stopping flags the user gave, validated like lab.toml's [stop] ("off" switches one off)."""
    from pydantic import ValidationError

    from looplab.lab.config import StopSection

    given = {k: v for k, v in flags.items() if v is not None}
    try:
        parsed = StopSection.model_validate(given)
    except ValidationError as exc:
        e = exc.errors()[0]
        flag = "--" + str(e["loc"][0]).replace("_", "-")
        raise LooplabError(f"{flag}: {e['msg']}") from None
    return {k: getattr(parsed, k) for k in given}


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="The lab folder (created if missing)")] = Path("."),
    name: Annotated[str | None, typer.Option("--name", help="Lab name (default: the folder's name)")] = None,
    example: Annotated[
        bool, typer.Option("--example/--no-example", help="Add a runnable example pipeline")
    ] = True,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing lab.toml")] = False,
) -> None:
    """Create a lab: lab.toml, a backend template, AGENT.md, and a .gitignore entry for its state."""
    from looplab.lab.init import init_lab

    written = init_lab(folder, name=name, example=example, force=force)
    for p in written:
        console.print(f"wrote {p}")
    if any(p.name == "propose.py" for p in written):
        console.print(
            "next: commit the lab, then `looplab lab run --data example-data` "
            "(then edit lab.toml and backend.py for your own pipeline)"
        )
    else:
        console.print(
            "next: point lab.pipeline at what the agent may change, write backend.py's evaluate, "
            "commit the lab, then `looplab lab run --data DIR`"
        )


def _on_event(kind: str, info: dict[str, Any]) -> None:
    if kind == "branch":
        console.print(f"{'created' if info['created'] else 'switched to'} branch [bold]{info['branch']}[/]")
    elif kind == "run":
        lim = ", ".join(f"{k} {v}" for k, v in info["limits"].items() if v is not None) or "none"
        console.print(f"run {info['run']} starts; limits: {lim}")
    elif kind == "resume":
        p = info.get("pending")
        what = f"; experiment {p['experiment']} was interrupted in its {p['phase']} phase" if p else ""
        console.print(f"resuming run {info['run']}{what}")
    elif kind == "recover":
        console.print(f"  experiment {info['experiment']}: {info['action']}")
    elif kind == "data_kept":
        console.print(f"data: {info['data']} (the last run's --data)")
    elif kind == "data_snapshot":
        err.print(
            f"[yellow]note:[/] {info['data']} is not readable by the sandbox user; using a snapshot copy"
        )
    elif kind == "baseline":
        console.print(f"baseline: evaluating commit {info['commit'][:10]} (experiment {info['experiment']})")
    elif kind == "experiment":
        console.print(f"[bold]experiment {info['experiment']}[/] from {info['head'][:10]}")
    elif kind == "agent_done":
        files = ", ".join(info.get("files") or []) or "no change"
        bad = f" [red]{info['stop_reason']}: {info['error']}[/]" if info.get("error") else ""
        console.print(f"  agent: {files}{bad}" + (f" — {info['notes'][:80]}" if info.get("notes") else ""))
    elif kind == "eval":
        if "error" in info:
            console.print(f"  [red]{info['role']} evaluation failed[/]: {info['error'][:200]}")
    elif kind == "logged":
        colour = {
            "keep": "green",
            "discard": "yellow",
            "crash": "red",
            "unchanged": "dim",
            "duplicate": "dim",
        }.get(info["status"], "white")
        ci = (
            f" [{significant(info['score_low'])}, {significant(info['score_high'])}]"
            if info.get("score_low") is not None
            else ""
        )
        console.print(
            f"  [{colour}]{info['status']}[/] score {significant(info['score'])}{ci} "
            f"vs best {significant(info['best_before'])}"
            f" — {info['reason']}"
        )
    elif kind == "stop":
        console.print(f"[bold]stopped[/]: {info['reason']} ({info['message']})")


@app.command()
def run(
    lab_dir: Annotated[Path | None, typer.Option("--lab", "-l", help="The lab folder (default: .)")] = None,
    data: DataOpt = None,
    agent: Annotated[
        str | None, typer.Option("--agent", "-a", help="Agent (default: lab.toml \\[agent] name)")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model for LLM agents")] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="API endpoint for llm/cli agents (OpenAI-compatible servers)"),
    ] = None,
    agent_kwarg: Annotated[list[str] | None, typer.Option("--ak", help="Agent argument KEY=VALUE")] = None,
    max_iterations: Annotated[str | None, typer.Option("--max-iterations", help="N, or off")] = None,
    max_hours: Annotated[str | None, typer.Option("--max-hours", help="H, or off")] = None,
    max_cost: Annotated[str | None, typer.Option("--max-cost", help="USD, or off")] = None,
    target_score: Annotated[str | None, typer.Option("--target-score", help="S, or off")] = None,
    plateau: Annotated[
        str | None, typer.Option("--plateau", help="N experiments without a keep, or off")
    ] = None,
    max_restarts: Annotated[
        str | None, typer.Option("--max-restarts", help="N agent failures, or off")
    ] = None,
    task: Annotated[str | None, typer.Option("--task", help="Run a catalog task as a lab")] = None,
) -> None:
    """Run the loop (or resume an interrupted run) until a stopping condition is met."""
    from looplab.agents.registry import agent_args
    from looplab.lab.config import LAB_FILE, load_lab
    from looplab.lab.loop import LabLoop, RunOptions

    limits = _limits(
        max_iterations=max_iterations,
        max_hours=max_hours,
        max_cost=max_cost,
        target_score=target_score,
        plateau=plateau,
        max_restarts=max_restarts,
    )
    if task is not None:
        from looplab.lab.init import init_task_lab

        folder = lab_dir or Path(f"lab-{Path(task).name}")
        if not (folder / LAB_FILE).is_file():
            init_task_lab(task, folder)
            console.print(f"created task lab {folder.resolve()}")
        lab_dir = folder
    lab = load_lab(lab_dir or Path("."))
    agent_kwargs = agent_args(agent_kwarg, base_url)
    opts = RunOptions(
        data_dir=data, agent=agent, model=model, agent_kwargs=agent_kwargs or None, limits=limits
    )
    # Ctrl-C/SIGTERM stops the agent (then any evaluation), sandboxes and services stop, the state is
    # kept for the resume; a second signal exits at once (the next run repairs it)
    cancel.install_handlers()
    loop = LabLoop(lab, opts, _on_event)
    try:
        summary = loop.run()
    except cancel.Cancelled:
        p = loop.state.pending
        where = f" in experiment {p.experiment}'s {p.phase} phase" if p is not None else ""
        err.print(
            f"interrupted ({cancel.reason()}){where}: the lab's state is kept; "
            f"continue with: looplab lab run --lab {lab.dir}",
            highlight=False,
        )
        raise typer.Exit(code=cancel.EXIT_INTERRUPTED) from None
    console.print(
        f"run {summary.run}: {summary.experiments} experiments, {summary.keeps} kept; best score "
        f"{significant(summary.best_score)} at {(summary.best_commit or '')[:10]} on {lab.branch}"
    )
    console.print(f"results: {lab.state_dir / 'results.tsv'}")


def _evaluate_once(lab_dir: Path, data: Path | None, samples: list[str] | None) -> tuple[Any, dict[str, Any]]:
    from looplab.lab import gitops
    from looplab.lab.config import load_lab
    from looplab.lab.decide import EvalFailed
    from looplab.lab.evaluate import Evaluator, lab_runtime_dir
    from looplab.lab.services import start_host_service
    from looplab.lab.state import run_lock

    lab = load_lab(lab_dir)
    head = gitops.rev(lab.repo, "HEAD")
    if head is None:
        raise LooplabError(f"{lab.repo}: no commits yet; commit the lab and its pipeline first")
    if data is None:
        state = lab.state_dir / "state.json"
        if state.exists():
            run = json.loads(state.read_text()).get("run") or {}
            data = Path(run["data_dir"]) if run.get("data_dir") else None
    # the lab's host service runs under the run lock: never beside a `lab run` of the same lab
    guard = (
        run_lock(lab, f"{lab.dir}: a `lab run` holds this lab and its host service; evaluate when it is done")
        if lab.config.backend.host_service is not None
        else contextlib.nullcontext()
    )
    with guard:
        service = start_host_service(lab, lab_runtime_dir(lab) / "forward-eval")
        ev = None
        try:
            ev = Evaluator(lab, data, service, scope=f"cli{os.getpid()}")
            tree = gitops.candidate_tree(lab.repo, head, lab.repo, lab.pipeline)
            copy = ev.materialize(tree)
            try:
                res, rec = ev.evaluate(copy, 0, "manual", sample_ids=samples)
            except EvalFailed as exc:
                r = getattr(exc, "record", None)
                raise LooplabError(
                    f"evaluation failed: {exc}" + (f"\n{r.output_tail[-2000:]}" if r else "")
                ) from None
            info = {
                "lab": lab.name,
                "commit": head,
                "tree": tree,
                "dirty": tree != gitops.tree_of(lab.repo, head),
                "direction": lab.direction,
                "duration_s": rec.duration_s,
                "data_dir": str(data) if data else None,
            }
            return (lab, res), info
        finally:
            if ev is not None:
                ev.close()
            if service is not None:
                service.stop()


@app.command("eval")
def eval_(
    lab_dir: LabOpt = Path("."),
    data: DataOpt = None,
    sample: Annotated[list[str] | None, typer.Option("--sample", help="Only these sample ids")] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON (what eval always prints; accepted like elsewhere)")
    ] = True,
) -> None:
    """Evaluate the pipeline as it is in the working tree, once; print the result as JSON."""
    del json_out  # eval's one output is the JSON result (score, metrics, samples, data)
    (_lab, res), info = _evaluate_once(lab_dir, data, sample)
    print(json.dumps({**res.model_dump(), **info}, indent=2))


@app.command("dev-eval")
def dev_eval() -> None:
    """Inside a lab agent's sandbox: score the current pipeline files the way the lab will (JSON)."""
    import socket
    import sys

    path = os.environ.get("LOOPLAB_DEV_EVAL_SOCKET")
    if not path:
        raise LooplabError(
            "LOOPLAB_DEV_EVAL_SOCKET is not set: `lab dev-eval` works inside a lab agent's sandbox"
        )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
        except OSError as exc:
            raise LooplabError(f"{path}: the lab's dev-eval service does not answer ({exc})") from None
        s.sendall(b"eval\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    answer = json.loads(b"".join(chunks).decode() or "{}")
    sys.stdout.write(answer.get("stdout", ""))
    sys.stderr.write(answer.get("stderr", ""))
    raise typer.Exit(code=int(answer.get("exit_code", 1)))


@app.command()
def diagnose(
    lab_dir: LabOpt = Path("."),
    data: DataOpt = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Show the N worst samples")] = 20,
    sample: Annotated[list[str] | None, typer.Option("--sample", help="Only these sample ids")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Per-sample results of one evaluation, worst first."""
    from looplab.lab.backend import worst_samples

    (lab, res), info = _evaluate_once(lab_dir, data, sample)
    worst = worst_samples(res, lab.direction, top)
    if as_json:
        print(json.dumps({"score": res.score, **info, "samples": [s.model_dump() for s in worst]}, indent=2))
        return
    console.print(f"score {significant(res.score)} ({lab.direction} is better) on {len(res.samples)} samples")
    table = Table(title=f"worst {len(worst)} samples")
    for col in ("sample", "score", "error", "metrics"):
        table.add_column(col)
    for s in worst:
        table.add_row(
            s.sample_id, significant(s.score), s.error or "", json.dumps(s.metrics) if s.metrics else ""
        )
    console.print(table)


@app.command()
def results(
    lab_dir: LabOpt = Path("."),
    best: Annotated[bool, typer.Option("--best", help="Only the current best")] = False,
    last: Annotated[int | None, typer.Option("--last", min=1, help="Only the last N experiments")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json or csv")] = "table",
    json_out: Annotated[bool, typer.Option("--json", help="The same as --format json")] = False,
) -> None:
    """The experiment history from the results log (with each crash's or discard's reason)."""
    from looplab.lab.config import load_lab
    from looplab.lab.log import ResultsLog, to_csv

    if fmt not in ("table", "json", "csv"):
        raise LooplabError(f"--format must be table, json or csv, got {fmt!r}")
    fmt = "json" if json_out else fmt
    lab = load_lab(lab_dir)
    recs = ResultsLog(lab.state_dir).records()
    if best:
        kept = [r for r in recs if r.kept]
        recs = kept[-1:]
    if last:
        recs = recs[-last:]
    if fmt == "json":
        print(json.dumps([r.model_dump() for r in recs], indent=2))
    elif fmt == "csv":
        print(to_csv(recs), end="")
    else:
        cols = (
            "exp",
            "run",
            "status",
            "score",
            "interval",
            "best before",
            "commit",
            "cost $",
            "reason",
            "notes",
        )
        rows = []
        for r in recs:
            ci = (
                f"[{significant(r.score_low)}, {significant(r.score_high)}]"
                if r.score_low is not None
                else ""
            )
            colour = {"keep": "green", "baseline": "cyan", "crash": "red"}.get(r.status, "white")
            reason = r.reason if r.status not in ("keep", "baseline") else ""
            if r.agent_error and r.status == "crash":
                reason = f"{reason}; agent: {r.agent_error}" if reason else f"agent: {r.agent_error}"
            rows.append(
                [
                    str(r.experiment),
                    str(r.run),
                    f"[{colour}]{r.status}[/]",
                    significant(r.score),
                    ci,
                    significant(r.best_before),
                    r.commit[:10],
                    f"{r.cost_usd:.4f}",
                    escape(reason),
                    escape(r.notes.splitlines()[0] if r.notes else ""),
                ]
            )
        optional = ("interval", "cost $", "run", "best before", "notes")
        print_fitted(console, f"lab {lab.name} ({lab.direction} is better)", cols, rows, optional=optional)


@app.command()
def plot(
    lab_dirs: Annotated[
        list[Path] | None, typer.Option("--lab", "-l", help="Lab folder (repeat to overlay labs)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default: the first lab's state)")
    ] = None,
) -> None:
    """Score and running best against experiment number, wall-clock time and cost: PNG and HTML."""
    from looplab.lab.config import load_lab
    from looplab.lab.log import ResultsLog
    from looplab.lab.plot import series, write_html, write_png

    labs = [load_lab(d) for d in (lab_dirs or [Path(".")])]
    all_series = [series(lab.name, lab.direction, ResultsLog(lab.state_dir).records()) for lab in labs]
    if not any(s.experiment for s in all_series):
        raise LooplabError("no experiments logged yet in " + ", ".join(str(lab.dir) for lab in labs))
    folder = out or labs[0].state_dir
    png = write_png(all_series, folder / "lab-plot.png")
    page = write_html(
        all_series, folder / "lab-plot.html", title="lab " + " vs ".join(lab.name for lab in labs)
    )
    console.print(f"wrote {png}\nwrote {page}")
