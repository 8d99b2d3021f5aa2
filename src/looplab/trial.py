"""One trial: an agent works on a task in a sandbox, then the sealed verifier scores it.

Phases: agent (a sandbox on the built environment, the agent run in a worker
thread under its time budget; at the deadline, or when the agent returns, the
sandbox is stopped and every process in it dies), then verification (a fresh
sandbox, see ``verify.verifier``). Everything lands in the trial folder in
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
import shutil
import threading
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from looplab import cancel
from looplab.agents.base import AgentContext, AgentOutcome, Budget, DevCheckResult
from looplab.agents.phase import run_agent
from looplab.agents.registry import make_agent
from looplab.agents.trajectory import Trajectory
from looplab.clock import now_iso
from looplab.environment.build import Environment, scratch_dir
from looplab.environment.task_env import task_env
from looplab.fsutil import atomic_write_json, read_regular_under, remove_tree, walk_tree
from looplab.hostinfo import host_info
from looplab.netpolicy import Egress, resolve_network
from looplab.records.atif import export_trial
from looplab.records.checkpoints import CheckpointStore
from looplab.records.layout import TrialPaths
from looplab.records.results import TRIAL_SCHEMA_VERSION, TrialResult
from looplab.sandbox.base import DEFAULT_MAX_FILE_MB, SandboxSpec
from looplab.sandbox.factory import make_sandbox, runtime_path, runtime_ro_binds
from looplab.sandbox.gpu import GpuDevice
from looplab.tasks.loader import Task
from looplab.verify import editable as editable_mod
from looplab.verify.verifier import verify

MAX_LOG_COPY = 64 << 20


@dataclass
class TrialConfig:
    agent: str
    agent_kwargs: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    attempt: int = 0
    editable: list[str] | None = None
    cores: list[int] | None = None
    gpus: list[GpuDevice] = field(default_factory=list)  # held GPUs (looplab.job.gpus)
    timeout_multiplier: float = 1.0
    agent_timeout_sec: float | None = None  # overrides the task's [agent] timeout_sec
    budget: dict[str, Any] = field(default_factory=dict)  # max_turns, max_tokens, max_cost_usd
    network: str = "task"  # task: the task's network policy per phase; deny: no network at all
    core_wait_s: float = 0.0  # how long the trial waited for its cores


def new_trial_name(task: Task) -> str:
    return f"{task.name}__{uuid.uuid4().hex[:8]}"


class _Phase:
    def __init__(self, timing: dict[str, Any], name: str):
        self.timing, self.name = timing, name

    def __enter__(self) -> None:
        self.t0 = time.monotonic()
        self.timing[self.name] = {"started_at": now_iso()}

    def __exit__(self, *exc: object) -> None:
        self.timing[self.name].update(finished_at=now_iso(), duration_s=round(time.monotonic() - self.t0, 3))


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
        "cpus": task.config.environment.cpus,
        "memory_mb": task.config.environment.memory_mb,
        "gpus": [g.record() for g in cfg.gpus],
    }
    result.environment = {"key": env.key, "cached": env.cached, "warnings": env.warnings}
    box_dir: Path | None = None
    try:
        box_dir = scratch_dir(f"agent-{trial_dir.name}")
        with _Phase(result.timing, "agent_execution"):
            work_dir, outcome, usage = _agent_phase(task, env, cfg, paths, box_dir)
        result.agent_result = {
            "stop_reason": outcome.stop_reason,
            "error": outcome.error,
            "notes": outcome.notes,
            "usage": asdict(outcome.usage),
            "sandbox_usage": usage,
            **outcome.extra,
        }
        cancel.check()  # Ctrl-C during the agent phase: no verification
        try:
            with _Phase(result.timing, "verifier"):
                vr = verify(
                    task,
                    env,
                    work_dir,
                    paths.verifier_dir,
                    cfg.editable,
                    cfg.cores,
                    gpus=cfg.gpus,
                    network=cfg.network,
                )
        except Exception as exc:
            cancel.check()  # stopped by Ctrl-C, not broken
            _failed(result, "verifier_error", exc)
        else:
            cancel.check()  # the verifier was stopped under it: its reward means nothing
            result.verifier_result = vr.to_json()
            result.reward = vr.reward
            result.s_ref = _s_ref_used(vr.measurement)
            result.status = "completed"
            if outcome.stop_reason == "error":  # the agent failed; the reward is what it left
                result.status = "agent_error"
                result.exception_info = {"type": "AgentError", "message": outcome.error or "the agent failed"}
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
        if box_dir is not None:
            try:
                remove_tree(box_dir)
            except Exception as exc:  # the trial's record is written even when clean-up fails
                result.cleanup_error = f"{type(exc).__name__}: {exc} (left {box_dir})"
    result.finished_at = now_iso()
    result.write(paths.result)
    _export_atif(paths)
    return result


def _new_record(
    task: Task, cfg: TrialConfig, paths: TrialPaths, job_name: str, slot: str | None, status: str
) -> TrialResult:
    """A trial's record as it starts (its config.json written beside it)."""
    atomic_write_json(
        paths.config,
        {"task": str(task.path), "task_name": task.name, **asdict(cfg), "job_name": job_name, "slot": slot},
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


def _agent_phase(
    task: Task, env: Environment, cfg: TrialConfig, paths: TrialPaths, box_dir: Path
) -> tuple[Path, AgentOutcome, dict[str, float]]:
    agent = make_agent(cfg.agent, cfg.agent_kwargs, cfg.model)
    wd = env.workdir
    work_dir = box_dir / "work"
    pristine_wd = env.root / wd.lstrip("/")
    if pristine_wd.is_dir():
        shutil.copytree(pristine_wd, work_dir, symlinks=True)
    else:
        work_dir.mkdir(parents=True)
    binds: list[tuple[Path, str]] = [(work_dir, wd)]
    logs = box_dir / "logs"
    (logs / "agent").mkdir(parents=True)
    binds.append((logs, "/logs"))
    for i, extra in enumerate(task.config.looplab.writable):
        host = box_dir / f"writable{i}"
        src = env.root / extra.lstrip("/")
        if src.is_dir():
            shutil.copytree(src, host, symlinks=True)
        binds.append((host, "/" + extra.strip("/")))
    solution_path = None
    if agent.needs_solution and task.solution_dir.is_dir():
        shutil.copytree(task.solution_dir, box_dir / "solution", symlinks=True)
        binds.append((box_dir / "solution", "/solution"))
        solution_path = "/solution"
    ecfg = task.config.environment
    cpus = ecfg.cpus
    quota = cpus if cfg.cores and cpus < len(cfg.cores) else None
    spec = SandboxSpec(
        root=env.root,
        binds=binds,
        env={"PATH": runtime_path(), **env.env, **task_env(task.config)},
        workdir=wd,
        network=False,
        cpus=cfg.cores,
        cpu_quota=quota,
        memory_mb=ecfg.memory_mb,
        max_file_mb=ecfg.storage_mb or DEFAULT_MAX_FILE_MB,
        ro_binds=runtime_ro_binds(),
        gpus=cfg.gpus,
        name=f"agent-{task.name}"[:40],
        run_as=env.run_as(),  # an image's USER (root by default), as in its container
    )
    timeout = (cfg.agent_timeout_sec or task.config.agent.timeout_sec) * cfg.timeout_multiplier
    budget = Budget(timeout_sec=timeout, **cfg.budget)
    trajectory = Trajectory(paths.trajectory, started=budget.started)
    globs = editable_mod.editable_globs(task, cfg.editable)
    norm = editable_mod.normalize_globs(globs, wd) if globs else None
    store = CheckpointStore(paths.dir)
    sandbox = make_sandbox(spec)
    dev_lock = threading.Lock()

    def dev_check() -> DevCheckResult:
        cmd = task.config.looplab.dev_check
        with dev_lock:
            if not cmd:
                n = store.record(work_dir, norm, budget.elapsed(), {"dev_exit_code": None})
                trajectory.event("dev_check", checkpoint=n, note="task has no dev check; files snapshotted")
                from looplab.sandbox.base import ExecResult

                return DevCheckResult(ExecResult(0), n)
            trajectory.event("command", tool="dev_check", command=cmd)
            r = sandbox.exec(cmd, timeout=max(1.0, min(budget.remaining(), 1800.0)), cwd=wd)
            n = store.record(
                work_dir,
                norm,
                budget.elapsed(),
                {"dev_exit_code": r.exit_code, "dev_output_tail": (r.stdout + r.stderr)[-2000:]},
            )
            trajectory.observation(r, tool="dev_check", checkpoint=n)
            return DevCheckResult(r, n)

    ctx = AgentContext(
        logs_dir=paths.agent_dir,
        trajectory=trajectory,
        workdir=wd,
        editable=globs or [],
        dev_check=dev_check,
        dev_check_command=task.config.looplab.dev_check,
        solution_path=solution_path,
    )
    trajectory.event("start", agent=cfg.agent, model=cfg.model, timeout_sec=timeout)
    with Egress(resolve_network(task.config, "agent", cfg.network), paths.agent_dir / "network.jsonl") as net:
        net.prepare(sandbox.spec)
        phase = run_agent(
            agent, task.instruction, sandbox, budget, ctx, thread_name=f"agent-{paths.dir.name}",
            after_start=net.start_in,
        )  # fmt: skip
        phase.outcome.extra["network"] = net.record()
    outcome, usage = phase.outcome, phase.usage
    store.record(work_dir, norm, budget.elapsed(), {"final": True})
    _copy_logs(logs / "agent", paths.sandbox_logs)
    return work_dir, outcome, usage


def _copy_logs(src: Path, dst: Path) -> None:
    """Copy what the agent left in /logs/agent: regular files only, bounded in size.

    The agent owns that folder: a /logs/agent replaced by a symlink (to a host folder,
    /proc...) is not followed, nor is any link below it.
    """
    if src.is_symlink() or not src.is_dir():
        return
    total = 0
    for dirpath, _dirs, files in walk_tree(src):
        for name in files:
            rel = (Path(dirpath) / name).relative_to(src).as_posix()
            data = read_regular_under(src, rel, MAX_LOG_COPY - total)
            if data is None:
                continue
            total += len(data)
            out = dst / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
