"""Scripted model servers on 127.0.0.1 speaking Anthropic Messages, OpenAI Chat Completions, OpenAI Responses, Gemini.

A ``ScriptedLLMServer`` answers each POST with the next scripted reply (``reply``:
text, tool calls, usage; or ``error``: an HTTP status with the provider's error
body and optional headers). It records every request (path, headers, JSON body)
and checks that each conversation is well formed the way the real APIs do (tool
results answer the previous turn's tool calls, roles alternate for Anthropic),
answering 400 otherwise, so a client that sends a broken history fails here too.
With ``repeat_last`` the last reply is served forever (an agent that never finishes).
A request with ``"stream": true`` is answered with the protocol's server-sent events
(Anthropic ``message_start``..``message_stop`` with ``tool_use`` input deltas; Chat
Completions chunks, the usage chunk when ``stream_options.include_usage``; Responses
``response.created``..``response.completed``), the same usage as the JSON reply.

    with ScriptedLLMServer("openai", [reply(tool("shell", command="ls")), reply(tool("finish"))]) as srv:
        ... base_url=srv.base_url ...
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ids = itertools.count(1)


def tool(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def reply(
    *calls: dict[str, Any],
    text: str = "",
    input_tokens: int | None = None,
    output_tokens: int = 20,
    cache_read: int = 0,
    cache_write: int = 0,
    delay: float = 0.0,
) -> dict[str, Any]:
    """A successful model turn. Token counts are the uncached input (default: the request's bytes / 4),
    output, cache read and cache write."""
    return {
        "text": text,
        "tool_calls": list(calls),
        "delay": delay,
        "usage": {
            "input": input_tokens,
            "output": output_tokens,
            "cache_read": cache_read,
            "cache_write": cache_write,
        },
    }


def error(
    status: int, message: str = "scripted error", headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return {"status": status, "message": message, "headers": headers or {}}


class ScriptedLLMServer:
    def __init__(
        self,
        flavor: str,
        script: list[dict[str, Any]] | Callable[[int, dict[str, Any]], dict[str, Any]],
        repeat_last: bool = False,
        api_key: str | None = None,
    ):
        assert flavor in ("openai", "anthropic", "responses", "gemini")
        self.flavor = flavor
        self.script = script
        self.repeat_last = repeat_last
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self._lock = threading.Lock()
        self._n = 0
        self._server: ThreadingHTTPServer | None = None

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> ScriptedLLMServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as real API servers: no 40 ms delayed-ACK stalls between writes

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(n)
                status, body, headers = owner._answer(self.path, dict(self.headers), raw)
                if status == 200 and isinstance(body, list):  # server-sent events
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("transfer-encoding", "chunked")
                    self.end_headers()
                    for name, ev in body:
                        line = (
                            f"event: {name}\n" if name else ""
                        ) + f"data: {ev if isinstance(ev, str) else json.dumps(ev)}\n\n"
                        data = line.encode()
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    return
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ScriptedLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """What the SDK takes as base_url (the OpenAI SDK wants the /v1 prefix in it)."""
        return f"http://127.0.0.1:{self.port}" + ("" if self.flavor in ("anthropic", "gemini") else "/v1")

    @property
    def n_model_calls(self) -> int:
        return len(self.requests)

    # ---- answering ----------------------------------------------------------------------
    def _next(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            i = self._n
            self._n += 1
        if callable(self.script):
            return self.script(i, body)
        if i < len(self.script):
            return self.script[i]
        if self.repeat_last and self.script:
            return self.script[-1]
        return reply(text="(script exhausted)")

    def _answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any, dict]:
        want = {
            "openai": "/v1/chat/completions",
            "anthropic": "/v1/messages",
            "responses": "/v1/responses",
            "gemini": "/v1beta/models/MODEL:generateContent",
        }[self.flavor]
        route = path.split("?", 1)[0].rstrip("/")
        if self.flavor == "gemini":
            route = re.sub(
                r"^/v1beta/models/[^/:]+:(stream)?generateContent$", want, route, flags=re.IGNORECASE
            )
        if route != want:
            return 404, self._error_body(404, f"no route {path}"), {}
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, self._error_body(400, "body is not JSON"), {}
        lower = {k.lower(): v for k, v in headers.items()}
        bearer = lower.get("authorization", "")
        key = (
            bearer[7:]
            if bearer.lower().startswith("bearer ")
            else lower.get("x-api-key") or lower.get("x-goog-api-key")
        )
        with self._lock:
            self.requests.append({"path": path, "headers": lower, "body": body})
        if self.api_key is not None and key != self.api_key:
            return 401, self._error_body(401, "invalid x-api-key"), {}
        problem = self._check(body)
        if problem:
            self.problems.append(problem)
            return 400, self._error_body(400, problem), {}
        step = self._next(body)
        if step.get("delay"):
            time.sleep(step["delay"])
        if "status" in step:
            return step["status"], self._error_body(step["status"], step["message"]), step["headers"]
        if step["usage"]["input"] is None:
            step = {**step, "usage": {**step["usage"], "input": max(1, len(raw) // 4)}}
        if self.flavor == "gemini":
            model = re.search(r"models/([^/:]+):", path)
            gemini = self._gemini(step, model.group(1) if model else "scripted")
            return 200, (_gemini_sse(gemini) if ":streamGenerateContent" in path else gemini), {}
        make = {"openai": self._openai, "anthropic": self._anthropic, "responses": self._responses}[
            self.flavor
        ]
        reply_body = make(step, body)
        if body.get("stream"):
            stream = {"openai": _chat_sse, "anthropic": _anthropic_sse, "responses": _responses_sse}[
                self.flavor
            ]
            return 200, stream(reply_body, body), {}
        return 200, reply_body, {}

    def _error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            429: "rate_limit_error",
            529: "overloaded_error",
        }.get(status, "api_error")
        if self.flavor == "anthropic":
            return {"type": "error", "error": {"type": kind, "message": message}}
        if self.flavor == "responses":
            return {"error": {"message": message, "type": kind, "code": None, "param": None}}
        if self.flavor == "gemini":
            return {"error": {"code": status, "message": message, "status": kind.upper()}}
        return {"error": {"message": message, "type": kind, "code": None, "param": None}}

    def _openai(self, step: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        u = step["usage"]
        calls = [
            {
                "id": c.get("id") or f"call_{next(_ids)}",
                "type": "function",
                "function": {"name": c["name"], "arguments": c.get("raw") or json.dumps(c["arguments"])},
            }
            for c in step["tool_calls"]
        ]
        msg: dict[str, Any] = {"role": "assistant", "content": step["text"] or None}
        if calls:
            msg["tool_calls"] = calls
        prompt = u["input"] + u["cache_read"]
        return {
            "id": f"chatcmpl-{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "scripted"),
            "choices": [
                {
                    "index": 0,
                    "message": msg,
                    "finish_reason": "tool_calls" if calls else "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": u["output"],
                "total_tokens": prompt + u["output"],
                "prompt_tokens_details": {"cached_tokens": u["cache_read"]},
            },
        }

    @staticmethod
    def _gemini(step: dict[str, Any], model: str) -> dict[str, Any]:
        u = step["usage"]
        parts: list[dict[str, Any]] = [{"text": step["text"]}] if step["text"] else []
        parts += [{"functionCall": {"name": c["name"], "args": c["arguments"]}} for c in step["tool_calls"]]
        prompt = u["input"] + u["cache_read"]
        return {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {
                "promptTokenCount": prompt,
                "candidatesTokenCount": u["output"],
                "cachedContentTokenCount": u["cache_read"],
                "totalTokenCount": prompt + u["output"],
            },
            "modelVersion": model,
        }

    def _responses(self, step: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        u = step["usage"]
        output: list[dict[str, Any]] = []
        if step["text"]:
            output.append(
                {
                    "type": "message",
                    "id": f"msg_{next(_ids)}",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": step["text"], "annotations": []}],
                }
            )
        for c in step["tool_calls"]:
            output.append(
                {
                    "type": "function_call",
                    "id": f"fc_{next(_ids)}",
                    "call_id": c.get("id") or f"call_{next(_ids)}",
                    "name": c["name"],
                    "arguments": c.get("raw") or json.dumps(c["arguments"]),
                    "status": "completed",
                }
            )
        prompt = u["input"] + u["cache_read"]
        return {
            "id": f"resp_{next(_ids)}",
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": body.get("model", "scripted"),
            "output": output,
            "error": None,
            "incomplete_details": None,
            "usage": {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": u["cache_read"]},
                "output_tokens": u["output"],
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": prompt + u["output"],
            },
        }

    def _anthropic(self, step: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        u = step["usage"]
        content: list[dict[str, Any]] = []
        if step["text"]:
            content.append({"type": "text", "text": step["text"]})
        for c in step["tool_calls"]:
            content.append(
                {
                    "type": "tool_use",
                    "id": c.get("id") or f"toolu_{next(_ids)}",
                    "name": c["name"],
                    "input": c["arguments"],
                }
            )
        return {
            "id": f"msg_{next(_ids)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "scripted"),
            "content": content,
            "stop_reason": "tool_use" if step["tool_calls"] else "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": u["input"],
                "output_tokens": u["output"],
                "cache_read_input_tokens": u["cache_read"],
                "cache_creation_input_tokens": u["cache_write"],
            },
        }

    # ---- request checks (what the real APIs reject) --------------------------------------
    def _check(self, body: dict[str, Any]) -> str | None:
        if self.flavor == "responses":
            return self._check_responses(body)
        if self.flavor == "gemini":
            contents = body.get("contents")
            if not isinstance(contents, list) or not contents:
                return "contents must be a non-empty list"
            calls = answers = 0
            for c in contents:
                for part in c.get("parts") or []:
                    calls += "functionCall" in part
                    answers += "functionResponse" in part
            return None if answers <= calls else "a functionResponse answers no functionCall"
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs:
            return "messages must be a non-empty list"
        return self._check_openai(msgs) if self.flavor == "openai" else self._check_anthropic(body, msgs)

    @staticmethod
    def _check_responses(body: dict[str, Any]) -> str | None:
        items = body.get("input")
        if isinstance(items, str):
            return None if items else "input may not be empty"
        if not isinstance(items, list) or not items:
            return "input must be a non-empty string or list"
        calls: set[str] = set()
        for i, it in enumerate(items):
            if it.get("type") == "function_call":
                calls.add(it.get("call_id"))
                json.loads(it.get("arguments") or "{}")
            elif it.get("type") == "function_call_output" and it.get("call_id") not in calls:
                return f"input[{i}]: function_call_output answers no function_call ({it.get('call_id')!r})"
        return None

    @staticmethod
    def _check_openai(msgs: list[dict[str, Any]]) -> str | None:
        pending: set[str] = set()
        for i, m in enumerate(msgs):
            role = m.get("role")
            if role == "tool":
                if m.get("tool_call_id") not in pending:
                    return f"messages[{i}]: tool message answers no pending tool call"
                pending.discard(m["tool_call_id"])
                continue
            if pending:
                return f"messages[{i}]: tool calls {sorted(pending)} were not answered"
            if role == "assistant":
                pending = {c["id"] for c in m.get("tool_calls") or []}
                for c in m.get("tool_calls") or []:
                    json.loads(c["function"]["arguments"])
            elif role not in ("system", "user"):
                return f"messages[{i}]: unknown role {role!r}"
        return None

    @staticmethod
    def _check_anthropic(body: dict[str, Any], msgs: list[dict[str, Any]]) -> str | None:
        if not isinstance(body.get("max_tokens"), int):
            return "max_tokens is required"
        if msgs[0].get("role") != "user":
            return "the first message must be from the user"
        pending: set[str] = set()
        for i, m in enumerate(msgs):
            want = "user" if i % 2 == 0 else "assistant"
            if m.get("role") != want:
                return f"messages[{i}]: roles must alternate user/assistant"
            content = m.get("content")
            blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
            if not blocks:
                return f"messages[{i}]: content may not be empty"
            results = {b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"}
            if pending and results != pending:
                return f"messages[{i}]: tool_use ids {sorted(pending)} need tool_result blocks, got {sorted(results)}"
            if not pending and results:
                return f"messages[{i}]: tool_result without a preceding tool_use"
            pending = {b["id"] for b in blocks if b.get("type") == "tool_use"}
        return None


# ---- server-sent events of a reply (the same content and usage as the JSON reply) -----------------
def _anthropic_sse(msg: dict[str, Any], body: dict[str, Any]) -> list[tuple[str | None, Any]]:
    u = msg["usage"]
    start = {**msg, "content": [], "stop_reason": None, "usage": {**u, "output_tokens": 1}}
    out: list[tuple[str | None, Any]] = [("message_start", {"type": "message_start", "message": start})]
    for i, b in enumerate(msg["content"]):
        if b["type"] == "text":
            out.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            half = len(b["text"]) // 2
            for part in (b["text"][:half], b["text"][half:]):
                out.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "text_delta", "text": part},
                        },
                    )
                )
        else:
            out.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}},
                    },
                )
            )
            raw = json.dumps(b["input"])
            for part in (raw[: len(raw) // 2], raw[len(raw) // 2 :]):
                out.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "input_json_delta", "partial_json": part},
                        },
                    )
                )
        out.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    out.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": u["output_tokens"]},
            },
        )
    )
    out.append(("message_stop", {"type": "message_stop"}))
    return out


def _gemini_sse(obj: dict[str, Any]) -> list[tuple[str | None, Any]]:
    """Gemini's ``alt=sse`` stream: the parts one chunk at a time, the usage on the last."""
    cand = obj["candidates"][0]
    parts = cand["content"]["parts"] or [{"text": ""}]
    out: list[tuple[str | None, Any]] = []
    for i, part in enumerate(parts):
        chunk: dict[str, Any] = {
            "candidates": [{"content": {"role": "model", "parts": [part]}, "index": 0}],
            "modelVersion": obj["modelVersion"],
        }
        if i == len(parts) - 1:
            chunk["candidates"][0]["finishReason"] = cand["finishReason"]
            chunk["usageMetadata"] = obj["usageMetadata"]
        out.append((None, chunk))
    return out


def _chat_sse(obj: dict[str, Any], body: dict[str, Any]) -> list[tuple[str | None, Any]]:
    head = {
        "id": obj["id"],
        "object": "chat.completion.chunk",
        "created": obj["created"],
        "model": obj["model"],
    }
    msg = obj["choices"][0]["message"]
    out: list[tuple[str | None, Any]] = [
        (
            None,
            {
                **head,
                "choices": [
                    {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                ],
            },
        )
    ]
    if msg.get("content"):
        out.append(
            (
                None,
                {
                    **head,
                    "choices": [{"index": 0, "delta": {"content": msg["content"]}, "finish_reason": None}],
                },
            )
        )
    for i, c in enumerate(msg.get("tool_calls") or []):
        args = c["function"]["arguments"]
        out.append(
            (
                None,
                {
                    **head,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [
                                    {
                                        "index": i,
                                        "id": c["id"],
                                        "type": "function",
                                        "function": {
                                            "name": c["function"]["name"],
                                            "arguments": args[: len(args) // 2],
                                        },
                                    }
                                ]
                            },
                            "finish_reason": None,
                        }
                    ],
                },
            )
        )
        out.append(
            (
                None,
                {
                    **head,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [
                                    {"index": i, "function": {"arguments": args[len(args) // 2 :]}}
                                ]
                            },
                            "finish_reason": None,
                        }
                    ],
                },
            )
        )
    out.append(
        (
            None,
            {
                **head,
                "choices": [{"index": 0, "delta": {}, "finish_reason": obj["choices"][0]["finish_reason"]}],
            },
        )
    )
    if (body.get("stream_options") or {}).get("include_usage"):
        out.append((None, {**head, "choices": [], "usage": obj["usage"]}))
    out.append((None, "[DONE]"))
    return out


def _responses_sse(resp: dict[str, Any], body: dict[str, Any]) -> list[tuple[str | None, Any]]:
    seq = itertools.count()

    def ev(kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        return kind, {"type": kind, "sequence_number": next(seq), **fields}

    pending = {**resp, "status": "in_progress", "output": [], "usage": None}
    out = [ev("response.created", response=pending), ev("response.in_progress", response=pending)]
    for i, item in enumerate(resp["output"]):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            out.append(
                ev(
                    "response.output_item.added",
                    output_index=i,
                    item={**item, "status": "in_progress", "content": []},
                )
            )
            out.append(
                ev(
                    "response.content_part.added",
                    output_index=i,
                    item_id=item["id"],
                    content_index=0,
                    part={"type": "output_text", "text": "", "annotations": []},
                )
            )
            out.append(
                ev(
                    "response.output_text.delta",
                    output_index=i,
                    item_id=item["id"],
                    content_index=0,
                    delta=text,
                )
            )
            out.append(
                ev(
                    "response.output_text.done",
                    output_index=i,
                    item_id=item["id"],
                    content_index=0,
                    text=text,
                )
            )
            out.append(
                ev(
                    "response.content_part.done",
                    output_index=i,
                    item_id=item["id"],
                    content_index=0,
                    part=item["content"][0],
                )
            )
        else:
            out.append(
                ev(
                    "response.output_item.added",
                    output_index=i,
                    item={**item, "status": "in_progress", "arguments": ""},
                )
            )
            out.append(
                ev(
                    "response.function_call_arguments.delta",
                    output_index=i,
                    item_id=item["id"],
                    delta=item["arguments"],
                )
            )
            out.append(
                ev(
                    "response.function_call_arguments.done",
                    output_index=i,
                    item_id=item["id"],
                    arguments=item["arguments"],
                )
            )
        out.append(ev("response.output_item.done", output_index=i, item=item))
    out.append(ev("response.completed", response=resp))
    return out
