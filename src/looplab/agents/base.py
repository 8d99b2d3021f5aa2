"""The agent protocol and what an agent gets to work with: a budget and a context.

An agent receives the task instruction, a running sandbox, a ``Budget`` (it is
told its deadline and remaining time) and an ``AgentContext`` (the trajectory to
stream events into, the dev check that records checkpoints, its log folder). It
returns an ``AgentOutcome`` saying why it stopped and what it spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from looplab.agents.trajectory import Trajectory
from looplab.sandbox.base import ExecResult, Sandbox, SandboxSpec


@dataclass
class Budget:
    timeout_sec: float
    max_turns: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return max(0.0, self.timeout_sec - self.elapsed())

    def expired(self) -> bool:
        return self.remaining() <= 0

    def describe(self) -> str:
        """The sentence an agent is told every turn."""
        e, r = self.elapsed(), self.remaining()
        return f"Time used: {_hms(e)} of {_hms(self.timeout_sec)}; remaining: {_hms(r)}."


def _hms(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{(s % 3600) // 60:02d}m{s % 60:02d}s"


@dataclass
class Usage:
    n_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, other: Usage) -> None:
        for k in asdict(self):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens

    def event_fields(self) -> dict[str, Any]:
        """Tokens and dollars as a trajectory event carries them (no call count)."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cost_usd": round(self.cost_usd, 8),
        }


@dataclass
class AgentOutcome:
    stop_reason: str = "finished"
    usage: Usage = field(default_factory=Usage)
    notes: str = ""
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class DevCheckResult:
    exec: ExecResult
    checkpoint: int | None  # the checkpoint number recorded, if any


@dataclass
class AgentContext:
    """Everything an agent is told besides the instruction and the budget (never the task itself)."""

    logs_dir: Path  # host folder for the agent's own logs (trial/agent)
    trajectory: Trajectory
    workdir: str = "/app"
    editable: list[str] = field(default_factory=list)  # the globs that are scored
    dev_check: Callable[[], DevCheckResult] | None = None
    dev_check_command: str | None = None  # what the dev check runs, shown to the agent
    solution_path: str | None = None  # sandbox path of solution/ (given to the oracle only)
    solution_env: dict[str, str] = field(default_factory=dict)  # [solution] env, for solve.sh only
    skills_dir: str | None = None  # [environment] skills_dir: a folder of skills in the environment
    mcp_servers: list[dict[str, Any]] = field(default_factory=list)  # [[environment.mcp_servers]]


class Agent:
    """The base of every agent: a name, ``run``, and hooks around the sandbox's life (no-ops here).

    ``needs_solution``: mount the task's ``solution/`` at ``/solution`` (the oracle only).
    ``prepare_sandbox`` may add binds to the spec before the sandbox starts (an egress
    proxy socket, mounts); ``cleanup`` runs after the sandbox is stopped, always.
    """

    name: str = "agent"
    needs_solution: bool = False

    def prepare_sandbox(self, spec: SandboxSpec, ctx: AgentContext) -> None:
        """Adjust the agent's sandbox before it starts."""

    def run(self, instruction: str, sandbox: Sandbox, budget: Budget, ctx: AgentContext) -> AgentOutcome:
        raise NotImplementedError(f"agent {self.name!r} does not implement run")

    def cleanup(self) -> None:
        """Release what ``prepare_sandbox`` set up (the sandbox is already stopped)."""
