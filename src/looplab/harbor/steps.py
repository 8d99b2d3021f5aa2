"""What each step of a trial runs: one plan for a single-step task, one per ``[[steps]]`` entry.

A step's instruction is ``steps/<name>/instruction.md``; its tests are the task's ``tests/``
with ``steps/<name>/tests/`` merged over them (same names: the step's win); its solution (the
oracle's) is ``steps/<name>/solution/``, else the task's; ``steps/<name>/workdir/`` is copied
into the working folder before the agent and its ``setup.sh`` run there. Unset step timeouts
and verifier env fall back to the task's ``[agent]``/``[verifier]``. The healthchecks are
the environment's, then the step's. ``[steps.looplab] editable`` seals the step's verifier
to its own globs (over ``[looplab] editable``).

After each step, ``min_reward`` (a number for the ``reward`` key, or one per key; a missing key
fails it) stops the remaining steps, as does a step that ended without a verifier result. The
trial's rewards are the per-key mean over the steps that were verified (a key a step lacks
counts 0), or the last step's (``multi_step_reward_strategy = "final"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from looplab.tasks.loader import Task
from looplab.tasks.model import Artifact, Healthcheck


@dataclass
class StepPlan:
    name: str | None  # None: the task has no [[steps]]
    instruction: str
    agent_timeout_sec: float
    verifier_timeout_sec: float
    verifier_env: dict[str, str]
    tests_dirs: list[Path]
    solution_dir: Path | None
    workdir_dir: Path | None  # steps/<name>/workdir, copied into the working folder first
    healthchecks: list[tuple[str, Healthcheck]] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)
    editable: list[str] | None = None  # [steps.looplab] editable: this step's sealing


def plans(task: Task) -> list[StepPlan]:
    cfg = task.config
    env_hc = (
        [("[environment] healthcheck", cfg.environment.healthcheck)] if cfg.environment.healthcheck else []
    )
    solution = task.solution_dir if task.solution_dir.is_dir() else None
    if not cfg.steps:
        return [
            StepPlan(
                name=None,
                instruction=task.instruction,
                agent_timeout_sec=cfg.agent.timeout_sec,
                verifier_timeout_sec=cfg.verifier.timeout_sec,
                verifier_env=dict(cfg.verifier.env),
                tests_dirs=[task.tests_dir],
                solution_dir=solution,
                workdir_dir=None,
                healthchecks=env_hc,
                artifacts=list(cfg.artifacts),
            )
        ]
    out = []
    for step in cfg.steps:
        d = task.step_dir(step.name)
        tests = [p for p in (task.tests_dir, d / "tests") if p.is_dir()]
        own_solution = d / "solution"
        hcs = env_hc + ([(f"steps.{step.name}.healthcheck", step.healthcheck)] if step.healthcheck else [])
        out.append(
            StepPlan(
                name=step.name,
                instruction=task.step_instruction(step.name),
                agent_timeout_sec=step.agent.timeout_sec or cfg.agent.timeout_sec,
                verifier_timeout_sec=step.verifier.timeout_sec or cfg.verifier.timeout_sec,
                verifier_env=dict(cfg.verifier.env if step.verifier.env is None else step.verifier.env),
                tests_dirs=tests,
                solution_dir=own_solution if own_solution.is_dir() else solution,
                workdir_dir=d / "workdir" if (d / "workdir").is_dir() else None,
                healthchecks=hcs,
                artifacts=[*cfg.artifacts, *step.artifacts],
                thresholds=step.thresholds(),
                editable=step.looplab.editable,
            )
        )
    return out


def min_reward_failure(rewards: dict[str, Any] | None, thresholds: dict[str, float]) -> str | None:
    """Why a step's rewards miss its ``min_reward``, or None when they meet it."""
    for key, floor in thresholds.items():
        got = (rewards or {}).get(key)
        value = got if isinstance(got, int | float) and not isinstance(got, bool) else float("-inf")
        if value < floor:
            return f"{key}={got} below min_reward {floor}"
    return None


def combine(strategy: str, step_rewards: list[dict[str, Any] | None]) -> dict[str, float] | None:
    """The trial's rewards from its steps' (None for a step without a verifier result)."""
    verified = [r for r in step_rewards if r is not None]
    if strategy == "final":
        return dict(step_rewards[-1]) if step_rewards and step_rewards[-1] is not None else None
    if not verified:
        return None
    keys = sorted({k for r in verified for k in r})
    return {k: sum(float(r.get(k, 0.0)) for r in verified) / len(verified) for k in keys}
