"""What a trial's model calls cost and whether the next may go: the caps, the running usage, metering a reply.

``Meter`` holds the usage summed over the metered replies (``protocols.read_reply``:
tokens from the wire, JSON or SSE; dollars from the price table); ``admit`` refuses a
metered call once a cap (``Caps``: model calls, tokens, dollars) is reached and says
which; ``error_body`` is that refusal in the protocol's own error format.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from looplab.agents.base import Usage
from looplab.agents.llm.pricing import PriceTable
from looplab.gateway.protocols import ANTHROPIC, GEMINI, read_reply


@dataclass
class Caps:
    max_calls: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None

    def reached(self, u: Usage) -> str | None:
        """The stop reason of the first cap that ``u`` has reached, or None."""
        if self.max_cost_usd is not None and u.cost_usd >= self.max_cost_usd:
            return "max_cost"
        if self.max_tokens is not None and u.total_tokens >= self.max_tokens:
            return "max_tokens"
        if self.max_calls is not None and u.n_calls >= self.max_calls:
            return "max_turns"
        return None

    def describe(self, reason: str, u: Usage) -> str:
        if reason == "max_cost":
            return (
                f"the trial's cost budget is spent (max_cost ${self.max_cost_usd:g}, used ${u.cost_usd:.6f})"
            )
        if reason == "max_tokens":
            return f"the trial's token budget is spent (max_tokens {self.max_tokens}, used {u.total_tokens})"
        return f"the trial's model-call budget is spent (max_turns {self.max_calls} model calls)"


@dataclass
class GatewayState:
    usage: Usage = field(default_factory=Usage)
    calls: int = 0  # requests seen (metered or not)
    refused: int = 0
    unpriced_models: set[str] = field(default_factory=set)
    capped: str | None = None  # the stop reason, once a call was refused at a cap
    capped_at: float | None = None


class Meter:
    """The caps and the usage of one gateway; every read and update under one lock."""

    def __init__(self, prices: PriceTable | None = None, caps: Caps | None = None):
        self.prices = prices or PriceTable()
        self.caps = caps or Caps()
        self.state = GatewayState()
        self.lock = threading.Lock()

    def reset(self) -> None:
        """Start counting again from nothing (the caps stay)."""
        with self.lock:
            self.state = GatewayState()

    def usage(self) -> Usage:
        with self.lock:
            return Usage(**asdict(self.state.usage))

    def admit(self, protocol: str | None) -> str | None:
        """None to forward the call; the refusal message when a cap is reached (and ``capped`` set)."""
        if protocol is None:
            return None
        with self.lock:
            self.state.calls += 1
            reason = self.caps.reached(self.state.usage)
            if reason is None:
                return None
            self.state.refused += 1
            if self.state.capped is None:
                self.state.capped, self.state.capped_at = reason, time.monotonic()
            return f"looplab: {self.caps.describe(reason, self.state.usage)}; the agent is being stopped."

    def meter(
        self, provider: str, protocol: str, path: str, request: Any, status: int, data: bytes, streamed: bool
    ) -> dict:
        """Add one reply's usage; the record's fields (model, usage, priced, error, text, tool calls)."""
        reply = read_reply(protocol, data, streamed)
        model = (
            (request.get("model") if isinstance(request, dict) else None)
            or model_in_path(path)
            or reply.model
            or "unknown"
        )
        usage = reply.usage if 200 <= status < 300 else Usage()
        cost = self.prices.cost(f"{provider}/{model}", usage)
        usage.cost_usd = cost or 0.0
        with self.lock:
            self.state.usage.add(usage)
            if cost is None and usage.n_calls:
                self.state.unpriced_models.add(model)
        return {
            "model": model,
            "usage": asdict(usage),
            "priced": cost is not None,
            "error": reply.error,
            "text": reply.text,
            "tool_calls": reply.tool_calls,
        }


def model_in_path(path: str) -> str | None:
    """Gemini names the model in the path: ``v1beta/models/NAME:generateContent``."""
    m = re.search(r"models/([^/:?]+):", path)
    return m.group(1) if m else None


def error_body(protocol: str | None, message: str) -> dict[str, Any]:
    """A refusal (or an unreachable upstream) as the protocol's own error reply, which clients show."""
    if protocol == GEMINI:
        return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
    if protocol == ANTHROPIC:
        return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "code": "looplab_budget",
            "param": None,
        }
    }
