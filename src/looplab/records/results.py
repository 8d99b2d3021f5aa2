"""The records of a job folder as pydantic models: ``TrialResult``, ``JobResult`` and ``ScoreRow``.

Every record carries a ``schema_version``; one written before versions existed
(no such key) reads as version 0 with the same fields. Records are written and read
only through these models (``write``/``read``); unknown keys are kept, so a reader
of an older looplab does not drop what a newer one wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, model_validator

from looplab.fsutil import atomic_write_json, read_json

TRIAL_SCHEMA_VERSION = 1
JOB_SCHEMA_VERSION = 1

# A trial's status, the one list. ``running`` is written first; every other is final.
# Only ``completed`` counts toward rewards: each of the others is an error in tables,
# the leaderboard and the exit code (``error`` is how records before these names said so).
STATUSES = (
    "running",
    "completed",
    "agent_error",
    "verifier_error",
    "environment_build_failed",
    "cancelled",
)
ERROR_STATUSES = frozenset(
    {"agent_error", "verifier_error", "environment_build_failed", "cancelled", "error"}
)


def is_error(status: str) -> bool:
    """True for a finished trial that did not complete (it counts as an error, never a reward)."""
    return status in ERROR_STATUSES


def agent_label(agent: str, model: str | None) -> str:
    """How an agent is named in tables and summaries: ``agent (model)``, or ``agent`` alone."""
    return agent + (f" ({model})" if model else "")


class Record(BaseModel):
    model_config = ConfigDict(extra="allow")
    schema_version: int = 0

    @classmethod
    def read(cls, path: Path) -> Self:
        """Read a record file; raises ``ValueError``/``OSError`` on an unreadable one."""
        return cls.model_validate(read_json(Path(path)))

    def write(self, path: Path) -> None:
        atomic_write_json(Path(path), self.record())

    def record(self) -> dict[str, Any]:
        """The record as the JSON object written to disk."""
        return self.model_dump(mode="json")


class TrialResult(Record):
    """A trial's ``result.json`` (Harbor's keys plus looplab's)."""

    id: str = ""
    trial_name: str = ""
    job_name: str = ""
    slot: str | None = None
    task_name: str = ""
    task_path: str | None = None
    agent: str = "?"
    model: str | None = None
    attempt: int = 0
    status: str = "running"  # one of STATUSES
    cause: str | None = None  # why an error trial failed, e.g. environment_build_failed
    started_at: str | None = None
    finished_at: str | None = None
    sealed: bool = False
    editable: list[str] | None = None
    verifier_result: dict[str, Any] | None = None
    agent_result: dict[str, Any] | None = None
    timing: dict[str, Any] = {}
    exception_info: dict[str, Any] | None = None
    host: dict[str, Any] = {}
    resources: dict[str, Any] = {}
    environment: dict[str, Any] = {}
    reward: float | None = None
    executor: dict[str, Any] | None = None
    s_ref: dict[str, Any] | None = None  # measured tasks: the reference speedup used and its source
    artifacts: list[dict[str, Any]] | None = None  # artifacts/manifest.json's entries
    # a compose environment's sidecars and the MCP servers looplab started (harbor.services)
    services: list[dict[str, Any]] | None = None
    # a multi-step task: one record per step run (Harbor's step_results), and how the steps went
    step_results: list[dict[str, Any]] | None = None
    multi_step: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return agent_label(self.agent, self.model)

    @property
    def reason(self) -> str:
        """Why the trial scored what it did or failed: the exception, else the verifier's reason."""
        exc = self.exception_info or {}
        if exc.get("message"):
            return f"{exc.get('type') or 'error'}: {exc['message']}"
        return str((self.verifier_result or {}).get("reason") or "")

    @property
    def usage(self) -> dict[str, Any]:
        """The agent's model usage (tokens, calls, dollars), empty when it reported none."""
        return (self.agent_result or {}).get("usage") or {}


class JobResult(Record):
    """A job's ``result.json``: per-agent statistics over the latest trial of each slot."""

    job_name: str
    updated_at: str
    n_trials: int
    n_trial_dirs: int
    stats: dict[str, Any]
    usage: dict[str, Any]
    trials: list[dict[str, Any]]


class ScoreRow(BaseModel):
    """One line of ``checkpoints/scores.jsonl``: a checkpoint's sealed score."""

    model_config = ConfigDict(extra="allow")
    n: int
    elapsed_s: float
    reward: float | None = None
    reason: str | None = None
    cost_usd: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _cost_alias(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and data.get("cost_usd") is None
            and isinstance(data.get("cost"), int | float)
        ):
            data = {**data, "cost_usd": data["cost"]}
        return data

    @property
    def correct(self) -> bool | None:
        """False when the reason says a correctness gate failed; None when unknown."""
        from looplab.verify.rewards import CORRECTNESS_KEYS

        extra = self.model_extra or {}
        for key in CORRECTNESS_KEYS:
            if isinstance(extra.get(key), bool):
                return extra[key]
        if self.reason and self.reason.startswith(("incorrect", "gate:")):
            return False
        return None if self.reward is None else True
