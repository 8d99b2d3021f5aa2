"""What a model reply says: its usage, text and tool calls, for the three wire protocols, JSON or SSE.

``protocol_of(path)`` names the protocol of a request path (``/v1/messages``:
Anthropic Messages, ``/chat/completions``: OpenAI Chat Completions, ``/responses``:
OpenAI Responses, ``models/M:generateContent`` / ``:streamGenerateContent``: Gemini; anything else is
forwarded unmetered, e.g. ``/v1/models`` or
``count_tokens``). ``read_reply(protocol, body, streamed)`` turns the whole reply
into a ``Reply``: a ``Usage`` (one model call; uncached input, output, cache read,
cache write, as ``agents.llm.pricing`` counts them) and the assistant's text and tool
calls, assembled from the stream's deltas when it was streamed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from looplab.agents.base import Usage
from looplab.agents.llm.pricing import (
    usage_from_anthropic,
    usage_from_gemini,
    usage_from_openai,
    usage_from_responses,
)

ANTHROPIC = "anthropic-messages"
OPENAI_CHAT = "openai-chat"
OPENAI_RESPONSES = "openai-responses"
GEMINI = "gemini-generate"
PROTOCOLS = (ANTHROPIC, OPENAI_CHAT, OPENAI_RESPONSES, GEMINI)


@dataclass
class Reply:
    usage: Usage
    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # {"id", "name", "arguments"}
    model: str | None = None
    error: str | None = None  # the provider's error message, when the reply was one


def protocol_of(path: str) -> str | None:
    p = path.split("?", 1)[0].rstrip("/")
    if p.endswith((":generateContent", ":streamGenerateContent")):
        return GEMINI
    if p.endswith("/messages"):
        return ANTHROPIC
    if p.endswith("/chat/completions"):
        return OPENAI_CHAT
    if p.endswith("/responses"):
        return OPENAI_RESPONSES
    return None


def sse_events(data: bytes) -> Iterator[tuple[str | None, Any]]:
    """``(event name, decoded JSON data)`` for each server-sent event; ``[DONE]`` and non-JSON data
    skipped."""
    name: str | None = None
    lines: list[str] = []
    for raw in data.decode("utf-8", "replace").splitlines() + [""]:
        if raw == "":
            obj = _json("\n".join(lines).encode()) if lines else None
            if obj is not None:
                yield name, obj
            name, lines = None, []
        elif raw.startswith("event:"):
            name = raw[6:].strip()
        elif raw.startswith("data:"):
            lines.append(raw[5:].lstrip())


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _error_text(obj: Any) -> str | None:
    if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
        return str(obj["error"].get("message") or obj["error"])
    return None


def read_reply(protocol: str, body: bytes, streamed: bool) -> Reply:
    """The reply's usage, text and tool calls (a reply that cannot be read: one call, no tokens)."""
    if protocol == GEMINI:
        chunks = [ev for _, ev in sse_events(body)] if streamed else _json(body)
        return _gemini(chunks if isinstance(chunks, list) else [chunks])
    if streamed:
        events = list(sse_events(body))
        if protocol == ANTHROPIC:
            return _anthropic_stream(events)
        if protocol == OPENAI_CHAT:
            return _chat_stream(events)
        return _responses_stream(events)
    obj = _json(body)
    if not isinstance(obj, dict):
        return Reply(Usage(n_calls=1), error="the reply is not a JSON object")
    err = _error_text(obj)
    if err is not None:
        return Reply(Usage(n_calls=1), error=err)
    if protocol == ANTHROPIC:
        return _anthropic(obj)
    if protocol == OPENAI_CHAT:
        return _chat(obj)
    return _responses(obj)


# ---- Anthropic Messages ----------------------------------------------------------------------
def _anthropic(msg: dict[str, Any]) -> Reply:
    r = Reply(usage_from_anthropic(msg.get("usage")), model=msg.get("model"))
    for b in msg.get("content") or []:
        if b.get("type") == "text":
            r.text += b.get("text", "")
        elif b.get("type") == "tool_use":
            r.tool_calls.append({"id": b.get("id"), "name": b.get("name"), "arguments": b.get("input")})
    return r


def _anthropic_stream(events: list[tuple[str | None, Any]]) -> Reply:
    usage: dict[str, Any] = {}
    r = Reply(Usage(n_calls=1))
    blocks: dict[int, dict[str, Any]] = {}
    for _, ev in events:
        if not isinstance(ev, dict):
            continue
        kind = ev.get("type")
        if kind == "message_start":
            msg = ev.get("message") or {}
            r.model = msg.get("model")
            usage.update(msg.get("usage") or {})
        elif kind == "message_delta":  # cumulative counts: the last one wins
            usage.update({k: v for k, v in (ev.get("usage") or {}).items() if v is not None})
        elif kind == "content_block_start":
            blocks[ev.get("index", 0)] = dict(ev.get("content_block") or {}, partial="")
        elif kind == "content_block_delta":
            b = blocks.setdefault(ev.get("index", 0), {"type": "text", "partial": ""})
            d = ev.get("delta") or {}
            b["partial"] += d.get("text") or d.get("partial_json") or ""
        elif kind == "error":
            r.error = _error_text(ev)
    r.usage = usage_from_anthropic(usage)
    for _, b in sorted(blocks.items()):
        if b.get("type") == "text":
            r.text += b.get("text", "") + b["partial"]
        elif b.get("type") == "tool_use":
            args = _json(b["partial"].encode()) if b["partial"] else b.get("input")
            r.tool_calls.append({"id": b.get("id"), "name": b.get("name"), "arguments": args})
    return r


# ---- OpenAI Chat Completions -----------------------------------------------------------------
def _chat(obj: dict[str, Any]) -> Reply:
    r = Reply(usage_from_openai(obj.get("usage")), model=obj.get("model"))
    for choice in obj.get("choices") or []:
        msg = choice.get("message") or {}
        r.text += msg.get("content") or ""
        for c in msg.get("tool_calls") or []:
            fn = c.get("function") or {}
            r.tool_calls.append(
                {"id": c.get("id"), "name": fn.get("name"), "arguments": _args(fn.get("arguments"))}
            )
    return r


def _chat_stream(events: list[tuple[str | None, Any]]) -> Reply:
    r = Reply(Usage(n_calls=1))
    calls: dict[int, dict[str, Any]] = {}
    for _, ev in events:
        if not isinstance(ev, dict):
            continue
        if ev.get("error"):
            r.error = _error_text(ev)
        r.model = r.model or ev.get("model")
        if ev.get("usage"):
            r.usage = usage_from_openai(ev["usage"])
        for choice in ev.get("choices") or []:
            d = choice.get("delta") or {}
            r.text += d.get("content") or ""
            for c in d.get("tool_calls") or []:
                acc = calls.setdefault(c.get("index", 0), {"id": None, "name": "", "arguments": ""})
                fn = c.get("function") or {}
                acc["id"] = c.get("id") or acc["id"]
                acc["name"] += fn.get("name") or ""
                acc["arguments"] += fn.get("arguments") or ""
    r.tool_calls = [dict(c, arguments=_args(c["arguments"])) for _, c in sorted(calls.items())]
    return r


def _args(raw: Any) -> Any:
    if isinstance(raw, str):
        parsed = _json(raw.encode()) if raw else {}
        return raw if parsed is None else parsed
    return raw


# ---- OpenAI Responses ------------------------------------------------------------------------
def _responses(obj: dict[str, Any]) -> Reply:
    r = Reply(usage_from_responses(obj.get("usage")), model=obj.get("model"))
    for item in obj.get("output") or []:
        if item.get("type") == "message":
            r.text += "".join(c.get("text", "") for c in item.get("content") or [] if isinstance(c, dict))
        elif item.get("type") in ("function_call", "custom_tool_call", "local_shell_call"):
            args = item.get("arguments", item.get("input", item.get("action")))
            r.tool_calls.append(
                {
                    "id": item.get("call_id") or item.get("id"),
                    "name": item.get("name") or item["type"],
                    "arguments": _args(args),
                }
            )
    return r


def _responses_stream(events: list[tuple[str | None, Any]]) -> Reply:
    final: dict[str, Any] | None = None
    error = None
    for name, ev in events:
        if not isinstance(ev, dict):
            continue
        kind = ev.get("type") or name
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            final = ev.get("response") or {}
        elif kind == "error":
            error = ev.get("message") or _error_text(ev)
    if final is None:
        return Reply(Usage(n_calls=1), error=error or "the stream ended before response.completed")
    r = _responses(final)
    r.error = error or ((final.get("error") or {}).get("message") if final.get("error") else None)
    return r


# ---- Gemini generateContent ------------------------------------------------------------------
def _gemini(chunks: list[Any]) -> Reply:
    """A reply, or the chunks of a stream (SSE or a JSON array): parts add up, the last usage wins."""
    r = Reply(Usage(n_calls=1))
    for ch in chunks:
        if not isinstance(ch, dict):
            continue
        if ch.get("error"):
            r.error = _error_text(ch)
        if ch.get("usageMetadata"):
            r.usage = usage_from_gemini(ch["usageMetadata"])
        r.model = ch.get("modelVersion") or r.model
        for cand in (ch.get("candidates") or [])[:1]:
            for part in (cand.get("content") or {}).get("parts") or []:
                if part.get("thought"):
                    continue
                r.text += part.get("text") or ""
                if part.get("functionCall"):
                    fc = part["functionCall"]
                    r.tool_calls.append(
                        {"id": fc.get("id"), "name": fc.get("name"), "arguments": fc.get("args")}
                    )
    return r
