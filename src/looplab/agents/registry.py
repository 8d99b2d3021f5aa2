"""Agent names to agent classes. ``make_agent("oracle")``, ``make_agent("replay", {"script": F})``.

Entries are import paths, so an agent's dependencies load only when it is used.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from looplab.agents.base import Agent
from looplab.errors import LooplabError

AGENTS: dict[str, str] = {
    "nop": "looplab.agents.simple:NopAgent",
    "oracle": "looplab.agents.simple:OracleAgent",
    "replay": "looplab.agents.replay:ReplayAgent",
    "command": "looplab.agents.command_agent:CommandAgent",
    "llm": "looplab.agents.llm.loop:LLMAgent",
    "cli": "looplab.agents.cli_agent:CliAgent",
    "claude-code": "looplab.agents.cli_agent:ClaudeCodeAgent",
    "codex": "looplab.agents.cli_agent:CodexAgent",
    "aider": "looplab.agents.cli_agent:AiderAgent",
}


def make_agent(name: str, kwargs: dict[str, Any] | None = None, model: str | None = None) -> Agent:
    if name not in AGENTS:
        raise LooplabError(f"unknown agent {name!r}; known agents: {', '.join(sorted(AGENTS))}")
    module, _, cls_name = AGENTS[name].partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    kwargs = dict(kwargs or {})
    if model is not None:
        kwargs["model"] = model
    params = inspect.signature(cls).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = [k for k in kwargs if k not in params and not accepts_any]
    if unknown:
        raise LooplabError(
            f"agent {name!r} does not take {', '.join(unknown)} (it takes: {', '.join(params) or 'nothing'})"
        )
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise LooplabError(f"agent {name!r}: {exc}") from None


def agent_args(items: list[str] | None, base_url: str | None = None) -> dict[str, Any]:
    """Agent keyword arguments from the command line: ``--ak KEY=VALUE`` items and ``--base-url``."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise LooplabError(f"--ak takes KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v
    if base_url is not None:
        out["base_url"] = base_url
    return out
