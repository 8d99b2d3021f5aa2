"""The base of every native-log converter: ``feed(line)`` to trajectory events, running usage totals."""

from __future__ import annotations

import json
from typing import Any

from looplab.agents.base import Usage
from looplab.agents.llm.pricing import PriceTable


def text_of(content: Any) -> str:
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
    """Lines of a log in, trajectory events out (``cli_event`` for what a format does not know).

    A ``whole_file`` format is one JSON document the tool rewrites as it goes: it is read once, when the
    tool has ended (``document``), not line by line."""

    format = "none"
    whole_file = False

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

    def document(self, text: str) -> list[dict[str, Any]]:
        """The events of a whole log (the default: its lines, then what ``flush`` holds)."""
        return [ev for line in text.splitlines() for ev in self.feed(line)] + self.flush()

    def flush(self) -> list[dict[str, Any]]:
        """Events held back waiting for more lines (called when the log ends)."""
        return []

    def init_event(self, obj: dict[str, Any], *keys: str) -> list[dict[str, Any]]:
        """A CLI's session-start line as an ``init`` event (its model, session id and ``keys``); the
        model it names becomes this log's model unless one was given."""
        if obj.get("model") and not self.model:
            self.model = str(obj["model"])
        ev = {
            "type": "cli_event",
            "event": "init",
            "model": obj.get("model"),
            "session_id": obj.get("session_id"),
        }
        return [{**ev, **{k: obj.get(k) for k in keys}}]

    def _cost(self, u: Usage, provider: str) -> float:
        model = self.model or ""
        name = model if "/" in model else f"{provider}/{model}"
        return self.prices.cost(name, u) or 0.0

    def totals(self) -> Usage:
        u = Usage(**{k: getattr(self.usage, k) for k in self.usage.__dataclass_fields__})
        if self.reported_cost is not None:
            u.cost_usd = self.reported_cost
        return u
