"""A CLI agent's options (``--ak KEY=VALUE``), validated once, and the list-valued ones' parsing."""

from __future__ import annotations

import re
from typing import Any

from looplab.agents.options import AgentOptions
from looplab.errors import LooplabError
from looplab.sandbox.egress import DEFAULT_PORT


def csv_items(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, list | tuple):
        return [str(x).strip() for x in v if str(x).strip()]
    return [x.strip() for x in str(v).split(",") if x.strip()]


def env_pairs(v: Any) -> dict[str, str]:
    """``K=V,K2=V2`` (a comma inside a value is kept unless it is followed by ``NAME=``)."""
    if not v:
        return {}
    out = {}
    for part in re.split(r",(?=\s*[A-Za-z_][A-Za-z0-9_]*=)", str(v)):
        k, sep, val = part.partition("=")
        if not sep or not k.strip():
            raise LooplabError(f"cli agent: env takes K=V,K2=V2; got {part!r}")
        out[k.strip()] = val
    return out


class CliOptions(AgentOptions):
    """A CLI agent's options (``--ak KEY=VALUE``; ``agents.cli.agent``'s docstring says what each does)."""

    tool: str | None = None
    template: str | None = None
    model: str | None = None
    bin: str | None = None
    allow: str | None = None
    base_url: str | None = None
    mounts: str | None = None
    env: str | None = None
    pass_env: str | None = None
    log_file: str | None = None
    log_format: str | None = None  # one of logs.FORMATS
    prices: str | None = None
    port: int = DEFAULT_PORT
