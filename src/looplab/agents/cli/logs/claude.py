"""Claude Code's ``--output-format stream-json`` (also Qwen Code's): ``system`` init, ``assistant`` messages
with text and ``tool_use`` blocks and their usage, ``user`` messages carrying ``tool_result`` blocks, a final
``result`` with ``total_cost_usd``. Claude Code may repeat one message id over several lines; usage is
counted once per message id (the growth over the previous line)."""

from __future__ import annotations

from typing import Any

from looplab.agents.base import Usage
from looplab.agents.cli.logs.base import Converter, text_of
from looplab.agents.llm.pricing import PriceTable, usage_from_anthropic


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
            return self.init_event(obj, "tools", "cwd")
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
                            "content": text_of(b.get("content")),
                            "is_error": bool(b.get("is_error")),
                        }
                    )
            return out or [{"type": "cli_event", "event": "user", "content": text_of(content)[:4000]}]
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
                    "result": text_of(obj.get("result"))[:4000],
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
