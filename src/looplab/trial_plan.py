"""One plan of a trial (the whole single-step trial, or one ``[[steps]]`` entry): its agent phase, then
its sealed verification.

The agent phase runs in a sandbox on the built environment, with the trial's working folder
(``Workspace``) bound at the working directory. A single-step trial's sandbox lives for its agent
phase alone: when the agent returns or its deadline passes, it is stopped and every process in it
dies. A multi-step trial keeps one sandbox for all its steps (``Session``), as Harbor keeps one
container: ``/tmp``, ``HOME``, every writable path and the processes an earlier step left running
in the background are there in the next step; at a step's deadline only the agent's own
commands are killed. ``/logs`` and ``/solution`` are folders of the session whose content is
the current step's. The agent is made and prepared once for the session, run once per step,
and cleaned up when the trial ends.

Verification is always a fresh sandbox of its own (``verify.verifier``) on what the editable globs
carry out of the working folder, so each step is sealed on its own.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from looplab import cancel
from looplab.agents.base import Agent, AgentContext, AgentOutcome, Budget, DevCheckResult
from looplab.agents.phase import run_agent
from looplab.agents.registry import make_agent
from looplab.agents.trajectory import Trajectory
from looplab.clock import now_iso
from looplab.environment.build import Environment
from looplab.environment.task_env import resolve_env, task_env
from looplab.errors import LooplabError
from looplab.fsutil import chown_tree, copy_over, read_regular_under, remove_tree, walk_tree
from looplab.harbor import agent_config
from looplab.harbor.artifacts import Collector, run_collect_hooks
from looplab.harbor.healthcheck import wait_healthy
from looplab.harbor.services import TrialServices
from looplab.harbor.steps import StepPlan
from looplab.netpolicy import Egress, resolve_network
from looplab.records.checkpoints import CheckpointStore
from looplab.records.layout import TrialPaths
from looplab.sandbox.base import DEFAULT_MAX_FILE_MB, ExecResult, Sandbox, SandboxSpec, sandbox_uid
from looplab.sandbox.factory import make_sandbox, runtime_path, runtime_ro_binds
from looplab.tasks.loader import Task
from looplab.trial_config import TrialConfig
from looplab.verify import editable as editable_mod
from looplab.verify.verifier import verify

MAX_LOG_COPY = 64 << 20


class Phase:
    """Times one phase into ``timing[name]`` (started_at, finished_at, duration_s)."""

    def __init__(self, timing: dict[str, Any], name: str):
        self.timing, self.name = timing, name

    def __enter__(self) -> None:
        self.t0 = time.monotonic()
        self.timing[self.name] = {"started_at": now_iso()}

    def __exit__(self, *exc: object) -> None:
        self.timing[self.name].update(finished_at=now_iso(), duration_s=round(time.monotonic() - self.t0, 3))


@dataclass
class Session:
    """The one agent sandbox of a multi-step trial, started by its first step and kept to the end."""

    agent: Agent
    logs: Path  # bound at /logs: the current step's agent/ and artifacts/
    solution: Path  # bound at /solution: the current step's solution (the oracle's)
    net: Egress | None = None
    sandbox: Sandbox | None = None

    def close(self) -> None:
        """Stop the sandbox (every process in it) and the agent's own services."""
        try:
            if self.sandbox is not None:
                self.sandbox.stop()
        finally:
            try:
                self.agent.cleanup()
            finally:
                if self.net is not None:
                    self.net.__exit__(None, None, None)


@dataclass
class Workspace:
    """The agent's writable folders on the host, made once per trial and kept across its steps."""

    box_dir: Path
    work_dir: Path
    binds: list[tuple[Path, str]]  # the working folder and the declared writable paths
    services: TrialServices | None = None  # the trial's network of services, when it has one
    session: Session | None = None  # a multi-step trial's kept sandbox

    def close(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            session.close()


def make_workspace(task: Task, env: Environment, box_dir: Path) -> Workspace:
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
    return Workspace(box_dir, work_dir, binds)


def open_session(task: Task, cfg: TrialConfig, ws: Workspace) -> Session:
    """The kept sandbox of a multi-step trial (started by its first step's agent phase)."""
    agent = make_agent(cfg.agent, cfg.agent_kwargs, cfg.model)
    ws.session = Session(agent, ws.box_dir / "session-logs", ws.box_dir / "session-solution")
    return ws.session


@dataclass
class PlanRun:
    """What one agent phase and its verification gave (a step, or the whole single-step trial)."""

    agent_result: dict[str, Any]
    outcome: AgentOutcome
    vr: Any = None  # the VerifierResult, when verification ran and returned
    verifier_error: dict[str, Any] | None = None  # the exception verification raised
    artifacts: list[dict[str, Any]] = field(default_factory=list)


def exception_info(exc: BaseException) -> dict[str, Any]:
    return {"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()[-8000:]}


def run_plan(
    task: Task,
    env: Environment,
    cfg: TrialConfig,
    paths: TrialPaths,
    ws: Workspace,
    plan: StepPlan,
    timing: dict[str, Any],
    on_agent: Callable[[dict[str, Any]], None],
) -> PlanRun:
    """The agent phase of ``plan`` in ``ws``, then its sealed verification (into ``paths``).

    ``on_agent`` gets the agent's result as soon as the phase ends (a cancelled trial keeps it)."""
    paths.agent_dir.mkdir(parents=True, exist_ok=True)
    paths.verifier_dir.mkdir(parents=True, exist_ok=True)
    collector = Collector(paths.artifacts_dir)
    with Phase(timing, "agent_execution"):
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
    run = PlanRun(agent_result=agent_result, outcome=outcome)
    on_agent(agent_result)
    cancel.check()  # Ctrl-C during the agent phase: no verification
    try:
        with Phase(timing, "verifier"):
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
        run.verifier_error = exception_info(exc)
    cancel.check()  # the verifier was stopped under it: its reward means nothing
    if collector.write_manifest() is not None:
        run.artifacts = collector.entries
    return run


def _own(path: Path) -> None:
    """Give a folder the host looplab wrote into a running sandbox to the sandbox's user."""
    if os.geteuid() == 0:
        chown_tree(path, *sandbox_uid())


def _fresh_logs(logs: Path) -> None:
    for sub in ("agent", "artifacts"):
        remove_tree(logs / sub)
        (logs / sub).mkdir(parents=True)


def _agent_phase(
    task: Task,
    env: Environment,
    cfg: TrialConfig,
    paths: TrialPaths,
    ws: Workspace,
    plan: StepPlan,
    collector: Collector,
) -> tuple[AgentOutcome, dict[str, float], dict[str, Any]]:
    session = ws.session
    agent = session.agent if session else make_agent(cfg.agent, cfg.agent_kwargs, cfg.model)
    wd = env.workdir
    box_dir, work_dir = ws.box_dir, ws.work_dir
    tag = plan.name or "trial"
    kept = session is not None and session.sandbox is not None  # a later step: the sandbox runs
    if plan.workdir_dir is not None:  # a step's files, into the working folder before its agent
        copy_over(plan.workdir_dir, work_dir)  # the last step's agent may have left links there
        if kept:
            _own(work_dir)
    logs = session.logs if session else box_dir / f"logs-{tag}"
    _fresh_logs(logs)
    solution_path = None
    solution = session.solution if session else box_dir / f"solution-{tag}"
    if agent.needs_solution:  # a kept sandbox has the folder bound: only what is in it changes
        solution.mkdir(exist_ok=True)
        for old in list(solution.iterdir()):
            remove_tree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
        if plan.solution_dir is not None:
            shutil.copytree(plan.solution_dir, solution, symlinks=True, dirs_exist_ok=True)
            solution_path = "/solution"
    if kept:
        _own(logs)
        _own(solution)
    ecfg = task.config.environment
    cpus = ecfg.cpus
    spec = SandboxSpec(
        root=env.root,
        binds=[*ws.binds, (logs, "/logs")] + ([(solution, "/solution")] if agent.needs_solution else []),
        env={"PATH": runtime_path(), **env.env, **task_env(task.config)},
        workdir=wd,
        network=False,
        cpus=cfg.cores,
        cpu_quota=cpus if cfg.cores and cpus < len(cfg.cores) else None,
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
    sandbox = session.sandbox if session and session.sandbox else make_sandbox(spec)
    dev_lock = threading.Lock()
    extra: dict[str, Any] = {}

    def dev_check() -> DevCheckResult:
        cmd = task.config.looplab.dev_check
        with dev_lock:
            if not cmd:
                n = store.record(work_dir, norm, budget.elapsed(), {"dev_exit_code": None})
                trajectory.event("dev_check", checkpoint=n, note="task has no dev check; files snapshotted")
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
    net_log = paths.agent_dir / "network.jsonl"
    policy = resolve_network(task.config, "agent", cfg.network)
    if session is not None and session.net is None:  # one proxy for the kept sandbox, a log per step
        session.net = Egress(policy, net_log).__enter__()
    net = session.net if session is not None and session.net else Egress(policy, net_log).__enter__()
    try:
        net.begin(net_log)
        if not kept:
            net.prepare(sandbox.spec)
            if ws.services is not None:
                ws.services.join(sandbox.spec)
        if session is not None and not kept:  # the session starts: the agent prepares it once
            agent.prepare_sandbox(sandbox.spec, ctx)
            sandbox.start()
            session.sandbox = sandbox
            _started(task, net, ws, sandbox, wd, extra)
        before = sandbox.usage() if kept else {}

        def after_start(box: Sandbox) -> None:
            if session is None:
                _started(task, net, ws, box, wd, extra)
            _prepare_environment(box, plan, wd, paths.agent_dir, extra)
            budget.started = time.monotonic()  # set-up and healthchecks are not the agent's time

        def before_stop(box: Sandbox) -> None:
            try:
                sidecars = ws.services.sidecar if ws.services is not None else None
                hooks = run_collect_hooks(box, task.config.verifier.collect, wd, paths.agent_dir, sidecars)
                if hooks:
                    extra["collect"] = hooks
                    if session is None:
                        box.kill_processes()  # what a hook left running cannot touch the staging
                collector.from_sandbox(box, [a for a in plan.artifacts if a.service == "main"], logs)
                if ws.services is not None:  # a compose sidecar's entries, from its own sandbox
                    ws.services.collect(collector, [a for a in plan.artifacts if a.service != "main"])
            except Exception as exc:  # what could not be collected is said, the trial goes on
                extra["artifacts_error"] = f"{type(exc).__name__}: {exc}"

        collects = plan.artifacts or task.config.verifier.collect
        phase = run_agent(
            agent,
            plan.instruction,
            sandbox,
            budget,
            ctx,
            thread_name=f"agent-{paths.dir.name}",
            after_start=after_start,
            before_stop=before_stop if collects else None,
            keep=session is not None,
        )
        phase.outcome.extra["network"] = net.record()
    finally:
        if session is None:
            net.__exit__(None, None, None)
    collector.from_folder(logs / "artifacts", "agent")
    outcome, usage = phase.outcome, phase.usage
    if "cpu_s" in usage and "cpu_s" in before:  # a kept sandbox's cgroup counts every step so far
        usage["cpu_s"] = round(usage["cpu_s"] - before["cpu_s"], 6)
    store.record(work_dir, norm, budget.elapsed(), {"final": True})
    _copy_logs(logs / "agent", paths.sandbox_logs)
    if session is None:
        remove_tree(logs)
    return outcome, usage, extra


def _started(task: Task, net: Egress, ws: Workspace, box: Sandbox, wd: str, extra: dict[str, Any]) -> None:
    """Once the agent's sandbox runs: its network relay, main's compose healthcheck, the MCP
    servers' config and the skills."""
    net.start_in(box)
    ecfg = task.config.environment
    if ws.services is not None:
        extra["services_health"] = ws.services.check_main(box, wd)
    if ecfg.skills_dir or ecfg.mcp_servers:
        extra["agent_config"] = agent_config.install(box, ecfg.skills_dir, ecfg.mcp_servers, wd)


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
