"""What one trial is asked to run: the agent, its model and budget, the cores and GPUs it holds.

Made by the job (``looplab.job.spec``), read by the trial (``looplab.trial``) and its phases
(``looplab.trial_plan``), and written to the trial's ``config.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from looplab.agents.base import BudgetLimits
from looplab.sandbox.gpu import GpuDevice


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
