"""Where a measured reward's ``s_ref`` comes from: the same run, a calibration, or the constants.

- ``same-run reference``: the runner timed the task's solution (``verify.reference``) in the
  candidate's rounds (``verify.measured`` fills in the value and its interval);
- ``calibration``: this machine's (``measure.calibrate``, keyed by fingerprint), read, or made
  now by the runner for a declared task that opts out (``calibrate_here``);
- ``constants``: the task's ``[optimization]`` scores, the last fallback.

``reward_interval`` turns the two ratios' intervals into the reward's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_json
from looplab.measure.calibrate import CalibrationRecord, calibration_path, lookup_calibration, task_hash
from looplab.measure.fingerprint import machine_fingerprint
from looplab.measure.lock import MeasurementLock
from looplab.measure.stats import InvalidMeasurement
from looplab.measure.timing import PairedResult, PairedSettings
from looplab.tasks.loader import Task
from looplab.verify.reference import PROGRAM
from looplab.verify.rewards import reward_from_speedup, s_ref_from_constants
from looplab.verify.runner import CandidateRunner

SAME_RUN = "same-run reference"


class RefSpeedup(BaseModel):
    """The reference speedup a reward divides by, and where it came from."""

    value: float | None = None
    source: str | None = None  # SAME_RUN | "calibration" | "constants" | None
    ci_low: float | None = None  # same-run: the reference ratio's interval
    ci_high: float | None = None
    calibration: CalibrationRecord | None = None
    calibrated_now: bool = False  # the calibration was made by this verification
    notes: list[str] = Field(default_factory=list)


def resolve_s_ref(task: Task) -> tuple[float | None, str | None, CalibrationRecord | None, list[str]]:
    """``s_ref``, where it came from ("calibration" | "constants" | None), the record, and notes."""
    notes: list[str] = []
    rec = lookup_calibration(task)
    if rec is not None:
        if rec.s_ref > 1.0:
            return rec.s_ref, "calibration", rec, notes
        notes.append(f"calibration s_ref {rec.s_ref:.4g} <= 1 ignored (reference not faster on this machine)")
    try:
        s_ref = s_ref_from_constants(task.config)
    except LooplabError as exc:
        notes.append(str(exc))
        s_ref = None
    if s_ref is not None:
        return s_ref, "constants", None, notes
    return None, None, None, notes


def calibration_s_ref(task: Task, ref: RefSpeedup) -> RefSpeedup:
    """This machine's calibration of ``task`` when it has a usable one (``value`` None otherwise)."""
    rec = lookup_calibration(task)
    if rec is None:
        return ref
    if rec.s_ref <= 1.0:
        ref.notes.append(f"calibration s_ref {rec.s_ref:.4g} <= 1 ignored (reference not faster here)")
        return ref
    return ref.model_copy(update={"value": rec.s_ref, "source": "calibration", "calibration": rec})


def calibrate_here(
    task: Task, runner: CandidateRunner, settings: PairedSettings, lock: MeasurementLock, ref: RefSpeedup
) -> RefSpeedup:
    """Calibrate ``task`` on this machine now: the reference timed against the baseline, stored.

    The first verification of an opted-out task on an uncalibrated machine pays for it;
    later ones read the record (``measure.calibrate``). A reference not faster than the
    baseline is stored too (it says so), and leaves ``s_ref`` to the constants.
    """
    t0 = dt.datetime.now(dt.UTC)
    res = runner.time(settings, lock, order=["baseline", PROGRAM])
    fp = machine_fingerprint()
    rec = CalibrationRecord(
        task=task.name,
        task_hash=task_hash(task),
        measure=task.config.looplab.measure,
        s_ref=res.speedup,
        runs=[res.speedup],
        ci_low=res.ci_low,
        ci_high=res.ci_high,
        fingerprint=fp,
        measured_at=t0.isoformat(timespec="seconds"),
        duration_s=round((dt.datetime.now(dt.UTC) - t0).total_seconds(), 3),
        details=[{"how": "verifier: baseline and reference solution timed interleaved", **_brief(res)}],
    )
    atomic_write_json(calibration_path(task, fp), rec.model_dump(mode="json"))
    ref.notes.append(f"calibrated on this machine now (no calibration for {fp.key} yet)")
    ref = ref.model_copy(update={"calibrated_now": True})
    if rec.s_ref <= 1.0:
        ref.notes.append(f"calibration s_ref {rec.s_ref:.4g} <= 1: the reference is not faster here")
        return ref
    return ref.model_copy(update={"value": rec.s_ref, "source": "calibration", "calibration": rec})


def _brief(res: PairedResult) -> dict[str, Any]:
    return {
        "speedup": res.speedup,
        "ci_low": res.ci_low,
        "ci_high": res.ci_high,
        "pairs": res.pairs,
        "precision_reached": res.precision_reached,
    }


def legacy_s_ref(task: Task) -> RefSpeedup:
    """``s_ref`` of a task without a same-run reference: its calibration here, else the constants."""
    s_ref, source, rec, notes = resolve_s_ref(task)
    return RefSpeedup(value=s_ref, source=source, calibration=rec, notes=notes)


def reward_interval(formula: str, details: dict[str, Any], ref: RefSpeedup) -> tuple[float, float] | None:
    """The reward's interval from the candidate's and the reference's intervals (same run only):
    the candidate's low end over the reference's high end, and the other way round."""
    lo, hi = details.get("speedup_ci_low"), details.get("speedup_ci_high")
    if ref.source != SAME_RUN or lo is None or hi is None or ref.ci_low is None or ref.ci_high is None:
        return None
    try:
        return (
            reward_from_speedup(formula, lo, ref.ci_high),
            reward_from_speedup(formula, hi, ref.ci_low),
        )
    except (LooplabError, InvalidMeasurement):
        return None
