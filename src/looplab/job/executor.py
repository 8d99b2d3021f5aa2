"""Where a job's trials run: the executor protocol, and the executors by name (``local``, ``ray``).

An executor takes the pending slots of a job and yields each trial's record as it
finishes; the runner builds environments before and summarizes the job after.
``check_executor`` validates a name once (the CLI and the runner both call it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from looplab.environment.build import Environment
from looplab.errors import LooplabError
from looplab.job.spec import Emit, JobSpec, Slot
from looplab.records.results import TrialResult

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    def run(self, spec: JobSpec, pending: list[Slot], emit: Emit) -> Iterator[TrialResult]:
        """Run every pending slot as a new trial folder of the job; yield each record as it finishes."""
        ...


def check_executor(name: str) -> str:
    if name not in EXECUTORS:
        raise LooplabError(f"--executor must be one of {', '.join(EXECUTORS)}, got {name!r}")
    return name


def make_executor(name: str, envs: dict[str, Environment]) -> Executor:
    """The executor called ``name``; ``envs`` are the job's built environments (by task name)."""
    check_executor(name)
    if name == "ray":
        from looplab.job.ray_executor import RayExecutor  # Ray is an optional dependency

        return RayExecutor()
    from looplab.job.local import LocalExecutor

    return LocalExecutor(envs)
