"""Gemini CLI's ``--output-format stream-json``: ``init`` (session, model), ``message`` lines (the user's
prompt; the model's text in ``delta`` pieces), ``tool_use`` (``tool_id``, ``tool_name``, ``parameters``),
``tool_result`` (``tool_id``, ``status``, ``output`` or ``error``), ``error``, and a final ``result`` whose
``stats`` hold the session's tokens (``input_tokens`` with the cached ones, ``input`` without, ``cached``,
``output_tokens``). Text pieces and tool calls are one model turn, emitted when its
first tool result (or the end) arrives; the log has no per-turn usage."""

from __future__ import annotations

import json
from typing import Any

from looplab.agents.base import Usage
from looplab.agents.cli.logs.base import Converter, text_of


class GeminiStreamConverter(Converter):
    format = "gemini-stream-json"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.turn: dict[str, Any] | None = None  # the model turn being assembled
        self.tool_names: dict[str, str] = {}
        self.turns = 0

    def _open(self) -> dict[str, Any]:
        if self.turn is None:
            self.turn = {"type": "assistant", "text": "", "tool_calls": []}
            if self.model:
                self.turn["model"] = self.model
        return self.turn

    def flush(self) -> list[dict[str, Any]]:
        out = [self.turn] if self.turn is not None else []
        self.turns += len(out)
        self.turn = None
        return out

    def convert(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        kind = obj.get("type")
        if kind == "init":
            return self.init_event(obj)
        if kind == "message" and obj.get("role") == "assistant":  # text after tool calls: the same turn
            self._open()["text"] += text_of(obj.get("content"))
            return []
        if kind == "tool_use":
            cid = str(obj.get("tool_id"))
            self.tool_names[cid] = str(obj.get("tool_name"))
            args = (
                obj.get("parameters")
                if isinstance(obj.get("parameters"), dict)
                else {"input": obj.get("parameters")}
            )
            self._open()["tool_calls"].append(
                {"id": cid, "name": str(obj.get("tool_name")), "arguments": args}
            )
            return []
        if kind == "tool_result":
            cid = str(obj.get("tool_id"))
            err = obj.get("error")
            content = obj.get("output") if obj.get("output") is not None else err
            return self.flush() + [
                {
                    "type": "observation",
                    "call_id": cid,
                    "tool": self.tool_names.get(cid),
                    "content": content if isinstance(content, str) else json.dumps(content),
                    "is_error": obj.get("status") not in ("success", None) or err is not None,
                }
            ]
        if kind == "result":
            out = self.flush()
            stats = obj.get("stats") if isinstance(obj.get("stats"), dict) else {}
            cached = int(stats.get("cached") or 0)
            uncached = max(0, int(stats.get("input_tokens") or 0) - cached)
            self.usage = Usage(
                n_calls=self.turns,
                input_tokens=int(stats["input"]) if stats.get("input") is not None else uncached,
                output_tokens=int(stats.get("output_tokens") or 0),
                cache_read_tokens=cached,
            )
            self.usage.cost_usd = self._cost(self.usage, "gemini")
            return out + [
                {"type": "cli_event", "event": "result", "status": obj.get("status"), "stats": stats}
            ]
        if kind == "error":
            return self.flush() + [{"type": "error", "text": str(obj.get("message") or obj)[:4000]}]
        if kind == "message":  # the user's prompt: already the trajectory's user event
            return self.flush() + [
                {
                    "type": "cli_event",
                    "event": "message",
                    "role": obj.get("role"),
                    "content": text_of(obj.get("content"))[:4000],
                }
            ]
        return self.flush() + [{"type": "cli_event", "event": obj}]
