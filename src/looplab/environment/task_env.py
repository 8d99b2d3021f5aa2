"""A task's ``[environment.env]``: variables for its sandboxes, with ``${VAR:-default}`` from the host.

Harbor passes these into the task's container, where the agent and the verifier both run,
so looplab sets them in the agent's sandbox and the verifier's (``[verifier.env]`` wins
there). Only what the task names is read from the host: ``${OPENAI_API_KEY}`` copies that
one variable, ``${MODE:-fast}`` falls back to ``fast``; nothing else of the host's
environment reaches a sandbox.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from looplab.environment.dockerfile import substitute
from looplab.tasks.model import TaskConfig


def task_env(config: TaskConfig, host: Mapping[str, str] | None = None) -> dict[str, str]:
    """``[environment.env]`` with every ``$VAR`` / ``${VAR:-default}`` resolved against ``host``."""
    return resolve_env(config.environment.env, host)


def resolve_env(table: Mapping[str, str], host: Mapping[str, str] | None = None) -> dict[str, str]:
    """An env table (``[environment.env]``, ``[solution] env``) with ``${VAR:-default}`` resolved."""
    values = dict(os.environ if host is None else host)
    return {k: substitute(v, values) for k, v in table.items()}
