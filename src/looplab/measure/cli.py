"""``looplab measure`` (pair, instructions, fingerprint): thin typer commands.

Made to be called by verifier scripts inside a sandbox as well as by people:
``--json`` prints the full result as JSON on stdout, ``--out FILE`` also writes it
atomically, and a failed measurement exits non-zero with a one-line error.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console

from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_json

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Paired timing and instruction counts.")
console = Console()
err_console = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the full result as JSON")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Also write the JSON result to this file")]


def _emit(result: BaseModel | dict[str, Any], as_json: bool, out: Path | None, human: str) -> None:
    data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    if out is not None:
        atomic_write_json(out, data)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        console.print(human, highlight=False, soft_wrap=True)


def _parse_env(items: list[str] | None) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise LooplabError(f"--env takes KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        env[k] = v
    return env


@app.command()
def pair(
    baseline: Annotated[str, typer.Option("--baseline", "-b", help="Command running the baseline program")],
    candidate: Annotated[
        str, typer.Option("--candidate", "-c", help="Command running the candidate program")
    ],
    target: Annotated[
        float, typer.Option(help="Stop when the CI half-width is within ±target (relative)")
    ] = 0.02,
    warmup: Annotated[int, typer.Option(min=0, help="Unrecorded runs of each side first")] = 1,
    min_pairs: Annotated[int, typer.Option(min=2)] = 10,
    max_pairs: Annotated[int, typer.Option(min=2)] = 60,
    max_seconds: Annotated[
        float, typer.Option(help="Stop after this long (checked once min-pairs are done)")
    ] = 300.0,
    confidence: Annotated[float, typer.Option(help="Confidence level of the interval")] = 0.95,
    time_source: Annotated[
        str,
        typer.Option(
            help="wall: wall time; cpu: user+system CPU time; stdout: seconds printed on the last line"
        ),
    ] = "wall",
    run_timeout: Annotated[float | None, typer.Option(help="Seconds allowed per run")] = None,
    cwd: Annotated[Path | None, typer.Option(help="Folder the commands run in")] = None,
    seed: Annotated[
        int, typer.Option(help="Bootstrap seed (the interval is a pure function of the data)")
    ] = 0,
    lock: Annotated[
        bool, typer.Option("--lock/--no-lock", help="Take the host-wide measurement lock")
    ] = True,
    lock_timeout: Annotated[
        float | None, typer.Option(help="Give up waiting for the lock after this long")
    ] = None,
    as_json: JsonOpt = False,
    out: OutOpt = None,
) -> None:
    """Time BASELINE against CANDIDATE in interleaved pairs; report the speedup with its CI."""
    from looplab.measure.lock import MeasurementLock
    from looplab.measure.runners import SubprocessRunner
    from looplab.measure.timing import PairedSettings, measure_pair

    if time_source not in ("wall", "cpu", "stdout"):
        raise LooplabError(f"--time-source must be wall, cpu or stdout, got {time_source!r}")
    settings = PairedSettings(
        warmup=warmup,
        min_pairs=min_pairs,
        max_pairs=max_pairs,
        max_seconds=max_seconds,
        target=target,
        confidence=confidence,
        time_source=time_source,  # type: ignore[arg-type]
        run_timeout=run_timeout,
        seed=seed,
    )
    mlock = MeasurementLock(timeout=lock_timeout, label="looplab measure pair") if lock else None
    res = measure_pair(baseline, candidate, SubprocessRunner(cwd=str(cwd) if cwd else None), settings, mlock)
    human = res.summary()
    if res.lock is not None:
        lk = res.lock
        human += (
            f"\nlock: cores {lk.cores}, waited {lk.waited_s:.2f} s"
            if lk.available
            else f"\nlock: not used ({lk.reason})"
        )
    _emit(res, as_json, out, human)


@app.command()
def instructions(
    command: Annotated[list[str], typer.Argument(help="The command (one quoted string, or words after --)")],
    function: Annotated[
        str | None, typer.Option(help="Count only inside this function (and its callees)")
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", help="KEY=VALUE added to the fixed environment")
    ] = None,
    path: Annotated[str | None, typer.Option(help="PATH for the command (default: the current PATH)")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds allowed")] = None,
    cwd: Annotated[Path | None, typer.Option(help="Folder the command runs in")] = None,
    as_json: JsonOpt = False,
    out: OutOpt = None,
) -> None:
    """Count the instructions COMMAND executes with valgrind/callgrind (exact and repeatable)."""
    from looplab.measure.instructions import count_instructions

    line = command[0] if len(command) == 1 else shlex.join(command)
    res = count_instructions(
        line,
        function=function,
        env=_parse_env(env),
        path=path,
        timeout=timeout,
        cwd=str(cwd) if cwd else None,
    )
    where = f" in {function}" if function else ""
    human = f"{res.instructions:,} instructions{where} ({res.tool_version}, {len(res.processes)} process(es))"
    _emit(res, as_json, out, human)


@app.command()
def fingerprint(as_json: JsonOpt = False) -> None:
    """Show this machine's fingerprint (the calibration cache key)."""
    from looplab.measure.fingerprint import machine_fingerprint

    fp = machine_fingerprint()
    _emit({**fp.model_dump(), "key": fp.key}, as_json, None, f"{fp.key}  {fp.describe()}")


def main() -> None:
    """``python -m looplab.measure``: the measure app on its own, for sandboxes without the full CLI."""
    from looplab.climain import run_app

    run_app(app, err_console)
