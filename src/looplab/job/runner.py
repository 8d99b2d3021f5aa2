"""Run a job: build every environment first, then run the trials on a local pool.

The job folder ``<jobs_dir>/<job_name>/`` holds ``config.json``, one folder per
trial (``<task>__<id>/``) and the job's ``result.json`` with per-agent mean
rewards. A trial slot is (task, agent, attempt number). Re-running the same job
name skips slots that have a completed trial and runs the others again as new
attempts, keeping the folders of failed or interrupted ones.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from looplab.agents.registry import args_for, check_job_agents
from looplab.environment.build import Environment, build_environment, sweep_stale_scratch
from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_json, read_json
from looplab.job.cores import CoreAllocator
from looplab.job.gpus import GpuAllocator, check_job_gpus
from looplab.tasks.loader import Task
from looplab.trial import TrialConfig, new_trial_name, now_iso, run_trial
from looplab.verify import editable as editable_mod
from looplab.verify.verifier import editable_globs


@dataclass
class JobSpec:
    job_name: str
    jobs_dir: Path
    task_paths: list[str]
    agents: list[str]
    attempts: int = 1
    concurrency: int = 1
    model: str | None = None
    agent_kwargs: dict[str, Any] = field(default_factory=dict)
    editable: list[str] | None = None
    timeout_multiplier: float = 1.0
    agent_timeout_sec: float | None = None
    budget: dict[str, Any] = field(default_factory=dict)
    ray_address: str | None = None  # --executor ray: an existing cluster (None: a local Ray instance)

    def identity(self) -> dict[str, Any]:
        """What must match for a re-run to resume this job."""
        return {
            "task_paths": sorted(self.task_paths), "agents": self.agents, "attempts": self.attempts,
            "model": self.model, "agent_kwargs": self.agent_kwargs, "editable": self.editable,
        }  # fmt: skip

    @property
    def job_dir(self) -> Path:
        return Path(self.jobs_dir) / self.job_name


@dataclass
class Slot:
    task: Task
    agent: str
    attempt: int

    @property
    def key(self) -> str:
        return f"{self.task.name}/{self.agent}/{self.attempt}"


def existing_trials(job_dir: Path) -> list[dict[str, Any]]:
    out = []
    for d in sorted(Path(job_dir).iterdir()) if Path(job_dir).is_dir() else []:
        rp = d / "result.json"
        if d.is_dir() and rp.is_file():
            try:
                out.append(read_json(rp))
            except (ValueError, OSError):
                continue
    return out


def completed_slots(job_dir: Path) -> set[str]:
    return {r["slot"] for r in existing_trials(job_dir) if r.get("status") == "completed" and r.get("slot")}


def prepare_job(spec: JobSpec, tasks: list[Task]) -> tuple[list[Slot], set[str]]:
    job_dir = spec.job_dir
    cfg_path = job_dir / "config.json"
    ident = spec.identity()
    if cfg_path.exists():
        old = read_json(cfg_path)
        if old.get("identity") != ident:
            raise LooplabError(
                f"{cfg_path}: job '{spec.job_name}' exists with a different configuration; "
                "use another --job-name to start a new job"
            )
    else:
        atomic_write_json(cfg_path, {"job_name": spec.job_name, "created_at": now_iso(), "identity": ident,
                                     "spec": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(spec).items()}})  # fmt: skip
    slots = [Slot(t, a, k) for t in tasks for a in spec.agents for k in range(spec.attempts)]
    return slots, completed_slots(job_dir)


def _unmatched_editable(task: Task, env: Environment, override: list[str] | None) -> list[str]:
    """A warning for editable globs that match nothing in the starting working folder (a likely typo)."""
    globs = editable_globs(task, override)
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
    check_job_agents(spec.agents, spec.agent_kwargs, spec.model)  # bad agent arguments fail before any trial
    check_job_gpus(tasks)  # a task asking for GPUs this machine lacks fails before any build
    sweep_stale_scratch()  # what killed looplab processes left behind
    envs: dict[str, Environment] = {}
    for t in tasks:  # build first: a broken environment stops the job before any trial exists
        emit("build", {"task": t.name})
        envs[t.name] = build_environment(t)
        warnings = envs[t.name].warnings + _unmatched_editable(t, envs[t.name], spec.editable)
        emit("built", {"task": t.name, "cached": envs[t.name].cached, "warnings": warnings})
    slots, done = prepare_job(spec, tasks)
    pending = [s for s in slots if s.key not in done]
    emit("plan", {"total": len(slots), "pending": len(pending), "skipped": len(slots) - len(pending)})
    job_dir = spec.job_dir
    if executor == "local":
        alloc, gpu_alloc = CoreAllocator(), GpuAllocator()

        def one(slot: Slot) -> dict[str, Any]:
            ecfg = slot.task.config.environment
            grant = alloc.acquire(ecfg.cpus, ecfg.memory_mb)
            held = gpu_alloc.acquire(ecfg.gpus, ecfg.gpu_types, str(slot.task.path / "task.toml"))
            try:
                trial_dir = job_dir / new_trial_name(slot.task)
                emit("start", {"slot": slot.key, "trial": trial_dir.name, "cores": grant.cores,
                               "memory_mb": grant.memory_mb, "waited_s": grant.waited_s})  # fmt: skip
                cfg = trial_config(spec, slot, grant.cores)
                cfg.gpus = held.devices
                return run_trial(slot.task, envs[slot.task.name], cfg, trial_dir, spec.job_name, slot.key)
            finally:
                alloc.release(grant)
                gpu_alloc.release(held)

        with ThreadPoolExecutor(max_workers=max(1, spec.concurrency)) as pool:
            futures = {pool.submit(one, s): s for s in pending}
            for fut in as_completed(futures):
                emit("done", fut.result())
    elif executor == "ray":
        from looplab.job.ray_executor import run_slots_on_ray  # optional dependency

        for res in run_slots_on_ray(spec, pending, envs, on_event=emit):
            emit("done", res)
    else:
        raise LooplabError(f"executor must be 'local' or 'ray', got {executor!r}")
    summary = summarize_job(job_dir, spec.job_name)
    atomic_write_json(job_dir / "result.json", summary)
    return summary


def trial_config(spec: JobSpec, slot: Slot, cores: list[int] | None) -> TrialConfig:
    """The trial configuration of ``slot`` under ``spec``, on ``cores``."""
    kwargs, model = args_for(slot.agent, spec.agent_kwargs, spec.model)
    return TrialConfig(
        agent=slot.agent, agent_kwargs=kwargs, model=model, attempt=slot.attempt,
        editable=spec.editable, cores=cores, timeout_multiplier=spec.timeout_multiplier,
        agent_timeout_sec=spec.agent_timeout_sec, budget=spec.budget,
    )  # fmt: skip


def summarize_job(job_dir: Path, job_name: str) -> dict[str, Any]:
    trials = existing_trials(job_dir)
    latest: dict[str, dict[str, Any]] = {}
    for r in sorted(trials, key=lambda r: r.get("finished_at") or ""):
        key = r.get("slot") or r.get("trial_name")
        if key not in latest or r.get("status") == "completed" or latest[key].get("status") != "completed":
            latest[key] = r
    agents: dict[str, dict[str, Any]] = {}
    for r in latest.values():
        name = r["agent"] + (f" ({r['model']})" if r.get("model") else "")
        a = agents.setdefault(name, {"rewards": [], "n_trials": 0, "n_errors": 0, "by_task": {}, "usage": {}})
        a["n_trials"] += 1
        _add_usage(a["usage"], r)
        if r.get("status") != "completed":
            a["n_errors"] += 1
            continue
        a["rewards"].append(float(r.get("reward") or 0.0))
        a["by_task"].setdefault(r["task_name"], []).append(float(r.get("reward") or 0.0))
    stats = {}
    for name, a in agents.items():
        rw = a["rewards"]
        stats[name] = {
            "mean_reward": statistics.fmean(rw) if rw else None,
            "n_trials": a["n_trials"],
            "n_completed": len(rw),
            "n_errors": a["n_errors"],
            "mean_reward_by_task": {t: statistics.fmean(v) for t, v in sorted(a["by_task"].items())},
            "usage": a["usage"],
        }
    spent: dict[str, Any] = {}  # every attempt's tokens and dollars, failed ones included
    for r in trials:
        _add_usage(spent, r)
    return {
        "job_name": job_name,
        "updated_at": now_iso(),
        "n_trials": len(latest),
        "n_trial_dirs": len(trials),
        "stats": {"agents": stats},
        "usage": spent,
        "trials": sorted(
            [
                {
                    k: r.get(k)
                    for k in (
                        "trial_name",
                        "slot",
                        "task_name",
                        "agent",
                        "model",
                        "attempt",
                        "status",
                        "reward",
                    )
                }
                for r in latest.values()
            ],
            key=lambda x: x["slot"] or "",
        ),  # fmt: skip
    }


def _add_usage(total: dict[str, Any], r: dict[str, Any]) -> None:
    """Add a trial's model usage (agent_result.usage: tokens, calls, dollars) into ``total``."""
    u = (r.get("agent_result") or {}).get("usage") or {}
    for k, v in u.items():
        if isinstance(v, int | float):
            total[k] = round(total.get(k, 0) + v, 10)


def load_job_result(job_dir: Path) -> dict[str, Any]:
    return json.loads((Path(job_dir) / "result.json").read_text())
