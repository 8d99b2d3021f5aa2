"""Per-machine calibration: a task's reference speedup, measured here and cached.

AutoLab's speedup rewards divide by a reference speedup ``s_ref`` measured once on
one particular CPU. ``calibrate_task`` instead runs the task's reference solution
(the oracle agent) through a normal trial on *this* machine; the verifier's paired
measurement (or instruction ratio) of that solution is ``s_ref``. The result is
cached under ``$LOOPLAB_CALIBRATION_DIR`` (else ``$LOOPLAB_CACHE_DIR/calibration``,
default /var/tmp/looplab/calibration), one folder per machine fingerprint and one file per
task content hash, so editing the task invalidates its calibration. Verifiers look
it up with ``lookup_calibration``; without one they fall back to the task's
``[optimization]`` constants and say so.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_json, hash_tree, read_json
from looplab.measure.fingerprint import MachineFingerprint, machine_fingerprint
from looplab.tasks.loader import Task

DEFAULT_CACHE_ROOT = Path("/var/tmp/looplab")


class CalibrationRecord(BaseModel):
    """One task's reference speedup on one machine."""

    task: str
    task_hash: str
    measure: str
    s_ref: float = Field(gt=0)
    runs: list[float]  # the reference speedup of each calibration trial
    ci_low: float | None = None  # of the run whose speedup is the median
    ci_high: float | None = None
    fingerprint: MachineFingerprint
    measured_at: str
    duration_s: float
    details: list[dict[str, Any]] = Field(default_factory=list)  # each trial's measurement


def calibration_dir() -> Path:
    """``LOOPLAB_CALIBRATION_DIR``, else ``$LOOPLAB_CACHE_DIR/calibration``, else /var/tmp/looplab/calibration."""
    if os.environ.get("LOOPLAB_CALIBRATION_DIR"):
        return Path(os.environ["LOOPLAB_CALIBRATION_DIR"])
    return Path(os.environ.get("LOOPLAB_CACHE_DIR") or DEFAULT_CACHE_ROOT) / "calibration"


def task_hash(task: Task) -> str:
    """Content hash of the whole task folder: any edit invalidates its calibrations."""
    return hash_tree(task.path)[:20]


def calibration_path(task: Task, fingerprint: MachineFingerprint | None = None) -> Path:
    fp = fingerprint or machine_fingerprint()
    return calibration_dir() / fp.key / f"{task.name}-{task_hash(task)}.json"


def lookup_calibration(task: Task, fingerprint: MachineFingerprint | None = None) -> CalibrationRecord | None:
    """This machine's cached calibration of ``task``, or None (also for an unreadable file)."""
    path = calibration_path(task, fingerprint)
    if not path.is_file():
        return None
    try:
        rec = CalibrationRecord.model_validate(read_json(path))
    except (OSError, ValueError, ValidationError):
        return None
    return rec if rec.measure == task.config.looplab.measure else None


def calibrate_task(
    task: Task,
    repeats: int = 1,
    force: bool = False,
    log: Any = None,
) -> tuple[CalibrationRecord, bool]:
    """Measure (or read from the cache) ``task``'s reference speedup; returns it and whether it was cached."""
    if task.config.looplab.measure == "reported":
        raise LooplabError(
            f"{task.path / 'task.toml'}: field looplab.measure: calibration needs 'paired' or 'instructions'"
        )
    if not (task.solution_dir / "solve.sh").is_file():
        raise LooplabError(f"{task.path}: no solution/solve.sh; calibration runs the reference solution")
    if repeats < 1:
        raise LooplabError(f"calibration repeats must be at least 1, got {repeats}")
    fp = machine_fingerprint()
    path = calibration_path(task, fp)
    if not force:
        cached = lookup_calibration(task, fp)
        if cached is not None:
            return cached, True

    from looplab.environment.build import build_environment
    from looplab.job.cores import CoreAllocator
    from looplab.trial import TrialConfig, new_trial_name, run_trial

    say = log or (lambda msg: None)
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
            say(f"calibration run {i + 1}/{repeats}: oracle trial of {task.name} on cores {cores}")
            trial_dir = work / new_trial_name(task)
            res = run_trial(
                task, env, TrialConfig(agent="oracle", cores=cores), trial_dir, job_name="calibrate"
            )
            speedup, measurement = _reference_speedup(task, res)
            speedups.append(speedup)
            details.append(measurement)
            say(f"  reference speedup {speedup:.4f}")
    finally:
        alloc.release(grant)
        shutil.rmtree(work, ignore_errors=True)
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
    atomic_write_json(path, rec.model_dump(mode="json"))
    return rec, False


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
