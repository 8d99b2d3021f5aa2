"""The model gateway against scripted servers on 127.0.0.1, driven by the official SDKs.

Each test starts a real scripted model server (Anthropic Messages, OpenAI Responses,
Chat Completions; JSON or SSE), a real gateway in front of it holding the real key,
and a client that knows only the dummy token: the server must see the real key,
the gateway's usage must equal what the server sent, caps must refuse the call
that arrives once a cap is reached, and the record must hold no key.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest
from fakes.llm_servers import ScriptedLLMServer, reply, tool

from looplab.agents.llm.pricing import Price, PriceTable
from looplab.gateway.metering import Caps
from looplab.gateway.records import read_calls
from looplab.gateway.server import ModelGateway, Upstream

REAL = "sk-real-0123456789abcdef"
DUMMY = "looplab-trial-dummy"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator:
    made: list[ModelGateway] = []

    def start(
        srv: ScriptedLLMServer, provider: str, caps: Caps | None = None, prices: PriceTable | None = None
    ):
        gw = ModelGateway(
            [Upstream(provider, srv.base_url, REAL, provider)],
            DUMMY,
            tmp_path / "calls.jsonl",
            prices=prices,
            caps=caps,
            on_call=calls.append,
        )
        port = gw.serve_tcp()
        made.append(gw)
        return gw, f"http://127.0.0.1:{port}/{provider}"

    calls: list[dict] = []
    start.calls = calls  # type: ignore[attr-defined]
    yield start
    for gw in made:
        gw.stop()


def _key(request: dict) -> str | None:
    """The credential a scripted server got (``x-api-key`` or a bearer token)."""
    h = request["headers"]
    return h.get("x-api-key") or h.get("authorization", "").removeprefix("Bearer ") or None


def _assert_no_key(tmp_path: Path) -> list[dict]:
    text = (tmp_path / "calls.jsonl").read_text()
    assert REAL not in text and DUMMY not in text
    return read_calls(tmp_path / "calls.jsonl")


def test_anthropic_stream_with_tool_use_is_metered_and_the_key_replaced(tmp_path: Path, gateway) -> None:
    script = [
        reply(
            tool("Bash", command="ls /app"),
            text="Looking.",
            input_tokens=120,
            output_tokens=42,
            cache_read=300,
            cache_write=50,
        ),
        reply(text="Done.", input_tokens=200, output_tokens=7),
    ]
    with ScriptedLLMServer("anthropic", script, api_key=REAL) as srv:
        gw, url = gateway(srv, "anthropic")
        client = anthropic.Anthropic(api_key=DUMMY, base_url=url, max_retries=0)
        with client.messages.stream(
            model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        ) as s:
            first = s.get_final_message()
        assert [b.type for b in first.content] == ["text", "tool_use"]
        assert first.content[1].input == {"command": "ls /app"} and first.usage.output_tokens == 42
        second = client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=100,
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": first.content},
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": first.content[1].id, "content": "x"}],
                },
            ],
        )
        assert second.content[0].text == "Done."
    assert srv.problems == [] and [_key(r) for r in srv.requests] == [REAL, REAL]
    u = gw.usage()
    assert (u.n_calls, u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens) == (
        2,
        320,
        49,
        300,
        50,
    )
    # claude-sonnet-4 list price: 3 / 15 / 0.30 / 3.75 per million
    assert u.cost_usd == pytest.approx((320 * 3 + 49 * 15 + 300 * 0.3 + 50 * 3.75) / 1e6)
    calls = _assert_no_key(tmp_path)
    assert [c["streamed"] for c in calls] == [True, False]
    assert calls[0]["tool_calls"] == [
        {"id": first.content[1].id, "name": "Bash", "arguments": {"command": "ls /app"}}
    ]
    assert calls[0]["text"] == "Looking." and calls[0]["request"]["messages"][0]["content"] == "hi"
    assert "event: message_delta" in calls[0]["response"]
    assert [c["usage"]["output_tokens"] for c in gateway.calls] == [42, 7]


def test_openai_responses_stream_with_function_calls(tmp_path: Path, gateway) -> None:
    script = [
        reply(
            tool("shell", command=["bash", "-lc", "ls"]), input_tokens=900, output_tokens=33, cache_read=100
        )
    ]
    with ScriptedLLMServer("responses", script, api_key=REAL) as srv:
        gw, url = gateway(srv, "openai")
        client = openai.OpenAI(api_key=DUMMY, base_url=url, max_retries=0)
        stream = client.responses.create(model="gpt-5", input="list the files", stream=True)
        kinds = [ev.type for ev in stream]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.function_call_arguments.delta" in kinds
    assert _key(srv.requests[0]) == REAL
    u = gw.usage()
    assert (u.n_calls, u.input_tokens, u.cache_read_tokens, u.output_tokens) == (1, 900, 100, 33)
    assert u.cost_usd == pytest.approx((900 * 1.25 + 100 * 0.125 + 33 * 10) / 1e6)
    (call,) = _assert_no_key(tmp_path)
    assert call["protocol"] == "openai-responses" and call["tool_calls"][0]["name"] == "shell"
    assert call["tool_calls"][0]["arguments"] == {"command": ["bash", "-lc", "ls"]}


def test_chat_completions_streamed_usage_is_asked_for_and_counted(tmp_path: Path, gateway) -> None:
    script = [
        reply(tool("bash", cmd="pwd"), input_tokens=70, output_tokens=11, cache_read=30),
        reply(text="ok", input_tokens=80, output_tokens=3),
    ]
    with ScriptedLLMServer("openai", script, api_key=REAL) as srv:
        gw, url = gateway(srv, "openai")
        client = openai.OpenAI(api_key=DUMMY, base_url=url, max_retries=0)
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True
            )
        )
        args = "".join(
            c.choices[0].delta.tool_calls[0].function.arguments or ""
            for c in chunks
            if c.choices and c.choices[0].delta.tool_calls
        )
        assert json.loads(args) == {"cmd": "pwd"}
        done = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "y"}])
        assert done.choices[0].message.content == "ok"
    assert srv.requests[0]["body"]["stream_options"] == {"include_usage": True}  # added by the gateway
    u = gw.usage()
    assert (u.n_calls, u.input_tokens, u.cache_read_tokens, u.output_tokens) == (2, 150, 30, 14)
    calls = _assert_no_key(tmp_path)
    assert calls[0]["tool_calls"] == [
        {"id": calls[0]["tool_calls"][0]["id"], "name": "bash", "arguments": {"cmd": "pwd"}}
    ]


@pytest.mark.parametrize(
    ("caps", "reason", "forwarded"),
    [
        (Caps(max_calls=2), "max_turns", 2),
        (Caps(max_tokens=250), "max_tokens", 3),
        (Caps(max_cost_usd=0.004), "max_cost", 4),
    ],
)
def test_caps_refuse_the_call_that_arrives_once_a_cap_is_reached(
    tmp_path: Path, gateway, caps: Caps, reason: str, forwarded: int
) -> None:
    prices = PriceTable({"anthropic/priced": Price(10.0, 20.0, 0, 0)})  # 80 in + 20 out = $0.0012 a call
    with ScriptedLLMServer(
        "anthropic", [reply(text="go on", input_tokens=80, output_tokens=20)], repeat_last=True
    ) as srv:
        gw, url = gateway(srv, "anthropic", caps=caps, prices=prices)
        client = anthropic.Anthropic(api_key=DUMMY, base_url=url, max_retries=0)
        answered, refused = 0, None
        for _ in range(6):
            try:
                client.messages.create(
                    model="priced", max_tokens=10, messages=[{"role": "user", "content": "x"}]
                )
                answered += 1
            except anthropic.BadRequestError as exc:
                refused = str(exc)
                break
    assert answered == forwarded and srv.n_model_calls == forwarded
    assert refused is not None and "looplab: the trial's" in refused and reason in refused
    assert gw.capped == reason and gw.usage().n_calls == forwarded
    assert _assert_no_key(tmp_path)[-1]["refused"] == reason


def test_websocket_upgrade_and_unknown_routes_get_a_plain_404(gateway) -> None:
    with ScriptedLLMServer("responses", [reply(text="hi")]) as srv:
        gw, url = gateway(srv, "openai")
        port = int(url.split(":")[2].split("/")[0])
        for path, headers in (
            ("/openai/responses", {"Upgrade": "websocket", "Connection": "Upgrade"}),
            ("/nope/x", {}),
        ):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", path, headers=headers)
            r = c.getresponse()
            assert r.status == 404 and "looplab gateway" in json.loads(r.read())["error"]["message"]
            c.close()
    assert srv.n_model_calls == 0 and gw.usage().n_calls == 0


def test_an_unreachable_upstream_is_a_502_that_names_it(tmp_path: Path) -> None:
    with ScriptedLLMServer("openai", []) as srv:
        dead = srv.base_url  # the server is gone once the block ends: its port refuses connections
    gw = ModelGateway([Upstream("openai", dead, REAL, "openai")], DUMMY, tmp_path / "calls.jsonl")
    port = gw.serve_tcp()
    try:
        client = openai.OpenAI(api_key=DUMMY, base_url=f"http://127.0.0.1:{port}/openai", max_retries=0)
        with pytest.raises(openai.InternalServerError, match="looplab gateway: cannot reach"):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    finally:
        gw.stop()
    assert gw.usage().n_calls == 0 and _assert_no_key(tmp_path)[0]["status"] == 502


def test_gemini_stream_with_a_function_call_and_the_key_in_its_header(tmp_path: Path, gateway) -> None:
    script = [
        reply(
            tool("run_shell_command", command="ls"),
            text="Listing.",
            input_tokens=250,
            output_tokens=17,
            cache_read=50,
        )
    ]
    with ScriptedLLMServer("gemini", script, api_key=REAL) as srv:
        gw, url = gateway(srv, "gemini")
        port = int(url.split(":")[2].split("/")[0])
        body = json.dumps({"contents": [{"role": "user", "parts": [{"text": "list"}]}]})
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request(
            "POST",
            "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            body=body,
            headers={"x-goog-api-key": DUMMY, "content-type": "application/json"},
        )
        r = c.getresponse()
        text = r.read().decode()
        c.close()
    assert r.status == 200 and text.count("data: ") == 2 and '"functionCall"' in text
    assert srv.requests[0]["headers"]["x-goog-api-key"] == REAL
    u = gw.usage()
    assert (u.n_calls, u.input_tokens, u.cache_read_tokens, u.output_tokens) == (1, 250, 50, 17)
    assert u.cost_usd == pytest.approx(
        (250 * 0.30 + 50 * 0.075 + 17 * 2.50) / 1e6
    )  # gemini-2.5-flash list price
    (call,) = _assert_no_key(tmp_path)
    assert call["protocol"] == "gemini-generate" and call["model"] == "gemini-2.5-flash"
    assert call["text"] == "Listing." and call["tool_calls"][0]["arguments"] == {"command": "ls"}
