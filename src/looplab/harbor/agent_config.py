"""A task's ``skills_dir`` and ``mcp_servers``, put where an agent in the sandbox finds them.

Both are written into the agent's sandbox before the agent starts, in Claude Code's places,
as Harbor does for its Claude Code agent: the skills folder's contents (a path inside the
environment) are copied into ``$HOME/.claude/skills/``, and the MCP servers are written to
``$HOME/.claude.json`` as ``mcpServers`` (``stdio``: ``command``/``args``; ``sse`` and
``streamable-http``: ``type``/``url``). Every agent also gets both in its ``AgentContext``
(``skills_dir``, ``mcp_servers``). A ``stdio`` server is spawned by the agent from the
environment's own command; an ``sse``/``streamable-http`` server with a ``command`` is started
by looplab in the trial's services network (``harbor.services``), and one whose URL names a
compose service is that sidecar; any other URL is reached through the agent's network policy
like any other destination.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from looplab.errors import LooplabError
from looplab.sandbox.base import Sandbox
from looplab.tasks.model import McpServer


def mcp_config(servers: list[McpServer]) -> dict[str, Any]:
    """Claude Code's ``mcpServers`` table for ``servers``."""
    out: dict[str, Any] = {}
    for s in servers:
        if s.transport == "stdio":
            out[s.name] = {"type": "stdio", "command": s.command, "args": list(s.args)}
        else:
            out[s.name] = {"type": "http" if s.transport == "streamable-http" else "sse", "url": s.url}
    return {"mcpServers": out}


def install(box: Sandbox, skills_dir: str | None, servers: list[McpServer], cwd: str) -> dict[str, Any]:
    """Copy the skills and write the MCP configuration into the running sandbox; what was done."""
    record: dict[str, Any] = {}
    if skills_dir:
        q = shlex.quote(skills_dir)
        r = box.exec(
            f'test -d {q} && mkdir -p "$HOME/.claude/skills" && cp -RP {q}/. "$HOME/.claude/skills/" '
            '&& ls "$HOME/.claude/skills"',
            timeout=120,
            cwd=cwd,
        )
        if r.exit_code != 0:
            raise LooplabError(f"[environment] skills_dir: {skills_dir} is not a folder in the environment")
        record["skills"] = sorted(r.stdout.split())
    if servers:
        doc = json.dumps(mcp_config(servers))
        r = box.exec(f'printf %s {shlex.quote(doc)} > "$HOME/.claude.json"', timeout=30, cwd=cwd)
        if r.exit_code != 0:
            raise LooplabError(
                f"[environment] mcp_servers: could not write $HOME/.claude.json: {r.stderr.strip()}"
            )
        record["mcp_servers"] = [s.name for s in servers]
    return record
