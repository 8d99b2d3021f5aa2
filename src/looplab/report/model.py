"""Read job folders into ``TrialData`` records: everything the report needs about one trial.

A trial folder holds ``config.json`` (always, from the start), ``result.json``
(once it finished; without it the trial is *running*), ``agent/trajectory.jsonl``,
``checkpoints/index.jsonl`` (the dev-check snapshots) and, after ``looplab rescore``,
``checkpoints/scores.jsonl`` (the sealed score of each checkpoint). Files are
read leniently: a torn last line or a missing file is skipped, never fatal, because
the live viewer reads folders that are still being written.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from looplab.errors import LooplabError
from looplab.fsutil import read_json
from looplab.records import joblock
from looplab.records.layout import JobPaths, TrialPaths
from looplab.records.results import ScoreRow, TrialResult, agent_label

STOPPED_BY_BUDGET = ("timeout", "max_turns", "max_tokens", "max_cost")


@dataclass
class TaskInfo:
    """What the report needs from a task's task.toml (None where it is not known)."""

    metric: str | None = None
    direction: str | None = None
    reference: float | None = None
    baseline: float | None = None
    timeout_sec: float | None = None


@dataclass
class TrialData:
    dir: Path
    job_name: str
    name: str
    status: str  # records.results.STATUSES; running only while the job's process lives
    task_name: str
    agent: str
    model: str | None
    attempt: int
    slot: str
    result: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    scores: list[ScoreRow] | None = None
    task: TaskInfo = field(default_factory=TaskInfo)
    start_event: dict[str, Any] = field(default_factory=dict)

    @property
    def paths(self) -> TrialPaths:
        return TrialPaths(self.dir)

    @property
    def label(self) -> str:
        """The leaderboard row this trial counts for: agent, plus the model when there is one."""
        return agent_label(self.agent, self.model)

    @property
    def reward(self) -> float | None:
        r = self.result.get("reward")
        return float(r) if isinstance(r, int | float) else None

    @property
    def verifier(self) -> dict[str, Any]:
        return self.result.get("verifier_result") or {}

    @property
    def named_rewards(self) -> dict[str, float]:
        """Every numeric key reward.json wrote (Harbor's named rewards); ``reward`` is the primary."""
        rw = self.verifier.get("rewards") or {}
        written = self.verifier.get("reward_keys")  # the keys as written (older records: all of rewards)
        keys = [*written, "reward"] if isinstance(written, list) else list(rw)
        return {
            k: float(v) for k in keys if isinstance(v := rw.get(k), int | float) and not isinstance(v, bool)
        }

    @property
    def primary(self) -> str:
        """What the trial's reward is: a reward.json key, or ``mean(a, b)`` of its keys."""
        p = self.verifier.get("primary")
        return p if isinstance(p, str) else "reward"

    @property
    def agent_result(self) -> dict[str, Any]:
        return self.result.get("agent_result") or {}

    @property
    def stop_reason(self) -> str | None:
        return self.agent_result.get("stop_reason")

    @property
    def usage(self) -> dict[str, float]:
        return self.agent_result.get("usage") or {}

    @property
    def tokens(self) -> int:
        u = self.usage
        keys = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
        return int(sum(u.get(k) or 0 for k in keys))

    @property
    def cost_usd(self) -> float:
        return float(self.usage.get("cost_usd") or 0.0)

    @property
    def budget_s(self) -> float | None:
        """The agent's time budget: what the trial told the agent, else the task's timeout."""
        t = self.start_event.get("timeout_sec")
        if isinstance(t, int | float) and t > 0:
            return float(t)
        cfg_t = self.config.get("agent_timeout_sec") or self.task.timeout_sec
        if cfg_t:
            return float(cfg_t) * float(self.config.get("timeout_multiplier") or 1.0)
        return None

    @property
    def used_s(self) -> float | None:
        """Seconds the agent phase lasted (for a running trial: the latest event's time)."""
        d = ((self.result.get("timing") or {}).get("agent_execution") or {}).get("duration_s")
        if isinstance(d, int | float):
            return float(d)
        times = [c["elapsed_s"] for c in self.checkpoints if isinstance(c.get("elapsed_s"), int | float)]
        return max(times) if times else None

    @property
    def gate_passed(self) -> bool | None:
        """Whether the final sealed result passed its correctness gates; None when the task has none."""
        if self.status != "completed":
            return None
        vr = self.verifier
        reason = vr.get("reason") or ""
        if reason.startswith(("incorrect", "gate:")):
            return False
        from looplab.verify.rewards import CORRECTNESS_KEYS, correctness_gate

        for source in (vr.get("extra") or {}, vr.get("rewards") or {}):
            if any(k in source for k in CORRECTNESS_KEYS):
                return correctness_gate(source) is None
        return None

    @property
    def final_metric(self) -> float | None:
        """The final value of the task's metric (e.g. time_s), when the verifier reported it."""
        if not self.task.metric:
            return None
        v = (self.verifier.get("rewards") or {}).get(self.task.metric)
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a .jsonl file; unreadable lines (a torn write) are skipped."""
    out: list[dict[str, Any]] = []
    try:
        text = Path(path).read_text()
    except OSError:
        return out
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def read_scores(path: Path) -> list[ScoreRow] | None:
    """The rows of a scores.jsonl, sorted by elapsed time; None when the trial was not rescored."""
    if not Path(path).is_file():
        return None
    rows = []
    for obj in read_jsonl(path):
        try:
            rows.append(ScoreRow.model_validate(obj))
        except ValidationError:
            continue
    return sorted(rows, key=lambda r: (r.elapsed_s, r.n))


_TASK_CACHE: dict[str, TaskInfo] = {}


def task_info(task_path: str | None) -> TaskInfo:
    """Metric, direction, reference and budget from a task.toml (empty when it cannot be read)."""
    if not task_path:
        return TaskInfo()
    if task_path in _TASK_CACHE:
        return _TASK_CACHE[task_path]
    info = TaskInfo()
    try:
        from looplab.tasks.loader import load_task

        cfg = load_task(Path(task_path)).config
        opt = cfg.optimization
        info = TaskInfo(
            metric=opt.metric if opt else None,
            direction=opt.direction if opt else None,
            reference=opt.reference.score if opt and opt.reference else None,
            baseline=opt.baseline.score if opt and opt.baseline else None,
            timeout_sec=cfg.agent.timeout_sec,
        )
    except (LooplabError, OSError, ValueError):
        pass
    _TASK_CACHE[task_path] = info
    return info


def first_event(path: Path) -> dict[str, Any]:
    """The first line of a trajectory (its ``start`` event), without reading the whole file."""
    try:
        with open(path) as fh:
            return json.loads(fh.readline() or "{}")
    except (OSError, ValueError):
        return {}


def load_trial(d: Path, job_name: str) -> TrialData | None:
    """One trial folder; None for a folder that is not a trial (no config.json nor result.json)."""
    d = Path(d)
    paths = TrialPaths(d)
    result: dict[str, Any] = {}
    config: dict[str, Any] = {}
    try:
        if paths.result.is_file():
            result = TrialResult.read(paths.result).record()
        if paths.config.is_file():
            config = read_json(paths.config)
    except (ValueError, OSError):
        pass
    if not result and not config:
        return None
    task_path = result.get("task_path") or config.get("task")
    task_name = result.get("task_name") or d.name.rsplit("__", 1)[0]
    attempt = result.get("attempt", config.get("attempt", 0))
    agent = result.get("agent") or config.get("agent") or "?"
    model = result.get("model", config.get("model"))
    return TrialData(
        dir=d,
        job_name=result.get("job_name") or job_name,
        name=d.name,
        status=result.get("status") or "running",
        task_name=task_name,
        agent=agent,
        model=model,
        attempt=int(attempt or 0),
        slot=result.get("slot") or f"{task_name}/{agent}/{attempt}",
        result=result,
        config=config,
        checkpoints=read_jsonl(paths.checkpoint_index),
        scores=read_scores(paths.scores),
        task=task_info(task_path),
        start_event=first_event(paths.trajectory),
    )


def load_job(job_dir: Path) -> list[TrialData]:
    """Every trial folder of a job (finished, failed and running)."""
    job_dir = Path(job_dir)
    if not job_dir.is_dir():
        raise LooplabError(f"{job_dir}: not a job folder")
    name = job_dir.name
    cfg = JobPaths(job_dir).config
    if cfg.is_file():
        with contextlib.suppress(ValueError, OSError):
            name = read_json(cfg).get("job_name") or name
    live = joblock.holder(JobPaths(job_dir)) is not None
    trials = []
    for d in sorted(job_dir.iterdir()):
        if d.is_dir() and not d.name.startswith("."):
            t = load_trial(d, name)
            if t is not None:
                if t.status == "running" and not live:  # its process is gone: it will never finish
                    t.status = "cancelled"
                    t.result.setdefault("exception_info", {"type": "Interrupted", "message": INTERRUPTED})
                trials.append(t)
    return trials


INTERRUPTED = "no looplab process runs this job any more: the trial was interrupted"


def load_jobs(job_dirs: list[Path]) -> list[TrialData]:
    out: list[TrialData] = []
    for j in job_dirs:
        out += load_job(Path(j))
    return out


def latest_per_slot(trials: list[TrialData]) -> list[TrialData]:
    """One trial per (job, slot): the completed one if any, else the newest (as the job summary does)."""
    best: dict[tuple[str, str], TrialData] = {}
    for t in sorted(trials, key=lambda t: t.result.get("finished_at") or "~"):
        key = (t.job_name, t.slot)
        cur = best.get(key)
        if cur is None or t.status == "completed" or cur.status != "completed":
            best[key] = t
    return list(best.values())
