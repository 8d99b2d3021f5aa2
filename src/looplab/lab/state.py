"""The lab's run state: ``state.json`` (the run, the experiment in flight and its phase) and the run lock.

Also what a run is asked for (``RunOptions``) and what it reports when it stops (``RunSummary``).

``state.json`` is written atomically after every step (see ``lab.loop``). The run
lock (``run.lock`` in the state folder, an exclusive ``flock``) is held by ``lab run``
for the whole run and by ``lab eval`` while it runs the lab's host service, so
the two never run one lab's service at once.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from looplab.clock import now_iso
from looplab.errors import LooplabError
from looplab.fsutil import read_json
from looplab.lab.config import Lab
from looplab.lab.stopping import Limits


class RunState(BaseModel):
    id: int
    started_at: str
    active_s: float = 0.0
    limits: Limits
    data_dir: str | None = None
    agent: dict[str, Any] = Field(default_factory=dict)
    finished: bool = False
    stop_reason: str | None = None
    stop_message: str | None = None
    finished_at: str | None = None
    resumes: int = 0


class Pending(BaseModel):
    experiment: int
    run: int
    phase: Literal["agent", "evaluate", "commit"]
    head: str
    started_at: str
    candidate_tree: str | None = None
    candidate_commit: str | None = None
    agent: dict[str, Any] = Field(default_factory=dict)
    decision: dict[str, Any] | None = None
    files: list[str] = Field(default_factory=list)
    timing: dict[str, float] = Field(default_factory=dict)
    attempts: int = 1
    cancelled: dict[str, str] | None = None  # {signal, at, phase}: a Ctrl-C stopped it; resume redoes it


class LabState(BaseModel):
    run: RunState | None = None
    pending: Pending | None = None
    eval_counter: int = 0
    best_extra: dict[str, list[float]] = Field(default_factory=dict)  # fresh evaluations per best commit
    runs: list[dict[str, Any]] = Field(default_factory=list)


@dataclass
class RunOptions:
    data_dir: Path | None = None
    agent: str | None = None
    model: str | None = None
    agent_kwargs: dict[str, Any] | None = None
    limits: dict[str, Any] | None = None  # only the flags the user gave


@dataclass
class RunSummary:
    run: int
    stop_reason: str
    stop_message: str
    experiments: int
    keeps: int
    best_score: float | None
    best_commit: str | None
    resumed: bool


def load_state(path: Path) -> LabState:
    """The state in ``path``; a fresh state when there is none; a one-line error for an unreadable one."""
    if not path.exists():
        return LabState()
    try:
        return LabState.model_validate(read_json(path))
    except ValueError as exc:
        raise LooplabError(f"{path}: unreadable lab state: {str(exc).splitlines()[0]}") from None


@contextmanager
def run_lock(lab: Lab, busy: str) -> Iterator[None]:
    """Hold the lab's run lock for the ``with`` block; ``busy`` is the error when another process holds it."""
    lab.state_dir.mkdir(parents=True, exist_ok=True)
    with open(lab.state_dir / "run.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LooplabError(busy) from None
        yield


def agent_settings(lab: Lab, opts: RunOptions) -> dict[str, Any]:
    """The agent a run uses: the lab's, or the one the run's options name (its own arguments only)."""
    a = lab.config.agent
    name = opts.agent or a.name
    kwargs = dict(a.kwargs) if name == a.name else {}
    kwargs.update(opts.agent_kwargs or {})
    return {"name": name, "model": opts.model or (a.model if name == a.name else None), "kwargs": kwargs}


def apply_agent_settings(lab: Lab, settings: dict[str, Any]) -> None:
    """Make ``settings`` the lab's agent; file arguments (script, prices) are relative to the lab folder."""
    a = lab.config.agent
    if settings:
        a.name, a.model, a.kwargs = (
            settings["name"],
            settings.get("model"),
            dict(settings.get("kwargs") or {}),
        )
    for key in ("script", "prices"):
        v = a.kwargs.get(key)
        if isinstance(v, str) and v and not Path(v).is_absolute() and (lab.dir / v).exists():
            a.kwargs[key] = str(lab.dir / v)


def begin_run(
    state: LabState, lab: Lab, opts: RunOptions, emit: Callable[[str, dict[str, Any]], None]
) -> tuple[RunState, bool]:
    """The run this ``lab run`` continues (an unfinished one, with the new options on top) or starts.

    A new run keeps the last run's ``--data`` unless given another; the earlier run moves to
    ``state.runs``. Returns the run and whether it was resumed.
    """
    run = state.run
    if run is not None and not run.finished:
        run.resumes += 1
        run.limits = run.limits.model_copy(update=opts.limits or {})
        if opts.data_dir is not None:
            run.data_dir = str(Path(opts.data_dir).resolve())
        if opts.agent or opts.model or opts.agent_kwargs:
            run.agent = agent_settings(lab, opts)
        return run, True
    prev = run
    if prev is not None:
        state.runs.append(prev.model_dump())
    limits = Limits(**lab.config.stop.model_dump()).model_copy(update=opts.limits or {})
    data = str(Path(opts.data_dir).resolve()) if opts.data_dir else None
    if data is None and prev is not None:  # a new run keeps the last run's --data
        data = prev.data_dir
        if data:
            emit("data_kept", {"data": data})
    run = RunState(
        id=(prev.id + 1) if prev else 1,
        started_at=now_iso("milliseconds"),
        limits=limits,
        data_dir=data,
        agent=agent_settings(lab, opts),
    )
    state.run = run
    emit("run", {"run": run.id, "limits": limits.model_dump()})
    return run, False
