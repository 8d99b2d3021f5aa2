"""Calibrate a task on this machine: oracle trials measure its reference speedup ``s_ref``.

For test.sh tasks, oracle trials: the verifier's measured speedup of the reference solution.
For declared tasks that opt out of the same-run reference (``s_ref = "calibration"``), the
verifier's own calibration (the one it makes by itself the first time it runs on a machine),
made on a private folder and read back. A declared task that times its reference in the same
run as each candidate has nothing to calibrate: a one-line error.

``calibrate_task`` runs the task's reference solution through normal trials
(pinned to cores like any job's trial) and stores the median measured speedup with
``looplab.measure.calibrate`` (which only stores and looks calibrations up, so the
verifier can read them without importing trials). ``calibrate_command`` is
``looplab calibrate``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from looplab.environment.build import build_environment
from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_json, remove_tree
from looplab.job.cores import CoreAllocator
from looplab.measure.calibrate import CalibrationRecord, calibration_path, lookup_calibration, task_hash
from looplab.measure.cli import JsonOpt, OutOpt, err_console
from looplab.measure.cli import _emit as emit_result
from looplab.measure.fingerprint import machine_fingerprint
from looplab.tasks.catalog import resolve_task_path
from looplab.tasks.loader import Task, load_task
from looplab.trial import new_trial_name, run_trial
from looplab.trial_config import TrialConfig
from looplab.verify.runner import load_declaration
from looplab.verify.s_ref import resolve_s_ref

CALIBRATION_ENV = "LOOPLAB_CALIBRATION_DIR"  # settings.Settings reads it on every call


def check_calibratable(task: Task, repeats: int = 1) -> None:
    """A one-line error when ``task`` cannot be calibrated (reported metric, no reference solution)."""
    if task.config.looplab.measure == "reported":
        raise LooplabError(
            f"{task.path / 'task.toml'}: field looplab.measure: calibration needs 'paired' or 'instructions'"
        )
    if not (task.solution_dir / "solve.sh").is_file():
        raise LooplabError(f"{task.path}: no solution/solve.sh; calibration runs the reference solution")
    decl = load_declaration(task.tests_dir) if task.native else None
    if decl is not None and decl.mode == "timed" and decl.s_ref == "same-run":
        raise LooplabError(
            f"{task.tests_dir / 'run.toml'}: field s_ref: {task.name} times its reference solution in the "
            "same run as every candidate, so there is nothing to calibrate "
            '(s_ref = "calibration" opts out; the verifier then calibrates on first use)'
        )
    if repeats < 1:
        raise LooplabError(f"calibration repeats must be at least 1, got {repeats}")


def calibrate_task(
    task: Task,
    repeats: int = 1,
    force: bool = False,
    log: Callable[[str], None] | None = None,
    store: bool = True,
) -> tuple[CalibrationRecord, bool]:
    """Measure (or read from the cache) ``task``'s reference speedup; returns it and whether it was cached.

    ``store=False`` measures without writing the calibration (``--dry-run``)."""
    check_calibratable(task, repeats)
    fp = machine_fingerprint()
    path = calibration_path(task, fp)
    if not force:
        cached = lookup_calibration(task, fp)
        if cached is not None:
            return cached, True

    say = log or (lambda msg: None)
    decl = load_declaration(task.tests_dir) if task.native else None
    declared = decl is not None and decl.mode == "timed"
    t0 = dt.datetime.now(dt.UTC)
    env = build_environment(task)
    alloc = CoreAllocator()
    grant = alloc.acquire(task.config.environment.cpus, task.config.environment.memory_mb)
    cores = grant.cores
    speedups: list[float] = []
    details: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix=f"looplab-calibrate-{task.name}-"))
    try:
        for i in range(repeats):
            trial_dir = work / new_trial_name(task)
            if declared:
                say(f"calibration run {i + 1}/{repeats}: {task.name}'s verifier on cores {cores}")
                speedup, measurement = _verifier_calibration(task, env, cores, trial_dir)
            else:
                say(f"calibration run {i + 1}/{repeats}: oracle trial of {task.name} on cores {cores}")
                res = run_trial(
                    task, env, TrialConfig(agent="oracle", cores=cores), trial_dir, job_name="calibrate"
                )
                speedup, measurement = _reference_speedup(task, res.record())
            speedups.append(speedup)
            details.append(measurement)
            say(f"  reference speedup {speedup:.4f}")
    finally:
        alloc.release(grant)
        with contextlib.suppress(OSError):  # iterative: a candidate's deep tree cannot overflow the stack
            remove_tree(work)
    s_ref = statistics.median(speedups)
    mid = min(range(len(speedups)), key=lambda i: abs(speedups[i] - s_ref))
    rec = CalibrationRecord(
        task=task.name,
        task_hash=task_hash(task),
        measure=task.config.looplab.measure,
        s_ref=s_ref,
        runs=speedups,
        ci_low=details[mid].get("speedup_ci_low"),
        ci_high=details[mid].get("speedup_ci_high"),
        fingerprint=fp,
        measured_at=t0.isoformat(timespec="seconds"),
        duration_s=round((dt.datetime.now(dt.UTC) - t0).total_seconds(), 3),
        details=details,
    )
    if store:
        atomic_write_json(path, rec.model_dump(mode="json"))
    return rec, False


def calibrate_store(task: Task, rec: CalibrationRecord) -> None:
    """Store a measured calibration (after the user said yes)."""
    atomic_write_json(calibration_path(task, rec.fingerprint), rec.model_dump(mode="json"))


def _verifier_calibration(
    task: Task, env: Any, cores: list[int] | None, trial_dir: Path
) -> tuple[float, dict[str, Any]]:
    """One calibration of a declared task, measured the one way the verifier measures it.

    A nop trial runs against a private, empty calibration folder, so its verifier calibrates
    first (``verify.s_ref.calibrate_here``: the baseline timed against the reference derived
    from solve.sh); that record is read back, and nothing of this machine's is touched.
    """
    old = os.environ.get(CALIBRATION_ENV)
    with tempfile.TemporaryDirectory(prefix="looplab-calibration-") as private:
        os.environ[CALIBRATION_ENV] = private
        try:
            res = run_trial(task, env, TrialConfig(agent="nop", cores=cores), trial_dir, job_name="calibrate")
            rec = lookup_calibration(task)
        finally:
            if old is None:
                os.environ.pop(CALIBRATION_ENV, None)
            else:
                os.environ[CALIBRATION_ENV] = old
    if rec is None:
        r = res.record()
        why = (r.get("exception_info") or {}).get("message") or (r.get("verifier_result") or {}).get("reason")
        raise LooplabError(
            f"calibration of {task.name}: the verifier made no calibration: {why or 'unknown'}"
        )
    return rec.s_ref, {
        "speedup_ci_low": rec.ci_low,
        "speedup_ci_high": rec.ci_high,
        **(rec.details or [{}])[0],
    }


def _reference_speedup(task: Task, result: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """The measured speedup in an oracle trial's record, or a one-line error saying why there is none.

    The verifier measures only a correct solution, so a speedup present means the
    reference passed the task's checks.
    """
    if result.get("status") != "completed":
        info = result.get("exception_info") or {}
        raise LooplabError(
            f"calibration of {task.name}: the oracle trial failed: {info.get('message', 'unknown error')}"
        )
    vr = result.get("verifier_result") or {}
    m = vr.get("measurement") or {}
    speedup = m.get("speedup")
    if not isinstance(speedup, int | float) or isinstance(speedup, bool):
        why = vr.get("reason") or "the verifier recorded no measured speedup"
        raise LooplabError(f"calibration of {task.name}: the reference solution was not measured: {why}")
    return float(speedup), m


def calibrate_command(
    task: Annotated[str, typer.Argument(help="Task folder or catalog task name")],
    repeats: Annotated[int, typer.Option(min=1, help="Oracle trials to run; s_ref is their median")] = 1,
    force: Annotated[
        bool, typer.Option("--force", help="Measure again even when a calibration is cached")
    ] = False,
    as_json: JsonOpt = False,
    out: OutOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Store a new calibration without asking")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Measure and show old -> new; store nothing")
    ] = False,
) -> None:
    """Measure TASK's reference speedup on this machine (once; later runs read the cache).

    A stored calibration changes every later reward of TASK on this machine, so a new
    one is stored only with --yes (or a yes at the prompt); --dry-run only shows it.
    """
    t = load_task(resolve_task_path(task))
    log = None if as_json else (lambda msg: err_console.print(msg, highlight=False))
    check_calibratable(t, repeats)
    old, old_source, _, _ = resolve_s_ref(t)
    was = f"{old:.4f} ({old_source})" if old is not None else "none"
    asks = not (yes or dry_run) and (force or lookup_calibration(t) is None)
    if asks and not sys.stdin.isatty():
        raise LooplabError(
            f"calibrating {t.name} changes every later reward of it on this machine (s_ref now {was}); "
            "pass --yes to store the new value, or --dry-run to only measure it"
        )
    rec, cached = calibrate_task(t, repeats=repeats, force=force, log=log, store=yes)
    if not cached and not yes and not dry_run:
        if typer.confirm(f"{t.name}: s_ref {was} -> {rec.s_ref:.4f}: store it?", err=True):
            calibrate_store(t, rec)
        else:
            dry_run = True
    where = calibration_path(t, rec.fingerprint)
    if not cached:
        err_console.print(
            f"{t.name}: s_ref {was} -> {rec.s_ref:.4f}"
            + (" (dry run: not stored)" if dry_run else " (stored)"),
            highlight=False,
        )
    ci = (
        f" [{rec.ci_low:.4f}, {rec.ci_high:.4f}]"
        if rec.ci_low is not None and rec.ci_high is not None
        else ""
    )
    human = (
        f"{t.name}: s_ref = {rec.s_ref:.4f}{ci} on {rec.fingerprint.describe()} "
        f"({'read from the cache' if cached else f'measured in {rec.duration_s:.1f} s'}: {where})"
    )
    if dry_run:
        human = human.replace(f": {where})", ": not stored)")
    record = {
        **rec.model_dump(mode="json"),
        "cached": cached,
        "path": str(where),
        "stored": cached or not dry_run,
    }
    emit_result({**record, "previous_s_ref": old, "previous_source": old_source}, as_json, out, human)
