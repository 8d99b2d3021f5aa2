"""Model providers behind one small interface: Anthropic Messages and OpenAI-compatible Chat Completions.

A model is named ``anthropic/NAME`` or ``openai/NAME`` (the rest after the first
slash is the provider's model id, so ``openai/meta-llama/Llama-3`` works for an
OpenAI-compatible server). Both go through the official SDKs (``anthropic``,
``openai``) with ``base_url`` for compatible servers (vLLM, ollama, OpenRouter, a
local test server). Keys come from ``ANTHROPIC_API_KEY`` / ``OPENAI_API_KEY`` (or the
variable named by ``api_key_env``). Conversations are kept in a neutral form
(``Message`` with text, tool calls and tool results) and converted per provider.
Rate limits (429), server errors (5xx, 529), timeouts and connection errors are
retried with exponential backoff (honouring ``retry-after``) within the time left;
401/403 raise a ``LooplabError`` that names the key to check; a prompt longer than
the model's context raises ``ContextTooLong`` so the loop can compact and retry.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import anthropic
import openai

from looplab.agents.base import Usage
from looplab.agents.llm.pricing import usage_from_anthropic, usage_from_openai
from looplab.errors import LooplabError

PROVIDERS = ("anthropic", "openai")
KEY_ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 529}
CONTEXT_WORDS = (
    "context length",
    "context_length",
    "maximum context",
    "prompt is too long",
    "too many tokens",
)


@dataclass
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    bad_arguments: str | None = None  # the raw text when the model's arguments were not a JSON object


@dataclass
class ToolResult:
    call_id: str
    name: str
    content: str
    is_error: bool = False


@dataclass
class Message:
    """One conversation entry: ``user`` (text, tool results) or ``assistant`` (text, tool calls)."""

    role: str
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_results: list[ToolResult] = field(default_factory=list)

    def chars(self) -> int:
        n = len(self.text)
        n += sum(len(json.dumps(c.arguments)) + len(c.name) for c in self.tool_calls)
        n += sum(len(r.content) for r in self.tool_results)
        return n


@dataclass
class Completion:
    text: str
    tool_calls: list[ToolCall]
    usage: Usage
    stop_reason: str | None
    model: str
    response_id: str | None = None
    reasoning: str | None = None
    duration_s: float = 0.0
    retries: int = 0


class ContextTooLong(LooplabError):
    """The request did not fit the model's context window."""


class Provider(Protocol):
    provider: str
    model: str
    base_url: str | None

    def complete(
        self, system: str, messages: list[Message], tools: list[ToolSpec], timeout: float
    ) -> Completion: ...


def split_model(model: str) -> tuple[str, str]:
    provider, sep, name = (model or "").partition("/")
    if not sep or provider not in PROVIDERS or not name:
        raise LooplabError(
            f"model {model!r}: name it anthropic/NAME or openai/NAME (-m), e.g. "
            "-m anthropic/claude-sonnet-4-5"
        )
    return provider, name


def resolve_key(provider: str, base_url: str | None, api_key_env: str | None) -> str:
    var = api_key_env or KEY_ENV[provider]
    key = os.environ.get(var, "")
    if key:
        return key
    if base_url:  # a self-hosted compatible server often needs no key; the SDK still wants one
        return "no-key"
    raise LooplabError(f"{var} is not set: export it (or --ak api_key_env=VAR) to use the {provider} API")


def make_provider(
    model: str,
    base_url: str | None = None,
    api_key_env: str | None = None,
    max_output_tokens: int | None = None,
    temperature: float | None = None,
    max_retries: int = 6,
    retry_base_delay: float = 1.0,
    on_retry: Callable[[dict[str, Any]], None] | None = None,
) -> Provider:
    provider, name = split_model(model)
    key = resolve_key(provider, base_url, api_key_env)
    cls = AnthropicProvider if provider == "anthropic" else OpenAIProvider
    return cls(
        name,
        key,
        base_url=base_url,
        max_output_tokens=max_output_tokens,
        temperature=temperature,
        max_retries=max_retries,
        retry_base_delay=retry_base_delay,
        on_retry=on_retry,
    )


class _Base:
    provider = ""
    key_env = ""

    def __init__(
        self,
        model: str,
        api_key: str,
        base_url: str | None = None,
        max_output_tokens: int | None = None,
        temperature: float | None = None,
        max_retries: int = 6,
        retry_base_delay: float = 1.0,
        on_retry: Callable[[dict[str, Any]], None] | None = None,
    ):
        self.model = model
        self.base_url = base_url
        self.max_output_tokens = max_output_tokens
        self.temperature = temperature
        self.max_retries = max_retries
        self.retry_base_delay = retry_base_delay
        self.on_retry = on_retry
        self._api_key = api_key

    def _with_retries(self, call: Callable[[float], Any], timeout: float) -> tuple[Any, int]:
        """Run ``call(per_request_timeout)`` retrying transient failures until ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no time left for a model call")
            try:
                return call(left), attempt
            except (anthropic.APIStatusError, openai.APIStatusError) as exc:
                status = exc.status_code
                if status in (401, 403):
                    where = f" at {self.base_url}" if self.base_url else ""
                    raise LooplabError(
                        f"{self.provider} API{where} refused the key ({status} {_short(exc)}): "
                        f"check {self.key_env}"
                    ) from None
                text = _short(exc).lower()
                if status in (400, 413) and any(w in text for w in CONTEXT_WORDS):
                    raise ContextTooLong(f"{self.provider}: {_short(exc)}") from None
                if status not in RETRY_STATUS and status < 500:
                    raise LooplabError(f"{self.provider} API error {status}: {_short(exc)}") from None
                wait = _retry_after(exc)
                why = f"HTTP {status}"
            except (anthropic.APIConnectionError, openai.APIConnectionError) as exc:
                wait, why = None, f"{type(exc).__name__}: {exc}"
            if attempt >= self.max_retries:
                raise LooplabError(f"{self.provider} API: gave up after {attempt + 1} attempts ({why})")
            if wait is None:
                wait = min(60.0, self.retry_base_delay * 2**attempt) * random.uniform(0.5, 1.0)
            wait = min(wait, 120.0, max(0.0, deadline - time.monotonic()))
            if self.on_retry:
                self.on_retry({"attempt": attempt + 1, "reason": why, "wait_s": round(wait, 3)})
            time.sleep(wait)
            attempt += 1


def _short(exc: Exception) -> str:
    """The provider's own error message, on one line."""
    body = getattr(exc, "body", None)
    err = body.get("error", body) if isinstance(body, dict) else None
    msg = err.get("message") if isinstance(err, dict) else None
    msg = msg or getattr(exc, "message", None) or str(exc)
    return " ".join(str(msg).split())[:300]


def _retry_after(exc: Any) -> float | None:
    resp = getattr(exc, "response", None)
    value = resp.headers.get("retry-after") if resp is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class AnthropicProvider(_Base):
    provider = "anthropic"
    key_env = KEY_ENV["anthropic"]

    def __init__(self, model: str, api_key: str, **kw: Any):
        super().__init__(model, api_key, **kw)
        self.client = anthropic.Anthropic(api_key=api_key, base_url=self.base_url, max_retries=0)

    def complete(
        self, system: str, messages: list[Message], tools: list[ToolSpec], timeout: float
    ) -> Completion:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_output_tokens or 8192,
            "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            "messages": anthropic_messages(messages),
        }
        if tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools
            ]
        if self.temperature is not None:
            body["temperature"] = self.temperature
        t0 = time.monotonic()
        resp, retries = self._with_retries(
            lambda left: self.client.messages.create(**body, timeout=left), timeout
        )
        text, reasoning, calls = [], [], []
        for block in resp.content:
            kind = getattr(block, "type", None)
            if kind == "text":
                text.append(block.text)
            elif kind == "thinking":
                reasoning.append(getattr(block, "thinking", ""))
            elif kind == "tool_use":
                args = block.input if isinstance(block.input, dict) else {}
                bad = None if isinstance(block.input, dict) else json.dumps(block.input)
                calls.append(ToolCall(block.id, block.name, args, bad))
        return Completion(
            text="\n".join(text),
            tool_calls=calls,
            usage=usage_from_anthropic(resp.usage),
            stop_reason=resp.stop_reason,
            model=resp.model or self.model,
            response_id=resp.id,
            reasoning="\n".join(reasoning) or None,
            duration_s=time.monotonic() - t0,
            retries=retries,
        )


def anthropic_messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        blocks: list[dict[str, Any]] = []
        if m.role == "assistant":
            if m.text:
                blocks.append({"type": "text", "text": m.text})
            for c in m.tool_calls:
                blocks.append({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments})
            if not blocks:
                blocks.append({"type": "text", "text": "(no reply)"})
        else:
            for r in m.tool_results:
                blocks.append(
                    {
                        "type": "tool_result",
                        "tool_use_id": r.call_id,
                        "content": r.content,
                        "is_error": r.is_error,
                    }
                )
            if m.text or not blocks:
                blocks.append({"type": "text", "text": m.text or "(continue)"})
        out.append({"role": m.role, "content": blocks})
    if out and out[-1]["role"] == "user":  # cache the conversation prefix up to here
        out[-1]["content"][-1] = {**out[-1]["content"][-1], "cache_control": {"type": "ephemeral"}}
    return out


class OpenAIProvider(_Base):
    provider = "openai"
    key_env = KEY_ENV["openai"]

    def __init__(self, model: str, api_key: str, **kw: Any):
        super().__init__(model, api_key, **kw)
        self.client = openai.OpenAI(api_key=api_key, base_url=self.base_url, max_retries=0)

    def complete(
        self, system: str, messages: list[Message], tools: list[ToolSpec], timeout: float
    ) -> Completion:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": openai_messages(system, messages),
        }
        if tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in tools
            ]
        if self.max_output_tokens:
            body["max_completion_tokens"] = self.max_output_tokens
        if self.temperature is not None:
            body["temperature"] = self.temperature
        t0 = time.monotonic()
        resp, retries = self._with_retries(
            lambda left: self.client.chat.completions.create(**body, timeout=left), timeout
        )
        if not resp.choices:
            raise LooplabError(f"openai API returned no choices (response {resp.id})")
        choice = resp.choices[0]
        msg = choice.message
        calls = []
        for tc in msg.tool_calls or []:
            fn = getattr(tc, "function", None)
            if fn is None:
                continue
            raw = fn.arguments or "{}"
            try:
                args = json.loads(raw)
            except ValueError:
                args = None
            if isinstance(args, dict):
                calls.append(ToolCall(tc.id, fn.name, args))
            else:
                calls.append(ToolCall(tc.id, fn.name, {}, raw))
        extra = getattr(msg, "model_extra", None) or {}
        reasoning = extra.get("reasoning_content") or extra.get("reasoning")
        return Completion(
            text=msg.content or "",
            tool_calls=calls,
            usage=usage_from_openai(resp.usage),
            stop_reason=choice.finish_reason,
            model=resp.model or self.model,
            response_id=resp.id,
            reasoning=reasoning if isinstance(reasoning, str) else None,
            duration_s=time.monotonic() - t0,
            retries=retries,
        )


def openai_messages(system: str, messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for m in messages:
        if m.role == "assistant":
            d: dict[str, Any] = {"role": "assistant", "content": m.text or None}
            if m.tool_calls:
                d["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.bad_arguments or json.dumps(c.arguments)},
                    }
                    for c in m.tool_calls
                ]
            elif not m.text:
                d["content"] = "(no reply)"
            out.append(d)
        else:
            for r in m.tool_results:
                out.append({"role": "tool", "tool_call_id": r.call_id, "content": r.content})
            if m.text or not m.tool_results:
                out.append({"role": "user", "content": m.text or "(continue)"})
    return out
