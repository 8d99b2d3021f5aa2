"""Native logs of CLI agents turned into looplab trajectory events, line by line as they are written.

Two formats are understood:

- ``claude-stream-json``: Claude Code's ``--output-format stream-json`` (``system``
  init, ``assistant`` messages with text and ``tool_use`` blocks and their usage,
  ``user`` messages carrying ``tool_result`` blocks, a final ``result`` with
  ``total_cost_usd``). Claude Code may repeat one message id over several lines;
  usage is counted once per message id (the growth over the previous line).
- ``codex-jsonl``: Codex CLI's ``codex exec --json`` (``thread.started``,
  ``item.started``/``item.completed`` for ``command_execution``, ``file_change``,
  ``agent_message``, ``reasoning``, ``mcp_tool_call``..., ``turn.completed`` with
  usage whose ``input_tokens`` include ``cached_input_tokens``).

Each converter's ``feed(line)`` returns trajectory events (``assistant`` with tool
calls, ``observation`` with the matching ``call_id``, ``cli_event`` for the rest)
and keeps running ``usage`` totals; unknown lines become ``cli_event`` so nothing
is lost.
"""

from __future__ import annotations

import json
from typing import Any

from looplab.agents.base import Usage
from looplab.agents.llm.pricing import PriceTable, usage_from_anthropic

FORMATS = ("claude-stream-json", "codex-jsonl", "none")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(c.get("text", "")) if isinstance(c, dict) else str(c)
            for c in content
            if not isinstance(c, dict) or c.get("type") in (None, "text")
        )
    return "" if content is None else json.dumps(content)


class Converter:
    format = "none"

    def __init__(self, prices: PriceTable | None = None, model: str | None = None):
        self.prices = prices or PriceTable()
        self.model = model
        self.usage = Usage()
        self.reported_cost: float | None = None  # the CLI's own total, when it prints one

    def feed(self, line: str) -> list[dict[str, Any]]:
        line = line.strip()
        if not line:
            return []
        try:
            obj = json.loads(line)
        except ValueError:
            return [{"type": "cli_event", "raw": line[:4000]}]
        if not isinstance(obj, dict):
            return [{"type": "cli_event", "raw": line[:4000]}]
        return self.convert(obj)

    def convert(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"type": "cli_event", "event": obj}]

    def flush(self) -> list[dict[str, Any]]:
        """Events held back waiting for more lines (called when the log ends)."""
        return []

    def _cost(self, u: Usage, provider: str) -> float:
        model = self.model or ""
        name = model if "/" in model else f"{provider}/{model}"
        return self.prices.cost(name, u) or 0.0

    def totals(self) -> Usage:
        u = Usage(**{k: getattr(self.usage, k) for k in self.usage.__dataclass_fields__})
        if self.reported_cost is not None:
            u.cost_usd = self.reported_cost
        return u


class ClaudeStreamConverter(Converter):
    format = "claude-stream-json"

    def __init__(self, prices: PriceTable | None = None, model: str | None = None):
        super().__init__(prices, model)
        self.seen: dict[str, Usage] = {}
        self.tool_names: dict[str, str] = {}
        self.held: dict[str, Any] | None = None

    def convert(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        """Lines of one assistant message (same id) are merged into one event, emitted when the message
        ends."""
        kind = obj.get("type")
        if kind == "assistant":
            ev = self._convert(obj)[0]
            held = self.held
            if (
                held is not None
                and held.get("response_id") is not None
                and held["response_id"] == ev["response_id"]
            ):
                held["text"] = "\n".join(t for t in (held["text"], ev["text"]) if t)
                held["tool_calls"] += ev["tool_calls"]
                for k, v in ev["usage"].items():
                    held["usage"][k] = round(held["usage"][k] + v, 8)
                held["cost_usd"] = held["usage"]["cost_usd"]
                if ev.get("reasoning"):
                    held["reasoning"] = "\n".join(x for x in (held.get("reasoning"), ev["reasoning"]) if x)
                return []
            out = self.flush()
            self.held = ev
            return out
        return self.flush() + self._convert(obj)

    def flush(self) -> list[dict[str, Any]]:
        out = [self.held] if self.held is not None else []
        self.held = None
        return out

    def _convert(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        kind = obj.get("type")
        if kind == "system":
            if obj.get("model") and not self.model:
                self.model = str(obj["model"])
            return [
                {
                    "type": "cli_event",
                    "event": "init",
                    "model": obj.get("model"),
                    "session_id": obj.get("session_id"),
                    "tools": obj.get("tools"),
                    "cwd": obj.get("cwd"),
                }
            ]
        if kind == "assistant":
            msg = obj.get("message") or {}
            texts, calls, reasoning = [], [], []
            for b in msg.get("content") or []:
                if not isinstance(b, dict):
                    continue
                if b.get("type") == "text":
                    texts.append(str(b.get("text", "")))
                elif b.get("type") == "thinking":
                    reasoning.append(str(b.get("thinking", "")))
                elif b.get("type") == "tool_use":
                    cid = str(b.get("id"))
                    self.tool_names[cid] = str(b.get("name"))
                    args = b.get("input") if isinstance(b.get("input"), dict) else {"input": b.get("input")}
                    calls.append({"id": cid, "name": str(b.get("name")), "arguments": args})
            delta = self._usage_delta(str(msg.get("id") or id(obj)), msg.get("usage"))
            cost = self._cost(delta, "anthropic")
            delta.cost_usd = cost
            self.usage.add(delta)
            ev = {
                "type": "assistant",
                "text": "\n".join(texts),
                "tool_calls": calls,
                "model": msg.get("model"),
                "response_id": msg.get("id"),
                "usage": delta.event_fields(),
                "cost_usd": round(cost, 8),
            }
            if reasoning:
                ev["reasoning"] = "\n".join(reasoning)
            return [ev]
        if kind == "user":
            msg = obj.get("message") or {}
            out = []
            content = msg.get("content")
            for b in content if isinstance(content, list) else []:
                if isinstance(b, dict) and b.get("type") == "tool_result":
                    cid = str(b.get("tool_use_id"))
                    out.append(
                        {
                            "type": "observation",
                            "call_id": cid,
                            "tool": self.tool_names.get(cid),
                            "content": _text_of(b.get("content")),
                            "is_error": bool(b.get("is_error")),
                        }
                    )
            return out or [{"type": "cli_event", "event": "user", "content": _text_of(content)[:4000]}]
        if kind == "result":
            if isinstance(obj.get("total_cost_usd"), int | float):
                self.reported_cost = float(obj["total_cost_usd"])
            return [
                {
                    "type": "cli_event",
                    "event": "result",
                    "subtype": obj.get("subtype"),
                    "is_error": obj.get("is_error"),
                    "num_turns": obj.get("num_turns"),
                    "duration_ms": obj.get("duration_ms"),
                    "total_cost_usd": obj.get("total_cost_usd"),
                    "result": _text_of(obj.get("result"))[:4000],
                }
            ]
        return [{"type": "cli_event", "event": obj}]

    def _usage_delta(self, msg_id: str, raw: Any) -> Usage:
        now = usage_from_anthropic(raw) if raw else Usage()
        prev = self.seen.get(msg_id)
        self.seen[msg_id] = now
        if prev is None:
            now_copy = Usage(**{k: getattr(now, k) for k in now.__dataclass_fields__})
            now_copy.n_calls = 1
            return now_copy
        return Usage(
            n_calls=0,
            input_tokens=max(0, now.input_tokens - prev.input_tokens),
            output_tokens=max(0, now.output_tokens - prev.output_tokens),
            cache_read_tokens=max(0, now.cache_read_tokens - prev.cache_read_tokens),
            cache_write_tokens=max(0, now.cache_write_tokens - prev.cache_write_tokens),
        )


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


def make_converter(fmt: str, prices: PriceTable | None = None, model: str | None = None) -> Converter:
    if fmt == "claude-stream-json":
        return ClaudeStreamConverter(prices, model)
    if fmt == "codex-jsonl":
        return CodexJsonConverter(prices, model)
    return Converter(prices, model)
