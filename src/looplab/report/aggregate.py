"""Aggregate job folders into one report: leaderboard, per-task tables, gates, spend, errors, modes.

The headline number per agent (and model) follows AutoLab: the mean reward over
tasks (each task's reward averaged over its attempts), with a 95% t-interval over
attempts — each attempt index (per job) is one replicate whose score is its mean
over tasks. Only the latest trial per slot counts (a completed one over a failed
retry, as the job summary does); harness errors are left out of the means and
counted under errors by cause, which also covers every retried folder. Failure
modes and anytime-curve numbers come from ``curves`` and ``failure_modes``.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from looplab.clock import now_iso
from looplab.report.curves import Curve, build_curve
from looplab.report.failure_modes import MODES, OTHER, Classification, FailureSettings, classify
from looplab.report.model import TrialData, latest_per_slot, load_jobs

# two-sided 95% Student-t quantiles by degrees of freedom (then 40, 60, 120 and the normal limit)
_T975 = [
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
]
_T975_TAIL = [(40, 2.021), (60, 2.000), (120, 1.980), (10**9, 1.960)]


def t975(df: int) -> float:
    if df < 1:
        raise ValueError("degrees of freedom must be at least 1")
    if df <= len(_T975):
        return _T975[df - 1]
    for d, t in _T975_TAIL:
        if df <= d:
            return t
    return 1.960


def mean_ci95(values: list[float]) -> tuple[float | None, float | None, float | None]:
    """Mean and 95% t-interval; the interval is None with fewer than two values."""
    if not values:
        return None, None, None
    m = statistics.fmean(values)
    if len(values) < 2:
        return m, None, None
    half = t975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return m, m - half, m + half


def error_cause(t: TrialData) -> str | None:
    """Why a trial failed, as a short category, or None when nothing went wrong."""
    if t.status == "running":
        return None
    ar = t.agent_result
    if t.status not in ("completed", "agent_error") or (t.status == "agent_error" and not ar.get("error")):
        kind = "harness" if t.status == "error" else t.status  # "error": records before the status names
        return f"{kind}: " + str((t.result.get("exception_info") or {}).get("type") or "error")
    if ar.get("stop_reason") == "error":
        err = str(ar.get("error") or "error")
        return "agent: " + err.split(":", 1)[0][:60]
    reason = t.verifier.get("reason")
    if reason:
        return "verifier: " + str(reason).split(":", 1)[0][:60]
    return None


def _s_ref_source(s_ref: dict[str, Any] | None) -> str | None:
    """``same-run reference``, ``calibration <date> on <machine>``, ``constants`` (task.toml), or None."""
    if not s_ref:
        return None
    if s_ref.get("source") == "calibration":
        return f"calibration {s_ref.get('measured_at') or '?'} on {s_ref.get('machine') or '?'}"
    return s_ref.get("source")


def _round(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def trial_row(t: TrialData, curve: Curve | None, cls: Classification, counted: bool) -> dict[str, Any]:
    return {
        "trial": t.name,
        "dir": str(t.dir),
        "job": t.job_name,
        "task": t.task_name,
        "agent": t.label,
        "attempt": t.attempt,
        "status": t.status,
        "sealed": t.result.get("sealed"),
        "pinned": (t.result.get("resources") or {}).get("pinned", True),
        "core_wait_s": (t.result.get("resources") or {}).get("core_wait_s"),
        "memory_wait_s": (t.result.get("resources") or {}).get("memory_wait_s"),
        "s_ref": (t.result.get("s_ref") or {}).get("value"),
        "s_ref_source": _s_ref_source(t.result.get("s_ref")),
        "reward": t.reward,
        "primary": t.primary,
        "rewards": t.named_rewards,
        "correct": t.gate_passed,
        "stop_reason": t.stop_reason,
        "used_s": _round(t.used_s, 2),
        "budget_s": t.budget_s,
        "tokens": t.tokens,
        "cost_usd": _round(t.cost_usd),
        "n_checkpoints": len(t.checkpoints),
        "n_scored": len(curve.points) if curve else 0,
        "final_score": _round(curve.final) if curve else None,
        "best_score": _round(curve.best) if curve else None,
        "auc_time": _round(curve.auc_time) if curve else None,
        "auc_cost": _round(curve.auc_cost) if curve else None,
        "t50_s": curve.t50_s if curve else None,
        "t90_s": curve.t90_s if curve else None,
        "failure_mode": cls.mode,
        "why": cls.why,
        "error_cause": error_cause(t),
        "counted": counted,
    }


def reward_key_metrics(trials: list[TrialData]) -> dict[str, dict[str, float | int]]:
    """Harbor's metrics (mean, max, min, sum) of every named reward over completed trials."""
    values: dict[str, list[float]] = defaultdict(list)
    for t in trials:
        for k, v in t.named_rewards.items():
            values[k].append(v)
    return {
        k: {
            "mean": _round(statistics.fmean(v)),
            "max": _round(max(v)),
            "min": _round(min(v)),
            "sum": _round(sum(v)),
            "n": len(v),
        }
        for k, v in sorted(values.items())
    }


def build_report(job_dirs: list[Path], settings: FailureSettings | None = None) -> dict[str, Any]:
    """Everything a report shows, as one JSON-able dict (see docs/reports.md for its keys)."""
    return report_from_trials(load_jobs(job_dirs), job_dirs, settings)


def report_from_trials(
    every: list[TrialData], job_dirs: list[Path], settings: FailureSettings | None = None
) -> dict[str, Any]:
    """``build_report`` on trials already loaded (the live viewer loads them once per change)."""
    s = settings or FailureSettings()
    latest = {t.name for t in latest_per_slot(every)}
    curves = {t.name: build_curve(t, s.min_gain) for t in every}
    classes = {t.name: classify(t, curves[t.name], s) for t in every}
    rows = [trial_row(t, curves[t.name], classes[t.name], t.name in latest) for t in every]
    rows.sort(key=lambda r: (r["task"], r["agent"], r["job"], r["attempt"], r["trial"]))
    counted = [t for t in every if t.name in latest]
    labels = sorted({t.label for t in every})
    tasks = sorted({t.task_name for t in every})
    board, per_task, modes, errors = [], {}, {}, {}
    for label in labels:
        mine = [t for t in counted if t.label == label]
        done = [t for t in mine if t.status == "completed" and t.reward is not None]
        by_task: dict[str, list[float]] = defaultdict(list)
        by_rep: dict[tuple[str, int], list[float]] = defaultdict(list)
        for t in done:
            by_task[t.task_name].append(float(t.reward or 0.0))
            by_rep[(t.job_name, t.attempt)].append(float(t.reward or 0.0))
        task_means = [statistics.fmean(v) for v in by_task.values()]
        rep_scores = [statistics.fmean(v) for v in by_rep.values()]
        headline = statistics.fmean(task_means) if task_means else None
        _m, lo, hi = mean_ci95(rep_scores)
        if lo is not None and headline is not None and _m is not None:
            lo, hi = (
                headline - (_m - lo),
                headline + (hi - _m),
            )  # the replicate interval, centred on the headline
        gates = [t.gate_passed for t in done if t.gate_passed is not None]
        aucs = [
            curves[t.name].auc_time for t in done if curves[t.name] and curves[t.name].auc_time is not None
        ]  # type: ignore[union-attr]
        mode_counts = Counter(classes[t.name].mode for t in mine)
        modes[label] = {
            m: mode_counts.get(m, 0) for m in (*MODES, *OTHER) if m in MODES or mode_counts.get(m)
        }
        errors[label] = dict(
            Counter(c for t in every if t.label == label and (c := error_cause(t))).most_common()
        )
        board.append(
            {
                "agent": label,
                "mean_reward": _round(headline),
                "ci95_low": _round(lo),
                "ci95_high": _round(hi),
                "n_tasks": len(by_task),
                "n_attempts": len(by_rep),
                "n_trials": len(mine),
                "n_completed": len(done),
                "n_errors": sum(1 for t in mine if t.status not in ("completed", "running")),
                "n_running": sum(1 for t in mine if t.status == "running"),
                "n_unsealed": sum(1 for t in mine if t.result.get("sealed") is False),
                "n_unpinned": sum(
                    1 for t in mine if (t.result.get("resources") or {}).get("pinned") is False
                ),
                "pass_rate": _round(sum(gates) / len(gates)) if gates else None,
                "n_gated": len(gates),
                "tokens": sum(t.tokens for t in mine),
                "cost_usd": _round(sum(t.cost_usd for t in mine)),
                "mean_auc_time": _round(statistics.fmean(aucs)) if aucs else None,
                "primary": sorted({t.primary for t in done}),
                "reward_keys": reward_key_metrics(done),
            }
        )
        for task in tasks:
            cell = [t for t in mine if t.task_name == task]
            if not cell:
                continue
            rw = by_task.get(task, [])
            tg = [t.gate_passed for t in cell if t.gate_passed is not None]
            ta = [
                curves[t.name].auc_time
                for t in cell
                if curves[t.name] and curves[t.name].auc_time is not None
            ]  # type: ignore[union-attr]
            per_task.setdefault(task, {})[label] = {
                "n": len(cell),
                "n_completed": len(rw),
                "mean_reward": _round(statistics.fmean(rw)) if rw else None,
                "sd": _round(statistics.stdev(rw)) if len(rw) > 1 else None,
                "min": _round(min(rw)) if rw else None,
                "max": _round(max(rw)) if rw else None,
                "pass_rate": _round(sum(tg) / len(tg)) if tg else None,
                "mean_auc_time": _round(statistics.fmean(ta)) if ta else None,
                "tokens": sum(t.tokens for t in cell),
                "cost_usd": _round(sum(t.cost_usd for t in cell)),
            }
    board.sort(key=lambda r: (r["mean_reward"] is None, -(r["mean_reward"] or 0.0), r["agent"]))
    return {
        "generated_at": now_iso(),
        "jobs": sorted({t.job_name for t in every}),
        "job_dirs": [str(Path(j).resolve()) for j in job_dirs],
        "settings": s.to_json(),
        "leaderboard": board,
        "tasks": {k: per_task[k] for k in sorted(per_task)},
        "failure_modes": modes,
        "errors": errors,
        "trials": rows,
        "curves": {name: c.to_json() for name, c in curves.items() if c is not None},
    }
