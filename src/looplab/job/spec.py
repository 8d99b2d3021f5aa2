"""What a job is: its spec (``JobSpec``), its slots (task, agent, attempt) and each slot's trial config.

Shared by the job runner and every executor, so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from looplab.agents.base import BudgetLimits
from looplab.agents.registry import args_for
from looplab.environment.build import build_settings_env
from looplab.records.layout import JobPaths
from looplab.tasks.loader import Task
from looplab.trial_config import TrialConfig

Emit = Callable[[str, dict[str, Any]], None]  # on_event(kind, info): a job's progress reports


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
    budget: BudgetLimits = field(default_factory=BudgetLimits)
    ray_address: str | None = None  # --executor ray: an existing cluster (None: a local Ray instance)
    network: str = "task"  # --network: task (each task's policy) or deny (no network anywhere)
    core_wait_s: float | None = None  # --core-wait: after this long waiting for cores, run unpinned

    def identity(self) -> dict[str, Any]:
        """What must match for a re-run to resume this job."""
        return {
            "task_paths": sorted(self.task_paths),
            "agents": self.agents,
            "attempts": self.attempts,
            "model": self.model,
            "agent_kwargs": self.agent_kwargs,
            "editable": self.editable,
            # --base/--image-map/--overlays change what is built and scored (absent when none is set)
            **({"build": b} if (b := build_settings_env()) else {}),
        }

    @property
    def job_dir(self) -> Path:
        return Path(self.jobs_dir) / self.job_name

    @property
    def paths(self) -> JobPaths:
        return JobPaths(self.job_dir)


@dataclass
class Slot:
    task: Task
    agent: str
    attempt: int

    @property
    def key(self) -> str:
        return f"{self.task.name}/{self.agent}/{self.attempt}"


def trial_config(spec: JobSpec, slot: Slot, cores: list[int] | None) -> TrialConfig:
    """The trial configuration of ``slot`` under ``spec``, on ``cores``."""
    kwargs, model = args_for(slot.agent, spec.agent_kwargs, spec.model)
    return TrialConfig(
        agent=slot.agent,
        agent_kwargs=kwargs,
        model=model,
        attempt=slot.attempt,
        editable=spec.editable,
        cores=cores,
        timeout_multiplier=spec.timeout_multiplier,
        agent_timeout_sec=spec.agent_timeout_sec,
        budget=spec.budget,
        network=spec.network,
    )
