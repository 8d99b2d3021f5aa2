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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from looplab import cancel
from looplab.agents.base import AgentContext, AgentOutcome, Budget, BudgetLimits, DevCheckResult
from looplab.agents.phase import run_agent
from looplab.agents.registry import make_agent
from looplab.agents.trajectory import Trajectory
from looplab.clock import now_iso
from looplab.environment.build import Environment, scratch_dir
from looplab.environment.task_env import resolve_env, task_env
from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_json, copy_over, read_regular_under, remove_tree, walk_tree
from looplab.harbor import agent_config
from looplab.harbor.artifacts import Collector, run_collect_hooks
from looplab.harbor.healthcheck import wait_healthy
from looplab.harbor.services import TrialServices, needs_services
from looplab.harbor.steps import StepPlan, combine, min_reward_failure
from looplab.harbor.steps import plans as step_plans
from looplab.hostinfo import host_info
from looplab.netpolicy import Egress, resolve_network
from looplab.records.atif import export_steps, export_trial
from looplab.records.checkpoints import CheckpointStore
from looplab.records.layout import TrialPaths
from looplab.records.results import TRIAL_SCHEMA_VERSION, TrialResult
from looplab.sandbox.base import DEFAULT_MAX_FILE_MB, Sandbox, SandboxSpec
from looplab.sandbox.factory import make_sandbox, runtime_path, runtime_ro_binds
from looplab.sandbox.gpu import GpuDevice
from looplab.tasks.loader import Task
from looplab.verify import editable as editable_mod
from looplab.verify.reward_file import parse_reward_data
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
    budget: BudgetLimits = field(default_factory=BudgetLimits)  # max_turns, max_tokens, max_cost_usd
    network: str = "task"  # task: the task's network policy per phase; deny: no network at all
    core_wait_s: float = 0.0  # how long the trial waited for its cores
    memory_wait_s: float = 0.0  # how long it waited for memory the job's running trials reserved


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
        "memory_wait_s": cfg.memory_wait_s,
        "cpus": task.config.environment.cpus,
        "memory_mb": task.config.environment.memory_mb,
        "gpus": [g.record() for g in cfg.gpus],
    }
    result.environment = {"key": env.key, "cached": env.cached, "warnings": env.warnings}
    box_dir: Path | None = None
    services: TrialServices | None = None
    try:
        box_dir = scratch_dir(f"agent-{trial_dir.name}")
        ws = _workspace(task, env, box_dir)
        if needs_services(task):  # sidecars and started MCP servers, in the trial's own network
            services = ws.services = TrialServices(task, env, paths.services_dir, cfg.cores)
            services.__enter__()
        if task.multi_step:
            _run_steps(task, env, cfg, paths, ws, result)
        else:
            (plan,) = step_plans(task)
            run = _run_plan(
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


@dataclass
class _Workspace:
    """The agent's writable folders on the host, made once per trial and kept across its steps."""

    box_dir: Path
    work_dir: Path
    binds: list[tuple[Path, str]]  # the working folder and the declared writable paths
    services: TrialServices | None = None  # the trial's network of services, when it has one


def _workspace(task: Task, env: Environment, box_dir: Path) -> _Workspace:
    wd = env.workdir
    work_dir = box_dir / "work"
    pristine_wd = env.root / wd.lstrip("/")
    if pristine_wd.is_dir():
        shutil.copytree(pristine_wd, work_dir, symlinks=True)
    else:
        work_dir.mkdir(parents=True)
    binds: list[tuple[Path, str]] = [(work_dir, wd)]
    for i, extra in enumerate(task.config.looplab.writable):
        host = box_dir / f"writable{i}"
        src = env.root / extra.lstrip("/")
        if src.is_dir():
            shutil.copytree(src, host, symlinks=True)
        binds.append((host, "/" + extra.strip("/")))
    return _Workspace(box_dir, work_dir, binds)


@dataclass
class _PlanRun:
    """What one agent phase and its verification gave (a step, or the whole single-step trial)."""

    agent_result: dict[str, Any]
    outcome: AgentOutcome
    vr: Any = None  # the VerifierResult, when verification ran and returned
    verifier_error: dict[str, Any] | None = (
        None  # the exception verification raised (type, message, traceback)
    )
    artifacts: list[dict[str, Any]] = field(default_factory=list)


def _run_plan(
    task: Task,
    env: Environment,
    cfg: TrialConfig,
    paths: TrialPaths,
    ws: _Workspace,
    plan: StepPlan,
    timing: dict[str, Any],
    on_agent: Callable[[dict[str, Any]], None],
) -> _PlanRun:
    """The agent phase of ``plan`` in ``ws``, then its sealed verification (into ``paths``).

    ``on_agent`` gets the agent's result as soon as the phase ends (a cancelled trial keeps it)."""
    paths.agent_dir.mkdir(parents=True, exist_ok=True)
    paths.verifier_dir.mkdir(parents=True, exist_ok=True)
    collector = Collector(paths.artifacts_dir)
    with _Phase(timing, "agent_execution"):
        outcome, usage, extra = _agent_phase(task, env, cfg, paths, ws, plan, collector)
    agent_result = {
        "stop_reason": outcome.stop_reason,
        "error": outcome.error,
        "notes": outcome.notes,
        "usage": asdict(outcome.usage),
        "sandbox_usage": usage,
        **extra,
        **outcome.extra,
    }
    run = _PlanRun(agent_result=agent_result, outcome=outcome)
    on_agent(agent_result)
    cancel.check()  # Ctrl-C during the agent phase: no verification
    try:
        with _Phase(timing, "verifier"):
            run.vr = verify(
                task,
                env,
                ws.work_dir,
                paths.verifier_dir,
                cfg.editable or plan.editable,
                cfg.cores,
                gpus=cfg.gpus,
                network=cfg.network,
                step=plan,
                artifacts=collector,
                join=ws.services.join if ws.services else None,
                timeout_multiplier=cfg.timeout_multiplier,
            )
    except Exception as exc:
        cancel.check()  # stopped by Ctrl-C, not broken
        run.verifier_error = _exception_info(exc)
    cancel.check()  # the verifier was stopped under it: its reward means nothing
    if collector.write_manifest() is not None:
        run.artifacts = collector.entries
    return run


def _run_steps(
    task: Task, env: Environment, cfg: TrialConfig, paths: TrialPaths, ws: _Workspace, result: TrialResult
) -> None:
    """A multi-step task: each step's agent phase and verifier in order, on one working folder;
    ``min_reward`` or a step without a verifier result stops the rest (``looplab.harbor.steps``)."""
    result.step_results = []
    stopped: str | None = None
    failure = "agent_error"  # what a step's exception makes the trial: verifier_error when verifying raised
    for plan in step_plans(task):
        assert plan.name is not None
        step_paths = paths.step(plan.name)
        rec: dict[str, Any] = {"step_name": plan.name, "timing": {}}
        result.step_results.append(rec)
        try:
            run = _run_plan(
                task, env, cfg, step_paths, ws, plan, rec["timing"], partial(rec.__setitem__, "agent_result")
            )
        except cancel.Cancelled:
            result.agent_result = _steps_agent_result(result.step_results)
            raise
        except Exception as exc:  # a set-up script or healthcheck failed, or the harness did
            rec["exception_info"] = _exception_info(exc)
            stopped = f"step {plan.name!r} failed: {type(exc).__name__}: {exc}"
            break
        for k in ("agent_execution", "verifier"):  # Harbor's per-step timing fields
            if k in rec["timing"]:
                rec[k] = rec["timing"][k]
        rec["agent_result"] = run.agent_result
        if run.artifacts:
            rec["artifacts"] = run.artifacts
        if run.outcome.stop_reason == "error":
            rec["exception_info"] = {"type": "AgentError", "message": run.outcome.error or "the agent failed"}
        if run.verifier_error is not None:
            rec["exception_info"] = run.verifier_error
            stopped = f"step {plan.name!r}: its verifier failed"
            failure = "verifier_error"
            break
        rec["verifier_result"] = run.vr.to_json()
        rec["reward"] = run.vr.reward
        miss = min_reward_failure(run.vr.rewards, plan.thresholds)
        if miss is not None:
            stopped = f"step {plan.name!r}: {miss}"
            break
    result.agent_result = _steps_agent_result(result.step_results)
    for phase in ("agent_execution", "verifier"):  # the trial's phases span its steps'
        spans = [r["timing"][phase] for r in result.step_results if phase in r["timing"]]
        if spans:
            result.timing[phase] = {
                "started_at": spans[0].get("started_at"),
                "finished_at": spans[-1].get("finished_at"),
                "duration_s": round(sum(x.get("duration_s") or 0 for x in spans), 3),
            }
    verified = [r["verifier_result"] for r in result.step_results if "verifier_result" in r]
    if verified:
        result.sealed = all(v.get("sealed") for v in verified)
    strategy = task.config.multi_step_reward_strategy
    combined = combine(strategy, [r.get("verifier_result", {}).get("rewards") for r in result.step_results])
    result.multi_step = {
        "strategy": strategy,
        "steps": [s.name for s in task.config.steps or []],
        "steps_run": [r["step_name"] for r in result.step_results],
        "stopped": stopped,
    }
    if combined is not None:
        parsed = parse_reward_data(combined, "steps", task.config.looplab.primary_reward)
        result.verifier_result = {"rewards": combined, "reward": parsed.reward, "primary": parsed.primary}
        result.reward = parsed.reward
    errors = [r for r in result.step_results if r.get("exception_info")]
    if combined is None:
        result.status = failure if errors else "verifier_error"
        result.exception_info = (errors[-1]["exception_info"] if errors else None) or {
            "type": "NoStepVerified",
            "message": stopped or "no step was verified",
        }
        result.reward = None
    elif errors:
        result.status = failure
        result.exception_info = errors[-1]["exception_info"]
    else:
        result.status = "completed"


def _steps_agent_result(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The trial's agent_result of a multi-step trial: the steps' usage summed, the last stop reason."""
    results = [s["agent_result"] for s in steps if s.get("agent_result")]
    if not results:
        return None
    usage: dict[str, Any] = {}
    for r in results:
        for k, v in (r.get("usage") or {}).items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                usage[k] = (usage.get(k) or 0) + v
            else:
                usage.setdefault(k, v)
    return {"stop_reason": results[-1].get("stop_reason"), "usage": usage, "steps": len(results)}


def _exception_info(exc: BaseException) -> dict[str, Any]:
    return {"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()[-8000:]}


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


def _agent_phase(
    task: Task,
    env: Environment,
    cfg: TrialConfig,
    paths: TrialPaths,
    ws: _Workspace,
    plan: StepPlan,
    collector: Collector,
) -> tuple[AgentOutcome, dict[str, float], dict[str, Any]]:
    agent = make_agent(cfg.agent, cfg.agent_kwargs, cfg.model)
    wd = env.workdir
    box_dir, work_dir = ws.box_dir, ws.work_dir
    tag = plan.name or "trial"
    if plan.workdir_dir is not None:  # a step's files, into the working folder before its agent
        copy_over(plan.workdir_dir, work_dir)  # the last step's agent may have left links there
    binds = list(ws.binds)
    logs = box_dir / f"logs-{tag}"
    (logs / "agent").mkdir(parents=True)
    (logs / "artifacts").mkdir()
    binds.append((logs, "/logs"))
    solution_path = None
    if agent.needs_solution and plan.solution_dir is not None:
        shutil.copytree(plan.solution_dir, box_dir / f"solution-{tag}", symlinks=True)
        binds.append((box_dir / f"solution-{tag}", "/solution"))
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
    timeout = (cfg.agent_timeout_sec or plan.agent_timeout_sec) * cfg.timeout_multiplier
    budget = Budget.start(timeout, cfg.budget)
    trajectory = Trajectory(paths.trajectory, started=budget.started)
    globs = editable_mod.editable_globs(task, cfg.editable or plan.editable)
    norm = editable_mod.normalize_globs(globs, wd) if globs else None
    store = CheckpointStore(paths.dir)
    sandbox = make_sandbox(spec)
    dev_lock = threading.Lock()
    extra: dict[str, Any] = {}

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
        solution_env=resolve_env(task.config.solution.env) if solution_path else {},
        skills_dir=ecfg.skills_dir,
        mcp_servers=[m.model_dump(mode="json") for m in ecfg.mcp_servers],
    )
    named = {"task_step": plan.name} if plan.name else {}  # "step" is the event's own number
    trajectory.event("start", agent=cfg.agent, model=cfg.model, timeout_sec=timeout, **named)
    with Egress(resolve_network(task.config, "agent", cfg.network), paths.agent_dir / "network.jsonl") as net:
        net.prepare(sandbox.spec)
        if ws.services is not None:
            ws.services.join(sandbox.spec)

        def after_start(box: Sandbox) -> None:
            net.start_in(box)
            if ws.services is not None:
                extra["services_health"] = ws.services.check_main(box, wd)
            _prepare_environment(box, plan, wd, paths.agent_dir, extra)
            if ecfg.skills_dir or ecfg.mcp_servers:
                extra["agent_config"] = agent_config.install(box, ecfg.skills_dir, ecfg.mcp_servers, wd)
            budget.started = time.monotonic()  # set-up and healthchecks are not the agent's time

        def before_stop(box: Sandbox) -> None:
            try:
                sidecars = ws.services.sidecar if ws.services is not None else None
                hooks = run_collect_hooks(box, task.config.verifier.collect, wd, paths.agent_dir, sidecars)
                if hooks:
                    extra["collect"] = hooks
                    box.kill_processes()  # what a hook left running cannot touch the staging
                collector.from_sandbox(box, [a for a in plan.artifacts if a.service == "main"], logs)
                if ws.services is not None:  # a compose sidecar's entries, from its own sandbox
                    ws.services.collect(collector, [a for a in plan.artifacts if a.service != "main"])
            except Exception as exc:  # what could not be collected is said, the trial goes on
                extra["artifacts_error"] = f"{type(exc).__name__}: {exc}"

        collects = plan.artifacts or task.config.verifier.collect
        phase = run_agent(
            agent, plan.instruction, sandbox, budget, ctx, thread_name=f"agent-{paths.dir.name}",
            after_start=after_start, before_stop=before_stop if collects else None,
        )  # fmt: skip
        phase.outcome.extra["network"] = net.record()
    collector.from_folder(logs / "artifacts", "agent")
    outcome, usage = phase.outcome, phase.usage
    store.record(work_dir, norm, budget.elapsed(), {"final": True})
    _copy_logs(logs / "agent", paths.sandbox_logs)
    remove_tree(logs)
    return outcome, usage, extra


def _prepare_environment(box: Sandbox, plan: StepPlan, wd: str, log_dir: Path, extra: dict[str, Any]) -> None:
    """Before the agent: a step's ``workdir/setup.sh``, then the healthchecks (a raise skips the agent)."""
    if plan.workdir_dir is not None and (plan.workdir_dir / "setup.sh").is_file():
        r = box.exec(
            ["/bin/bash", f"{wd.rstrip('/')}/setup.sh"], timeout=max(60.0, plan.agent_timeout_sec), cwd=wd
        )
        (log_dir / "setup.txt").write_text(f"$ bash setup.sh\n[exit {r.exit_code}]\n{r.stdout}\n{r.stderr}")
        extra["setup"] = {"exit_code": r.exit_code, "timed_out": r.timed_out, "duration_s": r.duration_s}
        if r.exit_code != 0 or r.timed_out:
            raise LooplabError(f"steps.{plan.name}: workdir/setup.sh exited {r.exit_code} (agent/setup.txt)")
    checks = []
    try:
        for where, hc in plan.healthchecks:
            checks.append(wait_healthy(box, hc, wd, where))
    finally:
        if checks:
            extra["healthchecks"] = checks


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
