"""Run one real trial (sandbox, agent, sealed verifier) from a test, and read back what it recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from looplab.agents.base import BudgetLimits
from looplab.agents.trajectory import read_trajectory
from looplab.environment.build import build_environment
from looplab.tasks.loader import load_task
from looplab.trial import run_trial
from looplab.trial_config import TrialConfig

REPO = Path(__file__).resolve().parents[2]
TINY_TASK = REPO / "tests" / "fixtures" / "tiny_task"


def trial(
    task_path: Path,
    trial_dir: Path,
    agent: str,
    model: str | None = None,
    agent_kwargs: dict[str, Any] | None = None,
    timeout: float | None = None,
    **budget: Any,
) -> dict[str, Any]:
    """Run a trial of ``agent`` on the task at ``task_path`` into ``trial_dir``; return result.json's record."""
    task = load_task(Path(task_path))
    env = build_environment(task)
    cfg = TrialConfig(
        agent=agent,
        model=model,
        agent_kwargs=agent_kwargs or {},
        agent_timeout_sec=timeout,
        budget=BudgetLimits(**budget),
    )
    return run_trial(task, env, cfg, Path(trial_dir)).record()


def events(trial_dir: Path, kind: str | None = None) -> list[dict[str, Any]]:
    evs = read_trajectory(Path(trial_dir) / "agent" / "trajectory.jsonl")
    return [e for e in evs if kind is None or e["type"] == kind]


def checkpoints(trial_dir: Path) -> list[dict[str, Any]]:
    p = Path(trial_dir) / "checkpoints" / "index.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


def write_prices(
    path: Path, model: str, input: float, output: float, cache_read: float = 0.0, cache_write: float = 0.0
) -> Path:
    """A price file for ``model`` (USD per million tokens)."""
    path.write_text(
        f'[models."{model}"]\ninput = {input}\noutput = {output}\ncache_read = {cache_read}\ncache_write = {cache_write}\n'
    )
    return path
