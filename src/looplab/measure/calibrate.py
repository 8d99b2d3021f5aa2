"""Per-machine calibration: a task's reference speedup, measured here and cached.

AutoLab's speedup rewards divide by a reference speedup ``s_ref`` measured once on
one particular CPU. ``looplab.job.calibrate`` instead runs the task's reference
solution (the oracle agent) through a normal trial on *this* machine; the verifier's
paired measurement (or instruction ratio) of that solution is ``s_ref``. This module
stores and looks up the result (it runs no trial), cached under
``$LOOPLAB_CALIBRATION_DIR`` (else ``$LOOPLAB_CACHE_DIR/calibration``,
default /var/tmp/looplab/calibration), one folder per machine fingerprint and one file per
task content hash, so editing the task invalidates its calibration. Verifiers look
it up with ``lookup_calibration``; without one they fall back to the task's
``[optimization]`` constants and say so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from looplab import settings
from looplab.fsutil import hash_tree, read_json
from looplab.measure.fingerprint import MachineFingerprint, machine_fingerprint
from looplab.tasks.loader import Task


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
    """``LOOPLAB_CALIBRATION_DIR``, else ``$LOOPLAB_CACHE_DIR/calibration``, else
    /var/tmp/looplab/calibration."""
    return settings.current().calibration_dir


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
