"""Codex CLI's ``codex exec --json``: ``thread.started``, ``item.started``/``item.completed`` for
``command_execution``, ``file_change``, ``agent_message``, ``reasoning``, ``mcp_tool_call``...,
``turn.completed`` with usage whose ``input_tokens`` include ``cached_input_tokens``."""

from __future__ import annotations

import json
from typing import Any

from looplab.agents.base import Usage
from looplab.agents.cli.logs.base import Converter
from looplab.agents.llm.pricing import PriceTable


class CodexJsonConverter(Converter):
    format = "codex-jsonl"

    def __init__(self, prices: PriceTable | None = None, model: str | None = None):
        super().__init__(prices, model)
        self.started: set[str] = set()
        self.reasoning: list[str] = []

    def convert(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        kind = obj.get("type")
        if kind in ("item.started", "item.completed", "item.updated"):
            item = obj.get("item") or {}
            return self._item(kind, item)
        if kind == "turn.completed":
            raw = obj.get("usage") or {}
            cached = int(raw.get("cached_input_tokens") or 0)
            u = Usage(
                n_calls=1,
                input_tokens=max(0, int(raw.get("input_tokens") or 0) - cached),
                output_tokens=int(raw.get("output_tokens") or 0),
                cache_read_tokens=cached,
            )
            u.cost_usd = self._cost(u, "openai")
            self.usage.add(u)
            return [{"type": "usage", "usage": u.event_fields(), "cost_usd": round(u.cost_usd, 8)}]
        if kind in ("turn.failed", "error"):
            err = obj.get("error") if isinstance(obj.get("error"), dict) else {}
            return [{"type": "error", "text": str(err.get("message") or obj.get("message") or obj)[:4000]}]
        return [{"type": "cli_event", "event": obj}]

    def _item(self, kind: str, item: dict[str, Any]) -> list[dict[str, Any]]:
        iid, itype = str(item.get("id")), item.get("type")
        if itype == "reasoning":
            if kind == "item.completed":
                self.reasoning.append(str(item.get("text", "")))
            return []
        if itype == "agent_message":
            if kind != "item.completed":
                return []
            return [self._assistant(str(item.get("text", "")), [])]
        if itype in ("command_execution", "file_change", "mcp_tool_call", "web_search"):
            name = {
                "command_execution": "shell",
                "file_change": "apply_patch",
                "mcp_tool_call": "mcp",
                "web_search": "web_search",
            }[itype]
            args = {
                k: v
                for k, v in item.items()
                if k in ("command", "changes", "server", "tool", "arguments", "query")
            }
            out = []
            if iid not in self.started:
                self.started.add(iid)
                out.append(self._assistant("", [{"id": iid, "name": name, "arguments": args}]))
            if kind == "item.completed":
                content = item.get("aggregated_output")
                if content is None:
                    content = json.dumps({k: v for k, v in item.items() if k not in ("id", "type")})
                ev = {
                    "type": "observation",
                    "call_id": iid,
                    "tool": name,
                    "content": str(content),
                    "is_error": item.get("status") == "failed" or item.get("exit_code") not in (0, None),
                }
                if item.get("exit_code") is not None:
                    ev["exit_code"] = item["exit_code"]
                out.append(ev)
            return out
        return [{"type": "cli_event", "event": {"type": kind, "item": item}}]

    def _assistant(self, text: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
        ev: dict[str, Any] = {"type": "assistant", "text": text, "tool_calls": calls}
        if self.model:
            ev["model"] = self.model
        if self.reasoning:
            ev["reasoning"] = "\n".join(self.reasoning)
            self.reasoning = []
        return ev
