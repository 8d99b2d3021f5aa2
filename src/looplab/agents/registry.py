"""Agent names to agent classes. ``make_agent("oracle")``, ``make_agent("replay", {"script": F})``.

Entries are import paths, so an agent's dependencies load only when it is used.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from looplab.agents.base import Agent, BudgetLimits
from looplab.errors import LooplabError

AGENTS: dict[str, str] = {
    "nop": "looplab.agents.simple:NopAgent",
    "oracle": "looplab.agents.simple:OracleAgent",
    "replay": "looplab.agents.replay:ReplayAgent",
    "command": "looplab.agents.command_agent:CommandAgent",
    "llm": "looplab.agents.llm.loop:LLMAgent",
    "cli": "looplab.agents.cli.agent:CliAgent",
    "claude-code": "looplab.agents.cli.agent:ClaudeCodeAgent",
    "codex": "looplab.agents.cli.agent:CodexAgent",
    "aider": "looplab.agents.cli.agent:AiderAgent",
    "qwen-code": "looplab.agents.cli.agent:QwenCodeAgent",
    "mini-swe-agent": "looplab.agents.cli.agent:MiniSweAgent",
    "gemini-cli": "looplab.agents.cli.agent:GeminiCliAgent",
}


def agent_class(name: str) -> type:
    if name not in AGENTS:
        raise LooplabError(f"unknown agent {name!r}; known agents: {', '.join(sorted(AGENTS))}")
    module, _, cls_name = AGENTS[name].partition(":")
    return getattr(importlib.import_module(module), cls_name)


def _takes(cls: type) -> tuple[list[str], bool]:
    """The keyword arguments an agent class takes, and whether it takes any (``**kwargs``)."""
    options = getattr(cls, "Options", None)
    if options is not None:  # a pydantic model of the agent's options
        return list(options.model_fields), False
    params = inspect.signature(cls).parameters
    return list(params), any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def make_agent(name: str, kwargs: dict[str, Any] | None = None, model: str | None = None) -> Agent:
    cls = agent_class(name)
    kwargs = dict(kwargs or {})
    if model is not None:
        kwargs["model"] = model
    params, accepts_any = _takes(cls)
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


def args_for(name: str, kwargs: dict[str, Any], model: str | None) -> tuple[dict[str, Any], str | None]:
    """The part of a job's ``--ak`` arguments (and ``-m`` model) that agent ``name`` takes."""
    params, takes_any = _takes(agent_class(name))
    mine = {k: v for k, v in kwargs.items() if takes_any or k in params}
    return mine, (model if takes_any or "model" in params else None)


def preflight(agent: Any, budget: BudgetLimits | None = None) -> None:
    """Raise what the agent's ``preflight(budget)`` finds (keys, binaries, prices), in one line."""
    check = getattr(agent, "preflight", None)
    if callable(check) and (problems := check(budget or BudgetLimits())):
        raise LooplabError(f"agent {getattr(agent, 'name', '?')}: " + "; ".join(problems))


def check_job_agents(
    names: list[str], kwargs: dict[str, Any], model: str | None, budget: BudgetLimits | None = None
) -> None:
    """Fail before any trial starts: an unknown agent, an argument (or ``-m``) that no
    agent of the job takes, a bad value, or what an agent's ``preflight(budget)`` finds
    (a CLI agent: its binary, key variable, price; the llm agent: its API key variable, a
    price when ``--max-cost`` is set; one line
    each). A job's arguments go to every agent that takes them, so
    ``-a nop -a replay --ak script=F`` gives the script to replay only."""
    used: set[str] = set()
    for name in dict.fromkeys(names):
        mine, mine_model = args_for(name, kwargs, model)
        preflight(make_agent(name, mine, mine_model), budget)
        used |= set(mine) | ({"-m/--model"} if mine_model is not None else set())
    unused = [k for k in kwargs if k not in used]
    if model is not None and "-m/--model" not in used:
        unused.append("-m/--model")
    if unused:
        raise LooplabError(
            f"no agent of this job ({', '.join(dict.fromkeys(names))}) takes {', '.join(unused)}"
        )
