"""Run a job: build every environment first, then run the pending trials on an executor.

A task whose environment fails to build does not stop the job: each of its trials is
recorded with status ``error`` and cause ``environment_build_failed`` (the message
names the Dockerfile line), and the other tasks run.

The job folder ``<jobs_dir>/<job_name>/`` holds ``config.json``, one folder per
trial (``<task>__<id>/``) and the job's ``result.json`` with per-agent mean
rewards. A trial slot is (task, agent, attempt number). Re-running the same job
name skips slots that have a completed trial and runs the others again as new
attempts, keeping the folders of failed or interrupted ones.

A job runs in one process at a time (``records.joblock``). Ctrl-C/SIGTERM
(``looplab.cancel``) stops scheduling and the running trials, which record
``cancelled``; the job's result.json is still written. A Ctrl-C while environments
build stops the build in progress; that task's trials record ``cancelled``, the tasks
not built yet start none. Trials a killed process left
without a final record are marked ``cancelled`` by the next run (``repair_interrupted``),
which then runs their slots again.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from looplab import cancel, settings
from looplab.agents.registry import check_job_agents
from looplab.clock import now_iso
from looplab.environment.build import Environment, build_environment, sweep_stale_scratch
from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_json, read_json
from looplab.job.executor import make_executor
from looplab.job.gpus import check_job_gpus
from looplab.job.spec import JobSpec, Slot, trial_config
from looplab.records import joblock
from looplab.records.layout import JobPaths, TrialPaths
from looplab.records.results import JOB_SCHEMA_VERSION, TRIAL_SCHEMA_VERSION, JobResult, TrialResult
from looplab.tasks.loader import Task
from looplab.trial import new_trial_name, record_build_cancelled, record_build_failure
from looplab.verify import editable as editable_mod

__all__ = ["JobSpec", "Slot", "existing_trials", "run_job", "summarize_job", "trial_config"]


def existing_trials(job_dir: Path) -> list[TrialResult]:
    """The records of every finished trial folder of a job (unreadable ones are skipped)."""
    out = []
    for d in JobPaths(Path(job_dir)).trial_dirs():
        paths = TrialPaths(d)
        if paths.result.is_file():
            try:
                out.append(TrialResult.read(paths.result))
            except (ValueError, OSError):
                continue
    return out


def completed_slots(job_dir: Path) -> set[str]:
    return {r.slot for r in existing_trials(job_dir) if r.status == "completed" and r.slot}


def prepare_job(spec: JobSpec, tasks: list[Task]) -> tuple[list[Slot], set[str]]:
    job_dir = spec.job_dir
    cfg_path = spec.paths.config
    ident = spec.identity()
    spec_json = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(spec).items()}
    spec_json["budget"] = spec.budget.record()
    if cfg_path.exists():
        old = read_json(cfg_path)
        before = old.get("identity") or {}
        changed = [
            k for k in sorted(set(ident) | set(before)) if k != "attempts" and ident.get(k) != before.get(k)
        ]
        if changed:
            what = "; ".join(f"{k} was {before.get(k)!r}, now {ident.get(k)!r}" for k in changed)
            raise LooplabError(
                f"{cfg_path}: job '{spec.job_name}' exists with a different {', '.join(changed)} ({what}); "
                "use another --job-name to start a new job"
            )
        if spec.attempts > int(before.get("attempts") or 0):  # -k larger: the job grows, nothing reruns
            old["identity"] = ident
            old["spec"] = spec_json
            atomic_write_json(cfg_path, old)
    else:
        atomic_write_json(
            cfg_path,
            {"job_name": spec.job_name, "created_at": now_iso(), "identity": ident, "spec": spec_json},
        )
    slots = [Slot(t, a, k) for t in tasks for a in spec.agents for k in range(spec.attempts)]
    return slots, completed_slots(job_dir)


def _unmatched_editable(task: Task, env: Environment, override: list[str] | None) -> list[str]:
    """A warning for editable globs that match nothing in the starting working folder (a likely typo)."""
    globs = editable_mod.editable_globs(task, override)
    wd = env.root / env.workdir.lstrip("/")
    if not globs or not wd.is_dir():
        return []
    missing = editable_mod.unmatched(wd, editable_mod.normalize_globs(globs, env.workdir))
    if not missing:
        return []
    return [
        f"editable glob(s) {', '.join(missing)} match no file in the starting {env.workdir}: only files "
        "the agent creates there will reach the verifier"
    ]


def run_job(
    spec: JobSpec,
    tasks: list[Task],
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
    executor: str = "local",
) -> dict[str, Any]:
    """Run all pending slots; ``on_event(kind, info)`` reports progress (build, start, done)."""
    emit = on_event or (lambda kind, info: None)
    settings.check_cache_dir()  # before any build: sandboxes must reach the layers
    envs: dict[str, Environment] = {}
    pool = make_executor(executor, envs)  # an unknown executor fails first
    # bad agent arguments, a CLI tool the sandbox cannot run, missing keys or prices fail before any trial
    check_job_agents(spec.agents, spec.agent_kwargs, spec.model, spec.budget)
    check_job_gpus(tasks)  # a task asking for GPUs this machine lacks fails before any build
    sweep_stale_scratch()  # what killed looplab processes left behind
    failed: dict[str, str] = {}  # task -> why its environment did not build: its trials are errors
    building = _build_all(
        tasks, envs, failed, spec.editable, emit, spec.timeout_multiplier
    )  # the task Ctrl-C stopped, if any
    with joblock.hold(spec.paths):
        repaired = repair_interrupted(spec.job_dir)
        if repaired:
            emit("repaired", {"trials": repaired})
        slots, done = prepare_job(spec, tasks)
        pending = [s for s in slots if s.key not in done]
        emit("plan", {"total": len(slots), "pending": len(pending), "skipped": len(slots) - len(pending)})
        for slot in [s for s in pending if s.task.name in failed]:
            trial_dir = spec.job_dir / new_trial_name(slot.task)
            cfg = trial_config(spec, slot, None)
            rec = record_build_failure(
                slot.task, cfg, trial_dir, failed[slot.task.name], spec.job_name, slot.key
            )
            emit("done", rec.record())
        pending = [s for s in pending if s.task.name not in failed]
        n_run = 0
        if cancel.requested():  # stopped while building: the task being built records its trials
            for slot in [s for s in pending if s.task.name == building]:
                trial_dir = spec.job_dir / new_trial_name(slot.task)
                rec = record_build_cancelled(
                    slot.task,
                    trial_config(spec, slot, None),
                    trial_dir,
                    cancel.reason(),
                    spec.job_name,
                    slot.key,
                )
                n_run += 1
                emit("done", rec.record())
        else:
            for res in pool.run(spec, pending, emit):
                n_run += 1
                emit("done", res.record())
        summary = summarize_job(spec.job_dir, spec.job_name)
        summary.write(spec.paths.result)
    out = summary.record()
    if cancel.requested():
        out["interrupted"] = {"signal": cancel.reason(), "not_started": len(pending) - n_run}
        if building:
            out["interrupted"]["building"] = building
    return out


def _build_all(
    tasks: list[Task],
    envs: dict[str, Environment],
    failed: dict[str, str],
    editable: list[str] | None,
    emit: Callable[[str, dict[str, Any]], None],
    timeout_multiplier: float = 1.0,
) -> str | None:
    """Build every task's environment into ``envs`` (failures into ``failed``), in order.

    Ctrl-C stops the build in progress (its sandbox is stopped, a host command killed, a wait
    for another process's build ended) and the rest; returns the task it stopped, if any.
    """
    for t in tasks:
        if cancel.requested():
            return None
        emit("build", {"task": t.name})
        try:
            envs[t.name] = build_environment(t, timeout_multiplier=timeout_multiplier)
        except cancel.Cancelled:
            return t.name
        except LooplabError as exc:
            if cancel.requested():  # a step Ctrl-C killed fails like any: the build was stopped
                return t.name
            failed[t.name] = str(exc)
            emit("build_failed", {"task": t.name, "error": str(exc)})
            continue
        warnings = envs[t.name].warnings + _unmatched_editable(t, envs[t.name], editable)
        emit("built", {"task": t.name, "cached": envs[t.name].cached, "warnings": warnings})
    return None


def repair_interrupted(job_dir: Path) -> list[str]:
    """Give every trial a killed process left without a final record a ``cancelled`` one.

    Called with the job's lock held, so no live process is running those trials. Their
    slots are not completed, so the run that repairs them runs them again.
    """
    fixed = []
    for d in JobPaths(Path(job_dir)).trial_dirs():
        paths = TrialPaths(d)
        try:
            old = TrialResult.read(paths.result) if paths.result.is_file() else None
        except (ValueError, OSError):
            old = None
        if old is not None and old.status != "running":
            continue
        try:
            cfg = read_json(paths.config) if paths.config.is_file() else {}
        except (ValueError, OSError):
            cfg = {}
        rec = old or TrialResult(
            schema_version=TRIAL_SCHEMA_VERSION,
            trial_name=d.name,
            job_name=str(cfg.get("job_name") or ""),
            slot=cfg.get("slot"),
            task_name=str(cfg.get("task_name") or d.name.rpartition("__")[0]),
            task_path=cfg.get("task"),
            agent=str(cfg.get("agent") or "?"),
            model=cfg.get("model"),
            attempt=int(cfg.get("attempt") or 0),
        )
        rec.status, rec.reward = "cancelled", None
        rec.finished_at = rec.finished_at or now_iso()
        rec.exception_info = {
            "type": "Interrupted",
            "message": "the looplab process running this trial exited before it finished "
            "(repaired by the next run)",
        }
        rec.write(paths.result)
        fixed.append(d.name)
    return fixed


def summarize_job(job_dir: Path, job_name: str) -> JobResult:
    trials = existing_trials(job_dir)
    latest: dict[str, TrialResult] = {}
    for r in sorted(trials, key=lambda r: r.finished_at or ""):
        key = r.slot or r.trial_name
        if key not in latest or r.status == "completed" or latest[key].status != "completed":
            latest[key] = r
    agents: dict[str, dict[str, Any]] = {}
    for r in latest.values():
        a = agents.setdefault(
            r.label, {"rewards": [], "n_trials": 0, "n_errors": 0, "by_task": {}, "usage": {}}
        )
        a["n_trials"] += 1
        _add_usage(a["usage"], r)
        if r.status != "completed":
            a["n_errors"] += 1
            a.setdefault("errors_by_status", {}).setdefault(r.status, 0)
            a["errors_by_status"][r.status] += 1
            continue
        a["rewards"].append(float(r.reward or 0.0))
        a["by_task"].setdefault(r.task_name, []).append(float(r.reward or 0.0))
    stats = {}
    for name, a in agents.items():
        rw = a["rewards"]
        stats[name] = {
            "mean_reward": statistics.fmean(rw) if rw else None,
            "n_trials": a["n_trials"],
            "n_completed": len(rw),
            "n_errors": a["n_errors"],
            "errors_by_status": a.get("errors_by_status", {}),
            "mean_reward_by_task": {t: statistics.fmean(v) for t, v in sorted(a["by_task"].items())},
            "usage": a["usage"],
        }
    spent: dict[str, Any] = {}  # every attempt's tokens and dollars, failed ones included
    for r in trials:
        _add_usage(spent, r)
    columns = ("trial_name", "slot", "task_name", "agent", "model", "attempt", "status", "reward", "sealed")
    rows = [
        {
            **{k: getattr(r, k) for k in columns},
            "reason": r.reason,
            "pinned": r.resources.get("pinned", True),
            "core_wait_s": r.resources.get("core_wait_s"),
            "memory_wait_s": r.resources.get("memory_wait_s"),
        }
        for r in latest.values()
    ]
    return JobResult(
        schema_version=JOB_SCHEMA_VERSION,
        job_name=job_name,
        updated_at=now_iso(),
        n_trials=len(latest),
        n_trial_dirs=len(trials),
        stats={"agents": stats},
        usage=spent,
        trials=sorted(rows, key=lambda x: x["slot"] or ""),
    )


def _add_usage(total: dict[str, Any], r: TrialResult) -> None:
    """Add a trial's model usage (agent_result.usage: tokens, calls, dollars) into ``total``."""
    for k, v in r.usage.items():
        if isinstance(v, int | float):
            total[k] = round(total.get(k, 0) + v, 10)
