"""One iteration's agent phase: a private copy of the pipeline, a sandbox, the agent, a deadline.

The workspace mirrors the repository root at ``/app`` and holds only the pipeline
(materialized from the branch tip) plus the .gitignore files on the way to it; for
a catalog task the task's built environment is the sandbox root and its pristine
``/app`` surrounds the pipeline. ``/app`` and ``/logs`` are the only writable
paths; ``/lab`` holds read-only copies of the instructions and the history of past
experiments; ``/data`` the data (read-only, when ``[agent] show_data``). The agent
runs in a worker thread under its budget; at the deadline or when it returns, the
sandbox is stopped and every process in it dies. The agent's dev check evaluates
its current files in a separate evaluation sandbox (or runs the task's own dev
check) and never touches the log or the branch.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from looplab.agents.base import AgentContext, AgentOutcome, Budget, BudgetLimits, DevCheckResult
from looplab.agents.phase import run_agent
from looplab.agents.registry import make_agent
from looplab.agents.trajectory import Trajectory
from looplab.fsutil import make_world_readable, remove_tree, same_content
from looplab.lab import gitops
from looplab.lab.backend import worst_samples
from looplab.lab.config import Lab
from looplab.lab.evaluate import REAPER, Evaluator, empty_root, new_box
from looplab.lab.log import Record
from looplab.lab.services import ServiceHandle
from looplab.numfmt import significant
from looplab.records.layout import TrialPaths
from looplab.sandbox.base import ExecResult, Sandbox, SandboxSpec
from looplab.sandbox.factory import make_sandbox, runtime_path, runtime_ro_binds
from looplab.sandbox.forward import serve_unix
from looplab.verify import editable as editable_mod

NOTES_FILE = "/logs/agent/notes.md"
DEV_EVAL_DIR = "/run/looplab-lab"
DEV_EVAL_COMMAND = "looplab lab dev-eval"  # scores the agent's current files; see DevEvalServer


@dataclass
class AgentPhase:
    box: Path  # the sandbox folder of this iteration (logs, /lab), removed by the caller
    work_root: Path  # host folder behind /app (the workspace, kept for the next iteration)
    outcome: AgentOutcome
    agent_s: float
    setup_s: float
    teardown_s: float = 0.0
    dev_evals: int = 0
    timed_out: bool = False
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Workspace:
    """The agent's /app, kept from one iteration to the next and made an exact copy of the best each time.

    Writing a fresh copy of every pipeline file per iteration is the slowest part of
    the loop's overhead on a slow disk, so the folder is reused and ``sync_tree``
    rewrites only what differs from the best's materialized copy (and removes
    whatever else the agent left). A catalog task's workspace (the pristine /app
    around the pipeline) is made fresh each time.
    """

    def __init__(self, lab: Lab, evaluator: Evaluator):
        self.lab, self.evaluator = lab, evaluator
        self.box: Path | None = None

    def prepare(self, head: str) -> Path:
        best = self.evaluator.materialize(gitops.tree_of(self.lab.repo, head))
        if self.box is not None and self.evaluator.env is None and (self.box / "app").is_dir():
            sync_tree(best, self.box / "app")
            return self.box / "app"
        self.discard()
        self.box = new_box(self.lab, "workspace", self.evaluator.scope)
        app = self.box / "app"
        if self.evaluator.env is not None:  # a catalog task: the pristine /app around the pipeline
            pristine = self.evaluator.env.root / self.evaluator.env.workdir.lstrip("/")
            if pristine.is_dir():
                shutil.copytree(pristine, app, symlinks=True)
            globs = self.lab.pipeline_globs()
            for dirpath, _dirs, files in os.walk(app):
                for name in files:
                    p = Path(dirpath) / name
                    if editable_mod.matches(p.relative_to(app).as_posix(), globs):
                        p.unlink()
        shutil.copytree(best, app, symlinks=True, dirs_exist_ok=True)
        return app

    def discard(self) -> None:
        if self.box is not None:
            REAPER.remove(self.box)
            self.box = None


def _kind(e: os.DirEntry) -> str:
    if e.is_symlink():
        return "link"
    if e.is_dir(follow_symlinks=False):
        return "dir"
    return "file" if e.is_file(follow_symlinks=False) else "other"


def _same_file(src: str, dst: str) -> bool:
    a, b = os.stat(src), os.lstat(dst)
    if a.st_size != b.st_size or bool(a.st_mode & 0o111) != bool(b.st_mode & 0o111):
        return False
    return same_content(src, dst)  # bytes, never a cached stat signature (filecmp's)


def sync_tree(src: Path, dst: Path) -> int:
    """Make ``dst`` hold exactly ``src``'s folders, regular files (content, exec bit) and symlinks.

    Returns how many entries were written or removed. Nothing is followed through a
    symlink; folders are visited from an explicit stack (any depth).
    """
    changed = 0
    stack = [(str(src), str(dst))]
    while stack:
        s_dir, d_dir = stack.pop()
        src_entries = {e.name: e for e in os.scandir(s_dir)}
        for de in list(os.scandir(d_dir)):
            se = src_entries.get(de.name)
            if se is None or _kind(se) != _kind(de):
                if _kind(de) == "dir":
                    remove_tree(Path(de.path))
                else:  # never open it: a fifo would block
                    os.unlink(de.path)
                changed += 1
        for name, se in src_entries.items():
            d = os.path.join(d_dir, name)
            kind = _kind(se)
            if kind == "dir":
                if not os.path.lexists(d):
                    os.mkdir(d)
                    changed += 1
                stack.append((se.path, d))
            elif kind == "link":
                target = os.readlink(se.path)
                if os.path.lexists(d) and os.readlink(d) == target:
                    continue
                if os.path.lexists(d):
                    os.unlink(d)
                os.symlink(target, d)
                changed += 1
            elif kind == "file":
                if os.path.lexists(d) and _same_file(se.path, d):
                    continue
                if os.path.lexists(d):
                    os.unlink(d)
                shutil.copy2(se.path, d)
                changed += 1
    return changed


def instruction_for(lab: Lab, task_instruction: str | None, experiment: int, summary: str) -> str:
    parts = []
    if task_instruction:
        parts.append(task_instruction.strip())
    parts.append(lab.instructions_text().strip())
    parts.append(f"## This iteration\n\nExperiment {experiment}.\n{summary}".strip())
    return "\n\n".join(parts) + "\n"


def briefing(lab: Lab, best: Record | None, records: list[Record]) -> str:
    """The part of an iteration's instruction that sums up the run so far."""
    lines = [f"The score is {'lower' if lab.direction == 'lower' else 'higher'} is better."]
    if best is not None:
        lines.append(f"Best score so far: {significant(best.score)} (experiment {best.experiment}).")
    recent = [r for r in records if r.status != "baseline"][-10:]
    if recent:
        lines.append("Recent experiments (the full history is in /lab/history.jsonl):")
        for r in recent:
            note = (r.notes.splitlines()[0][:100] if r.notes else "") or "-"
            lines.append(f"- {r.experiment}: {r.status} score {significant(r.score)} — {note}")
    return "\n".join(lines)


def run_agent_phase(
    lab: Lab,
    evaluator: Evaluator,
    head: str,
    experiment: int,
    history: list[dict[str, Any]],
    summary: str,
    exp_dir: Path,
    data_host: Path | None,
    time_left_s: float | None,
    next_eval_index: Callable[[], int],
    workspace: Workspace,
    service: ServiceHandle | None = None,
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
) -> AgentPhase:
    t0 = time.monotonic()
    acfg = lab.config.agent
    agent = make_agent(acfg.name, acfg.kwargs, acfg.model)
    box = new_box(lab, f"agent{experiment}", evaluator.scope)
    app = workspace.prepare(head)
    logs = box / "logs"
    (logs / "agent").mkdir(parents=True)
    ro_lab = box / "lab"
    ro_lab.mkdir()
    task_instruction = evaluator.task.instruction if evaluator.task is not None else None
    instruction = instruction_for(lab, task_instruction, experiment, summary)
    (ro_lab / "AGENT.md").write_text(instruction)
    (ro_lab / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    make_world_readable(ro_lab)
    workdir = lab.sandbox_dir() if evaluator.env is None else evaluator.env.workdir
    env = {
        "PATH": runtime_path(),
        "LOOPLAB_LAB": lab.name,
        "LOOPLAB_EXPERIMENT": str(experiment),
        "LOOPLAB_HISTORY": "/lab/history.jsonl",
        "LOOPLAB_INSTRUCTIONS": "/lab/AGENT.md",
        "LOOPLAB_PIPELINE_DIR": lab.sandbox_dir(),
        "LOOPLAB_NOTES": NOTES_FILE,
        "LOOPLAB_USAGE": "/logs/agent/usage.json",
    }
    ro = [*runtime_ro_binds(), (ro_lab, "/lab")]
    if data_host is not None and acfg.show_data:
        ro.append((data_host, "/data"))
        env["LOOPLAB_DATA_DIR"] = "/data"
    fwd = service if service and "agent" in service.cfg.forward_to else None
    if fwd:
        ro.append(fwd.ro_bind())
    dev_dir = box / "dev-eval"
    dev_dir.mkdir()
    os.chmod(dev_dir, 0o755)
    ro.append((dev_dir, DEV_EVAL_DIR))
    env["LOOPLAB_DEV_EVAL_SOCKET"] = f"{DEV_EVAL_DIR}/dev-eval.sock"
    root = empty_root(lab)
    if evaluator.env is not None:
        root = evaluator.env.root
        env = {**evaluator.env.env, **env}
    spec = SandboxSpec(
        root=root,
        binds=[(app, "/app"), (logs, "/logs")],
        ro_binds=ro,
        env=env,
        workdir=workdir,
        network=acfg.network,
        memory_mb=acfg.memory_mb,
        name=f"lab-agent-{lab.name}"[:40],
    )
    timeout = acfg.timeout_sec if time_left_s is None else max(1.0, min(acfg.timeout_sec, time_left_s))
    limits = BudgetLimits(
        max_turns=acfg.max_turns, max_tokens=acfg.max_tokens, max_cost_usd=acfg.max_cost_usd
    )
    budget = Budget.start(timeout, limits)
    exp_dir.mkdir(parents=True, exist_ok=True)
    trajectory = Trajectory(TrialPaths(exp_dir).trajectory, started=budget.started)
    sandbox = make_sandbox(spec)
    dev_count = [0]
    dev_lock = threading.Lock()
    task_dev = evaluator.task.config.looplab.dev_check if evaluator.task is not None else None

    def dev_check() -> DevCheckResult:
        with dev_lock:
            dev_count[0] += 1
            if task_dev:
                trajectory.event("command", tool="dev_check", command=task_dev)
                r = sandbox.exec(task_dev, timeout=max(1.0, min(budget.remaining(), 1800.0)), cwd=workdir)
            else:
                trajectory.event("command", tool="dev_check", command="lab evaluation")
                r = _dev_eval(lab, evaluator, head, app, next_eval_index(), exp_dir)
            trajectory.observation(r, tool="dev_check")
            return DevCheckResult(r, None)

    ctx = AgentContext(
        logs_dir=exp_dir / "agent",
        trajectory=trajectory,
        workdir=workdir,
        editable=lab.pipeline_globs(),
        dev_check=dev_check,
        dev_check_command=task_dev or DEV_EVAL_COMMAND,
    )

    def after_start(started: Sandbox) -> None:
        if fwd:
            fwd.attach(started)
        if on_event:
            on_event("agent", {"experiment": experiment, "agent": acfg.name})

    trajectory.event("start", agent=acfg.name, model=acfg.model, timeout_sec=timeout, experiment=experiment)
    dev_server = DevEvalServer(dev_dir / "dev-eval.sock", dev_check)
    dev_server.start()
    try:
        before = time.monotonic() - t0
        phase = run_agent(
            agent,
            instruction,
            sandbox,
            budget,
            ctx,
            thread_name=f"lab-agent-{experiment}",
            after_start=after_start,
        )
    finally:
        dev_server.stop()
    outcome = phase.outcome
    _absorb_usage(logs / "agent" / "usage.json", outcome)
    notes = outcome.notes.strip()
    notes_file = logs / "agent" / "notes.md"
    if not notes and notes_file.is_file() and not notes_file.is_symlink():
        notes = notes_file.read_text(errors="replace")[:4000].strip()
    return AgentPhase(
        box=box,
        work_root=app,
        outcome=outcome,
        agent_s=phase.agent_s,
        setup_s=before + phase.setup_s,
        teardown_s=phase.teardown_s,
        dev_evals=dev_count[0],
        timed_out=phase.timed_out,
        notes=notes,
    )


class DevEvalServer:
    """Host side of ``looplab lab dev-eval``: each connection to the Unix socket is one dev check.

    The socket's folder is bound read-only into the agent's sandbox, so any agent —
    a script, a CLI coding agent — can score its current files the way the lab will.
    The request carries nothing: what is evaluated is always the agent's own /app.
    The answer is one JSON line: ``{"exit_code", "stdout", "stderr"}``.
    """

    def __init__(self, path: Path, handler: Callable[[], DevCheckResult]):
        self.path, self.handler = Path(path), handler
        self._sock: socket.socket | None = None

    def start(self) -> None:
        self._sock = serve_unix(self.path, self._serve, "lab-dev-eval", backlog=8)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(10)
                conn.recv(1024)
                conn.settimeout(None)
                r = self.handler().exec
                answer = {"exit_code": r.exit_code, "stdout": r.stdout, "stderr": r.stderr}
            except Exception as exc:  # the agent gets the error, the loop goes on
                answer = {
                    "exit_code": 1,
                    "stdout": "",
                    "stderr": f"dev-eval failed: {type(exc).__name__}: {exc}\n",
                }
            with contextlib.suppress(OSError):
                conn.sendall((json.dumps(answer) + "\n").encode())

    def stop(self) -> None:
        s, self._sock = self._sock, None
        if s is not None:
            with contextlib.suppress(OSError):
                s.close()
        self.path.unlink(missing_ok=True)


def _absorb_usage(path: Path, outcome: AgentOutcome) -> None:
    """Spend reported by an agent that works through files (e.g. a command wrapping another tool)."""
    if not path.is_file() or path.is_symlink() or path.stat().st_size > 65536:
        return
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return
    if not isinstance(data, dict):
        return
    u = outcome.usage
    for k in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "n_calls"):
        v = data.get(k)
        if isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 and getattr(u, k) == 0:
            setattr(u, k, int(v))
    c = data.get("cost_usd")
    if isinstance(c, int | float) and not isinstance(c, bool) and c >= 0 and u.cost_usd == 0:
        u.cost_usd = float(c)


def _dev_eval(lab: Lab, evaluator: Evaluator, head: str, app: Path, index: int, exp_dir: Path) -> ExecResult:
    from looplab.lab.decide import EvalFailed

    t0 = time.monotonic()
    try:
        tree = gitops.candidate_tree(lab.repo, head, app, lab.pipeline)
        copy = evaluator.materialize(tree, base=gitops.tree_of(lab.repo, head))
        try:
            res, _rec = evaluator.evaluate(copy, index, "dev", log_dir=exp_dir / "evals")
        finally:
            if tree != gitops.tree_of(lab.repo, head):
                evaluator.forget(tree)
    except EvalFailed as exc:
        rec = getattr(exc, "record", None)
        tail = rec.output_tail[-3000:] if rec is not None else ""
        return ExecResult(1, "", f"evaluation failed: {exc}\n{tail}\n", duration_s=time.monotonic() - t0)
    body = {
        "score": res.score,
        "direction": lab.direction,
        "metrics": res.metrics,
        "worst_samples": [s.model_dump() for s in worst_samples(res, lab.direction, 10)],
    }
    return ExecResult(0, json.dumps(body, indent=1) + "\n", "", duration_s=time.monotonic() - t0)
