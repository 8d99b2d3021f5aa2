"""One trial: an agent works on a task in a sandbox, then the sealed verifier scores it.

Phases (``trial_plan``): agent (a sandbox on the built environment, the agent run in a
worker thread under its time budget; at the deadline, or when the agent returns, the
sandbox is stopped and every process in it dies), then verification (a fresh sandbox,
see ``verify.verifier``). A multi-step task runs its steps in one kept agent sandbox
(``trial_steps``). Everything lands in the trial folder in
Harbor's layout: ``config.json``, ``result.json`` (written last, atomically),
``agent/`` (trajectory, logs), ``verifier/`` (test output, reward file) and
``checkpoints/``.

The status (``records.results.STATUSES``): ``completed``; ``agent_error`` when the
agent failed (it still gets verified, and the reward is kept, but it counts as an
error) or the agent phase raised; ``verifier_error`` when verification raised;
``cancelled`` on Ctrl-C/SIGTERM (``looplab.cancel``), with the trajectory and
checkpoints the agent left.
"""

from __future__ import annotations

import re
import traceback
import uuid
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from looplab import cancel
from looplab.clock import now_iso
from looplab.environment.build import Environment, scratch_dir
from looplab.fsutil import atomic_write_json, remove_tree
from looplab.harbor.services import TrialServices, needs_services
from looplab.harbor.steps import plans as step_plans
from looplab.hostinfo import host_info
from looplab.records.atif import export_steps, export_trial
from looplab.records.layout import TrialPaths
from looplab.records.results import TRIAL_SCHEMA_VERSION, TrialResult
from looplab.tasks.loader import Task
from looplab.trial_config import TrialConfig
from looplab.trial_plan import Workspace, make_workspace, run_plan
from looplab.trial_steps import run_steps
from looplab.verify import editable as editable_mod


def new_trial_name(task: Task) -> str:
    return f"{task.name}__{uuid.uuid4().hex[:8]}"


def run_trial(
    task: Task,
    env: Environment,
    cfg: TrialConfig,
    trial_dir: Path,
    job_name: str = "",
    slot: str | None = None,
) -> TrialResult:
    """Run one trial into ``trial_dir`` and return its result record (also written to result.json)."""
    trial_dir = Path(trial_dir)
    paths = TrialPaths(trial_dir)
    paths.agent_dir.mkdir(parents=True, exist_ok=True)
    paths.verifier_dir.mkdir(parents=True, exist_ok=True)
    result = _new_record(task, cfg, paths, job_name, slot, status="running")
    result.resources = {
        "cores": cfg.cores,
        "pinned": cfg.cores is not None,
        "core_wait_s": cfg.core_wait_s,
        "memory_wait_s": cfg.memory_wait_s,
        "cpus": task.config.environment.cpus,
        "memory_mb": task.config.environment.memory_mb,
        "gpus": [g.record() for g in cfg.gpus],
    }
    result.environment = {"key": env.key, "cached": env.cached, "warnings": env.warnings}
    box_dir: Path | None = None
    ws: Workspace | None = None
    services: TrialServices | None = None
    try:
        box_dir = scratch_dir(f"agent-{trial_dir.name}")
        ws = make_workspace(task, env, box_dir)
        if needs_services(task):  # sidecars and started MCP servers, in the trial's own network
            services = ws.services = TrialServices(task, env, paths.services_dir, cfg.cores)
            services.__enter__()
        if task.multi_step:
            run_steps(task, env, cfg, paths, ws, result)
        else:
            (plan,) = step_plans(task)
            run = run_plan(
                task, env, cfg, paths, ws, plan, result.timing, partial(setattr, result, "agent_result")
            )
            if run.artifacts:
                result.artifacts = run.artifacts
            if run.verifier_error is not None:
                result.status, result.reward = "verifier_error", None
                result.exception_info = run.verifier_error
            elif run.vr is not None:
                result.verifier_result = run.vr.to_json()
                result.reward = run.vr.reward
                result.s_ref = _s_ref_used(run.vr.measurement)
                result.status = "completed"
                if run.outcome.stop_reason == "error":  # the agent failed; the reward is what it left
                    result.status = "agent_error"
                    result.exception_info = {
                        "type": "AgentError",
                        "message": run.outcome.error or "the agent failed",
                    }
    except cancel.Cancelled as exc:
        result.status = "cancelled"
        result.reward = None
        result.exception_info = {"type": "Cancelled", "message": str(exc)}
    except Exception as exc:  # a harness failure is recorded, never lost
        if cancel.requested():
            result.status, result.reward = "cancelled", None
            result.exception_info = {"type": "Cancelled", "message": f"cancelled ({cancel.reason()})"}
        else:
            _failed(result, "agent_error", exc)
    finally:
        if ws is not None:
            try:
                ws.close()  # a multi-step trial's kept agent sandbox
            except Exception as exc:  # the trial's record is written even when it will not stop
                result.cleanup_error = f"agent sandbox: {type(exc).__name__}: {exc}"
        if services is not None:
            try:
                result.services = services.stop()
            except Exception as exc:  # the trial's record is written even when a service will not stop
                result.cleanup_error = f"services: {type(exc).__name__}: {exc}"
        if box_dir is not None:
            try:
                remove_tree(box_dir)
            except Exception as exc:  # the trial's record is written even when clean-up fails
                result.cleanup_error = f"{type(exc).__name__}: {exc} (left {box_dir})"
    result.finished_at = now_iso()
    result.write(paths.result)
    if task.multi_step:  # each step's records are under steps/<name>/, the root has their ATIF merged
        names = [step["step_name"] for step in result.step_results or []]
        for name in names:
            _export_atif(paths.step(name))
        try:
            export_steps(paths.dir, names)
        except Exception as exc:  # the record is complete without it; say why it is missing
            paths.atif_error.write_text(f"{type(exc).__name__}: {exc}\n")
        for d in (paths.agent_dir, paths.verifier_dir):
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
    else:
        _export_atif(paths)
    return result


def _new_record(
    task: Task, cfg: TrialConfig, paths: TrialPaths, job_name: str, slot: str | None, status: str
) -> TrialResult:
    """A trial's record as it starts (its config.json written beside it)."""
    atomic_write_json(
        paths.config,
        {
            "task": str(task.path),
            "task_name": task.name,
            **asdict(cfg),
            "budget": cfg.budget.record(),
            "job_name": job_name,
            "slot": slot,
        },
    )
    globs = editable_mod.editable_globs(task, cfg.editable)
    return TrialResult(
        schema_version=TRIAL_SCHEMA_VERSION,
        id=uuid.uuid4().hex,
        trial_name=paths.dir.name,
        job_name=job_name,
        slot=slot,
        task_name=task.name,
        task_path=str(task.path),
        agent=cfg.agent,
        model=cfg.model,
        attempt=cfg.attempt,
        status=status,
        started_at=now_iso(),
        sealed=globs is not None,
        editable=globs,
        host=host_info(),
    )


def record_build_failure(
    task: Task, cfg: TrialConfig, trial_dir: Path, error: str, job_name: str = "", slot: str | None = None
) -> TrialResult:
    """The record of a trial that never ran because its task's environment failed to build."""
    paths = TrialPaths(Path(trial_dir))
    paths.dir.mkdir(parents=True, exist_ok=True)
    result = _new_record(task, cfg, paths, job_name, slot, status="environment_build_failed")
    m = re.search(r"Dockerfile:(\d+):", error)
    result.cause = "environment_build_failed"
    result.finished_at = result.started_at
    result.exception_info = {
        "type": "EnvironmentBuildFailed",
        "message": error,
        "dockerfile_line": int(m.group(1)) if m else None,
    }
    result.write(paths.result)
    return result


def record_build_cancelled(
    task: Task, cfg: TrialConfig, trial_dir: Path, why: str, job_name: str = "", slot: str | None = None
) -> TrialResult:
    """The record of a trial whose task's environment build was stopped by Ctrl-C or SIGTERM."""
    paths = TrialPaths(Path(trial_dir))
    paths.dir.mkdir(parents=True, exist_ok=True)
    result = _new_record(task, cfg, paths, job_name, slot, status="cancelled")
    result.finished_at = result.started_at
    result.exception_info = {"type": "Cancelled", "message": f"{why} while its environment was building"}
    result.write(paths.result)
    return result


def _s_ref_used(measurement: dict[str, Any] | None) -> dict[str, Any] | None:
    """The reference speedup a measured reward used: value, source (the reference timed in the same
    run, with its interval; this machine's calibration, with its date and machine; or task.toml's
    constants)."""
    m = measurement or {}
    if "s_ref" not in m:
        return None
    out: dict[str, Any] = {"value": m.get("s_ref"), "source": m.get("s_ref_source")}
    cal = m.get("calibration") or {}
    if cal:
        out.update(measured_at=cal.get("measured_at"), machine=cal.get("fingerprint"))
    if m.get("s_ref_ci"):
        out["ci"] = m["s_ref_ci"]
    return out


def _failed(result: TrialResult, status: str, exc: Exception) -> None:
    result.status = status
    result.exception_info = {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": traceback.format_exc()[-8000:],
    }
    result.reward = None


def _export_atif(paths: TrialPaths) -> None:
    """Write Harbor's ``agent/trajectory.json`` (ATIF) beside the streamed trajectory, best effort."""
    try:
        export_trial(paths.dir)
    except Exception as exc:  # the record is complete without it; say why it is missing
        paths.atif_error.write_text(f"{type(exc).__name__}: {exc}\n")
